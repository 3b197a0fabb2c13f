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
mod read;
mod render;
mod system_info;

pub use read::parse;

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
