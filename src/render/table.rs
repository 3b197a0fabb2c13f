//! Snapshot → the `check` subcommand's table: the verdict first, then the rules and checks it
//! rests on, then each check's own lines. A rendering like [`super::exposition`] and
//! [`super::report`]: it reads one [`View`] and names no check (each result writes its own
//! lines through `Facts::table`), so a new check shows up here without an edit.

use std::fmt::Write as _;

use super::inert::terminal as t;
use crate::cache::View;
use crate::readiness::RuleStatus;

/// The `check` table of one view. Lines end without trailing blanks, so a diff of two runs
/// shows only what changed. Every text from Milvus or a peer is made inert for a terminal
/// where it is written ([`t`]), so a name holding `ESC [ 2 J`, a CR or a newline followed by
/// `rule … ok` shows as text on its own line; a last pass escapes any active character that
/// a check's lines might still carry, whatever wrote them, so none reaches the terminal.
pub fn render(view: &View) -> String {
    let out = lines(view);
    let mut safe = String::with_capacity(out.len());
    for (i, line) in out.split('\n').enumerate() {
        if i > 0 {
            safe.push('\n');
        }
        safe.push_str(&t(line));
    }
    safe
}

fn lines(view: &View) -> String {
    let s = &view.snapshot;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Milvus {}  {}",
        t(&s.address),
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
            RuleStatus::Fail(reason) => ("FAIL", t(reason).into_owned()),
        };
        let line = format!("  rule {:<12} {:<9} {}", t(&r.name), mark, detail);
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(out);
    for c in s.checks() {
        let line = format!(
            "  check {:<11} {:<4} {:>8.1} ms  {}",
            c.name,
            if c.success { "ok" } else { "FAIL" },
            c.duration.as_secs_f64() * 1000.0,
            t(&c.error.unwrap_or_default())
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for r in s.results.iter() {
        r.table(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::tests::{cfg, healthy, milvus};
    use crate::readiness::{evaluate, Scope};
    use crate::snapshot::Snapshot;

    fn table_of(snapshot: Snapshot) -> (String, View) {
        let verdict = evaluate(&snapshot, &cfg(), Scope::Main);
        let view = View::new(snapshot, verdict);
        (render(&view), view)
    }

    #[test]
    fn the_verdict_comes_first_then_one_line_per_rule_and_per_check_without_trailing_blanks() {
        let (out, view) = table_of(healthy());
        assert_eq!(out.lines().next(), Some("Milvus http://m:19530  READY"));
        let rules = out.lines().filter(|l| l.starts_with("  rule ")).count();
        let checks = out.lines().filter(|l| l.starts_with("  check ")).count();
        assert_eq!(rules, view.verdict.rules.len(), "{out}");
        assert_eq!(checks, view.snapshot.checks().len(), "{out}");
        assert!(out.lines().all(|l| l == l.trim_end()), "{out:?}");
    }

    #[test]
    fn a_failing_rule_turns_the_head_to_not_ready_and_marks_its_line() {
        let mut s = healthy();
        if let Ok(facts) = &mut milvus(&mut s).outcome {
            facts.healthy = false;
        }
        let (out, _) = table_of(s);
        assert_eq!(out.lines().next(), Some("Milvus http://m:19530  NOT READY"));
        let line = out
            .lines()
            .find(|l| l.starts_with("  rule milvus "))
            .unwrap_or_else(|| panic!("no milvus rule line: {out}"));
        assert!(line.contains(" FAIL "), "{line}");
    }

    #[test]
    fn hostile_names_and_reasons_reach_the_terminal_inert_on_one_line_each() {
        use crate::readiness::tests::collections;
        let hostile = "x\u{1b}[2J\u{1b}]0;owned\u{7}\r\u{202e}\n  rule milvus       ok";
        let mut s = healthy();
        if let Ok(facts) = &mut milvus(&mut s).outcome {
            facts.healthy = false;
            facts.version = Some(hostile.into());
            facts.reasons = vec![hostile.into()];
        }
        if let Ok(c) = &mut collections(&mut s).outcome {
            c.collections[0].name = hostile.into();
            c.collections[0].db_name = "db\u{9b}31m".into();
        }
        let (out, view) = table_of(s);
        let rules = out.lines().filter(|l| l.starts_with("  rule ")).count();
        assert_eq!(rules, view.verdict.rules.len(), "{out}");
        assert!(
            !out.chars()
                .any(|c| c != '\n' && super::super::inert::inert(&c.to_string()) != c.to_string()),
            "{out:?}"
        );
        assert!(out.contains("\\u{1b}[2J"), "{out}");
    }
}
