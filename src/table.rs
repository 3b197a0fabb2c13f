//! Snapshot → the `check` subcommand's table: the verdict first, then the rules and checks it
//! rests on, then each check's own lines. A rendering like [`crate::exposition`] and
//! [`crate::report`]: it reads one [`View`] and names no check (each result writes its own
//! lines through `Facts::table`), so a new check shows up here without an edit.

use std::fmt::Write as _;

use crate::cache::View;
use crate::readiness::RuleStatus;

/// The `check` table of one view. Lines end without trailing blanks, so a diff of two runs
/// shows only what changed.
pub fn render(view: &View) -> String {
    let s = &view.snapshot;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Milvus {}  {}",
        s.address,
        if view.verdict.ready {
            "READY"
        } else {
            "NOT READY"
        }
    );
    for r in &view.verdict.rules {
        let (mark, detail) = match &r.status {
            RuleStatus::Pass => ("ok", String::new()),
            RuleStatus::Excluded => ("excluded", String::new()),
            RuleStatus::Fail(reason) => ("FAIL", reason.clone()),
        };
        let line = format!("  rule {:<12} {:<9} {}", r.name, mark, detail);
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(out);
    for c in s.checks() {
        let line = format!(
            "  check {:<11} {:<4} {:>8.1} ms  {}",
            c.name,
            if c.success { "ok" } else { "FAIL" },
            c.duration.as_secs_f64() * 1000.0,
            c.error.unwrap_or_default()
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for r in s.results.iter() {
        r.table(&mut out);
    }
    out
}
