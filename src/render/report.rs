//! Snapshot → the JSON bodies of `/readyz` and `/health` (and `check --output json`).
//! One builder per body, so a cached answer and a fresh one have the same shape by
//! construction: only `cached` and `age_seconds` differ.

use std::collections::BTreeMap;

use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::cache::{Read, Rendering, View};
use crate::checks::facts::round;
use crate::checks::Section;
use crate::history::Entry;
use crate::readiness::RuleStatus;
use crate::snapshot::Snapshot;

/// Entries of `/health`'s `history` when the request does not say (`?history=N`).
pub const DEFAULT_HISTORY: usize = 20;
/// The most `?history=N` may ask for: the largest ring `[history]` allows.
pub const MAX_HISTORY: usize = crate::config::MAX_HISTORY_ENTRIES as usize;

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
    /// The newest entries of the target's verdict history, newest first.
    pub history: Box<RawValue>,
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

/// Unix seconds, as `checked_at` is written.
pub fn unix(t: std::time::SystemTime) -> f64 {
    round(
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        3,
    )
}

/// One entry of `/health`'s `history`.
#[derive(Serialize)]
struct HistoryEntry<'a> {
    at: f64,
    status: &'static str,
    /// `first`, `transition` or `failed_refresh`.
    event: &'static str,
    rules: &'a [String],
    reasons: &'a [String],
    /// Refreshes this entry stands for (failed refreshes of one cause are coalesced), and
    /// when the last of them ran.
    count: u64,
    last_at: f64,
    checks: BTreeMap<&'static str, CheckEntry>,
}

impl<'a> From<&'a Entry> for HistoryEntry<'a> {
    fn from(e: &'a Entry) -> Self {
        HistoryEntry {
            at: unix(e.at),
            status: if e.ready { "ready" } else { "not_ready" },
            event: e.event.as_str(),
            rules: &e.rules,
            reasons: &e.reasons,
            count: e.count,
            last_at: unix(e.last_at),
            checks: e
                .checks
                .iter()
                .map(|c| {
                    (
                        c.name,
                        CheckEntry {
                            success: c.success,
                            duration_seconds: round(c.duration.as_secs_f64(), 6),
                            error: c.error.clone(),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// The newest `n` entries of the view's history as a JSON array, newest first. The default
/// length is rendered once per view; any other is rendered for its request alone, and leaves
/// the rest of the answer as it is.
pub fn history_json(view: &Arc<View>, n: usize) -> Box<RawValue> {
    let render = |view: &View| {
        let entries: Vec<HistoryEntry<'_>> = view
            .history
            .entries
            .iter()
            .take(n)
            .map(|e| HistoryEntry::from(e.as_ref()))
            .collect();
        serde_json::to_string(&entries).unwrap_or_else(|_| "[]".to_string())
    };
    let text = if n == DEFAULT_HISTORY {
        let bytes = view.rendered(Rendering::History, |v| render(v));
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        render(view)
    };
    RawValue::from_string(text).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

pub fn health_body(read: &Read, age_seconds: f64, liveness: bool) -> HealthBody {
    health_body_with(read, age_seconds, liveness, DEFAULT_HISTORY)
}

/// The `/health` body with the newest `history` entries of the target's history.
pub fn health_body_with(
    read: &Read,
    age_seconds: f64,
    liveness: bool,
    history: usize,
) -> HealthBody {
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
        history: history_json(&read.view, history),
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

/// When the current readiness began, for people: `ready since 2026-12-03T03:13:10Z, 2h 5m`
/// or `not ready since 2026-12-03T03:12:08Z, 41s: reason; reason`. UTC, to the second;
/// `now` is the wall clock of the request.
pub fn since_line(view: &View, now: std::time::SystemTime) -> String {
    let Some(since) = view.history.status_since else {
        return "no verdict recorded yet".to_string();
    };
    let lasted = now.duration_since(since).unwrap_or_default();
    let lasted = humantime::format_duration(std::time::Duration::from_secs(lasted.as_secs()));
    let at = humantime::format_rfc3339_seconds(since);
    if view.verdict.ready {
        format!("ready since {at}, {lasted}")
    } else {
        format!(
            "not ready since {at}, {lasted}: {}",
            view.verdict.reasons().join("; ")
        )
    }
}

/// The kube-apiserver `?verbose` style: one `[+]`/`[-]` line per rule, the verdict, then
/// since when it has held ([`since_line`]).
pub fn verbose_text(
    view: &View,
    cached: bool,
    age_seconds: f64,
    now: std::time::SystemTime,
) -> String {
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
    out.push_str(&since_line(view, now));
    out.push('\n');
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
