//! The facts that cross from one check to another, and nothing else: a check never names a
//! sibling check's module or types. The check that learns a fact publishes it here
//! ([`Facts::share`](super::Facts::share)), borrowed from its own result; a rule, family or
//! section of another check reads it from the results ([`Results::shared`](super::Results::shared)).
//! So the checks form no circle (collections → nodes → milvus → collections once did), a
//! check can be removed without its readers failing to compile (they see `None`), and this
//! file is the one list of what the checks tell each other.
//!
//! Gathered on each call from the results as they are, so a fixture that edits one check's
//! facts is seen by every reader at once.

use std::collections::HashMap;

use serde::Serialize;

use crate::model::LoadState;

/// What the results of one refresh tell the checks that read another's facts. Each field is
/// `None` (or its default) when the check that knows it did not run or failed.
#[derive(Clone, Default)]
pub struct Shared<'a> {
    /// The `milvus` check reached Milvus and it answered. The `nodes` rule leaves a Milvus
    /// that did not answer at all to the `milvus` rule: one cause, one failing rule.
    pub milvus_answered: bool,
    /// The collections the `collections` check listed, for the count in
    /// `dependencies.milvus` and the probe rule's hint about a collection's load state.
    pub collections: Option<&'a dyn CollectionStates>,
    /// Milvus's components from its metrics port (the `components` check), shown in
    /// `dependencies.milvus.components`.
    pub components: Option<&'a [ComponentFacts]>,
    /// Binlog bytes by collection id, from datacoord's quota metrics (the `nodes` check), for
    /// `milvus_collection_binlog_bytes` of the collections kept.
    pub binlog_bytes: Option<&'a HashMap<i64, u64>>,
    /// The memory of Milvus's own nodes (the `nodes` check): where the `memory` rule looks.
    pub nodes_memory: NodesMemory<'a>,
    /// How long each read probe took, by (database, collection) (the `probe` check), for the
    /// status page's collections table.
    pub probe_latency: Vec<(&'a str, &'a str, std::time::Duration)>,
}

/// What the `collections` check knows of the collections it kept (those that get series).
pub trait CollectionStates: Sync {
    /// How many collections it kept.
    fn count(&self) -> usize;
    /// The load state of `db_name.name`, or `None` when it was not listed.
    fn load_state(&self, db_name: &str, name: &str) -> Option<LoadState>;
}

/// One Milvus component as its metrics port reports it (`GET :9091/healthz`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComponentFacts {
    pub role: String,
    pub node_id: String,
    /// Initializing, Healthy, Abnormal, StandBy or Stopping.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ComponentFacts {
    /// StandBy is a normal state for a coordinator in active-standby mode.
    pub fn is_ok(&self) -> bool {
        self.state == "Healthy" || self.state == "StandBy"
    }
}

/// The memory of the nodes Milvus reports (GetMetrics system_info).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum NodesMemory<'a> {
    /// No node reports both memory figures: no `nodes` check, a server without GetMetrics
    /// (Milvus Lite), or nodes without the figures.
    #[default]
    NotReported,
    /// The `nodes` check failed this refresh.
    Unknown,
    /// Every node with both figures and a non-zero total, in the reply's order.
    Reported(Vec<NodeMemory<'a>>),
}

/// One node's memory use, as Milvus measures it (used/total).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeMemory<'a> {
    /// `querynode`, `datanode`, `proxy`, … (system_info's `type`).
    pub role: &'a str,
    pub node_id: i64,
    pub percent: f64,
}

impl NodeMemory<'_> {
    /// `querynode 5`, as reasons name a node.
    pub fn label(&self) -> String {
        format!("{} {}", self.role, self.node_id)
    }
}
