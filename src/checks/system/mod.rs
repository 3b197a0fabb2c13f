//! The `system` check: the memory, CPU and disks of the host (or container) the exporter
//! shares with Milvus, read from the [`SystemSampler`] off the async workers. Only the main
//! target has it. Its rules are `memory` (use at most `readiness.memory_percent_max`) and
//! `disk` (every configured path readable and at most `readiness.disk_percent_max` full); its
//! families are `milvus_host_*` (on `/metrics` only) and its JSON section is `resources`.

mod sampler;

use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};
use serde::Serialize;

pub use sampler::{DiskStat, DiskUsage, SamplerError, SystemSampler, DISK_STAT_TIMEOUT};

use super::facts::{round, CheckRow, Facts, Family, MetricsContext, Results, Section};
use super::shared::NodesMemory;
use super::{timed, Check, CheckError, Deadline, Registration, Rule, RuleInput, Setup};
use crate::model::{CheckResult, RuleStatus};

pub static CHECK: Registration = Registration {
    name: "system",
    rules: &[
        Rule {
            name: "memory",
            rank: 60,
            probe_targets: false,
            eval: memory_rule,
        },
        Rule {
            name: "disk",
            rank: 70,
            probe_targets: false,
            eval: disk_rule,
        },
    ],
    build: |setup: &Setup<'_>| {
        Ok(setup.system.map(|sampler| {
            Box::new(SystemCheck {
                sampler: Arc::clone(sampler),
            }) as Box<dyn Check>
        }))
    },
};

#[derive(Clone, Debug, PartialEq)]
pub struct SystemFacts {
    pub memory_percent: f64,
    pub memory_available_bytes: u64,
    /// True when the numbers are of a cgroup memory limit rather than the host's RAM.
    pub memory_cgroup_limited: bool,
    /// `None` until the background sampler has two samples.
    pub cpu_percent: Option<f64>,
    pub disks: Vec<DiskFacts>,
}

impl SystemFacts {
    /// The fullest configured path: the one readiness and the summary JSON talk about.
    pub fn fullest_disk(&self) -> Option<&DiskFacts> {
        self.disks
            .iter()
            .filter(|d| d.error.is_none())
            .max_by(|a, b| a.percent.total_cmp(&b.percent))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DiskFacts {
    /// The configured path (the metric label), not the mount point.
    pub path: String,
    pub mount_point: String,
    pub percent: f64,
    pub free_bytes: u64,
    pub total_bytes: u64,
    pub error: Option<String>,
}

struct SystemCheck {
    sampler: Arc<SystemSampler>,
}

impl Check for SystemCheck {
    /// The sampler blocks (statvfs on every path, perhaps a first CPU sample), so it runs on
    /// tokio's blocking pool, and the refresh stops waiting for it at the budget.
    fn run(&self, deadline: Deadline) -> BoxFuture<'_, Box<dyn Facts>> {
        let sampler = Arc::clone(&self.sampler);
        let budget = deadline.budget;
        async move {
            let result = timed(async move {
                let work = tokio::task::spawn_blocking(move || sampler.facts());
                match tokio::time::timeout(budget, work).await {
                    Ok(Ok(facts)) => Ok(facts),
                    Ok(Err(e)) => Err(CheckError::Other(format!("host sampler failed: {e}"))),
                    Err(_) => Err(CheckError::Timeout {
                        rpc: "host sample",
                        after: budget,
                    }),
                }
            })
            .await;
            let r: Box<dyn Facts> = Box::new(result);
            r
        }
        .boxed()
    }

    fn failed(&self, error: &CheckError) -> Option<Box<dyn Facts>> {
        super::failed::<SystemFacts>(error)
    }
}

/// Where memory is judged: on the nodes Milvus reports when it reports them with memory
/// figures (in a cluster the query node that runs out of memory is on another machine, and
/// beside a sidecar the host figure is the exporter's own container), else on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemorySource {
    Milvus,
    Host,
    /// The nodes check failed this refresh (its rule says why): judging the host instead
    /// would flip a sidecar's verdict between two different machines' memory.
    Unknown,
}

impl MemorySource {
    pub fn of(results: &Results) -> MemorySource {
        match results.shared().nodes_memory {
            NodesMemory::Reported(_) => MemorySource::Milvus,
            NodesMemory::Unknown => MemorySource::Unknown,
            NodesMemory::NotReported => MemorySource::Host,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            MemorySource::Milvus => "milvus",
            MemorySource::Host => "host",
            MemorySource::Unknown => "unknown",
        }
    }
}

fn memory_rule(input: &RuleInput<'_>) -> RuleStatus {
    let config = input.config;
    if let NodesMemory::Reported(nodes) = input.results.shared().nodes_memory {
        let over: Vec<String> = nodes
            .iter()
            .map(|n| (n, n.percent))
            .filter(|(_, p)| *p > config.memory_percent_max)
            .map(|(n, p)| {
                format!(
                    "{} memory use {p:.1}% is above {}%",
                    n.label(),
                    config.memory_percent_max
                )
            })
            .collect();
        return if over.is_empty() {
            RuleStatus::Pass
        } else {
            let n = over.len();
            let mut named: Vec<String> = over
                .into_iter()
                .take(crate::limits::MAX_NAMED_IN_REASON)
                .collect();
            if n > named.len() {
                named.push(format!("and {} more nodes", n - named.len()));
            }
            RuleStatus::Fail(named.join("; "))
        };
    }
    if MemorySource::of(input.results) == MemorySource::Unknown {
        // The nodes rule fails on the same cause: one cause, one failing rule.
        return RuleStatus::Pass;
    }
    match input.results.result::<SystemFacts>().map(|c| &c.outcome) {
        None => RuleStatus::Excluded,
        Some(Err(e)) => RuleStatus::Fail(format!("host memory unknown: {e}")),
        Some(Ok(f)) if f.memory_percent > config.memory_percent_max => RuleStatus::Fail(format!(
            "memory use {:.1}% is above {}%{}",
            f.memory_percent,
            config.memory_percent_max,
            if f.memory_cgroup_limited {
                " of the container's limit"
            } else {
                ""
            }
        )),
        Some(Ok(_)) => RuleStatus::Pass,
    }
}

fn disk_rule(input: &RuleInput<'_>) -> RuleStatus {
    let config = input.config;
    let facts = match input.results.result::<SystemFacts>().map(|c| &c.outcome) {
        None => return RuleStatus::Excluded,
        Some(Err(e)) => return RuleStatus::Fail(format!("disk use unknown: {e}")),
        Some(Ok(f)) => f,
    };
    let problems: Vec<String> = facts
        .disks
        .iter()
        .filter_map(|d| match &d.error {
            Some(e) => Some(format!("disk {}: {e}", d.path)),
            None if d.percent > config.disk_percent_max => Some(format!(
                "disk {} is {:.1}% full, above {}%",
                d.path, d.percent, config.disk_percent_max
            )),
            None => None,
        })
        .collect();
    if problems.is_empty() {
        RuleStatus::Pass
    } else {
        RuleStatus::Fail(problems.join("; "))
    }
}

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// `resources` in `/readyz` and `/health`.
#[derive(Serialize)]
struct Resources<'a> {
    /// `milvus` when the memory rule judges the nodes Milvus reports, `host` otherwise.
    memory_source: &'static str,
    /// The nodes memory is judged on, with their use, when the source is `milvus`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nodes: Vec<NodeMemory<'a>>,
    /// The host's figures (the exporter's own host or container).
    memory_percent: Option<f64>,
    memory_available_gb: Option<f64>,
    cpu_percent: Option<f64>,
    disk_percent: Option<f64>,
    disk_free_gb: Option<f64>,
    disks: Vec<DiskEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct NodeMemory<'a> {
    role: &'a str,
    node_id: i64,
    memory_percent: f64,
}

#[derive(Serialize)]
struct DiskEntry<'a> {
    path: &'a str,
    mount_point: &'a str,
    percent: Option<f64>,
    free_gb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl Facts for CheckResult<SystemFacts> {
    fn checks(&self) -> Vec<CheckRow> {
        vec![CheckRow::of("system", self)]
    }

    /// Host families belong to `/metrics`: a `/probe` answer is about its target, not about
    /// the exporter's host.
    fn families(&self, f: &mut Family<'_, '_>, m: &MetricsContext<'_>) -> std::fmt::Result {
        let cached = m.cached;
        let Some(h) = self.ok().filter(|_| m.include_host) else {
            return Ok(());
        };
        f.gauge1(
            "milvus_host_memory_percent",
            &format!("Memory in use, percent of RAM or of the container's memory limit.{cached}"),
            Some(h.memory_percent),
        )?;
        f.gauge1(
            "milvus_host_memory_available_bytes",
            &format!("Memory available, bytes.{cached}"),
            Some(h.memory_available_bytes as f64),
        )?;
        f.gauge1(
            "milvus_host_cpu_percent",
            "CPU in use, percent of all cores, from the exporter's own sampler.",
            h.cpu_percent,
        )?;
        f.gauge(
            "milvus_host_disk_percent",
            &format!("Disk in use on the filesystem holding the path, percent.{cached}"),
            h.disks
                .iter()
                .filter(|d| d.error.is_none())
                .map(|d| ([("path", d.path.as_str())], d.percent)),
        )?;
        f.gauge(
            "milvus_host_disk_free_bytes",
            &format!("Free bytes on the filesystem holding the path.{cached}"),
            h.disks
                .iter()
                .filter(|d| d.error.is_none())
                .map(|d| ([("path", d.path.as_str())], d.free_bytes as f64)),
        )
    }

    fn sections(&self, all: &Results, _address: &str) -> Vec<Section> {
        let source = MemorySource::of(all);
        let nodes: Vec<NodeMemory<'_>> = match all.shared().nodes_memory {
            NodesMemory::Reported(n) => n
                .iter()
                .map(|n| NodeMemory {
                    role: n.role,
                    node_id: n.node_id,
                    memory_percent: round(n.percent, 2),
                })
                .collect(),
            _ => Vec::new(),
        };
        let memory_source = source.as_str();
        let resources = match &self.outcome {
            Ok(h) => {
                let fullest = h.fullest_disk();
                Resources {
                    memory_source,
                    nodes,
                    memory_percent: Some(round(h.memory_percent, 2)),
                    memory_available_gb: Some(round(h.memory_available_bytes as f64 / GB, 3)),
                    cpu_percent: h.cpu_percent.map(|c| round(c, 2)),
                    disk_percent: fullest.map(|d| round(d.percent, 2)),
                    disk_free_gb: fullest.map(|d| round(d.free_bytes as f64 / GB, 3)),
                    disks: h
                        .disks
                        .iter()
                        .map(|d| DiskEntry {
                            path: &d.path,
                            mount_point: &d.mount_point,
                            percent: d.error.is_none().then(|| round(d.percent, 2)),
                            free_gb: d
                                .error
                                .is_none()
                                .then(|| round(d.free_bytes as f64 / GB, 3)),
                            error: d.error.as_deref(),
                        })
                        .collect(),
                    error: None,
                }
            }
            Err(e) => Resources {
                memory_source,
                nodes,
                memory_percent: None,
                memory_available_gb: None,
                cpu_percent: None,
                disk_percent: None,
                disk_free_gb: None,
                disks: Vec::new(),
                error: Some(e.to_string()),
            },
        };
        vec![Section::top("resources", &resources)]
    }

    fn panels(&self, _all: &Results, limit: usize) -> Vec<crate::checks::Panel> {
        use crate::checks::{Cell, Panel};
        let mut panel = Panel {
            id: "host",
            title: "Exporter host",
            columns: &["Resource", "Use", "Detail"],
            ..Panel::default()
        };
        let h = match &self.outcome {
            Ok(h) => h,
            Err(e) => {
                panel.note = Some(format!("not measured: {e}"));
                return vec![panel];
            }
        };
        panel.rows.push(vec![
            Cell::plain("memory"),
            Cell::plain(format!("{:.1}%", h.memory_percent)),
            Cell::plain(format!(
                "{:.2} GiB available{}",
                h.memory_available_bytes as f64 / (1u64 << 30) as f64,
                if h.memory_cgroup_limited {
                    ", cgroup limit"
                } else {
                    ""
                }
            )),
        ]);
        panel.rows.push(vec![
            Cell::plain("cpu"),
            Cell::maybe(h.cpu_percent.map(|c| format!("{c:.1}%"))),
            Cell::plain(""),
        ]);
        for d in h.disks.iter().take(limit) {
            panel.rows.push(match &d.error {
                None => vec![
                    Cell::plain(format!("disk {}", d.path)),
                    Cell::plain(format!("{:.1}%", d.percent)),
                    Cell::plain(format!(
                        "{:.2} GiB free on {}",
                        d.free_bytes as f64 / (1u64 << 30) as f64,
                        d.mount_point
                    )),
                ],
                Some(e) => vec![
                    Cell::plain(format!("disk {}", d.path)),
                    Cell::judged("-", false),
                    Cell::judged(e.clone(), false),
                ],
            });
        }
        vec![panel]
    }

    fn table(&self, out: &mut String) {
        use crate::render::inert::terminal as t;
        use std::fmt::Write as _;
        let Some(h) = self.ok() else { return };
        let _ = writeln!(
            out,
            "\n  host memory {:.1}% ({:.2} GiB available{}), cpu {}",
            h.memory_percent,
            h.memory_available_bytes as f64 / (1u64 << 30) as f64,
            if h.memory_cgroup_limited {
                ", cgroup limit"
            } else {
                ""
            },
            h.cpu_percent
                .map(|c| format!("{c:.1}%"))
                .unwrap_or_else(|| "n/a".into())
        );
        for d in &h.disks {
            match &d.error {
                None => {
                    let _ = writeln!(
                        out,
                        "  disk {} ({}) {:.1}% used, {:.2} GiB free",
                        t(&d.path),
                        t(&d.mount_point),
                        d.percent,
                        d.free_bytes as f64 / (1u64 << 30) as f64
                    );
                }
                Some(e) => {
                    let _ = writeln!(out, "  disk {}: {}", t(&d.path), t(e));
                }
            }
        }
    }
}
