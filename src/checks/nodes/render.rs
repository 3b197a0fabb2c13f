//! The `nodes` check's facts as every rendering reads them (its [`Facts`] impl): the `nodes`
//! section of `/readyz` and `/health`, the `milvus_node_*` families (by role and id), the
//! node memory and binlog sizes it shares with other checks, the status page's panels and the
//! check table.

use super::*;

/// `nodes` in `/readyz` and `/health`.
#[derive(Serialize)]
struct NodesSection<'a> {
    /// `ok`, `error` (a node reports one, or the reply could not be read) or `unavailable`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    count: usize,
    nodes: Vec<NodeEntry<'a>>,
    /// Nodes an earlier reply listed that this one does not (`readiness.node_grace`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    missing: Vec<MissingEntry<'a>>,
    /// Roles below `readiness.min_nodes`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    below_minimum: Vec<BelowEntry<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    problems: &'a [String],
}

#[derive(Serialize)]
struct MissingEntry<'a> {
    role: &'a str,
    node_id: i64,
    last_seen_seconds_ago: u64,
}

#[derive(Serialize)]
struct BelowEntry<'a> {
    role: &'a str,
    nodes: usize,
    min_nodes: usize,
}

#[derive(Serialize)]
struct NodeEntry<'a> {
    role: &'a str,
    node_id: i64,
    /// A failed node's placeholder: its `node_id` label (`unreachable-1`); `node_id` is then
    /// the counter Milvus gave it, which changes on every reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    placeholder: Option<String>,
    name: &'a str,
    has_error: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    memory_percent: Option<f64>,
    memory_bytes: Option<u64>,
    memory_used_bytes: Option<u64>,
    cpu_usage_percent: Option<f64>,
    /// Milvus 2.5+ only (`localStorage.path`, converted from decimal GB).
    #[serde(skip_serializing_if = "Option::is_none")]
    disk_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disk_used_bytes: Option<u64>,
    version: Option<&'a str>,
}

fn node_labels(n: &NodeFacts) -> ([(&'static str, Clipped<'_>); 1], String) {
    ([("role", Clipped(&n.role))], n.id_label())
}

/// `role` and `node_id`, borrowed from the node and its formatted id.
fn labels<'a>(n: &'a NodeFacts, id: &'a str) -> [(&'static str, Clipped<'a>); 2] {
    [("role", Clipped(n.role.as_str())), ("node_id", Clipped(id))]
}

impl Facts for CheckResult<NodesFacts> {
    /// The check fails when the reply could not be read, or parts of it were not believed; a
    /// server without GetMetrics is no failure (it has nothing to tell).
    fn checks(&self) -> Vec<CheckRow> {
        let mut row = CheckRow::of("nodes", self);
        if let Some(f) = self.ok() {
            if let Some(first) = f.problems.first() {
                row.success = false;
                row.error = Some(match f.problems.len() {
                    1 => first.clone(),
                    n => format!("{first} (and {} more)", n - 1),
                });
            }
        }
        vec![row]
    }

    fn families(&self, f: &mut Family<'_, '_>, m: &MetricsContext<'_>) -> std::fmt::Result {
        let cached = m.cached;
        let Some(facts) = self.ok() else {
            return Ok(());
        };
        // node_id is a number formatted per sample; the role stays borrowed.
        let ids: Vec<(&NodeFacts, String)> =
            facts.nodes.iter().map(|n| (n, node_labels(n).1)).collect();
        f.gauge(
            "milvus_node_info",
            &format!("Each node Milvus reports (GetMetrics system_info), always 1.{cached}"),
            ids.iter().map(|(n, id)| {
                let [role, node] = labels(n, id);
                (
                    [
                        role,
                        node,
                        ("version", Clipped(n.version.as_deref().unwrap_or(""))),
                        (
                            "deploy_mode",
                            Clipped(n.deploy_mode.as_deref().unwrap_or("")),
                        ),
                    ],
                    1i64,
                )
            }),
        )?;
        f.gauge(
            "milvus_node_has_error",
            &format!("1 when the node reports an error in system_info.{cached}"),
            ids.iter()
                .map(|(n, id)| (labels(n, id), i64::from(n.has_error))),
        )?;
        let bytes = |get: fn(&NodeFacts) -> Option<u64>| {
            ids.iter().filter_map(move |(n, id)| {
                get(n).map(|b| (labels(n, id), i64::try_from(b).unwrap_or(i64::MAX)))
            })
        };
        f.gauge(
            "milvus_node_memory_bytes",
            &format!("Memory of the node (its limit or its machine's RAM), bytes.{cached}"),
            bytes(|n| n.memory_bytes),
        )?;
        f.gauge(
            "milvus_node_memory_used_bytes",
            &format!("Memory the node uses, bytes.{cached}"),
            bytes(|n| n.memory_used_bytes),
        )?;
        f.gauge(
            "milvus_node_cpu_usage_percent",
            &format!("CPU use the node reports, percent.{cached}"),
            ids.iter()
                .filter_map(|(n, id)| n.cpu_usage_percent.map(|c| (labels(n, id), c))),
        )?;
        f.gauge(
            "milvus_node_disk_bytes",
            &format!(
                "Size of the node's localStorage.path disk, bytes. Milvus 2.5 and later only \
                 (they report decimal GB, converted here); 2.3 and 2.4 report a fixed \
                 placeholder, which is not exported, and a node without the path reports 0, \
                 which is not either. Nothing is judged on it.{cached}"
            ),
            bytes(|n| n.disk_bytes),
        )?;
        f.gauge(
            "milvus_node_disk_used_bytes",
            &format!(
                "Used space of the node's localStorage.path disk, bytes (Milvus 2.5 and later, \
                 as milvus_node_disk_bytes).{cached}"
            ),
            bytes(|n| n.disk_used_bytes),
        )?;
        let missing: Vec<(&MissingNode, String)> = facts
            .missing
            .iter()
            .map(|m| (m, m.node_id.to_string()))
            .collect();
        f.gauge(
            "milvus_node_missing",
            &format!(
                "1 for each node an earlier system_info listed and this one does not (a \
                 coordinator drops a node it cannot reach), for readiness.node_grace after it \
                 was last seen.{cached}"
            ),
            missing.iter().map(|(m, id)| {
                (
                    [("role", Clipped(m.role.as_str())), ("node_id", Clipped(id))],
                    1i64,
                )
            }),
        )
    }

    fn size_hint(&self) -> usize {
        self.ok().map_or(0, |f| f.nodes.len() * 800)
    }

    /// Binlog bytes for the collections' families, and the nodes' memory for the `memory`
    /// rule: judged on the nodes when any reports both figures.
    fn share<'a>(&'a self, shared: &mut Shared<'a>) {
        shared.binlog_bytes = self.ok().map(|f| &f.binlog_bytes);
        shared.nodes_memory = match &self.outcome {
            Err(_) => NodesMemory::Unknown,
            Ok(f) => {
                let nodes: Vec<NodeMemory<'a>> = f
                    .with_memory()
                    .map(|(n, percent)| NodeMemory {
                        role: &n.role,
                        node_id: n.node_id,
                        percent,
                    })
                    .collect();
                if nodes.is_empty() {
                    NodesMemory::NotReported
                } else {
                    NodesMemory::Reported(nodes)
                }
            }
        };
    }

    fn sections(&self, _all: &Results, _address: &str) -> Vec<Section> {
        let section = match &self.outcome {
            Err(e) => NodesSection {
                status: "error",
                reason: Some(e.to_string()),
                count: 0,
                nodes: Vec::new(),
                missing: Vec::new(),
                below_minimum: Vec::new(),
                problems: &[],
            },
            Ok(f) => {
                let bad = f.nodes.iter().filter(|n| n.has_error).count()
                    + f.missing.len()
                    + f.below_minimum.len();
                NodesSection {
                    status: match (&f.unavailable, bad) {
                        (Some(_), _) => "unavailable",
                        (None, 0) => "ok",
                        _ => "error",
                    },
                    reason: f.unavailable.clone(),
                    count: f.nodes.len(),
                    nodes: f
                        .nodes
                        .iter()
                        .map(|n| NodeEntry {
                            role: &n.role,
                            node_id: n.node_id,
                            placeholder: n.placeholder.map(|_| n.id_label()),
                            name: &n.name,
                            has_error: n.has_error,
                            error: n.error_reason.as_deref(),
                            memory_percent: n.memory_percent().map(|p| round(p, 2)),
                            memory_bytes: n.memory_bytes,
                            memory_used_bytes: n.memory_used_bytes,
                            cpu_usage_percent: n.cpu_usage_percent.map(|c| round(c, 2)),
                            disk_bytes: n.disk_bytes,
                            disk_used_bytes: n.disk_used_bytes,
                            version: n.version.as_deref(),
                        })
                        .collect(),
                    missing: f
                        .missing
                        .iter()
                        .map(|m| MissingEntry {
                            role: &m.role,
                            node_id: m.node_id,
                            last_seen_seconds_ago: m.last_seen.as_secs(),
                        })
                        .collect(),
                    below_minimum: f
                        .below_minimum
                        .iter()
                        .map(|(role, have, want)| BelowEntry {
                            role,
                            nodes: *have,
                            min_nodes: *want,
                        })
                        .collect(),
                    problems: &f.problems,
                }
            }
        };
        vec![Section::top("nodes", &section)]
    }

    /// Nodes with an error first, then as Milvus listed them.
    fn panels(&self, _all: &Results, limit: usize) -> Vec<crate::checks::Panel> {
        use crate::checks::{Cell, Panel};
        let mut panel = Panel {
            id: "nodes",
            title: "Nodes",
            columns: &["Role", "ID", "Memory", "CPU", "Errors"],
            ..Panel::default()
        };
        match &self.outcome {
            Err(e) => panel.note = Some(format!("not read: {e}")),
            Ok(f) if f.unavailable.is_some() => panel.note = f.unavailable.clone(),
            Ok(f) => {
                let mut order: Vec<&NodeFacts> = f.nodes.iter().collect();
                order.sort_by_key(|n| !n.has_error);
                for n in order.iter().take(limit) {
                    let memory = match (n.memory_used_bytes, n.memory_bytes, n.memory_percent()) {
                        (Some(used), Some(total), Some(p)) => Some(format!(
                            "{p:.1}% of {:.1} GiB ({:.1} GiB used)",
                            total as f64 / (1u64 << 30) as f64,
                            used as f64 / (1u64 << 30) as f64
                        )),
                        _ => None,
                    };
                    let cpu = n.cpu_usage_percent.map(|c| match n.cpu_cores {
                        Some(cores) => format!("{c:.1}% of {cores} cores"),
                        None => format!("{c:.1}%"),
                    });
                    let errors = match (&n.error_reason, n.has_error) {
                        (Some(why), _) => Cell::judged(why.clone(), !n.has_error),
                        (None, true) => Cell::judged("error", false),
                        (None, false) => Cell::judged("none", true),
                    };
                    panel.rows.push(vec![
                        Cell::plain(n.role.clone()),
                        Cell::plain(n.node_id.to_string()),
                        Cell::maybe(memory),
                        Cell::maybe(cpu),
                        errors,
                    ]);
                }
                panel.more = order.len().saturating_sub(limit);
                if let Some(first) = f.problems.first() {
                    panel.note = Some(first.clone());
                }
            }
        }
        vec![panel]
    }

    fn table(&self, out: &mut String) {
        use std::fmt::Write as _;
        let Some(f) = self.ok() else { return };
        use crate::render::inert::terminal as t;
        if let Some(why) = &f.unavailable {
            let _ = writeln!(out, "\n  nodes: {}", t(why));
            return;
        }
        let _ = writeln!(
            out,
            "\n  {:<14} {:>6} {:<6} {:>8} {:>8}",
            "ROLE", "NODE", "ERROR", "MEMORY", "CPU"
        );
        for n in &f.nodes {
            let _ = writeln!(
                out,
                "  {:<14} {:>6} {:<6} {:>7} {:>8}{}",
                t(&n.role),
                n.id_label(),
                if n.has_error { "yes" } else { "no" },
                n.memory_percent()
                    .map(|p| format!("{p:.1}%"))
                    .unwrap_or_else(|| "-".into()),
                n.cpu_usage_percent
                    .map(|c| format!("{c:.1}%"))
                    .unwrap_or_else(|| "-".into()),
                n.error_reason
                    .as_ref()
                    .map(|e| format!("  ({})", t(e)))
                    .unwrap_or_default()
            );
        }
        for m in &f.missing {
            let _ = writeln!(
                out,
                "  {:<14} {:>6} {:<6} {:>7} {:>8}  (stopped reporting {}s ago)",
                t(&m.role),
                m.node_id,
                "gone",
                "-",
                "-",
                m.last_seen.as_secs()
            );
        }
    }
}
