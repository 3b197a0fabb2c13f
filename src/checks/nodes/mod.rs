//! The `nodes` check: what Milvus says about each of its own nodes, from one
//! `GetMetrics({"metric_type":"system_info"})` per refresh. A cluster's query node runs out of
//! memory on another machine than the exporter, and CheckHealth alone can miss a node that
//! reports an error; system_info names every node with its role, id, error and hardware
//! figures, and datacoord's quota metrics carry each collection's binlog size.
//!
//! Its rule is `nodes`: no node reports an error (a failed data or index node is a placeholder
//! with `type ""` and an id that changes on every reply: it gets a stable identity, its role
//! from its coordinator's edge, and still fails the rule with Milvus's reason), no node that
//! an earlier reply listed has stopped being listed (a coordinator drops a query node it
//! cannot reach, and 2.6's CheckHealth never asks the nodes: this is what catches a dead
//! one; see `memory.rs`), and no role has fewer nodes than `readiness.min_nodes` asks.
//! Disks are read by the line each node names: decimal gigabytes from 2.5, placeholder
//! constants on 2.3 and 2.4, which are not exported. Its facts also decide where the `memory`
//! rule looks: when Milvus reports nodes with memory figures, memory is judged on them, not on
//! the exporter's own host (see `checks::system`). A server without GetMetrics (Milvus Lite)
//! is `unavailable`: the rule is excluded and memory is judged on the host as before.
//!
//! The reply is a peer's JSON and may lie: it is at most [`MAX_GRPC_REPLY`] bytes (gRPC's
//! decode limit), at most [`MAX_NODES`] nodes are read, and a field that is missing or of the
//! wrong type is absent from the facts with the problem named, never a panic or a guess.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::milvus::proto::milvus as pb;
use futures::future::{BoxFuture, FutureExt};
use serde::Serialize;
use tokio::time::Instant;

mod memory;
mod system_info;

use memory::Memory;
use system_info::Scalar;

use super::facts::{round, CheckRow, Clipped, Facts, Family, MetricsContext, Results, Section};
use super::grpc::{clip, status_ok, MilvusClient};
use super::shared::{NodeMemory, NodesMemory, Release, Shared};
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
        let readiness = setup.readiness();
        Ok(Some(Box::new(NodesCheck {
            client: Arc::clone(setup.milvus),
            grace: readiness.node_grace,
            min_nodes: readiness.min_nodes.clone(),
            memory: Mutex::new(Memory::default()),
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
    /// Nodes an earlier reply listed that this one does not, within `readiness.node_grace`.
    pub missing: Vec<MissingNode>,
    /// Roles with fewer healthy nodes than `readiness.min_nodes` asks: (role, have, want).
    pub below_minimum: Vec<(String, usize, usize)>,
}

/// A node system_info listed and no longer lists.
#[derive(Clone, Debug, PartialEq)]
pub struct MissingNode {
    pub role: String,
    pub node_id: i64,
    /// Since the last reply that listed it.
    pub last_seen: Duration,
}

impl MissingNode {
    pub fn label(&self) -> String {
        format!("{} {}", self.role, self.node_id)
    }
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
    /// `querynode`, `datanode`, `proxy`, `rootcoord`, … (system_info's `type`; for a failed
    /// node's placeholder, the role its coordinator's edge names).
    pub role: String,
    /// Milvus's node id; for a placeholder, the throwaway counter Milvus gave it.
    pub node_id: i64,
    /// A failed node's placeholder whose real id is lost: its place (1, 2, …) among the
    /// placeholders of its role, which is its identity in labels (`unreachable-1`), so a
    /// new counter id per reply makes no new series.
    pub placeholder: Option<usize>,
    pub name: String,
    pub has_error: bool,
    pub error_reason: Option<String>,
    pub memory_bytes: Option<u64>,
    pub memory_used_bytes: Option<u64>,
    pub cpu_cores: Option<u64>,
    pub cpu_usage_percent: Option<f64>,
    /// The disk of `localStorage.path`, from Milvus 2.5 on (decimal GB there, bytes here);
    /// `None` on 2.3 and 2.4, which send the constants 100 MiB and 2 MiB, and when 2.5+ sends
    /// 0 (no such path, as on a proxy).
    pub disk_bytes: Option<u64>,
    pub disk_used_bytes: Option<u64>,
    pub version: Option<String>,
    /// The release `version` names, or the reply's when this node names none.
    pub release: Option<Release>,
    pub deploy_mode: Option<String>,
}

impl NodeFacts {
    pub fn memory_percent(&self) -> Option<f64> {
        match (self.memory_used_bytes, self.memory_bytes) {
            (Some(used), Some(total)) if total > 0 => Some(used as f64 / total as f64 * 100.0),
            _ => None,
        }
    }

    /// `querynode 5`, or `datanode unreachable-1` for a placeholder, as reasons and logs
    /// name a node.
    pub fn label(&self) -> String {
        format!("{} {}", self.role, self.id_label())
    }

    /// The `node_id` label: the id, or `unreachable-N` for a placeholder.
    pub fn id_label(&self) -> String {
        match self.placeholder {
            Some(k) => format!("unreachable-{k}"),
            None => self.node_id.to_string(),
        }
    }
}

struct NodesCheck {
    client: Arc<MilvusClient>,
    grace: Duration,
    min_nodes: Vec<(String, usize)>,
    /// The nodes seen, across refreshes (see `memory.rs`).
    memory: Mutex<Memory>,
}

impl NodesCheck {
    /// What only a memory of earlier replies tells, and the minimum per role.
    fn judge(&self, facts: &mut NodesFacts) {
        let now = tokio::time::Instant::now();
        facts.missing = self
            .memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(&facts.nodes, now, self.grace);
        facts.below_minimum = self
            .min_nodes
            .iter()
            .filter_map(|(role, want)| {
                let have = facts
                    .nodes
                    .iter()
                    .filter(|n| &n.role == role && !n.has_error && n.placeholder.is_none())
                    .count();
                (have < *want).then(|| (role.clone(), have, *want))
            })
            .collect();
    }
}

impl Check for NodesCheck {
    fn run(&self, deadline: Deadline) -> BoxFuture<'_, Box<dyn Facts>> {
        async move {
            let mut r = timed(system_info(&self.client, deadline.at)).await;
            if let Ok(f) = &mut r.outcome {
                if f.unavailable.is_none() {
                    self.judge(f);
                }
            }
            let r: Box<dyn Facts> = Box::new(r);
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
    // The reply's own release, for a node that names none (a placeholder, an untagged build).
    let reply_release = list.iter().find_map(|e| {
        let sys = e.get()?.infos.get()?.system_info.get()?;
        match &sys.build_version {
            Scalar::Text(v) => Release::parse(v),
            _ => None,
        }
    });
    // Each coordinator's `manage` edges: the role of every node it manages, by identifier.
    let mut managed: HashMap<i64, String> = HashMap::new();
    for e in list.iter().filter_map(|e| e.get()) {
        for (id, role) in &e.connected.0 {
            if managed.len() < MAX_NODES {
                managed.entry(*id).or_insert_with(|| role.clone());
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut placeholders: HashMap<String, usize> = HashMap::new();
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
        let has_error = field.flag(&infos.has_error, "has_error");
        let name = field.text(&infos.name, "name").unwrap_or_default();
        let typed = field.text(&infos.role, "type").filter(|r| !r.is_empty());
        let mut node_id = field
            .int(&infos.id, "id")
            .or_else(|| field.int(&entry.identifier, "identifier"))
            .unwrap_or(-1);
        // A failed node's placeholder has no type and a counter id. Its name, when the node
        // answered with an error status, is the node's own (`datanode9`); when the RPC
        // failed it is empty, and the coordinator's edge still names the role.
        let mut placeholder = None;
        let role = match (typed, has_error) {
            (Some(r), _) => r,
            (None, true) => match split_name(&name) {
                Some((role, id)) => {
                    node_id = id;
                    role
                }
                None => {
                    let role = entry
                        .identifier
                        .as_i64()
                        .or(Some(node_id))
                        .and_then(|id| managed.get(&id).cloned())
                        .unwrap_or_else(|| "unknown".into());
                    let k = placeholders.entry(role.clone()).or_insert(0);
                    *k += 1;
                    placeholder = Some(*k);
                    role
                }
            },
            (None, false) => "unknown".into(),
        };
        // Cut to the label's bound here, so two roles that differ only past it are one node
        // listed twice, not two series with the same labels.
        let role = crate::limits::clip_bytes(&role, crate::limits::MAX_LABEL_BYTES)
            .0
            .to_string();
        if placeholder.is_none() && !seen.insert((role.clone(), node_id)) {
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
        let version = field
            .text(&sys.build_version, "build_version")
            .filter(|v| !v.is_empty());
        let release = version
            .as_deref()
            .and_then(Release::parse)
            .or(reply_release);
        // The units come from the line, never from the number's shape: a whole `105` on 2.5
        // is gigabytes, and 2.3/2.4's figures are constants whatever they look like. A node
        // of no known release is taken to be recent (an untagged build is a branch head).
        let (disk_bytes, disk_used_bytes) = if release.is_none_or(|r| r.reports_disk()) {
            let total = field.gigabytes(&hw.disk, "disk");
            let used = field.gigabytes(&hw.disk_usage, "disk_usage");
            match total {
                Some(t) if t > 0 => (Some(t), used),
                _ => (None, None),
            }
        } else {
            (None, None)
        };
        let node = NodeFacts {
            name,
            has_error,
            error_reason: field
                .text(&infos.error_reason, "error_reason")
                .filter(|r| !r.is_empty()),
            memory_bytes: field.uint(&hw.memory, "memory"),
            memory_used_bytes: field.uint(&hw.memory_usage, "memory_usage"),
            cpu_cores: field.uint(&hw.cpu_core_count, "cpu_core_count"),
            cpu_usage_percent: field.float(&hw.cpu_core_usage, "cpu_core_usage"),
            disk_bytes,
            disk_used_bytes,
            version,
            release,
            deploy_mode: field
                .text(&sys.deploy_mode, "deploy_mode")
                .filter(|v| !v.is_empty()),
            role,
            node_id,
            placeholder,
        };
        if node.role == "datacoord" {
            if let Some(b) = infos.quota_metrics.get().and_then(|q| q.binlog.get()) {
                facts.binlog_bytes.extend(b.sizes.iter().copied());
            }
        }
        facts.nodes.push(node);
    }
    facts.nodes.sort_by(|a, b| {
        (&a.role, a.placeholder, a.node_id).cmp(&(&b.role, b.placeholder, b.node_id))
    });
    Ok(facts)
}

/// `datanode9` → (`datanode`, 9): the name a node's placeholder keeps when the node answered
/// with an error status. Only a known role with a number counts.
fn split_name(name: &str) -> Option<(String, i64)> {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (role, id) = name.split_at(name.len() - digits);
    let id = id.parse().ok()?;
    crate::config::NODE_ROLES
        .contains(&role)
        .then(|| (role.to_string(), id))
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

    /// Decimal gigabytes (a float, or a whole number: Go writes `105` for 105.0) as bytes.
    fn gigabytes(&mut self, v: &Scalar, key: &str) -> Option<u64> {
        let gb = match v {
            Scalar::Float(f) if f.is_finite() && *f >= 0.0 => *f,
            Scalar::Int(i) if *i >= 0 => *i as f64,
            Scalar::UInt(u) => *u as f64,
            other => return self.wrong(key, "a number of gigabytes", other),
        };
        let bytes = (gb * 1e9).round();
        // 2^64 bytes is 18 EB: a figure past it is no disk's.
        if bytes >= u64::MAX as f64 {
            return self.wrong(key, "a disk size", v);
        }
        Some(bytes as u64)
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
            let mut problems: Vec<String> = bad
                .iter()
                .map(|n| {
                    format!(
                        "{} reports an error: {}",
                        n.label(),
                        n.error_reason.as_deref().unwrap_or("no reason given")
                    )
                })
                .chain(f.missing.iter().map(|m| {
                    format!(
                        "{} stopped reporting (last seen {} ago)",
                        m.label(),
                        humantime::format_duration(Duration::from_secs(m.last_seen.as_secs()))
                    )
                }))
                .chain(f.below_minimum.iter().map(|(role, have, want)| {
                    format!(
                        "{have} {role} reporting without an error; readiness.min_nodes wants {want}"
                    )
                }))
                .collect();
            if problems.is_empty() {
                return RuleStatus::Pass;
            }
            let total = problems.len();
            problems.truncate(MAX_NAMED_IN_REASON);
            if total > MAX_NAMED_IN_REASON {
                problems.push(format!("and {} more", total - MAX_NAMED_IN_REASON));
            }
            RuleStatus::Fail(problems.join("; "))
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

    fn fixture(path: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/milvus");
        std::fs::read_to_string(root.join(path)).expect("fixture")
    }

    fn node<'a>(f: &'a NodesFacts, role: &str, id: i64) -> &'a NodeFacts {
        f.nodes
            .iter()
            .find(|n| n.role == role && n.node_id == id && n.placeholder.is_none())
            .unwrap_or_else(|| panic!("{role} {id} in {:#?}", f.nodes))
    }

    #[test]
    fn healthy_replies_of_every_line_read_without_a_problem() {
        for path in [
            "2.4/system_info_standalone.json",
            "2.4/system_info_cluster.json",
            "2.5/system_info_standalone.json",
            "2.5/system_info_cluster.json",
            "2.6/system_info_standalone.json",
            "2.6/system_info_cluster.json",
            "2.6/system_info_cluster_before_2.6.14.json",
        ] {
            let f = parse(&fixture(path)).expect(path);
            assert!(f.problems.is_empty(), "{path}: {:?}", f.problems);
            assert!(f.nodes.iter().all(|n| !n.has_error), "{path}");
            assert!(f.nodes.len() >= 6, "{path}: {}", f.nodes.len());
        }
    }

    #[test]
    fn disk_is_decimal_gigabytes_from_25_and_a_placeholder_before() {
        let f = parse(&fixture("2.5/system_info_cluster.json")).expect("2.5");
        let qn = node(&f, "querynode", 6);
        assert_eq!(qn.disk_bytes, Some(105_089_261_568));
        assert_eq!(qn.disk_used_bytes, Some(38_214_746_112));
        assert_eq!(
            node(&f, "proxy", 5).disk_bytes,
            None,
            "0 GB: no localStorage.path"
        );
        let f = parse(&fixture("2.4/system_info_cluster.json")).expect("2.4");
        assert!(f
            .nodes
            .iter()
            .all(|n| n.disk_bytes.is_none() && n.disk_used_bytes.is_none()));
        // The units follow the release, not the number: a whole 105 on 2.5 is 105 GB, and a
        // fraction on a 2.4 is still no measurement.
        let whole = fixture("2.5/system_info_cluster.json").replace("105.089261568", "105");
        let f = parse(&whole).expect("whole");
        assert_eq!(node(&f, "querynode", 6).disk_bytes, Some(105_000_000_000));
        let v = fixture("2.5/system_info_cluster.json").replace("\"2.5.27\"", "\"v2.4.23\"");
        let f = parse(&v).expect("as 2.4");
        assert_eq!(node(&f, "querynode", 6).disk_bytes, None);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
    }

    #[test]
    fn a_failed_data_node_keeps_one_identity_whatever_counter_id_it_gets() {
        for line in ["2.4", "2.5", "2.6"] {
            let json = fixture(&format!("{line}/system_info_cluster_failed_datanode.json"));
            let a = parse(&json).expect(line);
            let b = parse(&json.replace(":37", ":41")).expect(line);
            let p = |f: &NodesFacts| {
                f.nodes
                    .iter()
                    .filter(|n| n.placeholder.is_some())
                    .map(|n| (n.role.clone(), n.id_label(), n.has_error))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                p(&a),
                vec![("datanode".to_string(), "unreachable-1".to_string(), true)],
                "{line}: the role comes from datacoord's edge"
            );
            assert_eq!(p(&a), p(&b), "{line}: a new counter id is no new identity");
            let n = a
                .nodes
                .iter()
                .find(|n| n.placeholder.is_some())
                .expect("placeholder");
            assert!(
                n.error_reason
                    .as_deref()
                    .is_some_and(|r| r.contains("connection refused")),
                "{n:?}"
            );
            assert_eq!(n.label(), "datanode unreachable-1");
        }
        // A placeholder that kept its name (the node answered an error status) is that node.
        let named = fixture("2.5/system_info_cluster_failed_datanode.json").replacen(
            "\"name\":\"\"",
            "\"name\":\"datanode9\"",
            1,
        );
        let f = parse(&named).expect("named");
        assert!(node(&f, "datanode", 9).has_error);
    }

    #[test]
    fn roles_of_26_and_its_rounded_integers_leave_the_binlog_mapping_exact() {
        let f = parse(&fixture("2.6/system_info_cluster.json")).expect("2.6");
        assert!(f.nodes.iter().all(|n| n.role != "indexnode"));
        for role in ["rootcoord", "datacoord", "querycoord"] {
            assert_eq!(
                node(&f, role, 1).role,
                role,
                "coordinators share mixcoord's id"
            );
        }
        assert!(node(&f, "streamingnode", 7).memory_bytes.is_some());
        // Collection ids are the map's keys, which 2.6 keeps as text: exact.
        assert_eq!(
            f.binlog_bytes.get(&455_932_870_893_158_415),
            Some(&1_548_290_331)
        );
        let before = parse(&fixture("2.6/system_info_cluster_before_2.6.14.json")).expect("old");
        assert_eq!(node(&before, "querynode", 7).role, "querynode");
    }
}
