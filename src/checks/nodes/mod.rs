//! The `nodes` check: what Milvus says about each of its own nodes, from one
//! `GetMetrics({"metric_type":"system_info"})` per refresh. A cluster's query node runs out of
//! memory on another machine than the exporter, and CheckHealth alone can miss a node that
//! reports an error; system_info names every node with its role, id, error and hardware
//! figures, and datacoord's quota metrics carry each collection's binlog size.
//!
//! Its rule is `nodes` (no node reports an error). Its facts also decide where the `memory`
//! rule looks: when Milvus reports nodes with memory figures, memory is judged on them, not on
//! the exporter's own host (see `checks::system`). A server without GetMetrics (Milvus Lite)
//! is `unavailable`: the rule is excluded and memory is judged on the host as before.
//!
//! The reply is a peer's JSON and may lie: it is at most [`MAX_GRPC_REPLY`] bytes (gRPC's
//! decode limit), at most [`MAX_NODES`] nodes are read, and a field that is missing or of the
//! wrong type is absent from the facts with the problem named, never a panic or a guess.

use std::collections::HashMap;
use std::sync::Arc;

use ::milvus::proto::milvus as pb;
use futures::future::{BoxFuture, FutureExt};
use serde::Serialize;
use tokio::time::Instant;

mod system_info;

use system_info::Scalar;

use super::facts::{round, CheckRow, Clipped, Facts, Family, MetricsContext, Results, Section};
use super::grpc::{clip, status_ok, MilvusClient};
use super::shared::{NodeMemory, NodesMemory, Shared};
use super::{timed, Check, CheckError, Deadline, Registration, Rule, RuleInput, Setup};
use crate::limits::MAX_NAMED_IN_REASON;
use crate::model::{CheckResult, RuleStatus};

/// Nodes read from one reply. A real cluster has tens; a reply listing more than this is
/// not believed in full (the rest are counted, and the check says so).
pub const MAX_NODES: usize = 1_000;

pub static CHECK: Registration = Registration {
    name: "nodes",
    rules: &[Rule {
        name: "nodes",
        rank: 25,
        probe_targets: true,
        eval: nodes_rule,
    }],
    build: |setup: &Setup<'_>| {
        Ok(Some(Box::new(NodesCheck {
            client: Arc::clone(setup.milvus),
        })))
    },
};

/// What system_info said about the cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodesFacts {
    /// `Some(why)` when the server cannot report its nodes (Milvus Lite: Unimplemented).
    pub unavailable: Option<String>,
    pub nodes: Vec<NodeFacts>,
    /// Binlog bytes by collection id, from datacoord's `quota_metrics.CollectionBinlogSize`.
    pub binlog_bytes: HashMap<i64, u64>,
    /// What was wrong with the reply (fields missing or of the wrong type, nodes past
    /// [`MAX_NODES`]); the facts that were readable are kept.
    pub problems: Vec<String>,
}

impl NodesFacts {
    /// The nodes whose memory can be judged: both figures present and a non-zero total.
    pub fn with_memory(&self) -> impl Iterator<Item = (&NodeFacts, f64)> {
        self.nodes
            .iter()
            .filter_map(|n| n.memory_percent().map(|p| (n, p)))
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeFacts {
    /// `querynode`, `datanode`, `proxy`, `rootcoord`, … (system_info's `type`).
    pub role: String,
    pub node_id: i64,
    pub name: String,
    pub has_error: bool,
    pub error_reason: Option<String>,
    pub memory_bytes: Option<u64>,
    pub memory_used_bytes: Option<u64>,
    pub cpu_cores: Option<u64>,
    pub cpu_usage_percent: Option<f64>,
    /// Milvus 2.3 reports fixed placeholders here (100 MiB and 2 MiB): exported, never judged.
    pub disk_bytes: Option<u64>,
    pub disk_used_bytes: Option<u64>,
    pub version: Option<String>,
    pub deploy_mode: Option<String>,
}

impl NodeFacts {
    pub fn memory_percent(&self) -> Option<f64> {
        match (self.memory_used_bytes, self.memory_bytes) {
            (Some(used), Some(total)) if total > 0 => Some(used as f64 / total as f64 * 100.0),
            _ => None,
        }
    }

    /// `querynode 5`, as reasons and logs name a node.
    pub fn label(&self) -> String {
        format!("{} {}", self.role, self.node_id)
    }
}

struct NodesCheck {
    client: Arc<MilvusClient>,
}

impl Check for NodesCheck {
    fn run(&self, deadline: Deadline) -> BoxFuture<'_, Box<dyn Facts>> {
        async move {
            let r: Box<dyn Facts> = Box::new(timed(system_info(&self.client, deadline.at)).await);
            r
        }
        .boxed()
    }

    fn failed(&self, error: &CheckError) -> Option<Box<dyn Facts>> {
        super::failed::<NodesFacts>(error)
    }
}

async fn system_info(client: &MilvusClient, deadline: Instant) -> Result<NodesFacts, CheckError> {
    let reply = client
        .call(
            "GetMetrics",
            deadline,
            None,
            pb::GetMetricsRequest {
                base: None,
                request: r#"{"metric_type":"system_info"}"#.to_string(),
            },
            |mut c, r| async move { c.get_metrics(r).await },
        )
        .await;
    let r = match reply {
        Err(CheckError::Rpc {
            ref code,
            ref message,
            ..
        }) if code == "Unimplemented" => {
            return Ok(NodesFacts {
                unavailable: Some(format!(
                    "this Milvus does not report its nodes (GetMetrics: Unimplemented{})",
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {message}")
                    }
                )),
                ..NodesFacts::default()
            })
        }
        other => other?,
    };
    status_ok("GetMetrics", r.status.as_ref())?;
    parse(&r.response)
}

/// Reads system_info's JSON. Only a reply that is not JSON of that shape, or has no
/// `nodes_info` list, fails as a whole; everything else is read field by field.
pub fn parse(json: &str) -> Result<NodesFacts, CheckError> {
    let malformed = |message: String| CheckError::Malformed {
        rpc: "GetMetrics",
        message,
    };
    let doc: system_info::Doc = serde_json::from_str(json)
        .map_err(|e| malformed(format!("system_info is not JSON: {}", clip(&e.to_string()))))?;
    let (list, total) = match doc.nodes_info {
        system_info::NodeList::Nodes { kept, total } => (kept, total),
        _ => return Err(malformed("system_info has no nodes_info list".into())),
    };
    let mut facts = NodesFacts::default();
    if total > MAX_NODES {
        facts.problems.push(format!(
            "system_info lists {total} nodes; the first {MAX_NODES} are read"
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let none_hw = system_info::Hardware::default();
    let none_sys = system_info::SysInfo::default();
    for (i, entry) in list.iter().enumerate() {
        let Some((entry, infos)) = entry.get().and_then(|e| e.infos.get().map(|i| (e, i))) else {
            facts
                .problems
                .push(format!("nodes_info[{i}] has no infos object"));
            continue;
        };
        let mut field = Fields {
            at: i,
            problems: &mut facts.problems,
        };
        // Cut to the label's bound here, so two roles that differ only past it are one node
        // listed twice, not two series with the same labels.
        let role = field
            .text(&infos.role, "type")
            .map(|r| {
                crate::limits::clip_bytes(&r, crate::limits::MAX_LABEL_BYTES)
                    .0
                    .to_string()
            })
            .unwrap_or_else(|| "unknown".into());
        let node_id = field
            .int(&infos.id, "id")
            .or_else(|| field.int(&entry.identifier, "identifier"))
            .unwrap_or(-1);
        if !seen.insert((role.clone(), node_id)) {
            facts
                .problems
                .push(format!("nodes_info[{i}]: {role} {node_id} is listed twice"));
            continue;
        }
        for (key, what) in [
            ("hardware_infos", infos.hardware_infos.wrong()),
            ("system_info", infos.system_info.wrong()),
            ("quota_metrics", infos.quota_metrics.wrong()),
        ] {
            if let (Some(what), true) = (what, field.problems.len() < crate::limits::MAX_REASONS) {
                field
                    .problems
                    .push(format!("nodes_info[{i}].{key} is not an object: {what}"));
            }
        }
        let hw = infos.hardware_infos.get().unwrap_or(&none_hw);
        let sys = infos.system_info.get().unwrap_or(&none_sys);
        let node = NodeFacts {
            name: field.text(&infos.name, "name").unwrap_or_default(),
            has_error: field.flag(&infos.has_error, "has_error"),
            error_reason: field
                .text(&infos.error_reason, "error_reason")
                .filter(|r| !r.is_empty()),
            memory_bytes: field.uint(&hw.memory, "memory"),
            memory_used_bytes: field.uint(&hw.memory_usage, "memory_usage"),
            cpu_cores: field.uint(&hw.cpu_core_count, "cpu_core_count"),
            cpu_usage_percent: field.float(&hw.cpu_core_usage, "cpu_core_usage"),
            disk_bytes: field.uint(&hw.disk, "disk"),
            disk_used_bytes: field.uint(&hw.disk_usage, "disk_usage"),
            version: field
                .text(&sys.build_version, "build_version")
                .filter(|v| !v.is_empty()),
            deploy_mode: field
                .text(&sys.deploy_mode, "deploy_mode")
                .filter(|v| !v.is_empty()),
            role,
            node_id,
        };
        if node.role == "datacoord" {
            if let Some(b) = infos.quota_metrics.get().and_then(|q| q.binlog.get()) {
                facts.binlog_bytes.extend(b.sizes.iter().copied());
            }
        }
        facts.nodes.push(node);
    }
    facts
        .nodes
        .sort_by(|a, b| (&a.role, a.node_id).cmp(&(&b.role, b.node_id)));
    Ok(facts)
}

/// Reads fields of one node, noting each one present with the wrong type. A missing field is
/// no problem (older servers lack some); a field of the wrong type is a lie worth naming.
struct Fields<'a> {
    at: usize,
    problems: &'a mut Vec<String>,
}

impl Fields<'_> {
    fn wrong<T>(&mut self, key: &str, want: &str, got: &Scalar) -> Option<T> {
        if !matches!(got, Scalar::Missing | Scalar::Null)
            && self.problems.len() < crate::limits::MAX_REASONS
        {
            self.problems.push(format!(
                "nodes_info[{}].{key} is not {want}: {}",
                self.at,
                clip(&got.describe())
            ));
        }
        None
    }

    fn text(&mut self, v: &Scalar, key: &str) -> Option<String> {
        match v {
            Scalar::Text(s) => Some(s.clone()),
            other => self.wrong(key, "text", other),
        }
    }

    fn int(&mut self, v: &Scalar, key: &str) -> Option<i64> {
        match v {
            Scalar::Int(i) => Some(*i),
            Scalar::UInt(u) if i64::try_from(*u).is_ok() => i64::try_from(*u).ok(),
            other => self.wrong(key, "an integer", other),
        }
    }

    fn uint(&mut self, v: &Scalar, key: &str) -> Option<u64> {
        match v {
            Scalar::UInt(u) => Some(*u),
            Scalar::Int(i) if *i >= 0 => u64::try_from(*i).ok(),
            other => self.wrong(key, "a byte count", other),
        }
    }

    fn float(&mut self, v: &Scalar, key: &str) -> Option<f64> {
        match v {
            Scalar::Float(f) if f.is_finite() => Some(*f),
            Scalar::Int(i) => Some(*i as f64),
            Scalar::UInt(u) => Some(*u as f64),
            other => self.wrong(key, "a number", other),
        }
    }

    /// A missing flag is false; a flag of another type is named and taken as an error, since
    /// a node that cannot say it is well is not known to be.
    fn flag(&mut self, v: &Scalar, key: &str) -> bool {
        match v {
            Scalar::Bool(b) => *b,
            Scalar::Missing | Scalar::Null => false,
            other => {
                let _: Option<()> = self.wrong(key, "true or false", other);
                true
            }
        }
    }
}

fn nodes_rule(input: &RuleInput<'_>) -> RuleStatus {
    match input.results.result::<NodesFacts>().map(|r| &r.outcome) {
        None => RuleStatus::Excluded,
        // A Milvus that did not answer at all is the `milvus` rule's to report (as for
        // `quota`): one cause, one failing rule.
        Some(Err(_)) if !input.results.shared().milvus_answered => RuleStatus::Pass,
        Some(Err(e)) => RuleStatus::Fail(format!("Milvus node health unknown: {e}")),
        Some(Ok(f)) if f.unavailable.is_some() => RuleStatus::Excluded,
        Some(Ok(f)) => {
            let bad: Vec<&NodeFacts> = f.nodes.iter().filter(|n| n.has_error).collect();
            if bad.is_empty() {
                return RuleStatus::Pass;
            }
            let mut named: Vec<String> = bad
                .iter()
                .take(MAX_NAMED_IN_REASON)
                .map(|n| {
                    format!(
                        "{} reports an error: {}",
                        n.label(),
                        n.error_reason.as_deref().unwrap_or("no reason given")
                    )
                })
                .collect();
            if bad.len() > MAX_NAMED_IN_REASON {
                named.push(format!(
                    "and {} more nodes",
                    bad.len() - MAX_NAMED_IN_REASON
                ));
            }
            RuleStatus::Fail(named.join("; "))
        }
    }
}

/// `nodes` in `/readyz` and `/health`.
#[derive(Serialize)]
struct NodesSection<'a> {
    /// `ok`, `error` (a node reports one, or the reply could not be read) or `unavailable`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    count: usize,
    nodes: Vec<NodeEntry<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    problems: &'a [String],
}

#[derive(Serialize)]
struct NodeEntry<'a> {
    role: &'a str,
    node_id: i64,
    name: &'a str,
    has_error: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    memory_percent: Option<f64>,
    memory_bytes: Option<u64>,
    memory_used_bytes: Option<u64>,
    cpu_usage_percent: Option<f64>,
    version: Option<&'a str>,
}

fn node_labels(n: &NodeFacts) -> ([(&'static str, Clipped<'_>); 1], String) {
    ([("role", Clipped(&n.role))], n.node_id.to_string())
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
                "Disk of the node, bytes, as Milvus reports it (2.3 reports a fixed placeholder; \
                 nothing is judged on it).{cached}"
            ),
            bytes(|n| n.disk_bytes),
        )?;
        f.gauge(
            "milvus_node_disk_used_bytes",
            &format!("Disk the node uses, bytes, as Milvus reports it.{cached}"),
            bytes(|n| n.disk_used_bytes),
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
                problems: &[],
            },
            Ok(f) => {
                let bad = f.nodes.iter().filter(|n| n.has_error).count();
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
                            name: &n.name,
                            has_error: n.has_error,
                            error: n.error_reason.as_deref(),
                            memory_percent: n.memory_percent().map(|p| round(p, 2)),
                            memory_bytes: n.memory_bytes,
                            memory_used_bytes: n.memory_used_bytes,
                            cpu_usage_percent: n.cpu_usage_percent.map(|c| round(c, 2)),
                            version: n.version.as_deref(),
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
        if let Some(why) = &f.unavailable {
            let _ = writeln!(out, "\n  nodes: {why}");
            return;
        }
        let _ = writeln!(
            out,
            "\n  {:<12} {:>6} {:<6} {:>8} {:>8}",
            "ROLE", "NODE", "ERROR", "MEMORY", "CPU"
        );
        for n in &f.nodes {
            let _ = writeln!(
                out,
                "  {:<12} {:>6} {:<6} {:>7} {:>8}{}",
                n.role,
                n.node_id,
                if n.has_error { "yes" } else { "no" },
                n.memory_percent()
                    .map(|p| format!("{p:.1}%"))
                    .unwrap_or_else(|| "-".into()),
                n.cpu_usage_percent
                    .map(|c| format!("{c:.1}%"))
                    .unwrap_or_else(|| "-".into()),
                n.error_reason
                    .as_ref()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_NODES: &str = r#"{"nodes_info":[
      {"identifier":1,"infos":{"has_error":false,"error_reason":"","name":"querynode1",
        "hardware_infos":{"cpu_core_count":8,"cpu_core_usage":12.5,"memory":1000,"memory_usage":930,
          "disk":104857600,"disk_usage":2097152},
        "system_info":{"build_version":"v2.3.5","deploy_mode":"CLUSTER"},"type":"querynode","id":1}},
      {"identifier":7,"infos":{"has_error":true,"error_reason":"segment load failed","name":"datacoord7",
        "hardware_infos":{"memory":2000,"memory_usage":100},"type":"datacoord","id":7,
        "quota_metrics":{"TotalBinlogSize":300,"CollectionBinlogSize":{"4471":200,"4472":100,"x":5}}}}
    ]}"#;

    #[test]
    fn system_info_is_read_into_typed_node_facts() {
        let f = parse(TWO_NODES).expect("parses");
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(f.nodes.len(), 2);
        let dc = &f.nodes[0];
        assert_eq!((dc.role.as_str(), dc.node_id), ("datacoord", 7));
        assert!(dc.has_error);
        assert_eq!(dc.error_reason.as_deref(), Some("segment load failed"));
        let qn = &f.nodes[1];
        assert_eq!(qn.memory_percent(), Some(93.0));
        assert_eq!(qn.cpu_usage_percent, Some(12.5));
        assert_eq!(qn.version.as_deref(), Some("v2.3.5"));
        assert_eq!(f.binlog_bytes.get(&4471), Some(&200));
        assert_eq!(
            f.binlog_bytes.len(),
            2,
            "the entry keyed x is no collection id"
        );
    }

    #[test]
    fn a_lying_reply_is_read_as_far_as_it_can_be_and_the_lies_are_named() {
        let lying = r#"{"nodes_info":[
          {"infos":{"type":"querynode","id":"three","has_error":"no",
                    "hardware_infos":{"memory":"16GB","memory_usage":-5,"cpu_core_usage":"NaN"}}},
          {"infos":{"type":"proxy","id":2}},
          {"infos":{"type":"proxy","id":2}},
          {"nothing":true}
        ]}"#;
        let f = parse(lying).expect("a reply with a nodes_info list is read");
        assert_eq!(f.nodes.len(), 2, "{:?}", f.nodes);
        let q = f
            .nodes
            .iter()
            .find(|n| n.role == "querynode")
            .expect("querynode");
        assert!(q.has_error, "a flag that is not a bool counts as an error");
        assert_eq!(q.memory_bytes, None);
        assert_eq!(q.memory_used_bytes, None);
        assert_eq!(q.memory_percent(), None);
        let text = f.problems.join("\n");
        for needle in [
            "id is not an integer",
            "memory is not a byte count",
            "listed twice",
            "no infos",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
    }

    #[test]
    fn not_json_or_no_list_fails_with_a_clear_error() {
        for bad in [
            "",
            "<html>",
            "{\"nodes_info\":5}",
            "[]",
            &"[".repeat(10_000),
        ] {
            let e = parse(bad).expect_err(bad);
            let text = e.to_string();
            assert!(text.starts_with("GetMetrics"), "{text}");
            assert!(text.len() < 400, "one bounded line: {text}");
        }
    }

    #[test]
    fn a_hundred_thousand_nodes_are_capped_and_said_to_be() {
        let one = r#"{"infos":{"type":"querynode","id":1,"has_error":false}}"#;
        let mut json = String::from(r#"{"nodes_info":["#);
        for i in 0..100_000 {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&one.replace("\"id\":1", &format!("\"id\":{i}")));
        }
        json.push_str("]}");
        let f = parse(&json).expect("parses");
        assert_eq!(f.nodes.len(), MAX_NODES);
        assert!(
            f.problems[0].contains("lists 100000 nodes"),
            "{:?}",
            f.problems
        );
    }

    #[test]
    fn objects_and_lists_where_scalars_belong_are_skipped_and_named() {
        let zeros = vec!["0"; 200_000].join(",");
        let json = format!(
            r#"{{"nodes_info":[{{"infos":{{"type":"datacoord","id":3,"name":{{"a":[1,2]}},
              "hardware_infos":[{zeros}],"system_info":"v2",
              "quota_metrics":{{"Rms":[{zeros}],"CollectionBinlogSize":{{"1":5,"2":"x","y":7,"3":[1]}}}}}}}}]}}"#
        );
        let f = parse(&json).expect("parses");
        assert_eq!(f.nodes.len(), 1);
        let n = &f.nodes[0];
        assert_eq!((n.role.as_str(), n.node_id), ("datacoord", 3));
        assert_eq!(n.name, "");
        assert_eq!(n.memory_bytes, None, "hardware_infos was a list");
        assert!(
            f.problems
                .iter()
                .any(|p| p.contains("hardware_infos is not an object: a list")),
            "{:?}",
            f.problems
        );
        assert_eq!(
            f.binlog_bytes.len(),
            1,
            "only 1 -> 5 is an id and a byte count"
        );
        assert_eq!(f.binlog_bytes.get(&1), Some(&5));
        assert!(
            f.problems
                .iter()
                .any(|p| p.contains("name is not text: an object")),
            "{:?}",
            f.problems
        );
    }

    #[test]
    fn a_key_given_twice_is_a_clear_error_and_deep_nesting_is_skipped_without_recursion() {
        let e = parse(r#"{"nodes_info":[{"infos":{"id":1,"id":2}}]}"#).expect_err("refused");
        assert!(e.to_string().starts_with("GetMetrics"), "{e}");
        // serde_json skips an ignored value without recursing, so 5,000 levels cost no stack.
        let deep = format!(
            r#"{{"nodes_info":[{{"infos":{{"type":"proxy","id":1,"name":{}1{}}}}}]}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let f = parse(&deep).expect("skipped");
        assert_eq!(f.nodes[0].role, "proxy");
        assert!(
            f.problems[0].contains("name is not text: a list"),
            "{:?}",
            f.problems
        );
    }

    #[test]
    fn roles_that_differ_only_past_the_label_bound_are_one_node() {
        let a = "r".repeat(300);
        let json = format!(
            r#"{{"nodes_info":[{{"infos":{{"type":"{a}","id":1}}}},{{"infos":{{"type":"{a}x","id":1}}}}]}}"#
        );
        let f = parse(&json).expect("parses");
        assert_eq!(f.nodes.len(), 1, "one series, not two with the same labels");
        assert!(
            f.problems[0].contains("is listed twice"),
            "{:?}",
            f.problems
        );
    }
}
