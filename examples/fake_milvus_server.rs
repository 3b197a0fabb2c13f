//! The in-process fake Milvus of the tests (`tests/support/fake_milvus.rs`) as a standalone
//! process: N collections in database `default`, an optional delay on every RPC, and a small
//! HTTP control port that tells (and resets) the RPC counters. `scripts/bench.sh` uses it for
//! its many collections; `scripts/check_live_stack.sh` uses it as the Milvus *cluster* that
//! Milvus Lite cannot be: Lite answers GetMetrics with Unimplemented, so without a server
//! that reports nodes and binlog sizes the dashboards' node and binlog panels are never run
//! against data.
//!
//! ```text
//! fake_milvus_server --collections 10000 [--delay-ms 0] [--released-every 10]
//! fake_milvus_server --names docs,faq,archive --released-every 3 --system-info --indexes
//! ```
//! `--system-info` answers GetMetrics(system_info) with three healthy nodes (proxy 1,
//! querynode 2, datacoord 3, the last with a binlog size for every collection) and sends
//! collection ids as a real cluster does; `--indexes` gives every collection a Finished index.
//! `--profile 2.3|2.4|2.5|2.6 [--layout standalone|cluster] [--fault NAME,…]` answers as that
//! Milvus release line does, from the recorded replies under `tests/fixtures/milvus/`
//! (system_info, CheckHealth, GetVersion, ShowCollections and the metrics ports' `/healthz`
//! and `/metrics`), and prints `metrics http://…` (the standalone's, or a cluster's proxy
//! pod's) and, for a cluster, `coordinator http://…` (rootcoord's, 2.6 mixcoord's: the quota
//! page). Faults: dead-querynode, dead-streamingnode, failed-datanode, quota-denied,
//! json-reasons, repeated-reasons, unhealthy-component; switch them while it runs with
//! `GET /fault?name=NAME&on=true|false`.
//!
//! `--ports N` (at most 2,000, not with `--profile`) serves the same Milvus on N ports and
//! prints them all on one `milvus-ports URL URL …` line: one process for the many targets of
//! `scripts/bench.sh`'s fleet scenario (the counters are the sum over the ports).
//!
//! Prints `milvus http://127.0.0.1:PORT` and `control http://127.0.0.1:PORT` (both loopback,
//! ephemeral ports), then serves until SIGTERM/SIGINT, when it prints the final counters as one
//! JSON line. Control: `GET /calls` (JSON counters, the metrics ports' GETs as `GET /healthz`
//! and `GET /metrics`), `GET /reset` (zero them).

#[path = "../tests/support/fake_milvus.rs"]
#[allow(dead_code)]
mod fake_milvus;

use std::collections::HashMap;
use std::io::Write as _;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use fake_milvus::{
    fake_collection_id, fake_index, fake_system_info, FakeCollection, FakeMilvus, FakeState,
    Layout, Line, Profile, ProfileFaults, RPC_NAMES,
};
use milvus::proto::common::IndexState;
use milvus::proto::milvus::IndexDescription;

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
    /// These collection names (comma-separated) instead of `--collections` numbered ones; the
    /// `--released-every` / `--loading-every` rules apply by position.
    #[arg(long, value_delimiter = ',', conflicts_with = "collections")]
    names: Vec<String>,
    /// Answer GetMetrics(system_info) with nodes and binlog sizes, and send collection ids
    /// (a real standalone or cluster); without it GetMetrics is Unimplemented (Milvus Lite).
    #[arg(long)]
    system_info: bool,
    /// Give every collection one Finished index on its vector field (DescribeIndex); without
    /// it DescribeIndex answers "index not found".
    #[arg(long)]
    indexes: bool,
    /// Answer as this Milvus release line does (2.3, 2.4, 2.5, 2.6).
    #[arg(long, value_parser = parse_line, conflicts_with = "system_info")]
    profile: Option<Line>,
    /// With --profile: standalone (one metrics port) or cluster (a proxy pod's and a
    /// coordinator pod's).
    #[arg(long, value_parser = parse_layout, default_value = "standalone", requires = "profile")]
    layout: Layout,
    /// With --profile: faults on from the start (comma-separated).
    #[arg(long, value_delimiter = ',', requires = "profile")]
    fault: Vec<String>,
    /// Serve the same Milvus on this many ports (each its own listener, one shared state).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=2000), conflicts_with = "profile")]
    ports: u16,
}

fn parse_line(s: &str) -> Result<Line, String> {
    Line::parse(s).ok_or_else(|| format!("{s:?} is not 2.3, 2.4, 2.5 or 2.6"))
}

fn parse_layout(s: &str) -> Result<Layout, String> {
    Layout::parse(s).ok_or_else(|| format!("{s:?} is not standalone or cluster"))
}

/// Bytes of binlog datacoord reports per row (and for an empty collection, one row's worth:
/// a flushed segment is never 0 bytes).
const BINLOG_BYTES_PER_ROW: u64 = 4096;
/// Each fake node's memory and the part in use: 12.5 %, far from any readiness threshold.
const NODE_MEMORY: u64 = 8 << 30;
const NODE_MEMORY_USED: u64 = 1 << 30;

/// The counters as one JSON object: every RPC name, `total` and `max_in_flight`.
fn counters(state: &FakeState) -> String {
    let mut m = serde_json::Map::new();
    for rpc in RPC_NAMES {
        m.insert((*rpc).to_string(), state.calls(rpc).into());
    }
    for path in ["/healthz", "/metrics"] {
        m.insert(format!("GET {path}"), state.http_gets(path).into());
    }
    m.insert("total".into(), state.total_calls().into());
    m.insert("max_in_flight".into(), state.max_in_flight().into());
    serde_json::Value::Object(m).to_string()
}

fn collections(args: &Args) -> Vec<FakeCollection> {
    let names: Vec<String> = if args.names.is_empty() {
        let width = args.collections.max(10_000).to_string().len();
        (0..args.collections)
            .map(|i| format!("c_{i:0width$}"))
            .collect()
    } else {
        args.names.clone()
    };
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
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

/// proxy 1, querynode 2 and datacoord 3, none in error, with a binlog size for each of
/// `cols` under the id the fake gives it.
fn system_info(cols: &[FakeCollection]) -> String {
    let binlog: Vec<(i64, u64)> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                fake_collection_id(i),
                c.rows
                    .saturating_add(1)
                    .saturating_mul(BINLOG_BYTES_PER_ROW),
            )
        })
        .collect();
    let node = |role, id| (role, id, false, NODE_MEMORY, NODE_MEMORY_USED);
    // As a 2.5 cluster reports itself: a release whose disks are real (decimal GB), so the
    // dashboards' disk panels have data.
    fake_system_info(
        &[node("proxy", 1), node("querynode", 2), node("datacoord", 3)],
        &binlog,
    )
    .replace("\"v2.3.5-fake\"", "\"2.5.27-fake\"")
    .replace("\"CLUSTER\"", "\"DISTRIBUTED\"")
    .replace("\"disk\":104857600", "\"disk\":105.089261568")
    .replace("\"disk_usage\":2097152", "\"disk_usage\":38.214746112")
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let cols = collections(&args);
    let delay = Duration::from_millis(args.delay_ms);
    let info = args.system_info.then(|| system_info(&cols));
    let indexes: HashMap<String, Vec<IndexDescription>> = if args.indexes {
        cols.iter()
            .map(|c| {
                let rows = i64::try_from(c.rows).unwrap_or(i64::MAX);
                let finished = IndexState::Finished as i32;
                (
                    c.name.clone(),
                    vec![fake_index("vector", rows, rows, 0, finished)],
                )
            })
            .collect()
    } else {
        HashMap::new()
    };
    let state = FakeState::new().with(|b| {
        b.collections = cols;
        b.delay = delay;
        if info.is_some() {
            b.names_only = false;
        }
        b.system_info = info;
        b.indexes = indexes;
    });
    let fake = match args.profile {
        Some(line) => {
            let mut profile = Profile::new(line, args.layout);
            for name in &args.fault {
                if !profile.faults.set(name, true) {
                    eprintln!(
                        "unknown fault {name:?} (known: {})",
                        ProfileFaults::NAMES.join(", ")
                    );
                    std::process::exit(2);
                }
            }
            FakeMilvus::start_profile(profile, state.clone()).await
        }
        None => FakeMilvus::start(state.clone()).await,
    };

    let control = Router::new()
        .route(
            "/calls",
            get(|State(s): State<FakeState>| async move { counters(&s) }),
        )
        .route(
            "/fault",
            get(
                |State(s): State<FakeState>,
                 axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>| async move {
                    let name = q.get("name").cloned().unwrap_or_default();
                    let on = q.get("on").is_none_or(|v| v != "false");
                    let mut known = false;
                    s.faults(|f| known = f.set(&name, on));
                    if known {
                        format!("{name} {}\n", if on { "on" } else { "off" })
                    } else {
                        format!("unknown fault {name:?}\n")
                    }
                },
            ),
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

    let mut more = Vec::with_capacity(usize::from(args.ports) - 1);
    for _ in 1..args.ports {
        more.push(FakeMilvus::start(state.clone()).await);
    }
    println!("milvus {}", fake.url());
    if args.ports > 1 {
        let urls: Vec<String> = std::iter::once(&fake)
            .chain(&more)
            .map(FakeMilvus::url)
            .collect();
        println!("milvus-ports {}", urls.join(" "));
    }
    if let Some(m) = fake.metrics_url() {
        println!("metrics {m}");
    }
    if let Some(c) = fake.coordinator_metrics_url() {
        println!("coordinator {c}");
    }
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
    for f in more {
        f.stop().await;
    }
}
