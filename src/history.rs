//! A target's recent verdict history: what `/health`'s `history`, the last line of
//! `/readyz?verbose`, the status page's history table, `check --url` and the
//! `milvus_readiness_transitions_total` counter read. Pure: the cache hands it each new
//! verdict with its time and check rows ([`History::record`]); nothing here does I/O or reads
//! a clock.
//!
//! What is recorded:
//! - the first verdict after start-up (`first`), so "ready since" has a beginning;
//! - every **transition** of the verdict: ready ↔ not ready, a change of the failing rules,
//!   or a change of a reason's *cause*. A cause is the reason with its numbers taken out
//!   ([`cause_of`]): "memory 91.2% > 90%" and "memory 93.8% > 90%" are one cause, so a stable
//!   failure whose percentage moves is one entry, not one per refresh;
//! - every **failed refresh** (a refresh in which a check failed) that is not a transition.
//!   Failed refreshes of the same cause, one after another, are coalesced into the newest
//!   entry: its `count` says how many refreshes it stands for and `last_at` when the last of
//!   them was. A long outage is therefore one entry, and cannot flush the ring of what led to it.
//!
//! The ring is bounded twice, per target: by entries and by bytes ([`Limits`], from
//! `[history]`); the oldest entries go first. Every text in an entry is clipped
//! ([`MAX_TEXT_BYTES`]) and an entry keeps at most [`MAX_REASONS`] reasons and
//! [`MAX_CHECKS`] check rows, so one entry is far smaller than the smallest byte bound and the
//! newest entry is always kept.
//!
//! In memory only: a restart starts an empty history (the counter restarts at zero, which
//! Prometheus's `increase()` reads as a counter reset). A configuration reload that keeps a
//! target's cache keeps its history, because the ring lives in the target's cache.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use crate::checks::CheckRow;
use crate::readiness::{RuleStatus, Verdict};

/// Bytes of one reason, rule name or check error kept in an entry; past it the text is cut
/// at a char boundary and marked `…`.
pub const MAX_TEXT_BYTES: usize = 512;
/// Reasons kept in one entry; the rest are counted in a last "(and N more)" reason.
pub const MAX_REASONS: usize = 16;
/// Failing rules named in one entry (one per dependency and RAG probe, beside the built-in ones).
pub const MAX_RULES: usize = 64;
/// Check rows kept in one entry (a target has about eight).
pub const MAX_CHECKS: usize = 32;
/// What an entry costs beyond its texts: its fixed fields and the ring's pointer to it.
const ENTRY_OVERHEAD: usize = 128;
/// What a check row costs beyond its error text.
const CHECK_OVERHEAD: usize = 48;

/// The ring's bounds, per target (`history.max_entries`, `history.max_bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub entries: usize,
    pub bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            entries: 256,
            bytes: 1 << 20,
        }
    }
}

/// Why an entry was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The first verdict since the exporter (or this target's cache) started.
    First,
    /// The verdict changed: readiness, the failing rules, or a reason's cause.
    Transition,
    /// A check failed, with the same verdict as before.
    FailedRefresh,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::First => "first",
            Event::Transition => "transition",
            Event::FailedRefresh => "failed_refresh",
        }
    }
}

/// One check of the refresh that made an entry: its name, success, duration and error.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckNote {
    pub name: &'static str,
    pub success: bool,
    pub duration: Duration,
    pub error: Option<String>,
}

/// One entry of the ring.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// When the refresh that made it ran.
    pub at: SystemTime,
    /// When the last refresh coalesced into it ran (`at` when none was).
    pub last_at: SystemTime,
    /// Refreshes it stands for: 1, plus each failed refresh of the same cause after it.
    pub count: u64,
    pub event: Event,
    pub ready: bool,
    /// The failing rules' names, in verdict order.
    pub rules: Vec<String>,
    /// Their reasons, as the verdict gave them (with the numbers of the refresh that made it).
    pub reasons: Vec<String>,
    /// The checks of the newest refresh it stands for.
    pub checks: Vec<CheckNote>,
    /// The verdict's cause: readiness, rules and reasons without their numbers.
    cause: String,
    /// The failed checks' errors without their numbers: what makes failed refreshes "the same".
    errors: String,
    bytes: usize,
}

impl Entry {
    /// What this entry is taken to cost in the ring's byte bound.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// What the ring holds now, as a view carries it: cheap to make (a pointer per entry) and
/// never changed afterwards, so every rendering of one view shows the same history.
#[derive(Clone, Debug, Default)]
pub struct Recent {
    /// Newest first.
    pub entries: Vec<Arc<Entry>>,
    /// Transitions since the start (the first verdict is not one); the ring's bounds do not
    /// limit it.
    pub transitions: u64,
    /// When the newest transition (or, before any, the first verdict) happened.
    pub last_transition: Option<SystemTime>,
    /// When the current readiness began: the last ready ↔ not ready change, or the first verdict.
    pub status_since: Option<SystemTime>,
    /// Entries that left the ring to keep it within its bounds.
    pub dropped: u64,
}

/// A target's ring and its counters.
#[derive(Debug)]
pub struct History {
    limits: Limits,
    /// Oldest first.
    ring: VecDeque<Arc<Entry>>,
    bytes: usize,
    /// The newest verdict's readiness and cause, kept even when its entry has left the ring.
    current: Option<(bool, String)>,
    transitions: u64,
    last_transition: Option<SystemTime>,
    status_since: Option<SystemTime>,
    dropped: u64,
}

impl History {
    pub fn new(limits: Limits) -> Self {
        History {
            limits: Limits {
                entries: limits.entries.max(1),
                bytes: limits.bytes,
            },
            ring: VecDeque::new(),
            bytes: 0,
            current: None,
            transitions: 0,
            last_transition: None,
            status_since: None,
            dropped: 0,
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Records one refresh's verdict, taken at `at`, with its check rows. Returns the event
    /// when an entry was made or grew, `None` when the refresh changed nothing worth keeping
    /// (the same verdict, every check well).
    pub fn record(
        &mut self,
        at: SystemTime,
        verdict: &Verdict,
        checks: &[CheckRow],
    ) -> Option<Event> {
        let rules: Vec<String> = verdict
            .rules
            .iter()
            .filter(|r| matches!(r.status, RuleStatus::Fail(_)))
            .map(|r| r.name.clone())
            .collect();
        let reasons = verdict.reasons();
        let cause = cause_key(verdict.ready, &rules, &reasons);
        let failed = checks.iter().any(|c| !c.success);
        let errors = errors_key(checks);
        let event = match &self.current {
            None => Event::First,
            Some((_, previous)) if *previous != cause => Event::Transition,
            Some(_) if failed => Event::FailedRefresh,
            Some(_) => return None,
        };
        let flipped = self
            .current
            .as_ref()
            .is_none_or(|(r, _)| *r != verdict.ready);
        if flipped {
            self.status_since = Some(at);
        }
        self.current = Some((verdict.ready, cause.clone()));
        if event != Event::FailedRefresh {
            self.last_transition = Some(at);
        }
        if event == Event::Transition {
            self.transitions += 1;
        }
        if event == Event::FailedRefresh {
            if let Some(newest) = self.ring.back_mut() {
                if newest.cause == cause && newest.errors == errors {
                    let grown = Arc::make_mut(newest);
                    grown.count = grown.count.saturating_add(1);
                    grown.last_at = at;
                    let before = grown.bytes;
                    grown.checks = notes(checks);
                    grown.bytes = size(&grown.rules, &grown.reasons, &grown.checks);
                    self.bytes = self.bytes.saturating_sub(before) + grown.bytes;
                    self.trim();
                    return Some(event);
                }
            }
        }
        let rules: Vec<String> = rules.iter().take(MAX_RULES).map(|r| clip(r)).collect();
        let reasons = kept_reasons(&reasons);
        let checks = notes(checks);
        let bytes = size(&rules, &reasons, &checks);
        self.ring.push_back(Arc::new(Entry {
            at,
            last_at: at,
            count: 1,
            event,
            ready: verdict.ready,
            rules,
            reasons,
            checks,
            cause,
            errors,
            bytes,
        }));
        self.bytes += bytes;
        self.trim();
        Some(event)
    }

    /// Drops the oldest entries until both bounds hold; the newest entry always stays.
    fn trim(&mut self) {
        while self.ring.len() > 1
            && (self.ring.len() > self.limits.entries || self.bytes > self.limits.bytes)
        {
            if let Some(old) = self.ring.pop_front() {
                self.bytes = self.bytes.saturating_sub(old.bytes);
                self.dropped += 1;
            }
        }
    }

    /// The ring as it is now, newest first.
    pub fn recent(&self) -> Recent {
        Recent {
            entries: self.ring.iter().rev().cloned().collect(),
            transitions: self.transitions,
            last_transition: self.last_transition,
            status_since: self.status_since,
            dropped: self.dropped,
        }
    }

    /// Entries and bytes held now.
    pub fn usage(&self) -> (usize, usize) {
        (self.ring.len(), self.bytes)
    }
}

/// A reason's cause: the reason with every number (a percentage, an age, a count, a duration,
/// a size, a port) replaced by `#`, so two reasons that differ only in their figures are the
/// same cause. A number is a run of digits (with decimals, and a unit glued to it: `5s`,
/// `1m30s`, `40%`, `1.5GiB`) that does not continue a word: `c_00001`, `v2.3.5`, `gpu0` and
/// `sha256` keep their digits, since they name things.
pub fn cause_of(text: &str) -> String {
    static NUMBER: OnceLock<regex::Regex> = OnceLock::new();
    let number = NUMBER.get_or_init(|| {
        regex::Regex::new(
            r"\d+(?:\.\d+)*(?:(?:ns|us|µs|ms|s|m|h|d)\d+(?:\.\d+)*)*(?:ns|us|µs|ms|s|m|h|d|[KMGTP]i?B|B|%)?",
        )
        .unwrap_or_else(|_| unreachable!("a fixed, valid pattern"))
    });
    let continues_word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in number.find_iter(text) {
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        if before.is_some_and(continues_word)
            || after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        out.push_str(&text[last..m.start()]);
        out.push('#');
        last = m.end();
    }
    out.push_str(&text[last..]);
    out
}

fn cause_key(ready: bool, rules: &[String], reasons: &[String]) -> String {
    let mut key = String::from(if ready { "ready" } else { "not_ready" });
    for r in rules {
        key.push('\u{1f}');
        key.push_str(r);
    }
    key.push('\u{1e}');
    for r in reasons {
        key.push('\u{1f}');
        key.push_str(&cause_of(r));
    }
    key
}

fn errors_key(checks: &[CheckRow]) -> String {
    let mut key = String::new();
    for c in checks.iter().filter(|c| !c.success) {
        key.push_str(c.name);
        key.push('\u{1f}');
        key.push_str(&cause_of(c.error.as_deref().unwrap_or("")));
        key.push('\u{1e}');
    }
    key
}

fn clip(s: &str) -> String {
    match crate::limits::clip_bytes(s, MAX_TEXT_BYTES) {
        (whole, false) => whole.to_string(),
        (head, true) => format!("{head}…"),
    }
}

fn kept_reasons(reasons: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = reasons.iter().take(MAX_REASONS).map(|r| clip(r)).collect();
    if reasons.len() > MAX_REASONS {
        kept.push(format!("(and {} more)", reasons.len() - MAX_REASONS));
    }
    kept
}

fn notes(checks: &[CheckRow]) -> Vec<CheckNote> {
    checks
        .iter()
        .take(MAX_CHECKS)
        .map(|c| CheckNote {
            name: c.name,
            success: c.success,
            duration: c.duration,
            error: c.error.as_deref().map(clip),
        })
        .collect()
}

/// What an entry is taken to cost: its texts, twice over (as given and as a cause), and
/// fixed overheads. A bound to hold, not an allocator's exact count.
fn size(rules: &[String], reasons: &[String], checks: &[CheckNote]) -> usize {
    let texts: usize = rules.iter().chain(reasons).map(String::len).sum();
    let errors: usize = checks
        .iter()
        .map(|c| CHECK_OVERHEAD + c.error.as_ref().map_or(0, String::len))
        .sum();
    ENTRY_OVERHEAD + 2 * texts + 2 * errors
}

/// The largest an entry can be taken to cost; `history.max_bytes` may not be smaller.
pub const MAX_ENTRY_BYTES: usize = ENTRY_OVERHEAD
    + 2 * ((MAX_REASONS + 1) * (MAX_TEXT_BYTES + 3) + MAX_RULES * (MAX_TEXT_BYTES + 3))
    + 2 * MAX_CHECKS * (CHECK_OVERHEAD + MAX_TEXT_BYTES + 3);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::RuleOutcome;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn verdict(failing: &[(&str, &str)]) -> Verdict {
        let mut rules = vec![RuleOutcome {
            name: "milvus".into(),
            status: RuleStatus::Pass,
        }];
        rules.extend(failing.iter().map(|(n, r)| RuleOutcome {
            name: (*n).into(),
            status: RuleStatus::Fail((*r).into()),
        }));
        Verdict {
            ready: failing.is_empty(),
            rules,
        }
    }

    fn ok_checks() -> Vec<CheckRow> {
        vec![CheckRow {
            name: "milvus",
            success: true,
            duration: Duration::from_millis(3),
            error: None,
        }]
    }

    fn failed_checks(error: &str) -> Vec<CheckRow> {
        vec![CheckRow {
            name: "milvus",
            success: false,
            duration: Duration::from_millis(5),
            error: Some(error.into()),
        }]
    }

    #[test]
    fn causes_drop_the_numbers_that_change_and_keep_the_ones_that_name_things() {
        let table = [
            ("memory 91.2% > 90%", "memory # > #"),
            ("/data is 96.5% full", "/data is # full"),
            (
                "default.warming is still loading (40%)",
                "default.warming is still loading (#)",
            ),
            (
                "CheckHealth timed out after 5s",
                "CheckHealth timed out after #",
            ),
            ("no answer for 1m30s", "no answer for #"),
            ("took 250ms, limit 200ms", "took #, limit #"),
            (
                "3 of 10 collections not loaded",
                "# of # collections not loaded",
            ),
            ("(and 12 more)", "(and # more)"),
            ("binlog 1.5GiB over quota", "binlog # over quota"),
            (
                "Milvus at http://m:19530 unreachable",
                "Milvus at http://m:# unreachable",
            ),
            ("querynode 5 memory 97%", "querynode # memory #"),
            (
                "default.c_00001 is not loaded",
                "default.c_00001 is not loaded",
            ),
            ("version v2.3.5 unsupported", "version v2.3.5 unsupported"),
            ("gpu0 and sha256 are names", "gpu0 and sha256 are names"),
            ("age -3s", "age -#"),
            ("", ""),
            ("no digits at all", "no digits at all"),
        ];
        for (reason, cause) in table {
            assert_eq!(cause_of(reason), cause, "cause of {reason:?}");
        }
    }

    #[test]
    fn a_flap_of_three_transitions_in_a_minute_gives_three_entries() {
        let mut h = History::new(Limits::default());
        assert_eq!(
            h.record(at(0), &verdict(&[]), &ok_checks()),
            Some(Event::First)
        );
        let down = verdict(&[("milvus", "Milvus at http://m:19530: connection refused")]);
        assert_eq!(
            h.record(at(10), &down, &failed_checks("connection refused")),
            Some(Event::Transition)
        );
        assert_eq!(
            h.record(at(30), &verdict(&[]), &ok_checks()),
            Some(Event::Transition)
        );
        assert_eq!(
            h.record(at(50), &down, &failed_checks("connection refused")),
            Some(Event::Transition)
        );
        let r = h.recent();
        assert_eq!(r.transitions, 3);
        let transitions: Vec<_> = r
            .entries
            .iter()
            .filter(|e| e.event == Event::Transition)
            .collect();
        assert_eq!(transitions.len(), 3, "{:?}", r.entries);
        assert_eq!(
            r.entries.len(),
            4,
            "the first verdict and three transitions"
        );
        assert!(
            !r.entries[0].ready && r.entries[0].at == at(50),
            "newest first"
        );
        assert_eq!(r.last_transition, Some(at(50)));
        assert_eq!(r.status_since, Some(at(50)));
        assert_eq!(r.entries[0].rules, vec!["milvus".to_string()]);
    }

    #[test]
    fn a_stable_failure_with_a_changing_percentage_gives_one_entry() {
        let mut h = History::new(Limits::default());
        for (i, pct) in ["91.2", "93.8", "90.1", "99.9", "95"].iter().enumerate() {
            let v = verdict(&[("memory", &format!("memory {pct}% > 90%"))]);
            let made = h.record(at(i as u64 * 10), &v, &ok_checks());
            assert_eq!(made, (i == 0).then_some(Event::First), "refresh {i}");
        }
        let r = h.recent();
        assert_eq!(r.entries.len(), 1);
        assert_eq!(r.transitions, 0);
        assert_eq!(r.entries[0].reasons, vec!["memory 91.2% > 90%".to_string()]);
    }

    #[test]
    fn a_new_failing_rule_or_a_new_cause_is_a_transition() {
        let mut h = History::new(Limits::default());
        h.record(
            at(0),
            &verdict(&[("memory", "memory 91% > 90%")]),
            &ok_checks(),
        );
        let both = verdict(&[("memory", "memory 92% > 90%"), ("disk", "/ is 97% full")]);
        assert_eq!(
            h.record(at(1), &both, &ok_checks()),
            Some(Event::Transition)
        );
        let other = verdict(&[
            ("memory", "memory 92% > 90%"),
            ("disk", "/data is 97% full"),
        ]);
        assert_eq!(
            h.record(at(2), &other, &ok_checks()),
            Some(Event::Transition)
        );
        let r = h.recent();
        assert_eq!(r.transitions, 2);
        assert_eq!(r.status_since, Some(at(0)), "not ready all along");
        assert_eq!(r.last_transition, Some(at(2)));
    }

    #[test]
    fn failed_refreshes_of_one_cause_coalesce_with_a_count_and_the_last_time() {
        let mut h = History::new(Limits {
            entries: 4,
            bytes: 1 << 20,
        });
        let down = verdict(&[("milvus", "Milvus at http://m:19530: timed out after 5s")]);
        h.record(at(0), &verdict(&[]), &ok_checks());
        h.record(at(10), &down, &failed_checks("timed out after 5s"));
        for i in 2..1000 {
            let made = h.record(at(i * 10), &down, &failed_checks("timed out after 5.001s"));
            assert_eq!(made, Some(Event::FailedRefresh));
        }
        let r = h.recent();
        assert_eq!(
            r.entries.len(),
            2,
            "the outage is one entry: {:?}",
            r.entries
        );
        assert_eq!(r.entries[0].count, 999);
        assert_eq!(r.entries[0].at, at(10));
        assert_eq!(r.entries[0].last_at, at(9990));
        assert_eq!(r.entries[1].event, Event::First, "what led to it stays");
        // A failed refresh with another error, same verdict: its own entry.
        let other = failed_checks("connection refused");
        assert_eq!(
            h.record(at(10_000), &down, &other),
            Some(Event::FailedRefresh)
        );
        assert_eq!(h.recent().entries.len(), 3);
        assert_eq!(h.recent().entries[0].event, Event::FailedRefresh);
    }

    #[test]
    fn a_well_refresh_with_the_same_verdict_records_nothing() {
        let mut h = History::new(Limits::default());
        h.record(at(0), &verdict(&[]), &ok_checks());
        for i in 1..100 {
            assert_eq!(h.record(at(i), &verdict(&[]), &ok_checks()), None);
        }
        assert_eq!(h.recent().entries.len(), 1);
    }

    #[test]
    fn the_ring_holds_its_entry_and_byte_bounds_through_ten_thousand_transitions() {
        for limits in [
            Limits {
                entries: 100,
                bytes: 1 << 20,
            },
            Limits {
                entries: 10_000,
                bytes: 256 * 1024,
            },
            Limits {
                entries: 1,
                bytes: MAX_ENTRY_BYTES,
            },
        ] {
            let mut h = History::new(limits);
            let long = "x".repeat(5000);
            for i in 0..10_000u64 {
                let v = if i % 2 == 0 {
                    verdict(&[("milvus", &format!("{long} {i}")), ("disk", "/ full")])
                } else {
                    verdict(&[])
                };
                h.record(at(i), &v, &failed_checks(&long));
                let (entries, bytes) = h.usage();
                assert!(
                    entries <= limits.entries,
                    "{entries} entries under {limits:?}"
                );
                assert!(bytes <= limits.bytes, "{bytes} bytes under {limits:?}");
                assert!(entries >= 1);
            }
            let r = h.recent();
            assert_eq!(r.transitions, 9_999);
            assert_eq!(r.entries[0].at, at(9_999), "the newest is kept");
            assert_eq!(r.dropped as usize + r.entries.len(), 10_000);
            let counted: usize = r.entries.iter().map(|e| e.bytes()).sum();
            assert_eq!(counted, h.usage().1, "the byte count is the entries' sum");
            assert!(r.entries.iter().all(|e| e.bytes() <= MAX_ENTRY_BYTES));
            assert!(r
                .entries
                .iter()
                .all(|e| e.reasons.iter().all(|t| t.len() <= MAX_TEXT_BYTES + 3)));
        }
    }

    #[test]
    fn the_smallest_byte_bound_allowed_holds_the_largest_entry() {
        assert!(MAX_ENTRY_BYTES as u64 <= crate::config::MIN_HISTORY_BYTES);
    }

    #[test]
    fn an_entry_keeps_a_bounded_number_of_reasons_and_checks() {
        let mut h = History::new(Limits::default());
        let many: Vec<(String, String)> = (0..100)
            .map(|i| (format!("dep-{i}"), format!("down {i}")))
            .collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let checks: Vec<CheckRow> = (0..100)
            .map(|_| CheckRow {
                name: "milvus",
                success: false,
                duration: Duration::ZERO,
                error: Some("e".repeat(10_000)),
            })
            .collect();
        h.record(at(0), &verdict(&refs), &checks);
        let e = &h.recent().entries[0];
        assert_eq!(e.reasons.len(), MAX_REASONS + 1);
        assert_eq!(e.reasons.last().map(String::as_str), Some("(and 84 more)"));
        assert_eq!(e.checks.len(), MAX_CHECKS);
        assert!(
            e.bytes() <= MAX_ENTRY_BYTES,
            "{} > {MAX_ENTRY_BYTES}",
            e.bytes()
        );
    }
}
