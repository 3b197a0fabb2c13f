//! The in-process fake Milvus of the tests (`tests/support/fake_milvus.rs`) as a standalone
//! process, for `scripts/bench.sh`: N collections in database `default`, an optional delay on
//! every RPC, and a small HTTP control port that tells (and resets) the RPC counters.
//!
//! ```text
//! fake_milvus_server --collections 10000 [--delay-ms 0] [--released-every 10]
//! ```
//! Prints `milvus http://127.0.0.1:PORT` and `control http://127.0.0.1:PORT` (both loopback,
//! ephemeral ports), then serves until SIGTERM/SIGINT, when it prints the final counters as one
//! JSON line. Control: `GET /calls` (JSON counters), `GET /reset` (zero them).

#[path = "../tests/support/fake_milvus.rs"]
#[allow(dead_code)]
mod fake_milvus;

use std::io::Write as _;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use fake_milvus::{FakeCollection, FakeMilvus, FakeState, RPC_NAMES};

#[derive(Parser, Debug)]
struct Args {
    /// Collections in database `default`, named c_00000, c_00001, …
    #[arg(long, default_value_t = 10)]
    collections: usize,
    /// Delay added to every RPC, milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Every Kth collection is released (NotLoad) rather than loaded; 0 = all loaded.
    #[arg(long, default_value_t = 10)]
    released_every: usize,
    /// Every Kth collection is Loading (costs one GetLoadingProgress more); 0 = none.
    #[arg(long, default_value_t = 0)]
    loading_every: usize,
}

/// The counters as one JSON object: every RPC name, `total` and `max_in_flight`.
fn counters(state: &FakeState) -> String {
    let mut m = serde_json::Map::new();
    for rpc in RPC_NAMES {
        m.insert((*rpc).to_string(), state.calls(rpc).into());
    }
    m.insert("total".into(), state.total_calls().into());
    m.insert("max_in_flight".into(), state.max_in_flight().into());
    serde_json::Value::Object(m).to_string()
}

fn collections(args: &Args) -> Vec<FakeCollection> {
    let width = args.collections.max(10_000).to_string().len();
    (0..args.collections)
        .map(|i| {
            let name = format!("c_{i:0width$}");
            if args.loading_every > 0 && i % args.loading_every == args.loading_every - 1 {
                FakeCollection::loading("default", &name, (i % 100) as i64)
            } else if args.released_every > 0 && i % args.released_every == args.released_every - 1
            {
                FakeCollection::released("default", &name)
            } else {
                FakeCollection::loaded("default", &name, (i as u64) * 7)
            }
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let cols = collections(&args);
    let delay = Duration::from_millis(args.delay_ms);
    let state = FakeState::new().with(|b| {
        b.collections = cols;
        b.delay = delay;
    });
    let fake = FakeMilvus::start(state.clone()).await;

    let control = Router::new()
        .route(
            "/calls",
            get(|State(s): State<FakeState>| async move { counters(&s) }),
        )
        .route(
            "/reset",
            get(|State(s): State<FakeState>| async move {
                s.reset_calls();
                "reset\n"
            }),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind control port on loopback");
    let control_addr = listener.local_addr().expect("control address");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, control)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });

    println!("milvus {}", fake.url());
    println!("control http://{control_addr}");
    let _ = std::io::stdout().flush();

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    println!("final {}", counters(&state));
    let _ = std::io::stdout().flush();
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    fake.stop().await;
}
