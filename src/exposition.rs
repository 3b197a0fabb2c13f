//! Snapshot → Prometheus exposition, in OpenMetrics 1.0 (what Prometheus asks for) or the
//! Prometheus text format 0.0.4 (what everything else, promtool included, expects).
//!
//! The metrics are written by a `prometheus-client` [`Collector`] that reads one immutable
//! view, so a series for a dropped collection disappears with the next snapshot instead of
//! living on in a registry. `prometheus-client` writes OpenMetrics only; [`to_text_004`]
//! rewrites its few OpenMetrics-only constructs (counter family names, `# EOF`, `# UNIT`)
//! into real 0.0.4 rather than serving OpenMetrics under a text/plain header.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::cache::View;
use crate::readiness::RuleStatus;

pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Facts about this build, fixed at compile time.
pub struct BuildInfo {
    pub version: &'static str,
    pub revision: &'static str,
    pub rustc: &'static str,
}

pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    revision: env!("BUILD_GIT_REVISION"),
    rustc: env!("BUILD_RUSTC_VERSION"),
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text004,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Text004 => TEXT_CONTENT_TYPE,
        }
    }

    /// OpenMetrics when the Accept header prefers it (as Prometheus's does), text otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text004;
        };
        let mut best_om = 0.0f32;
        let mut best_text = 0.0f32;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0f32;
            for p in parts {
                if let Some(v) = p.strip_prefix("q=") {
                    q = v.parse().unwrap_or(0.0);
                }
            }
            match media.as_str() {
                "application/openmetrics-text" => best_om = best_om.max(q),
                "text/plain" | "*/*" | "text/*" => best_text = best_text.max(q),
                _ => {}
            }
        }
        if best_om > 0.0 && best_om >= best_text {
            Format::OpenMetrics
        } else {
            Format::Text004
        }
    }
}

/// What to render for one answer.
#[derive(Debug)]
pub struct Exposition {
    pub view: Arc<View>,
    /// Seconds since the snapshot was taken, measured when the request arrived.
    pub age_seconds: f64,
    pub ttl: Duration,
    /// Host gauges and build info belong to `/metrics`, not to `/probe`.
    pub include_host: bool,
}

impl Exposition {
    pub fn render(self, format: Format) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::with_capacity(4096);
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            // Writing to a String cannot fail; keep the answer well-formed regardless.
            out = String::from("# EOF\n");
        }
        match format {
            Format::OpenMetrics => out,
            Format::Text004 => to_text_004(&out),
        }
    }
}

/// Writes one family: a descriptor, then each labelled sample.
struct Family<'a, 'b> {
    encoder: &'a mut DescriptorEncoder<'b>,
}

impl Family<'_, '_> {
    /// One labelled family. A gauge family with no samples is left out entirely, so a
    /// missing fact is an absent series rather than a descriptor with nothing under it.
    fn labelled<L, V, M>(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        samples: impl IntoIterator<Item = (L, V)>,
        metric: impl Fn(V) -> M,
    ) -> std::fmt::Result
    where
        L: AsRef<[(&'static str, String)]>,
        M: EncodeMetric,
    {
        let mut samples = samples.into_iter().peekable();
        if samples.peek().is_none() && matches!(kind, MetricType::Gauge) {
            return Ok(());
        }
        let mut family = self.encoder.encode_descriptor(name, help, None, kind)?;
        for (labels, value) in samples {
            let labels: Vec<(&str, &str)> = labels
                .as_ref()
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect();
            metric(value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn gauge<L: AsRef<[(&'static str, String)]>>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (L, f64)>,
    ) -> std::fmt::Result {
        self.labelled(name, help, MetricType::Gauge, samples, ConstGauge::new)
    }

    fn counter<L: AsRef<[(&'static str, String)]>>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (L, u64)>,
    ) -> std::fmt::Result {
        self.labelled(name, help, MetricType::Counter, samples, ConstCounter::new)
    }

    /// An unlabelled gauge, written `name value` rather than `name{} value`.
    fn gauge1(&mut self, name: &str, help: &str, value: Option<f64>) -> std::fmt::Result {
        let Some(value) = value else { return Ok(()) };
        let family = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(value).encode(family)
    }

    fn counter1(&mut self, name: &str, help: &str, value: u64) -> std::fmt::Result {
        let family = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        ConstCounter::new(value).encode(family)
    }
}

fn bool01(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.view.snapshot;
        let verdict = &self.view.verdict;
        let cached = format!(
            " Cached: refreshed at most every {}.",
            humantime::format_duration(self.ttl)
        );
        let mut f = Family {
            encoder: &mut encoder,
        };

        f.gauge1(
            "milvus_up",
            &format!("1 when the last refresh reached Milvus and it answered.{cached}"),
            Some(bool01(s.milvus_up())),
        )?;
        f.gauge1(
            "milvus_healthy",
            &format!("1 when Milvus's CheckHealth says it is healthy.{cached}"),
            Some(bool01(s.milvus_healthy())),
        )?;
        f.gauge1(
            "milvus_readiness",
            &format!("1 ready, 0 not: the /readyz verdict.{cached}"),
            Some(bool01(verdict.ready)),
        )?;
        f.gauge(
            "milvus_readiness_check",
            &format!("1 when the readiness rule passes, 0 when it fails; disabled rules have no series.{cached}"),
            verdict.rules.iter().filter_map(|r| match r.status {
                RuleStatus::Pass => Some(([("check", r.name.clone())], 1.0)),
                RuleStatus::Fail(_) => Some(([("check", r.name.clone())], 0.0)),
                RuleStatus::Excluded => None,
            }),
        )?;
        if let Some(m) = s.milvus.ok() {
            f.gauge(
                "milvus_server_info",
                &format!("Milvus server version, always 1.{cached}"),
                m.version.iter().map(|v| ([("version", v.clone())], 1.0)),
            )?;
            f.gauge(
                "milvus_quota_state",
                &format!("1 for each quota state CheckHealth reports as active.{cached}"),
                m.quota_states
                    .iter()
                    .map(|q| ([("state", q.as_str().to_string())], 1.0)),
            )?;
        }
        if let Some(c) = s.collections.ok() {
            f.gauge(
                "milvus_collections",
                &format!("Number of collections in the database.{cached}"),
                c.databases.iter().filter_map(|d| {
                    d.collections_count
                        .map(|n| ([("db_name", d.name.clone())], n as f64))
                }),
            )?;
            let labels = |db: &str, name: &str| {
                [
                    ("db_name", db.to_string()),
                    ("collection_name", name.to_string()),
                ]
            };
            f.gauge(
                "milvus_collection_loaded",
                &format!("1 when the collection is loaded into memory, 0 otherwise.{cached}"),
                c.collections
                    .iter()
                    .filter(|c| c.load_state != crate::snapshot::LoadState::Unknown)
                    .map(|c| {
                        (
                            labels(&c.db_name, &c.name),
                            bool01(c.load_state == crate::snapshot::LoadState::Loaded),
                        )
                    }),
            )?;
            f.gauge(
                "milvus_collection_loading_progress_percent",
                &format!("Loading progress of the collection, 0-100.{cached}"),
                c.collections.iter().filter_map(|c| {
                    c.loading_progress
                        .map(|p| (labels(&c.db_name, &c.name), p as f64))
                }),
            )?;
            f.gauge(
                "milvus_collection_replicas",
                &format!(
                    "In-memory replicas of the loaded collection (milvus.replicas = true).{cached}"
                ),
                c.collections
                    .iter()
                    .filter_map(|c| c.replicas.map(|r| (labels(&c.db_name, &c.name), r as f64))),
            )?;
            f.gauge(
                "milvus_collection_rows",
                &format!(
                    "Row count of the collection (GetCollectionStatistics row_count).{cached}"
                ),
                c.collections
                    .iter()
                    .filter_map(|c| c.rows.map(|r| (labels(&c.db_name, &c.name), r as f64))),
            )?;
        }

        if let Some(list) = s.components.as_ref().and_then(|c| c.ok()) {
            f.gauge(
                "milvus_component_state",
                &format!("1 for each Milvus component's current state, from its metrics port's /healthz.{cached}"),
                list.iter().map(|c| {
                    (
                        [
                            ("role", c.role.clone()),
                            ("node_id", c.node_id.clone()),
                            ("state", c.state.clone()),
                        ],
                        1.0,
                    )
                }),
            )?;
        }
        let probe_labels = |p: &crate::snapshot::ProbeResult| {
            [
                ("db_name", p.db_name.clone()),
                ("collection_name", p.collection.clone()),
                ("kind", p.kind.as_str().to_string()),
            ]
        };
        f.gauge(
            "milvus_probe_success",
            &format!("1 when the read probe (query or search) answered within its limits.{cached}"),
            s.probes
                .iter()
                .map(|p| (probe_labels(p), bool01(p.success()))),
        )?;
        f.gauge(
            "milvus_probe_duration_seconds",
            &format!("How long the read probe took.{cached}"),
            s.probes
                .iter()
                .map(|p| (probe_labels(p), p.duration.as_secs_f64())),
        )?;
        f.gauge(
            "milvus_dependency_up",
            &format!("1 when the RAG dependency answered as expected.{cached}"),
            s.dependencies.iter().map(|d| {
                (
                    [("dependency", d.name.clone())],
                    bool01(d.result.outcome.is_ok()),
                )
            }),
        )?;
        f.gauge(
            "milvus_dependency_duration_seconds",
            &format!("How long the dependency check took.{cached}"),
            s.dependencies.iter().map(|d| {
                (
                    [("dependency", d.name.clone())],
                    d.result.duration.as_secs_f64(),
                )
            }),
        )?;

        if self.include_host {
            if let Some(h) = s.system.as_ref().and_then(|r| r.ok()) {
                f.gauge1(
                    "milvus_host_memory_percent",
                    &format!(
                        "Memory in use, percent of RAM or of the container's memory limit.{cached}"
                    ),
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
                        .map(|d| ([("path", d.path.clone())], d.percent)),
                )?;
                f.gauge(
                    "milvus_host_disk_free_bytes",
                    &format!("Free bytes on the filesystem holding the path.{cached}"),
                    h.disks
                        .iter()
                        .filter(|d| d.error.is_none())
                        .map(|d| ([("path", d.path.clone())], d.free_bytes as f64)),
                )?;
            }
        }

        let checks = s.checks();
        f.gauge(
            "milvus_exporter_check_success",
            &format!("1 when the check succeeded in the last refresh.{cached}"),
            checks
                .iter()
                .map(|(n, ok, _, _)| ([("check", n.as_str().to_string())], bool01(*ok))),
        )?;
        f.gauge(
            "milvus_exporter_check_duration_seconds",
            &format!("How long the check took in the last refresh.{cached}"),
            checks
                .iter()
                .map(|(n, _, d, _)| ([("check", n.as_str().to_string())], d.as_secs_f64())),
        )?;
        f.counter(
            "milvus_exporter_check_errors",
            "Refreshes in which the check failed.",
            s.counters
                .errors
                .iter()
                .map(|(n, v)| ([("check", n.as_str().to_string())], *v)),
        )?;
        f.counter1(
            "milvus_exporter_refreshes",
            "Refreshes run since the exporter started.",
            s.counters.refreshes,
        )?;
        f.gauge1(
            "milvus_exporter_cache_age_seconds",
            "Age of the data in this answer, seconds.",
            Some(self.age_seconds),
        )?;
        if self.include_host {
            f.gauge(
                "milvus_exporter_build_info",
                "Build of the exporter, always 1.",
                [(
                    [
                        ("version", BUILD.version.to_string()),
                        ("revision", BUILD.revision.to_string()),
                        ("rustc", BUILD.rustc.to_string()),
                    ],
                    1.0,
                )],
            )?;
        }
        Ok(())
    }
}

/// Rewrites prometheus-client's OpenMetrics text as Prometheus text format 0.0.4: counter
/// families are named with their `_total` suffix, `info`/`unknown` types become
/// `gauge`/`untyped`, and `# EOF` and `# UNIT` lines go.
pub fn to_text_004(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.rsplit_once(' '))
        .filter(|(_, t)| *t == "counter")
        .map(|(name, _)| name)
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some((name, kind)) = rest.rsplit_once(' ') {
                let (name, kind) = match kind {
                    "counter" => (format!("{name}_total"), "counter"),
                    "info" => (format!("{name}_info"), "gauge"),
                    "unknown" => (name.to_string(), "untyped"),
                    other => (name.to_string(), other),
                };
                let _ = writeln!(out, "# TYPE {name} {kind}");
                continue;
            }
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some((name, help)) = rest.split_once(' ') {
                if counters.contains(name) {
                    let _ = writeln!(out, "# HELP {name}_total {help}");
                    continue;
                }
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_prometheus_accept_header() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Text004);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text004);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text004);
        assert_eq!(
            Format::negotiate(Some("text/plain;q=1, application/openmetrics-text;q=0.5")),
            Format::Text004
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Format::Text004
        );
    }

    #[test]
    fn text_004_renames_counter_families_and_drops_eof() {
        let om = "# HELP x_errors Errors.\n# TYPE x_errors counter\nx_errors_total{check=\"a\"} 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1.0\n# UNIT g seconds\n# EOF\n";
        let text = to_text_004(om);
        assert_eq!(
            text,
            "# HELP x_errors_total Errors.\n# TYPE x_errors_total counter\nx_errors_total{check=\"a\"} 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1.0\n"
        );
    }
}
