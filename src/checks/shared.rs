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
    /// The release GetVersion named (the `milvus` check), when it names one.
    pub release: Option<Release>,
}

/// A Milvus release as GetVersion and system_info's `build_version` name it: `v2.3.5` and
/// `v2.4.23` (git describe, with the `v`, maybe `-gpu` or `-3-gabc123` after it), `2.5.27` and
/// `2.6.18` (no `v` from 2.5.6 on). What each line reports differs (the units of a node's
/// disk, where quota states live), so the checks read the line from here, never from the
/// shape of a number. An untagged build (`master-20260101-abc1234`) names no release: `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Release {
    pub fn parse(text: &str) -> Option<Release> {
        let t = text.trim();
        let t = t.strip_prefix(['v', 'V']).unwrap_or(t);
        // `2.4.23`, then anything that is not part of the number (`-gpu`, `-3-gabc`, `+dev`).
        let end = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let mut parts = t[..end].split('.');
        let mut next = || parts.next().and_then(|p| p.parse::<u32>().ok());
        let major = next()?;
        let minor = next()?;
        let patch = next().unwrap_or(0);
        Some(Release {
            major,
            minor,
            patch,
        })
    }

    pub const fn new(major: u32, minor: u32, patch: u32) -> Release {
        Release {
            major,
            minor,
            patch,
        }
    }

    /// `2.5`: the release line, as the docs' compatibility table names it.
    pub fn line(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// From 2.5.0 a node's `disk`/`disk_usage` are decimal gigabytes of `localStorage.path`;
    /// 2.3 and 2.4 send the constants 100 MiB and 2 MiB, whatever the disk.
    pub fn reports_disk(&self) -> bool {
        *self >= Release::new(2, 5, 0)
    }

    /// Only 2.3 fills CheckHealth's `quota_states`; from 2.4.0 they live on the coordinator's
    /// metrics port alone.
    pub fn quota_in_check_health(&self) -> bool {
        *self < Release::new(2, 4, 0)
    }
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
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

#[cfg(test)]
mod tests {
    use super::Release;

    #[test]
    fn releases_are_read_with_and_without_the_leading_v_and_with_build_suffixes() {
        let r = |s| Release::parse(s);
        assert_eq!(r("v2.3.5"), Some(Release::new(2, 3, 5)));
        assert_eq!(r("2.5.27"), Some(Release::new(2, 5, 27)));
        assert_eq!(r("v2.4.23-gpu"), Some(Release::new(2, 4, 23)));
        assert_eq!(r("v2.4.17-3-gabc1234-dev"), Some(Release::new(2, 4, 17)));
        assert_eq!(r(" 2.6.18 "), Some(Release::new(2, 6, 18)));
        assert_eq!(r("2.6"), Some(Release::new(2, 6, 0)));
        for none in [
            "",
            "v",
            "master-20260101-abc1234",
            "2",
            "x2.5.1",
            "99999999999.1.1",
        ] {
            assert_eq!(r(none), None, "{none:?}");
        }
        assert!(!Release::new(2, 4, 23).reports_disk());
        assert!(Release::new(2, 5, 0).reports_disk());
        assert!(Release::new(2, 3, 5).quota_in_check_health());
        assert!(!Release::new(2, 4, 0).quota_in_check_health());
        assert_eq!(Release::new(2, 5, 27).line(), "2.5");
    }
}
