//! The verdict history through the real server and the in-process fake Milvus: `/health`'s
//! `history` and `?history=N`, the last line of `/readyz?verbose`, and the transition
//! families of `/metrics`.

mod support;

use std::time::Duration;

use support::binary;
use support::exporter::{eventually, Exporter};
use support::fake_milvus::{FakeCollection, FakeMilvus, FakeState};

/// A short ttl and no background refresher, so each request past the ttl is one refresh; the
/// host rules are off so the machine running the test cannot turn "ready" into "not ready".
fn config(url: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"3s\"\n\
         [cache]\nttl = \"100ms\"\nrefresh_interval = \"0s\"\n\
         [readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\n\
         required_collections = [\"docs\"]\n"
    )
}

fn set_docs(fake: &FakeMilvus, loaded: bool) {
    fake.state().update(|b| {
        b.collections = vec![if loaded {
            FakeCollection::loaded("default", "docs", 10)
        } else {
            FakeCollection::released("default", "docs")
        }];
    });
}

/// Waits until `/readyz` answers `want` (each read past the ttl is a refresh).
async fn until_status(exporter: &Exporter, want: u16) {
    eventually(
        Duration::from_secs(10),
        &format!("/readyz {want}"),
        || async { exporter.get("/readyz").await.status == want },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flap_shows_in_health_history_readyz_verbose_and_the_transition_counter() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    set_docs(&fake, true);
    let exporter = Exporter::start(&config(&fake.url())).await;
    until_status(&exporter, 200).await;
    for loaded in [false, true, false] {
        set_docs(&fake, loaded);
        until_status(&exporter, if loaded { 200 } else { 503 }).await;
    }

    let health = exporter.get("/health?history=10").await;
    assert_eq!(health.status, 200, "{}", health.body);
    let history = health.json()["history"].clone();
    let entries = history.as_array().expect("history is a list");
    assert_eq!(
        entries.len(),
        4,
        "the first verdict and three transitions: {history:#}"
    );
    let events: Vec<&str> = entries.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(events, ["transition", "transition", "transition", "first"]);
    let newest = &entries[0];
    assert_eq!(newest["status"], "not_ready");
    assert_eq!(newest["rules"], serde_json::json!(["collections"]));
    assert!(
        newest["reasons"][0]
            .as_str()
            .unwrap_or("")
            .contains("default.docs is not loaded"),
        "{newest}"
    );
    let at = |e: &serde_json::Value| e["at"].as_f64().unwrap_or(0.0);
    assert!(
        at(&entries[0]) >= at(&entries[1]) && at(&entries[1]) >= at(&entries[3]),
        "newest first"
    );
    assert!(at(newest) > 1.7e9, "Unix seconds: {newest}");
    assert!(
        newest["checks"]["collections"]["duration_seconds"].is_number(),
        "{newest}"
    );

    let one = exporter.get("/health?history=1").await.json();
    assert_eq!(one["history"].as_array().map(Vec::len), Some(1));
    let none = exporter.get("/health?history=0").await.json();
    assert_eq!(none["history"], serde_json::json!([]));

    let verbose = exporter.get("/readyz?verbose").await;
    let last = verbose.body.lines().last().unwrap_or("");
    assert!(
        last.starts_with("not ready since 20") && last.contains("Z, "),
        "{}",
        verbose.body
    );
    assert!(
        last.contains(", 0s: required collection default.docs is not loaded")
            || last.contains("s: required collection default.docs"),
        "{last}"
    );

    let metrics = exporter.get("/metrics").await.metrics();
    assert_eq!(
        metrics.value("milvus_readiness_transitions_total", &[]),
        3.0
    );
    let stamp = metrics.value("milvus_readiness_last_transition_timestamp_seconds", &[]);
    assert!(
        (stamp - at(newest)).abs() < 1.0,
        "{stamp} vs {}",
        at(newest)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_history_length_is_a_400_with_one_line() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let exporter = Exporter::start(&config(&fake.url())).await;
    let huge = "9".repeat(10_000);
    for bad in [
        "-1",
        "abc",
        "10001",
        "1.5",
        "+3",
        "",
        "%FF",
        huge.as_str(),
        "1&history=2",
        "%0A%1B[31m",
    ] {
        let r = exporter.get(&format!("/health?history={bad}")).await;
        assert_eq!(r.status, 400, "history={bad}: {}", r.body);
        assert_eq!(
            r.body.trim_end().lines().count(),
            1,
            "one line for {bad}: {:?}",
            r.body
        );
        assert!(r.body.starts_with("history "), "{}", r.body);
        assert!(r.body.len() < 200, "bounded: {}", r.body.len());
        assert!(!r.body.contains('\u{1b}'), "no terminal escape echoed");
    }
    assert_eq!(exporter.get("/health?history=10000").await.status, 200);
    assert_eq!(exporter.get("/health?nope=1").await.status, 400);
    exporter.stop().await;
}

/// `milvus_exporter check ARGS`, run off the test's runtime: (exit code, stdout, stderr).
async fn check(args: Vec<String>) -> (Option<i32>, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        binary::run(&args, &[], Duration::from_secs(20))
    })
    .await
    .expect("the check ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_url_prints_a_running_exporters_recent_transitions() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    set_docs(&fake, true);
    let exporter = Exporter::start(&config(&fake.url())).await;
    until_status(&exporter, 200).await;
    for loaded in [false, true, false] {
        set_docs(&fake, loaded);
        until_status(&exporter, if loaded { 200 } else { 503 }).await;
    }
    let (code, out, err) = check(vec![
        "check".into(),
        "--url".into(),
        exporter.url.clone(),
        "--history".into(),
        "3".into(),
    ])
    .await;
    assert_eq!(code, Some(1), "not ready is exit 1: {out}{err}");
    let first = out.lines().next().unwrap_or("");
    assert!(
        first.starts_with(&format!(
            "Exporter {}/health  NOT READY (checked 20",
            exporter.url
        )),
        "{out}"
    );
    assert!(
        out.contains("  reason: required collection default.docs is not loaded"),
        "{out}"
    );
    let shown: Vec<&str> = out.lines().filter(|l| l.contains(" UTC  ")).collect();
    assert_eq!(shown.len(), 3, "three transitions asked for: {out}");
    assert!(
        shown[0].contains("not ready") && shown[0].ends_with("[collections]"),
        "{out}"
    );
    assert!(
        shown[1].contains("ready") && !shown[1].contains("not ready"),
        "{out}"
    );
    exporter.stop().await;
}

/// A peer that answers `/health` with `body` (or, when `None`, never answers).
async fn peer(body: Option<Vec<u8>>) -> String {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/health",
        get(move || {
            let body = body.clone();
            async move {
                match body {
                    Some(b) => b,
                    None => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        Vec::new()
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_url_makes_a_lying_peers_text_inert_and_bounds_its_size_and_time() {
    let hostile = serde_json::json!({
        "status": "not_ready",
        "reasons": ["\u{1b}]0;pwned\u{7}\u{1b}[2Jgone\nfake line"],
        "checked_at": 1.0e300,
        "history": [{"at": 1.8e9, "status": "ready\u{1b}[31m", "event": "transition",
                     "rules": ["m\u{9b}1m"], "reasons": ["r\r\u{202e}x"], "count": 2, "last_at": 1.8e9}],
    });
    let url = peer(Some(hostile.to_string().into_bytes())).await;
    let (code, out, _) = check(vec!["check".into(), "--url".into(), url]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        !out.chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
        "{out:?}"
    );
    assert!(out.contains("\\u{1b}]0;pwned"), "{out}");

    let huge = peer(Some(vec![b' '; 40 * 1024 * 1024])).await;
    let (code, _, err) = check(vec!["check".into(), "--url".into(), huge]).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("body larger than 33554432 bytes"), "{err}");

    let silent = peer(None).await;
    let started = std::time::Instant::now();
    let (code, _, err) = check(vec![
        "check".into(),
        "--url".into(),
        silent,
        "--timeout".into(),
        "1s".into(),
    ])
    .await;
    assert_eq!(code, Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by --timeout"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let garbage = peer(Some(b"<html>not json</html>".to_vec())).await;
    let (code, _, err) = check(vec!["check".into(), "--url".into(), garbage]).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("not an exporter's /health answer"), "{err}");
}
