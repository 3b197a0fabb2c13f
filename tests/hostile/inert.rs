//! Terminal and line injection: text from Milvus (collection and index names, the version,
//! reasons) reaches `milvus_exporter check` and `/readyz?verbose` inert: no C0, C1, DEL,
//! ANSI or OSC sequence, CR or bidi control, and one line per rule whatever the text, while
//! the JSON keeps the text exactly (escaped as JSON escapes it).

use std::time::Duration;

use super::bodies::heavy;
use super::support::binary;
use super::support::exporter::Exporter;
use super::support::fake_milvus::{fake_index, FakeCollection, FakeMilvus, FakeState};

/// Clears the screen, sets the window title, returns the carriage, reverses the text, and
/// forges a passing rule on lines of its own.
const FORGER: &str = "evil\u{1b}[2J\u{1b}]0;pwned\u{7}\r\u{202e}txt\n[+]components ok\n  rule milvus       ok\nreadyz check passed";
/// C1 CSI, DEL, a bidi isolate and the Arabic letter mark.
const QUIET: &str = "x\u{9b}31m\u{7f}\u{2066}y\u{61c}z";

/// Whether `c` would act on a terminal rather than show.
fn active(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// A fake serving `names` (the first released and required, the second loaded with a
/// hostile index) and `version`.
async fn fake(names: [&str; 2], version: &str) -> FakeMilvus {
    let (first, second) = (names[0].to_string(), names[1].to_string());
    let version = version.to_string();
    FakeMilvus::start(FakeState::new().with(move |b| {
        b.version = version;
        b.collections = vec![
            FakeCollection::loaded("default", "docs", 3),
            FakeCollection::released("default", &first),
            FakeCollection::loaded("default", &second, 5),
        ];
        let mut index = fake_index(&format!("idx{second}"), 1, 5, 4, 4);
        index.index_state_fail_reason = format!("failed: {second}\n[+]quota ok");
        b.indexes.insert(second.clone(), vec![index]);
    }))
    .await
}

fn config(url: &str, required: &str) -> String {
    // A JSON string literal is a TOML basic string (controls as \u escapes).
    let required = serde_json::to_string(required).expect("string");
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"10s\"\n\
         [cache]\nttl = \"60s\"\nrefresh_interval = \"0s\"\n\
         [readiness]\ndisabled_rules = [\"memory\", \"disk\"]\nrequired_collections = [{required}]\n"
    )
}

async fn check_output(names: [&str; 2], version: &str) -> String {
    let f = fake(names, version).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = binary::write_config(dir.path(), &config(&f.url(), names[0]));
    let path = path.to_string_lossy().into_owned();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        binary::run(&["--config", &path, "check"], &[], Duration::from_secs(60))
    })
    .await
    .expect("check");
    assert_ne!(
        code,
        Some(0),
        "a required collection is released: {stdout}\n{stderr}"
    );
    stdout
}

fn rule_lines(out: &str, prefixes: &[&str]) -> usize {
    out.lines()
        .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_sends_no_escape_cr_or_bidi_to_the_terminal_and_one_line_per_rule() {
    let _heavy = heavy().await;
    let plain = check_output(["plain_one", "plain_two"], "v2.4.0").await;
    let hostile = check_output(
        [FORGER, QUIET],
        "v2.4.0\u{1b}]0;title\u{7}\n  rule disk       ok",
    )
    .await;
    println!("{hostile}");
    let shown: Vec<String> = hostile
        .chars()
        .filter(|c| active(*c))
        .map(|c| c.escape_unicode().to_string())
        .collect();
    assert!(
        shown.is_empty(),
        "`check` wrote {} active characters to the terminal: {shown:?}",
        shown.len()
    );
    assert_eq!(
        rule_lines(&hostile, &["  rule "]),
        rule_lines(&plain, &["  rule "]),
        "one line per rule:\n{hostile}"
    );
    assert_eq!(
        hostile.lines().count(),
        plain.lines().count(),
        "as many lines as with plain names:\n{hostile}\n---\n{plain}"
    );
    assert!(
        hostile.contains("\\u{1b}[2J"),
        "the name is shown, escaped: {hostile}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_verbose_has_one_line_per_rule_and_no_forged_verdict_and_json_keeps_the_text() {
    let _heavy = heavy().await;
    let mut bodies = Vec::new();
    for names in [["plain_one", "plain_two"], [FORGER, QUIET]] {
        let f = fake(names, "v2.4.0").await;
        let s = Exporter::start(&config(&f.url(), names[0])).await;
        let r = s.get("/readyz?verbose").await;
        assert_eq!(r.status, 503, "{}", r.body);
        let health = s.get("/health").await.json();
        s.stop().await;
        bodies.push((r.body, health));
    }
    let (plain, _) = &bodies[0];
    let (hostile, health) = &bodies[1];
    println!("{hostile}");
    let shown: Vec<char> = hostile.chars().filter(|c| active(*c)).collect();
    assert!(shown.is_empty(), "/readyz?verbose carries {shown:?}");
    assert_eq!(
        rule_lines(hostile, &["[+]", "[-]"]),
        rule_lines(plain, &["[+]", "[-]"]),
        "one line per rule:\n{hostile}"
    );
    assert_eq!(hostile.lines().count(), plain.lines().count(), "{hostile}");
    let verdicts: Vec<&str> = hostile
        .lines()
        .filter(|l| l.starts_with("readyz check"))
        .collect();
    assert_eq!(verdicts, ["readyz check failed"], "{hostile}");
    assert!(
        !hostile
            .lines()
            .any(|l| l == "[+]components ok" && !plain.contains(l)),
        "a forged line: {hostile}"
    );
    // JSON keeps every character, escaped as JSON escapes it.
    let names: Vec<&str> = health["dependencies"]["collections"]["collections"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(names.contains(&FORGER), "{names:?}");
    assert!(names.contains(&QUIET), "{names:?}");
}
