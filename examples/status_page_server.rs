//! The real exporter (`milvus_exporter::app`, what the binary runs) serving against the
//! in-process fake Milvus of the tests, with a control port that switches the fake between a
//! healthy and a failing Milvus. `scripts/check_browser.sh` drives the status page of this
//! pair from headless Chromium; a person can open it too.
//!
//! ```text
//! status_page_server
//! ```
//! Prints `exporter http://127.0.0.1:PORT` and `control http://127.0.0.1:PORT` (both loopback,
//! ephemeral ports), then serves until SIGTERM/SIGINT. Control: `GET /healthy`, `GET /failing`.
//! The fake holds five collections, one of them named `<img src=x onerror=alert(1)>` and one
//! with a name carrying a newline and a terminal escape, three nodes and an index per
//! collection; failing releases the required collection `docs` and makes CheckHealth unhealthy.
//! The exporter refreshes every second (ttl 100 ms), so a switch shows within a second or two;
//! it has two more targets: `replica` (the same fake) and `offline` (nothing listens there).

#[path = "../tests/support/fake_milvus.rs"]
#[allow(dead_code)]
mod fake_milvus;

use std::io::Write as _;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use fake_milvus::{
    fake_collection_id, fake_index, fake_system_info, Behaviour, FakeCollection, FakeMilvus,
    FakeState,
};
use milvus::proto::common::IndexState;
use milvus_exporter::app::{App, Layers};
use milvus_exporter::config::Overrides;
use milvus_exporter::server::WebConfig;

const NAMES: [&str; 5] = [
    "docs",
    "faq",
    "<img src=x onerror=alert(1)>",
    "line\nbreak \u{1b}[31mred",
    "archive",
];

fn collections(docs_loaded: bool) -> Vec<FakeCollection> {
    NAMES
        .iter()
        .map(|name| match *name {
            "archive" => FakeCollection::released("default", name),
            "docs" if !docs_loaded => FakeCollection::released("default", name),
            _ => FakeCollection::loaded("default", name, 1000),
        })
        .collect()
}

fn healthy(b: &mut Behaviour) {
    b.healthy = true;
    b.health_reasons = Vec::new();
    b.collections = collections(true);
}

fn failing(b: &mut Behaviour) {
    b.healthy = false;
    b.health_reasons = vec!["querynode 2 is not serving: <lost lease> \"etcd\"".to_string()];
    b.collections = collections(false);
}

#[tokio::main]
async fn main() {
    let node = |role, id| (role, id, false, 8u64 << 30, 1u64 << 30);
    let binlog: Vec<(i64, u64)> = (0..NAMES.len())
        .map(|i| (fake_collection_id(i), 4 << 20))
        .collect();
    let info = fake_system_info(
        &[node("proxy", 1), node("querynode", 2), node("datacoord", 3)],
        &binlog,
    );
    let state = FakeState::new().with(|b| {
        healthy(b);
        b.names_only = false;
        b.system_info = Some(info);
        b.indexes = NAMES
            .iter()
            .map(|n| {
                let finished = IndexState::Finished as i32;
                (
                    n.to_string(),
                    vec![fake_index("vector", 1000, 1000, 0, finished)],
                )
            })
            .collect();
    });
    let fake = FakeMilvus::start(state.clone()).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("exporter.toml");
    let toml = format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"2s\"\n\
         [cache]\nttl = \"100ms\"\nrefresh_interval = \"1s\"\ninventory_interval = \"1s\"\n\
         [readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\nrequired_collections = [\"docs\"]\n\
         [[readiness.probes]]\ncollection = \"docs\"\nkind = \"query\"\n\
         [[targets]]\nname = \"replica\"\naddress = \"{url}\"\ntimeout = \"2s\"\n\
         [[targets]]\nname = \"offline\"\naddress = \"http://127.0.0.1:1\"\ntimeout = \"1s\"\n",
        url = fake.url()
    );
    std::fs::write(&path, toml).expect("write config");
    let layers = Layers {
        file: Some(path),
        env: Vec::new(),
        overrides: Overrides {
            listen_address: Some("127.0.0.1:0".into()),
            ..Overrides::default()
        },
        web_file: None,
    };
    let config = layers.config().unwrap_or_else(|e| panic!("config: {e}"));
    let app = App::build(config, WebConfig::default(), layers)
        .await
        .unwrap_or_else(|e| panic!("app: {e}"));
    let exporter = app.local_addr();
    let running = app.spawn();

    let control = Router::new()
        .route(
            "/healthy",
            get(|State(s): State<FakeState>| async move {
                s.update(healthy);
                "healthy\n"
            }),
        )
        .route(
            "/failing",
            get(|State(s): State<FakeState>| async move {
                s.update(failing);
                "failing\n"
            }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind control port on loopback");
    let control_addr = listener.local_addr().expect("control address");
    let server = tokio::spawn(async move { axum::serve(listener, control).await });

    println!("exporter http://{exporter}");
    println!("control http://{control_addr}");
    let _ = std::io::stdout().flush();

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    server.abort();
    let _ = running.shutdown().await;
    fake.stop().await;
}
