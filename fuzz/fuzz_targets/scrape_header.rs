//! Any `X-Prometheus-Scrape-Timeout-Seconds` value (any bytes a header may carry) on
//! `/metrics` → the real router: the answer is 200, and what every other client reads (the
//! cached snapshot) never holds a refresh cut by that header's deadline (once, one scrape
//! with a short deadline could turn `/readyz` red for everyone).
//!
//! The exporter watches 127.0.0.1:1 (nothing listens; connections are refused at once) with a
//! 100 ms ttl (the shortest allowed), so many requests find a stale cache and join a refresh.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderValue, Request};
use libfuzzer_sys::fuzz_target;
use milvus_exporter::cache::Caches;
use milvus_exporter::config::{Config, Overrides};
use milvus_exporter::server::{self, AppState};
use tower::ServiceExt;

struct World {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    state: std::sync::Arc<AppState>,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[milvus]\naddress = \"http://127.0.0.1:1\"\ntimeout = \"1s\"\n\
             [cache]\nttl = \"100ms\"\nrefresh_interval = \"0s\"\n",
        )
        .expect("write");
        let config = Config::load_from(Some(&path), &[], &Overrides::default()).expect("config");
        let (app, state) = rt.block_on(async {
            let caches = Caches::from_config(&config).expect("caches");
            let state = AppState::new(caches);
            (server::router(std::sync::Arc::clone(&state)), state)
        });
        World {
            rt,
            app,
            state,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let Ok(req) = Request::builder()
        .uri("/metrics")
        .header("x-prometheus-scrape-timeout-seconds", value)
        .body(Body::empty())
    else {
        return;
    };
    let w = world();
    let status = w
        .rt
        .block_on(async { w.app.clone().oneshot(req).await })
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(status, 200, "header {data:?}");
    if let Some(view) = w.state.caches.load().main.peek() {
        for (name, _, _, error) in view.snapshot.checks() {
            let error = error.unwrap_or_default();
            assert!(
                !error.contains("timed out"),
                "a cut refresh became the snapshot ({}: {error}) after header {data:?}",
                name.as_str()
            );
        }
    }
});
