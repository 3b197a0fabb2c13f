//! Snapshot → the JSON bodies of `/readyz` and `/health` (and `check --output json`).
//! One builder per body, so a cached answer and a fresh one have the same shape by
//! construction: only `cached` and `age_seconds` differ.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::cache::{Read, Rendering, View};
use crate::checks::facts::round;
use crate::checks::Section;
use crate::readiness::RuleStatus;
use crate::snapshot::Snapshot;

/// The `/readyz` body but for its two per-request fields, `cached` and `age_seconds`, which
/// [`ready_json`] appends: everything here depends on the view alone.
#[derive(Serialize)]
pub struct ReadyBody {
    pub status: &'static str,
    pub reason: Option<String>,
    pub reasons: Vec<String>,
    pub dependencies: Sections,
    /// The checks' top-level sections (`probes`, `resources`), where a check has one.
    #[serde(flatten)]
    pub sections: Sections,
    pub checked_at: f64,
}

#[derive(Serialize)]
pub struct HealthBody {
    pub liveness: bool,
    pub readiness: bool,
    pub status: &'static str,
    pub reasons: Vec<String>,
    pub rules: BTreeMap<String, &'static str>,
    pub dependencies: Sections,
    #[serde(flatten)]
    pub sections: Sections,
    pub checks: BTreeMap<&'static str, CheckEntry>,
    pub cached: bool,
    pub age_seconds: f64,
    pub checked_at: f64,
    pub timestamp: f64,
}

#[derive(Serialize)]
pub struct CheckEntry {
    pub success: bool,
    pub duration_seconds: f64,
    pub error: Option<String>,
}

/// JSON sections by key, serialised as an object in the order the checks wrote them.
#[derive(Default)]
pub struct Sections(Vec<(String, Box<RawValue>)>);

impl Serialize for Sections {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Every check's sections of the snapshot, in registry order: the `dependencies` object
/// (`milvus`, `collections`, then each RAG dependency) and the top-level ones.
pub fn sections(s: &Snapshot) -> (Sections, Sections) {
    let mut dependencies = Sections::default();
    let mut top = Sections::default();
    for r in s.results.iter() {
        for section in r.sections(&s.results, &s.address) {
            match section {
                Section::Dependency(key, value) => dependencies.0.push((key, value)),
                Section::Top(key, value) => top.0.push((key.to_string(), value)),
            }
        }
    }
    (dependencies, top)
}

pub fn ready_body(view: &View) -> ReadyBody {
    let View {
        snapshot, verdict, ..
    } = view;
    let (dependencies, sections) = sections(snapshot);
    ReadyBody {
        status: if verdict.ready { "ready" } else { "not_ready" },
        reason: verdict.reason(),
        reasons: verdict.reasons(),
        dependencies,
        sections,
        checked_at: round(snapshot.unix_seconds(), 3),
    }
}

/// The `/readyz` JSON. A probe every few seconds from every kubelet and load balancer reads
/// the same view, so the view's part is serialised once (the first time it is asked for) and
/// each answer adds only `cached` and `age_seconds` to it.
pub fn ready_json(read: &Read, age_seconds: f64) -> Vec<u8> {
    let fixed = read.view.rendered(Rendering::Ready, |view| {
        match serde_json::to_string(&ready_body(view)) {
            // Drop the closing brace: the per-request fields follow.
            Ok(mut json) if json.len() > 2 && json.ends_with('}') => {
                json.pop();
                json
            }
            // Serialising these structs cannot fail; stay valid JSON regardless.
            _ => format!(
                "{{\"status\":\"{}\"",
                if view.verdict.ready {
                    "ready"
                } else {
                    "not_ready"
                }
            ),
        }
    });
    let mut out = Vec::with_capacity(fixed.len() + 48);
    out.extend_from_slice(&fixed);
    out.extend_from_slice(if read.cached {
        b",\"cached\":true,\"age_seconds\":"
    } else {
        b",\"cached\":false,\"age_seconds\":"
    });
    if serde_json::to_writer(&mut out, &round(age_seconds, 3)).is_err() {
        out.extend_from_slice(b"null");
    }
    out.push(b'}');
    out
}

pub fn health_body(read: &Read, age_seconds: f64, liveness: bool) -> HealthBody {
    let View {
        snapshot, verdict, ..
    } = read.view.as_ref();
    let (dependencies, sections) = sections(snapshot);
    HealthBody {
        liveness,
        readiness: verdict.ready,
        status: if verdict.ready { "ready" } else { "not_ready" },
        reasons: verdict.reasons(),
        rules: verdict
            .rules
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    match r.status {
                        RuleStatus::Pass => "pass",
                        RuleStatus::Fail(_) => "fail",
                        RuleStatus::Excluded => "excluded",
                    },
                )
            })
            .collect(),
        dependencies,
        sections,
        checks: snapshot
            .checks()
            .into_iter()
            .map(|c| {
                (
                    c.name,
                    CheckEntry {
                        success: c.success,
                        duration_seconds: round(c.duration.as_secs_f64(), 6),
                        error: c.error,
                    },
                )
            })
            .collect(),
        cached: read.cached,
        age_seconds: round(age_seconds, 3),
        checked_at: round(snapshot.unix_seconds(), 3),
        timestamp: round(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            3,
        ),
    }
}

/// The `/health` body indented for people (`check --output json`). The checks' sections are
/// raw JSON, which serde_json's pretty printer copies as they are, so the compact text is
/// indented here instead, the way `serde_json::to_string_pretty` indents.
pub fn health_json_pretty(body: &HealthBody) -> serde_json::Result<String> {
    Ok(indent(&serde_json::to_string(body)?))
}

/// Indents compact JSON (as serde_json writes it: no whitespace outside strings) with two
/// spaces a level, `": "` after keys, and `{}`/`[]` for empty containers.
fn indent(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                out.push(c);
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c => out.push(c),
        }
    }
    out
}

/// The kube-apiserver `?verbose` style: one `[+]`/`[-]` line per rule, the verdict last.
pub fn verbose_text(view: &View, cached: bool, age_seconds: f64) -> String {
    let mut out = String::new();
    for r in &view.verdict.rules {
        let name = r.name.as_str();
        match &r.status {
            RuleStatus::Pass => out.push_str(&format!("[+]{name} ok\n")),
            RuleStatus::Excluded => out.push_str(&format!("[+]{name} excluded: ok\n")),
            RuleStatus::Fail(reason) => out.push_str(&format!("[-]{name} failed: {reason}\n")),
        }
    }
    out.push_str(&format!(
        "data age {:.1}s ({})\n",
        age_seconds,
        if cached { "cached" } else { "fresh" }
    ));
    out.push_str(if view.verdict.ready {
        "readyz check passed\n"
    } else {
        "readyz check failed\n"
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indent_matches_serde_jsons_pretty_printer() {
        let v = serde_json::json!({
            "a": {"b": [1, 2.5, {"c": null}], "empty": {}, "none": []},
            "s": "x:{y},[z]\\\"q\"",
            "n": [[], [{}]],
            "t": true
        });
        let compact = serde_json::to_string(&v).expect("serialises");
        let pretty = serde_json::to_string_pretty(&v).expect("serialises");
        assert_eq!(indent(&compact), pretty);
    }
    use crate::readiness::{evaluate, Scope};
    use std::sync::Arc;

    #[test]
    fn ready_json_is_the_memoised_view_part_plus_per_request_fields() {
        let snapshot = crate::readiness::tests::healthy();
        let verdict = evaluate(&snapshot, &crate::readiness::tests::cfg(), Scope::Main);
        let view = Arc::new(View::new(snapshot, verdict));
        let parse =
            |s: &[u8]| -> serde_json::Value { serde_json::from_slice(s).expect("valid JSON") };
        let whole = |cached: bool, age: f64| {
            let mut v = serde_json::to_value(ready_body(&view)).expect("serialisable");
            v["cached"] = cached.into();
            v["age_seconds"] = age.into();
            v
        };
        let first = Read {
            view: Arc::clone(&view),
            cached: false,
        };
        assert_eq!(parse(&ready_json(&first, 0.0)), whole(false, 0.0));
        // Later answers reuse the memo (a second rendering would panic) with their own fields.
        view.rendered(Rendering::Ready, |_| panic!("serialised twice"));
        let later = Read {
            view: Arc::clone(&view),
            cached: true,
        };
        assert_eq!(parse(&ready_json(&later, 2.34567)), whole(true, 2.346));
        assert_eq!(parse(&ready_json(&later, 7.0))["age_seconds"], 7.0);
        assert_eq!(
            parse(&ready_json(&later, 7.0))["dependencies"]["collections"]["total"],
            3
        );
    }
}
