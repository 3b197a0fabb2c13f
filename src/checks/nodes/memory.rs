//! The nodes a target's system_info has listed, remembered across refreshes. Milvus drops a
//! query node its coordinator cannot reach from system_info (querycoord's
//! `tryGetNodesMetrics` logs and returns), keeps its collections at 100 % loaded and, on 2.6,
//! CheckHealth asks rootcoord alone: the one sign of a dead node is that it is no longer
//! listed. So each reply is compared with the nodes seen before.
//!
//! - A node listed before and not now is *missing* for `readiness.node_grace`, then
//!   forgotten, so a scale-down heals by itself.
//! - A node of the same role that appeared after the missing one was last seen *replaces*
//!   it: a restarted pod comes back under a new id, and a restart is no loss. The replaced
//!   node is forgotten at once.
//! - At most [`MAX_NODES`] nodes are remembered; past that the ones gone longest are
//!   forgotten first. Placeholders of failed nodes have no identity to remember.
//!
//! It lives in the check (one per target), so a reload, which builds new checks, starts
//! from what the first reply lists.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::{MissingNode, NodeFacts, MAX_NODES};

#[derive(Clone, Copy, Debug)]
struct Seen {
    first: Instant,
    last: Instant,
}

#[derive(Debug, Default)]
pub struct Memory {
    nodes: HashMap<(String, i64), Seen>,
}

impl Memory {
    /// Takes in one reply's nodes at `now`; returns the nodes missing from it, longest gone
    /// first. A zero `grace` remembers nothing.
    pub fn observe(
        &mut self,
        nodes: &[NodeFacts],
        now: Instant,
        grace: Duration,
    ) -> Vec<MissingNode> {
        if grace.is_zero() {
            self.nodes.clear();
            return Vec::new();
        }
        let current: Vec<(String, i64)> = nodes
            .iter()
            .filter(|n| n.placeholder.is_none())
            .map(|n| (n.role.clone(), n.node_id))
            .collect();
        for key in &current {
            self.nodes
                .entry(key.clone())
                .and_modify(|s| s.last = now)
                .or_insert(Seen {
                    first: now,
                    last: now,
                });
        }
        self.nodes
            .retain(|_, s| s.last == now || now.saturating_duration_since(s.last) <= grace);
        // Missing nodes, each replaced by a newcomer of its role that came after it.
        let mut missing: Vec<((String, i64), Seen)> = self
            .nodes
            .iter()
            .filter(|(_, s)| s.last != now)
            .map(|(k, s)| (k.clone(), *s))
            .collect();
        missing.sort_by_key(|(k, s)| (s.last, k.clone()));
        let mut newcomers: Vec<((String, i64), Seen)> = self
            .nodes
            .iter()
            .filter(|(_, s)| s.last == now)
            .map(|(k, s)| (k.clone(), *s))
            .collect();
        newcomers.sort_by_key(|(k, s)| (s.first, k.clone()));
        let mut used = vec![false; newcomers.len()];
        let mut out = Vec::new();
        for (key, seen) in missing {
            let replacement = newcomers
                .iter()
                .enumerate()
                .position(|(i, (k, s))| !used[i] && k.0 == key.0 && s.first > seen.last);
            match replacement {
                Some(i) => {
                    used[i] = true;
                    self.nodes.remove(&key);
                }
                None => out.push(MissingNode {
                    role: key.0,
                    node_id: key.1,
                    last_seen: now.saturating_duration_since(seen.last),
                }),
            }
        }
        if self.nodes.len() > MAX_NODES {
            let mut gone: Vec<((String, i64), Instant)> = self
                .nodes
                .iter()
                .filter(|(_, s)| s.last != now)
                .map(|(k, s)| (k.clone(), s.last))
                .collect();
            gone.sort_by_key(|(_, last)| *last);
            let excess = self.nodes.len() - MAX_NODES;
            for (key, _) in gone.into_iter().take(excess) {
                self.nodes.remove(&key);
                out.retain(|m| (m.role.as_str(), m.node_id) != (key.0.as_str(), key.1));
            }
        }
        out
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(role: &str, id: i64) -> NodeFacts {
        NodeFacts {
            role: role.into(),
            node_id: id,
            ..NodeFacts::default()
        }
    }

    const GRACE: Duration = Duration::from_secs(300);

    #[test]
    fn a_node_that_stops_being_listed_is_missing_until_the_grace_ends() {
        let t0 = Instant::now();
        let mut m = Memory::default();
        let both = [node("querynode", 6), node("querynode", 8)];
        assert!(m.observe(&both, t0, GRACE).is_empty());
        let t1 = t0 + Duration::from_secs(40);
        let missing = m.observe(&both[..1], t1, GRACE);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].label(), "querynode 8");
        assert_eq!(missing[0].last_seen, Duration::from_secs(40));
        // Still missing later on, measured from the last reply that listed it.
        let t2 = t0 + Duration::from_secs(200);
        assert_eq!(
            m.observe(&both[..1], t2, GRACE)[0].last_seen,
            Duration::from_secs(200)
        );
        // Past the grace it is forgotten: a scale-down heals.
        let t3 = t0 + Duration::from_secs(301);
        assert!(m.observe(&both[..1], t3, GRACE).is_empty());
        assert_eq!(m.len(), 1);
        // And it comes back as a node like any other.
        assert!(m
            .observe(&both, t3 + Duration::from_secs(1), GRACE)
            .is_empty());
    }

    #[test]
    fn a_restart_under_a_new_id_replaces_the_old_node() {
        let t0 = Instant::now();
        let mut m = Memory::default();
        m.observe(&[node("querynode", 6), node("datanode", 9)], t0, GRACE);
        let t1 = t0 + Duration::from_secs(10);
        let missing = m.observe(&[node("querynode", 12), node("datanode", 9)], t1, GRACE);
        assert!(missing.is_empty(), "{missing:?}");
        // A newcomer of another role replaces nothing.
        let t2 = t1 + Duration::from_secs(10);
        let missing = m.observe(&[node("querynode", 12), node("proxy", 30)], t2, GRACE);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].label(), "datanode 9");
    }

    #[test]
    fn memory_is_bounded_and_a_zero_grace_remembers_nothing() {
        let t0 = Instant::now();
        let mut m = Memory::default();
        let many: Vec<NodeFacts> = (0..MAX_NODES as i64)
            .map(|i| node("querynode", i))
            .collect();
        m.observe(&many, t0, GRACE);
        let others: Vec<NodeFacts> = (0..MAX_NODES as i64).map(|i| node("datanode", i)).collect();
        let missing = m.observe(&others, t0 + Duration::from_secs(1), GRACE);
        assert_eq!(m.len(), MAX_NODES, "never more than MAX_NODES remembered");
        assert!(missing.is_empty(), "the gone ones were forgotten first");
        let mut m = Memory::default();
        m.observe(&many, t0, Duration::ZERO);
        assert!(m.observe(&[], t0, Duration::ZERO).is_empty());
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn placeholders_are_not_remembered() {
        let t0 = Instant::now();
        let mut m = Memory::default();
        let mut p = node("datanode", 37);
        p.placeholder = Some(1);
        m.observe(&[p.clone()], t0, GRACE);
        p.node_id = 38;
        assert!(m
            .observe(&[p], t0 + Duration::from_secs(5), GRACE)
            .is_empty());
        assert_eq!(m.len(), 0);
    }
}
