//! Snapshot → the JSON bodies of `/readyz` and `/health` (and `check --output json`).
//! One builder per body, so a cached answer and a fresh one have the same shape by
//! construction: only `cached` and `age_seconds` differ.

use std::collections::BTreeMap;

use std::sync::Arc;

use bytes::Bytes;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::cache::{HistoryJson, Read, Rendering, View};
use crate::checks::facts::round;
use crate::checks::Section;
use crate::history::Entry;
use crate::readiness::RuleStatus;
use crate::render::inert;
use crate::snapshot::Snapshot;

/// Entries of `/health`'s `history` when the request does not say (`?history=N`).
pub const DEFAULT_HISTORY: usize = 20;
/// The most `?history=N` may ask for: the largest ring `[history]` allows.
pub const MAX_HISTORY: usize = crate::config::MAX_HISTORY_ENTRIES as usize;

/// One piece of an answer body: a memoised rendering of the view that every answer shares
/// (sent up to `upto`), or bytes made for this request alone. The server charges shared
/// pieces once however many answers hold them, so a body is a list of these, not one copy.
pub enum Chunk {
    Shared { whole: Bytes, upto: usize },
    Own(Vec<u8>),
}

impl Chunk {
    fn shared(whole: Bytes) -> Chunk {
        let upto = whole.len();
        Chunk::Shared { whole, upto }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Shared { whole, upto } => &whole[..(*upto).min(whole.len())],
            Chunk::Own(v) => v,
        }
    }
}

/// The chunks as one body (tests, `check`).
pub fn concat(chunks: &[Chunk]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunks.iter().map(|c| c.bytes().len()).sum());
    for c in chunks {
        out.extend_from_slice(c.bytes());
    }
    out
}

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
/// shared by every answer, which adds only `cached` and `age_seconds` after it.
pub fn ready_chunks(read: &Read, age_seconds: f64) -> Vec<Chunk> {
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
    let mut tail = Vec::with_capacity(48);
    tail.extend_from_slice(if read.cached {
        b",\"cached\":true,\"age_seconds\":"
    } else {
        b",\"cached\":false,\"age_seconds\":"
    });
    if serde_json::to_writer(&mut tail, &round(age_seconds, 3)).is_err() {
        tail.extend_from_slice(b"null");
    }
    tail.push(b'}');
    vec![Chunk::shared(fixed), Chunk::Own(tail)]
}

/// The `/readyz` JSON as one body.
pub fn ready_json(read: &Read, age_seconds: f64) -> Vec<u8> {
    concat(&ready_chunks(read, age_seconds))
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

/// The view's whole history as JSON, rendered once per view: `[e0,e1,…` and where each
/// entry ends ([`HistoryJson`]).
fn history_rendered(view: &Arc<View>) -> HistoryJson {
    view.history_rendered(|view| {
        let mut open = String::from("[");
        let mut ends = Vec::with_capacity(view.history.entries.len());
        for e in view.history.entries.iter().take(MAX_HISTORY) {
            let Ok(one) = serde_json::to_string(&HistoryEntry::from(e.as_ref())) else {
                continue;
            };
            if !ends.is_empty() {
                open.push(',');
            }
            open.push_str(&one);
            ends.push(open.len());
        }
        HistoryJson {
            open: Bytes::from(open),
            ends,
        }
    })
}

/// The newest `n` entries of the view's history as a JSON array, newest first: a prefix of
/// the one rendering ([`history_rendered`]) and `]`, whatever `n`.
fn history_chunks(view: &Arc<View>, n: usize) -> Vec<Chunk> {
    let h = history_rendered(view);
    match n
        .min(h.ends.len())
        .checked_sub(1)
        .and_then(|i| h.ends.get(i))
    {
        Some(&upto) => vec![
            Chunk::Shared {
                whole: h.open,
                upto,
            },
            Chunk::Own(b"]".to_vec()),
        ],
        None => vec![Chunk::Own(b"[]".to_vec())],
    }
}

/// The newest `n` entries of the view's history as a JSON array, newest first.
pub fn history_json(view: &Arc<View>, n: usize) -> Box<RawValue> {
    let text = String::from_utf8(concat(&history_chunks(view, n))).unwrap_or_default();
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

/// The part of `/health` that depends on the view alone, from `readiness` to `checks`.
#[derive(Serialize)]
struct HealthFixed {
    readiness: bool,
    status: &'static str,
    reasons: Vec<String>,
    rules: BTreeMap<String, &'static str>,
    dependencies: Sections,
    #[serde(flatten)]
    sections: Sections,
    checks: BTreeMap<&'static str, CheckEntry>,
}

/// The `/health` JSON, the same bytes as [`health_body_with`] serialised: `{"liveness":…,`,
/// the view's part (rendered once per view and shared), `"history":` (a prefix of the view's
/// one rendering of it, whatever `history`), then the per-request fields.
pub fn health_chunks(
    read: &Read,
    age_seconds: f64,
    liveness: bool,
    history: usize,
    now: std::time::SystemTime,
) -> Vec<Chunk> {
    let middle = read.view.rendered(Rendering::Health, |view| {
        let body = health_body_with(
            &Read {
                view: Arc::clone(view),
                cached: false,
            },
            0.0,
            true,
            0,
        );
        let fixed = HealthFixed {
            readiness: body.readiness,
            status: body.status,
            reasons: body.reasons,
            rules: body.rules,
            dependencies: body.dependencies,
            sections: body.sections,
            checks: body.checks,
        };
        match serde_json::to_string(&fixed) {
            // Without its braces: it sits between the first and the last fields.
            Ok(json) if json.len() > 2 => json[1..json.len() - 1].to_string(),
            _ => format!("\"readiness\":{}", view.verdict.ready),
        }
    });
    let mut head = Vec::with_capacity(24);
    head.extend_from_slice(if liveness {
        b"{\"liveness\":true,"
    } else {
        b"{\"liveness\":false,"
    });
    let mut chunks = vec![
        Chunk::Own(head),
        Chunk::shared(middle),
        Chunk::Own(b",\"history\":".to_vec()),
    ];
    chunks.extend(history_chunks(&read.view, history));
    let mut tail = Vec::with_capacity(96);
    let number = |out: &mut Vec<u8>, v: f64| {
        if serde_json::to_writer(&mut *out, &v).is_err() {
            out.extend_from_slice(b"null");
        }
    };
    tail.extend_from_slice(if read.cached {
        b",\"cached\":true,\"age_seconds\":"
    } else {
        b",\"cached\":false,\"age_seconds\":"
    });
    number(&mut tail, round(age_seconds, 3));
    tail.extend_from_slice(b",\"checked_at\":");
    number(&mut tail, round(read.view.snapshot.unix_seconds(), 3));
    tail.extend_from_slice(b",\"timestamp\":");
    number(&mut tail, unix(now));
    tail.push(b'}');
    chunks.push(Chunk::Own(tail));
    chunks
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
/// `now` is the wall clock of the request. The reasons are made inert for a line
/// ([`inert::line`]): a reason cannot end the line or start another.
pub fn since_line(view: &View, now: std::time::SystemTime) -> String {
    let mut out = since_head(view, now);
    out.push_str(&since_reasons(view));
    out
}

/// [`since_line`] up to the reasons: the part that changes with the clock.
fn since_head(view: &View, now: std::time::SystemTime) -> String {
    let Some(since) = view.history.status_since else {
        return "no verdict recorded yet".to_string();
    };
    let lasted = now.duration_since(since).unwrap_or_default();
    let lasted = humantime::format_duration(std::time::Duration::from_secs(lasted.as_secs()));
    let at = humantime::format_rfc3339_seconds(since);
    if view.verdict.ready {
        format!("ready since {at}, {lasted}")
    } else {
        format!("not ready since {at}, {lasted}")
    }
}

/// [`since_line`]'s reasons (`: reason; reason`), which depend on the view alone.
fn since_reasons(view: &View) -> String {
    if view.verdict.ready || view.history.status_since.is_none() {
        return String::new();
    }
    let reasons: Vec<String> = view
        .verdict
        .reasons()
        .iter()
        .map(|r| inert::line(r).into_owned())
        .collect();
    format!(": {}", reasons.join("; "))
}

/// The kube-apiserver `?verbose` style: one `[+]`/`[-]` line per rule, the data's age, the
/// verdict, then since when it has held ([`since_line`]). One line per rule whatever Milvus
/// sends: names and reasons are made inert for a line ([`inert::line`]), so a collection
/// named `x\n[+]components ok` cannot forge a line. The rule lines and the reasons are
/// rendered once per view and shared; the age and the since clause are the request's own.
pub fn verbose_chunks(
    view: &Arc<View>,
    cached: bool,
    age_seconds: f64,
    now: std::time::SystemTime,
) -> Vec<Chunk> {
    let rules = view.rendered(Rendering::ReadyVerbose, |view| {
        let mut out = String::new();
        for r in &view.verdict.rules {
            let name = inert::line(r.name.as_str());
            match &r.status {
                RuleStatus::Pass => out.push_str(&format!("[+]{name} ok\n")),
                RuleStatus::Excluded => out.push_str(&format!("[+]{name} excluded: ok\n")),
                RuleStatus::Fail(reason) => {
                    out.push_str(&format!("[-]{name} failed: {}\n", inert::line(reason)))
                }
            }
        }
        out
    });
    let mut own = format!(
        "data age {:.1}s ({})\n",
        age_seconds,
        if cached { "cached" } else { "fresh" }
    );
    own.push_str(if view.verdict.ready {
        "readyz check passed\n"
    } else {
        "readyz check failed\n"
    });
    own.push_str(&since_head(view, now));
    let reasons = view.rendered(Rendering::ReadyVerboseReasons, |view| {
        format!("{}\n", since_reasons(view))
    });
    vec![
        Chunk::shared(rules),
        Chunk::Own(own.into_bytes()),
        Chunk::shared(reasons),
    ]
}

/// [`verbose_chunks`] as one text.
pub fn verbose_text(
    view: &Arc<View>,
    cached: bool,
    age_seconds: f64,
    now: std::time::SystemTime,
) -> String {
    String::from_utf8_lossy(&concat(&verbose_chunks(view, cached, age_seconds, now))).into_owned()
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

    #[test]
    fn health_chunks_are_the_bytes_of_the_health_body_with_the_view_part_rendered_once() {
        let snapshot = crate::readiness::tests::healthy();
        let verdict = evaluate(&snapshot, &crate::readiness::tests::cfg(), Scope::Main);
        let view = Arc::new(View::new(snapshot, verdict));
        for (cached, age, liveness, n) in [(false, 0.0, true, 20), (true, 3.21, false, 0)] {
            let read = Read {
                view: Arc::clone(&view),
                cached,
            };
            let now = std::time::SystemTime::now();
            let chunks = concat(&health_chunks(&read, age, liveness, n, now));
            let mut body = health_body_with(&read, age, liveness, n);
            body.timestamp = unix(now);
            let whole = serde_json::to_vec(&body).expect("serialises");
            assert_eq!(
                String::from_utf8_lossy(&chunks),
                String::from_utf8_lossy(&whole)
            );
        }
        view.rendered(Rendering::Health, |_| panic!("rendered twice"));
    }

    #[test]
    fn verbose_text_has_one_line_per_rule_whatever_the_reason_holds() {
        let mut snapshot = crate::readiness::tests::healthy();
        if let Ok(facts) = &mut crate::readiness::tests::milvus(&mut snapshot).outcome {
            facts.healthy = false;
            facts.reasons = vec![
                "x\n[+]components ok\nreadyz check passed\r\u{1b}[2J\u{1b}]0;t\u{7}\u{202e}".into(),
            ];
        }
        let verdict = evaluate(&snapshot, &crate::readiness::tests::cfg(), Scope::Main);
        let rules = verdict.rules.len();
        let view = Arc::new(View::new(snapshot, verdict));
        let text = verbose_text(&view, false, 1.0, std::time::SystemTime::now());
        let rule_lines = text
            .lines()
            .filter(|l| l.starts_with("[+]") || l.starts_with("[-]"))
            .count();
        assert_eq!(rule_lines, rules, "{text}");
        assert_eq!(text.lines().count(), rules + 3, "{text}");
        assert_eq!(
            text.matches("[+]components").count(),
            2,
            "one real, one escaped: {text}"
        );
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
            "{text:?}"
        );
        let verdicts: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("readyz check"))
            .collect();
        assert_eq!(verdicts, ["readyz check failed"], "{text}");
    }
}
