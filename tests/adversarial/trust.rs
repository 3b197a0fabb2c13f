//! Adversarial cases: what one client, one config value or one environment variable can do to
//! everyone else. A scrape deadline must not become the verdict other clients read; no
//! duration can overflow a deadline or wedge the refresher; values reach the program as
//! written.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use milvus_exporter::config::{Config, Credentials, Overrides};

use super::support::binary;
use super::support::exporter::Exporter;
use super::support::fake_milvus::{FakeCollection, FakeMilvus, FakeState};

/// Host rules off: these tests are about what clients can do, not about the test machine.
fn config(url: &str, timeout: &str, ttl: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"{timeout}\"\n\
         [cache]\nttl = \"{ttl}\"\nrefresh_interval = \"0s\"\n\
         [readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\n\
         required_collections = [\"docs\"]\n"
    )
}

fn docs() -> FakeState {
    FakeState::new().with(|b| b.collections = vec![FakeCollection::loaded("default", "docs", 10)])
}

/// Waits until the cached snapshot is older than the ttl, so the next reader refreshes.
async fn until_stale(exporter: &Exporter) {
    let cache = exporter.state.caches.load().main.clone();
    let ttl = cache.ttl();
    loop {
        let stale = cache
            .peek()
            .is_some_and(|v| v.snapshot.age(std::time::Instant::now()) >= ttl);
        if stale {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_impatient_scrape_cannot_turn_readyz_red_for_everyone() {
    let fake = FakeMilvus::start(docs().with(|b| b.delay = Duration::from_millis(300))).await;
    let exporter = Exporter::start(&config(&fake.url(), "3s", "500ms")).await;
    assert_eq!(
        exporter.get("/readyz").await.status,
        200,
        "ready to begin with"
    );
    until_stale(&exporter).await;

    // The whole attack: one scrape with a 10 ms deadline on a stale cache.
    let r = exporter
        .get_with(
            "/metrics",
            &[("x-prometheus-scrape-timeout-seconds", "0.01")],
        )
        .await;
    assert_eq!(r.status, 200);
    let m = r.metrics();
    assert_eq!(
        m.value("milvus_up", &[]),
        1.0,
        "the impatient scrape gets the last complete snapshot, not a cut one"
    );

    // Everyone else: still ready, and never shown a timeout the scrape caused.
    for _ in 0..5 {
        let ready = exporter.get("/readyz").await;
        assert_eq!(ready.status, 200, "{}", ready.body);
        let health = exporter.get("/health").await.json();
        let err = health["checks"]["milvus"]["error"].to_string();
        assert!(!err.contains("timed out"), "{err}");
    }
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_scrape_timeout_header_value_changes_what_others_see() {
    let fake = FakeMilvus::start(docs().with(|b| b.delay = Duration::from_millis(100))).await;
    let exporter = Exporter::start(&config(&fake.url(), "3s", "200ms")).await;
    assert_eq!(exporter.get("/readyz").await.status, 200);
    let values = [
        "0",
        "-1",
        "0.000000001",
        "1e-300",
        "NaN",
        "inf",
        "-inf",
        "1e308",
        "99999999999",
        "abc",
        "",
        " 0.01 ",
        "0x10",
        "1,5",
    ];
    for v in values {
        until_stale(&exporter).await;
        let r = exporter
            .get_with("/metrics", &[("x-prometheus-scrape-timeout-seconds", v)])
            .await;
        assert_eq!(r.status, 200, "header {v:?}");
        let ready = exporter.get("/readyz").await;
        assert_eq!(ready.status, 200, "after header {v:?}: {}", ready.body);
    }
    exporter.stop().await;
}

/// `(file, key)`: each value is past its bound and must be refused naming the key.
const PAST_THE_BOUND: &[(&str, &str)] = &[
    ("[cache]\nttl = \"1ns\"\n", "cache.ttl"),
    ("[cache]\nttl = \"99ms\"\n", "cache.ttl"),
    ("[cache]\nrefresh_interval = \"1ns\"\n", "cache.refresh_interval"),
    ("[cache]\nrefresh_interval = \"999ms\"\n", "cache.refresh_interval"),
    ("[web]\nheader_read_timeout = \"1ms\"\n", "web.header_read_timeout"),
    ("[web]\nwrite_timeout = \"1ms\"\n", "web.write_timeout"),
    ("[milvus]\ntimeout = \"100000000y\"\n", "milvus.timeout"),
    ("[milvus]\ntimeout = \"11m\"\n", "milvus.timeout"),
    ("[cache]\nttl = \"2days\"\n", "cache.ttl"),
    ("[cache]\nrefresh_interval = \"400d\"\n", "cache.refresh_interval"),
    ("[web]\nheader_read_timeout = \"1h\"\n", "web.header_read_timeout"),
    ("[system]\ncpu_sample_interval = \"2h\"\n", "system.cpu_sample_interval"),
    (
        "[[targets]]\nname = \"t\"\naddress = \"http://127.0.0.1:1\"\ntimeout = \"584942417355y\"\n",
        "targets[0].timeout",
    ),
    (
        "[[readiness.probes]]\ncollection = \"docs\"\ntimeout = \"1000y\"\n",
        "readiness.probes[0].timeout",
    ),
    (
        "[[readiness.probes]]\ncollection = \"docs\"\nmax_latency = \"1000y\"\n",
        "readiness.probes[0].max_latency",
    ),
    (
        "[[readiness.probes]]\ncollection = \"docs\"\nmax_latency = \"0s\"\n",
        "readiness.probes[0].max_latency",
    ),
    (
        "[[dependencies]]\nname = \"emb\"\nurl = \"http://127.0.0.1:1/\"\ntimeout = \"1000y\"\n",
        "dependencies[0].timeout",
    ),
];

#[test]
fn every_duration_has_an_upper_bound_that_names_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wrong = Vec::new();
    for (toml, key) in PAST_THE_BOUND {
        let path = binary::write_config(dir.path(), toml);
        match Config::load_from(Some(&path), &[], &Overrides::default()) {
            Ok(_) => wrong.push(format!("{key}: accepted\n{toml}")),
            Err(e) if !e.to_string().contains(key) => {
                wrong.push(format!("{key}: error does not name it: {e}"))
            }
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_largest_allowed_durations_load() {
    let toml =
        "[milvus]\ntimeout = \"10m\"\n[cache]\nttl = \"1day\"\nrefresh_interval = \"1day\"\n\
                [web]\nheader_read_timeout = \"10m\"\n[system]\ncpu_sample_interval = \"1h\"\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = binary::write_config(dir.path(), toml);
    let c = Config::load_from(Some(&path), &[], &Overrides::default()).expect("loads");
    assert_eq!(c.milvus.timeout, Duration::from_secs(600));
    assert_eq!(c.cache.ttl, Duration::from_secs(86_400));
}

#[test]
fn an_overflowing_timeout_exits_2_instead_of_wedging_the_refresher() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = binary::write_config(
        dir.path(),
        "[milvus]\naddress = \"http://127.0.0.1:1\"\ntimeout = \"100000000y\"\n",
    );
    let path = path.display().to_string();
    let (code, _, stderr) =
        binary::run(&["--config", &path, "check"], &[], Duration::from_secs(30));
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("milvus.timeout"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Values that a type-guessing environment layer rewrites.
const TRICKY: &[&str] = &[
    "007",
    "0123",
    "1e5",
    "TRUE",
    "false",
    "1234567890123456789012345",
    "-0",
    "0x1F",
    "NaN",
    "inf",
    " padded ",
    "a,b",
];

#[test]
fn string_values_from_the_environment_arrive_as_written() {
    for v in TRICKY {
        let c = Config::load_from(
            None,
            &env(&[
                ("MILVUS_EXPORTER_MILVUS__NAME", v),
                ("MILVUS_EXPORTER_MILVUS__USERNAME", v),
                ("MILVUS_EXPORTER_MILVUS__PASSWORD", v),
            ]),
            &Overrides::default(),
        )
        .unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert_eq!(c.milvus.name, v.trim(), "name {v:?}");
        match &c.milvus.credentials {
            Credentials::UserPassword { username, password } => {
                assert_eq!(username, v, "username {v:?}");
                assert_eq!(password.expose(), *v, "password {v:?}");
            }
            other => panic!("{v:?}: credentials {other:?}"),
        }
        let t = Config::load_from(
            None,
            &env(&[("MILVUS_EXPORTER_MILVUS__TOKEN", v)]),
            &Overrides::default(),
        )
        .unwrap_or_else(|e| panic!("{v:?}: {e}"));
        match &t.milvus.credentials {
            Credentials::Token(token) => assert_eq!(token.expose(), *v, "token {v:?}"),
            other => panic!("{v:?}: credentials {other:?}"),
        }
    }
}

#[test]
fn lists_numbers_and_booleans_from_the_environment_still_parse() {
    let c = Config::load_from(
        None,
        &env(&[
            (
                "MILVUS_EXPORTER_READINESS__REQUIRED_COLLECTIONS",
                "007,1e5,db.TRUE",
            ),
            ("MILVUS_EXPORTER_MILVUS__DATABASES", "0123"),
            ("MILVUS_EXPORTER_READINESS__MEMORY_PERCENT_MAX", "75.5"),
            ("MILVUS_EXPORTER_MILVUS__MAX_CONCURRENCY", "007"),
            ("MILVUS_EXPORTER_MILVUS__TIMEOUT", "5s"),
            ("MILVUS_EXPORTER_SYSTEM__DISK_PATHS", "/,/tmp"),
        ]),
        &Overrides::default(),
    )
    .expect("loads");
    let names: Vec<String> = c
        .readiness
        .required_collections
        .iter()
        .map(|r| format!("{}.{}", r.db_name, r.name))
        .collect();
    assert_eq!(names, ["default.007", "default.1e5", "db.TRUE"]);
    assert_eq!(
        c.milvus.databases,
        ["0123"],
        "a one-item list stays a string"
    );
    assert_eq!(c.readiness.memory_percent_max, 75.5);
    assert_eq!(c.milvus.max_concurrency, 7);
    assert_eq!(c.milvus.timeout, Duration::from_secs(5));
    assert_eq!(c.system.disk_paths.len(), 2);
}

#[test]
fn every_list_key_takes_a_list_from_the_environment_and_an_empty_value_clears_it() {
    let c = Config::load_from(
        None,
        &env(&[
            (
                "MILVUS_EXPORTER_READINESS__QUOTA_STATES_NOT_READY",
                "DenyToRead,DenyToWrite",
            ),
            ("MILVUS_EXPORTER_READINESS__DISABLED_RULES", ""),
            ("MILVUS_EXPORTER_MILVUS__DATABASES", ""),
        ]),
        &Overrides::default(),
    )
    .expect("loads");
    assert_eq!(c.readiness.quota_states_not_ready.len(), 2);
    assert!(c.readiness.disabled_rules.is_empty());
    assert!(c.milvus.databases.is_empty(), "empty means all databases");
    let cleared = Config::load_from(
        None,
        &env(&[("MILVUS_EXPORTER_READINESS__QUOTA_STATES_NOT_READY", "")]),
        &Overrides::default(),
    )
    .expect("loads");
    assert!(cleared.readiness.quota_states_not_ready.is_empty());
}

#[test]
fn a_secret_file_arrives_as_written_less_its_final_newline() {
    let dir = tempfile::tempdir().expect("tempdir");
    for v in TRICKY {
        let pw = dir.path().join("pw");
        std::fs::write(&pw, format!("{v}\n")).expect("write");
        let path = binary::write_config(
            dir.path(),
            &format!(
                "[milvus]\nusername = \"root\"\npassword_file = \"{}\"\n",
                pw.display()
            ),
        );
        let c = Config::load_from(Some(&path), &[], &Overrides::default()).expect("loads");
        match &c.milvus.credentials {
            Credentials::UserPassword { password, .. } => {
                assert_eq!(password.expose(), *v, "password_file {v:?}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_non_utf8_environment_value_is_refused_by_name_and_others_are_ignored() {
    let run = |var: &str| {
        let mut cmd = Command::new(binary::BIN);
        cmd.arg("check")
            .env_clear()
            .env("MILVUS_EXPORTER_MILVUS__ADDRESS", "http://127.0.0.1:1")
            .env("MILVUS_EXPORTER_MILVUS__TIMEOUT", "200ms")
            .env(var, OsStr::from_bytes(b"\xff\xfe0123"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = cmd.output().expect("run binary");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run("MILVUS_EXPORTER_MILVUS__PASSWORD");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("MILVUS_EXPORTER_MILVUS__PASSWORD"),
        "{stderr}"
    );
    assert!(stderr.contains("UTF-8"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Somebody else's variable: not ours, no panic, the run goes on (not ready: exit 1).
    let (code, stderr) = run("SOME_OTHER_PROGRAM_VAR");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
