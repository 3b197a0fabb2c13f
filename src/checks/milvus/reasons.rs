//! CheckHealth's reasons as a person reads them.
//!
//! - Milvus 2.4.18-2.4.23 give one JSON document per unhealthy coordinator
//!   (`internal/util/healthcheck/checker.go`): `{"unhealthy_cluster_msgs":[{"role","node_id",
//!   "reason":{"unhealthy_msg","unhealthy_level"}}],"unhealthy_collection_msgs":[{"database_id",
//!   "collection_id","reason":{…}}]|null}`, the level a number (0 Healthy, 1 Warning,
//!   2 Critical, 3 Fatal). Each entry becomes one line: `querynode 8: CheckHealth fails for
//!   querynode:8, … (Fatal)`.
//! - Milvus 2.5 and 2.6 repeat the first error once per fault found (rootcoord maps every
//!   collected error to the group's error). A reason given N times is said once, with
//!   `(reported N times)`.
//!
//! The reasons come from a reply of at most 4 MiB; at most [`MAX_REASONS`] lines are kept,
//! each one clipped line, and the rest counted.

use serde::Deserialize;

use super::super::grpc::clip;
use crate::limits::MAX_REASONS;

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    unhealthy_cluster_msgs: Option<Vec<ClusterMsg>>,
    #[serde(default)]
    unhealthy_collection_msgs: Option<Vec<CollectionMsg>>,
}

#[derive(Deserialize)]
struct ClusterMsg {
    #[serde(default)]
    role: String,
    #[serde(default)]
    node_id: Option<serde_json::Number>,
    #[serde(default)]
    reason: Msg,
}

#[derive(Deserialize)]
struct CollectionMsg {
    #[serde(default)]
    database_id: Option<serde_json::Number>,
    #[serde(default)]
    collection_id: Option<serde_json::Number>,
    #[serde(default)]
    reason: Msg,
}

#[derive(Default, Deserialize)]
struct Msg {
    #[serde(default)]
    unhealthy_msg: String,
    #[serde(default)]
    unhealthy_level: i64,
}

fn num(n: &Option<serde_json::Number>) -> String {
    n.as_ref()
        .map_or_else(|| "?".to_string(), |n| n.to_string())
}

fn level(l: i64) -> &'static str {
    match l {
        0 => "Healthy",
        1 => "Warning",
        2 => "Critical",
        3 => "Fatal",
        _ => "unknown level",
    }
}

/// The lines one reason stands for: the entries of a health document, or the reason itself.
fn expand(reason: &str, out: &mut Vec<String>) {
    let trimmed = reason.trim();
    let doc = (trimmed.starts_with('{') && trimmed.contains("unhealthy_"))
        .then(|| serde_json::from_str::<Document>(trimmed).ok())
        .flatten();
    let Some(doc) = doc else {
        out.push(clip(trimmed));
        return;
    };
    let before = out.len();
    for m in doc.unhealthy_cluster_msgs.unwrap_or_default() {
        let id = m.node_id.map(|n| n.to_string()).unwrap_or_default();
        let who = match (m.role.is_empty(), id.as_str()) {
            (true, _) => "a node".to_string(),
            (false, "0" | "") => m.role.clone(),
            (false, id) => format!("{} {id}", m.role),
        };
        out.push(clip(&format!(
            "{who}: {} ({})",
            m.reason.unhealthy_msg,
            level(m.reason.unhealthy_level)
        )));
    }
    for m in doc.unhealthy_collection_msgs.unwrap_or_default() {
        out.push(clip(&format!(
            "collection {} (database {}): {} ({})",
            num(&m.collection_id),
            num(&m.database_id),
            m.reason.unhealthy_msg,
            level(m.reason.unhealthy_level)
        )));
    }
    if out.len() == before {
        out.push("Milvus sent a health document with no entry".to_string());
    }
}

/// CheckHealth's reasons, each one readable line, a repeat said once with its count, at most
/// [`MAX_REASONS`] of them and a count of the rest.
pub fn readable(reasons: &[String]) -> Vec<String> {
    let mut counted: Vec<(String, usize)> = Vec::new();
    let mut more = 0usize;
    let mut lines = Vec::new();
    for r in reasons {
        expand(r, &mut lines);
        for line in lines.drain(..) {
            // At most MAX_REASONS distinct lines are held, so this search is bounded.
            if let Some((_, n)) = counted.iter_mut().find(|(l, _)| *l == line) {
                *n += 1;
            } else if counted.len() < MAX_REASONS {
                counted.push((line, 1));
            } else {
                more += 1;
            }
        }
    }
    let mut out: Vec<String> = counted
        .into_iter()
        .map(|(line, n)| match n {
            1 => line,
            n => format!("{line} (reported {n} times)"),
        })
        .collect();
    if more > 0 {
        out.push(format!("(and {more} more)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_reasons(path: &str) -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/milvus");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join(path)).expect("fixture"))
                .expect("json");
        v["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .map(|r| r.as_str().expect("text").to_string())
            .collect()
    }

    #[test]
    fn json_reasons_of_2_4_18_become_one_line_per_entry() {
        let lines = readable(&fixture_reasons("2.4/check_health_unhealthy.json"));
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(
            lines[0].starts_with("querynode 8: CheckHealth fails for querynode:8, rpc error")
                && lines[0].ends_with("(Fatal)"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with(
                "collection 455932870893158415 (database 0): collection not fully loaded"
            ) && lines[1].ends_with("(Critical)"),
            "{}",
            lines[1]
        );
        assert!(lines[2].starts_with("datanode 9: "), "{}", lines[2]);
        assert!(lines.iter().all(|l| !l.contains('{')), "{lines:#?}");
    }

    #[test]
    fn a_reason_repeated_is_said_once_with_its_count() {
        let lines = readable(&fixture_reasons("2.5/check_health_unhealthy.json"));
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].starts_with("max timetick lag execced threhold")
                && lines[0].ends_with("(reported 2 times)"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn plain_and_broken_reasons_stay_as_they_are_and_are_bounded() {
        let plain = fixture_reasons("2.4/check_health_unhealthy_before_2.4.18.json");
        assert_eq!(readable(&plain), plain);
        let broken = vec!["{\"unhealthy_cluster_msgs\":[".to_string()];
        assert_eq!(readable(&broken), broken, "not JSON: the text itself");
        let many: Vec<String> = (0..100_000).map(|i| format!("r{i}")).collect();
        let lines = readable(&many);
        assert_eq!(lines.len(), MAX_REASONS + 1);
        assert!(
            lines[MAX_REASONS].starts_with("(and "),
            "{}",
            lines[MAX_REASONS]
        );
        let same = vec!["x".to_string(); 1_000_000];
        assert_eq!(
            readable(&same),
            vec!["x (reported 1000000 times)".to_string()]
        );
    }
}
