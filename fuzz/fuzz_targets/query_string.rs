//! Query strings and paths → the real router (`tower::ServiceExt::oneshot`), and
//! `server::query_params` directly: no panic, only the expected statuses, unknown keys refused.
//!
//! The exporter watches 127.0.0.1:1 (nothing listens; connections are refused at once) with a
//! one-hour ttl, so after the first refresh every answer comes from the cache and the fuzzer
//! sends no traffic anywhere.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use milvus_exporter::cache::Caches;
use milvus_exporter::config::{Config, Overrides};
use milvus_exporter::server::{self, AppState};
use tower::ServiceExt;

struct World {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
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
             [cache]\nttl = \"1h\"\nrefresh_interval = \"0s\"\n\
             [[targets]]\nname = \"t\"\naddress = \"http://127.0.0.1:1\"\ntimeout = \"1s\"\n",
        )
        .expect("write");
        let config = Config::load_from(Some(&path), &[], &Overrides::default()).expect("config");
        let app = rt.block_on(async {
            let mut caches = Caches::from_config(&config).expect("caches");
            caches.start_refresher(config.cache.refresh_interval);
            server::router(AppState::new(caches))
        });
        World {
            rt,
            app,
            _dir: dir,
        }
    })
}

const PATHS: [&str; 7] = ["/readyz", "/probe", "/metrics", "/health", "/", "/healthz", "/-/reload"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(query) = std::str::from_utf8(rest) else {
        return;
    };
    let known: &[&str] = &["target", "verbose"];
    if let Ok(pairs) = server::query_params(Some(query), known) {
        assert!(pairs.iter().all(|(k, _)| known.contains(&k.as_str())));
    } else {
        // A refusal names the parameter in at most 64 escaped characters.
        let e = server::query_params(Some(query), known).unwrap_err();
        assert!(e.len() < 64 * 10 + 200, "{}", e.len());
    }
    let path = PATHS[selector as usize % PATHS.len()];
    let method = if selector & 0x80 != 0 { "POST" } else { "GET" };
    let Ok(req) = Request::builder()
        .method(method)
        .uri(format!("{path}?{query}"))
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
    assert!(
        matches!(status, 200 | 400 | 404 | 405 | 503),
        "{method} {path}?{query:?} gave {status}"
    );
});
