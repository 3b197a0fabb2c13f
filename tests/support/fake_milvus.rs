//! In-process fake Milvus gRPC server for integration tests.
//!
//! It implements a handful of `MilvusService` RPCs (everything else answers
//! `Unimplemented` through the generated default stubs) and can inject faults
//! that a real server does not produce on demand: delays, hangs, gRPC errors,
//! non-success `common::Status` replies, missing statuses, inconsistent arrays,
//! enormous names, invalid UTF-8 on the wire and collections that vanish.
//!
//! Layout:
//! * [`FakeState`] holds the behaviour (shared, mutable while the server runs)
//!   and the call counters. It can be cloned and reused by several servers
//!   (for instance to "restart" a fake on a new port).
//! * [`FakeMilvus`] owns one running server bound to `127.0.0.1:0`.
//!
//! `Fault::NonUtf8` cannot be expressed through the generated server because
//! prost `String`s are always valid UTF-8. It is therefore implemented by a thin
//! routing layer ([`Router`]) placed in front of the generated
//! `MilvusServiceServer`: when the fault is set for `ShowCollections`,
//! `ListDatabases` or `GetVersion`, that request is served through
//! `tonic::server::Grpc` with a raw byte codec; the normal reply is encoded with
//! prost and an extra occurrence of its string field (tag 2 in all three
//! messages) holding the bytes `ff fe 62 61 64` is appended. Clients decoding
//! with prost fail with "invalid string value: data is not UTF-8 encoded"
//! (tonic surfaces it as `Code::Internal`).

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use milvus::proto::common::{ErrorCode, KeyValuePair, LoadState, ServerInfo, Status as MStatus};
use milvus::proto::milvus::milvus_service_server::{self, MilvusService, MilvusServiceServer};
use milvus::proto::milvus::{
    CheckHealthRequest, CheckHealthResponse, ConnectRequest, ConnectResponse,
    DescribeCollectionRequest, DescribeCollectionResponse, DescribeIndexRequest,
    DescribeIndexResponse, GetCollectionStatisticsRequest, GetCollectionStatisticsResponse,
    GetLoadStateRequest, GetLoadStateResponse, GetLoadingProgressRequest,
    GetLoadingProgressResponse, GetMetricsRequest, GetMetricsResponse, GetVersionRequest,
    GetVersionResponse, IndexDescription, ListDatabasesRequest, ListDatabasesResponse,
    QueryRequest, QueryResults, SearchRequest, SearchResults, ShowCollectionsRequest,
    ShowCollectionsResponse, ShowType,
};
use milvus::proto::schema::{CollectionSchema, DataType, FieldSchema, SearchResultData};
use prost::bytes::BufMut;
use prost::Message;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

#[path = "fake_profiles.rs"]
pub mod profiles;

#[allow(unused_imports)]
pub use profiles::{Layout, Line, Pod, Profile, ProfileFaults};

/// Every RPC name the fake counts.
pub const RPC_NAMES: &[&str] = &[
    "CheckHealth",
    "GetVersion",
    "ListDatabases",
    "ShowCollections",
    "GetLoadState",
    "GetLoadingProgress",
    "GetCollectionStatistics",
    "DescribeCollection",
    "Query",
    "Search",
    "Connect",
    "DescribeIndex",
    "GetMetrics",
];

/// Reason used when `required_metadata` is missing or wrong.
pub const AUTH_FAILURE_REASON: &str =
    "auth check failure, please check username and password are correct";
/// Dimension of the fake "vector" field returned by DescribeCollection.
pub const FAKE_DIM: u32 = 8;
/// Bytes appended (as a length-delimited field) by `Fault::NonUtf8`.
pub const NON_UTF8_BYTES: &[u8] = &[0xff, 0xfe, b'b', b'a', b'd'];

// ---------------------------------------------------------------------------
// Behaviour and faults
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer correctly, but late.
    Delay(Duration),
    /// Never answer (until the server stops; then `Unavailable`).
    Hang,
    /// A tonic::Status error.
    GrpcError(tonic::Code, String),
    /// OK at gRPC level, non-success milvus common::Status in the reply:
    /// (error_code, code, reason).
    StatusError(i32, i32, String),
    /// Reply with `status: None` and otherwise default fields.
    MissingStatus,
    /// ShowCollections: 2 names, 1 id, 3 in_memory_percentages;
    /// ListDatabases: `db_ids` one longer than `db_names`.
    MismatchedArrays,
    /// ShowCollections/ListDatabases: include a 1 MiB name.
    EnormousNames,
    /// ShowCollections/ListDatabases/GetVersion: a string field holding
    /// invalid UTF-8 on the wire (only honoured in `rpc_faults`).
    NonUtf8,
    /// Collection vanished between list and stats: collection RPCs answer
    /// error_code CollectionNotExists(4) / code 100,
    /// "collection not found[collection=NAME]".
    Dropped,
}

#[derive(Clone, Debug)]
pub struct FakeCollection {
    pub db: String,
    pub name: String,
    /// `milvus::proto::common::LoadState` as i32.
    pub load_state: i32,
    pub loading_progress: i64,
    pub rows: u64,
}

impl FakeCollection {
    pub fn loaded(db: &str, name: &str, rows: u64) -> Self {
        FakeCollection {
            db: db.to_string(),
            name: name.to_string(),
            load_state: LoadState::Loaded as i32,
            loading_progress: 100,
            rows,
        }
    }

    pub fn released(db: &str, name: &str) -> Self {
        FakeCollection {
            db: db.to_string(),
            name: name.to_string(),
            load_state: LoadState::NotLoad as i32,
            loading_progress: 0,
            rows: 0,
        }
    }

    pub fn loading(db: &str, name: &str, progress: i64) -> Self {
        FakeCollection {
            db: db.to_string(),
            name: name.to_string(),
            load_state: LoadState::Loading as i32,
            loading_progress: progress,
            rows: 0,
        }
    }

    fn db_name(&self) -> &str {
        if self.db.is_empty() {
            "default"
        } else {
            &self.db
        }
    }
}

#[derive(Clone, Debug)]
pub struct Behaviour {
    pub version: String,
    pub healthy: bool,
    pub health_reasons: Vec<String>,
    /// `milvus::proto::milvus::QuotaState` as i32.
    pub quota_states: Vec<i32>,
    pub databases: Vec<String>,
    pub collections: Vec<FakeCollection>,
    /// ShowCollections returns names without ids (as Milvus Lite does).
    pub names_only: bool,
    /// Added to every RPC.
    pub delay: Duration,
    /// Faults by RPC name (see [`RPC_NAMES`]).
    pub rpc_faults: HashMap<String, Fault>,
    /// Faults by collection name; apply to GetLoadState, GetLoadingProgress,
    /// GetCollectionStatistics, DescribeCollection, Query and Search on it.
    pub collection_faults: HashMap<String, Fault>,
    /// When set, every RPC lacking this gRPC metadata key=value answers a
    /// common::Status { error_code: UnexpectedError(1), code: 1800,
    /// reason: AUTH_FAILURE_REASON }.
    pub required_metadata: Option<(String, String)>,
    // ---- nodes and indexes ----------------------------------------------------------
    /// GetMetrics(system_info) answers this JSON; `None` answers Unimplemented (as Milvus
    /// Lite does).
    pub system_info: Option<String>,
    /// DescribeIndex per collection name; a collection absent here has no index (the reply
    /// is Milvus 2.3's "index not found", code 700).
    pub indexes: HashMap<String, Vec<IndexDescription>>,
    /// ShowCollections(InMemory) alone answers this error status (the All listing works).
    pub in_memory_error: Option<String>,
    /// Answer CheckHealth, GetVersion, GetMetrics and the metrics port as this release line
    /// does (see [`profiles`]); `version`, `healthy`, `health_reasons`, `quota_states` and
    /// `system_info` are then not used.
    pub profile: Option<Profile>,
    /// Loaded collections whose `query_service_available` the in-memory listing says false.
    pub unserved: Vec<String>,
    /// ShowCollections (both listings) of every database answers this many generated names
    /// instead of `collections`, written straight into the reply bytes (no `String` per name),
    /// so a test can send millions of names cheaply.
    pub synthetic_listing: Option<SyntheticListing>,
}

/// A generated listing: `count` names of `name_len` bytes each (`c` and a zero-padded index),
/// each 100% loaded in the in-memory listing.
#[derive(Clone, Copy, Debug)]
pub struct SyntheticListing {
    pub count: usize,
    pub name_len: usize,
}

impl SyntheticListing {
    /// The encoded ShowCollectionsResponse: an OK status (absent fields are defaults), the
    /// names (field 2), and for the in-memory listing a percentage per name (field 6).
    pub fn encode(&self, in_memory: bool) -> Vec<u8> {
        let len = self.name_len.clamp(2, 127);
        let per = 2 + len + if in_memory { 2 } else { 0 };
        let mut out = Vec::with_capacity(self.count * per);
        let mut name = vec![b'0'; len];
        name[0] = b'c';
        for i in 0..self.count {
            let mut n = i;
            for d in name[1..].iter_mut().rev() {
                *d = b'0' + (n % 10) as u8;
                n /= 10;
            }
            out.push(0x12);
            out.push(len as u8);
            out.extend_from_slice(&name);
        }
        if in_memory {
            for _ in 0..self.count {
                out.extend_from_slice(&[0x30, 100]);
            }
        }
        out
    }
}

/// One index as DescribeIndex describes it.
pub fn fake_index(
    name: &str,
    indexed: i64,
    total: i64,
    pending: i64,
    state: i32,
) -> IndexDescription {
    IndexDescription {
        index_name: name.to_string(),
        field_name: "vector".to_string(),
        indexed_rows: indexed,
        total_rows: total,
        pending_index_rows: pending,
        state,
        index_state_fail_reason: if state == 4 {
            "index build failed: out of disk".to_string()
        } else {
            String::new()
        },
        ..Default::default()
    }
}

/// A system_info reply listing `nodes` as (role, id, has_error, memory, used).
pub fn fake_system_info(nodes: &[(&str, i64, bool, u64, u64)], binlog: &[(i64, u64)]) -> String {
    let entries: Vec<String> = nodes
        .iter()
        .map(|(role, id, err, mem, used)| {
            let quota = if *role == "datacoord" {
                let sizes: Vec<String> = binlog.iter().map(|(c, b)| format!("\"{c}\":{b}")).collect();
                format!(r#","quota_metrics":{{"CollectionBinlogSize":{{{}}}}}"#, sizes.join(","))
            } else {
                String::new()
            };
            format!(
                r#"{{"identifier":{id},"infos":{{"has_error":{err},"error_reason":"{reason}","name":"{role}{id}","hardware_infos":{{"cpu_core_count":4,"cpu_core_usage":12.5,"memory":{mem},"memory_usage":{used},"disk":104857600,"disk_usage":2097152}},"system_info":{{"build_version":"v2.3.5-fake","deploy_mode":"CLUSTER"}},"type":"{role}","id":{id}{quota}}}}}"#,
                reason = if *err { "querynode out of memory" } else { "" },
            )
        })
        .collect();
    format!(r#"{{"nodes_info":[{}]}}"#, entries.join(","))
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            version: "v2.4.0-fake".to_string(),
            healthy: true,
            health_reasons: Vec::new(),
            quota_states: Vec::new(),
            databases: vec!["default".to_string()],
            collections: Vec::new(),
            names_only: true,
            delay: Duration::ZERO,
            rpc_faults: HashMap::new(),
            collection_faults: HashMap::new(),
            required_metadata: None,
            system_info: None,
            indexes: HashMap::new(),
            in_memory_error: None,
            profile: None,
            unserved: Vec::new(),
            synthetic_listing: None,
        }
    }
}

// ---------------------------------------------------------------------------
// Shared state and counters
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Counters {
    calls: Mutex<HashMap<String, u64>>,
    total: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    /// HTTP GETs of the metrics ports, by path (`/healthz`, `/metrics`).
    http: Mutex<HashMap<String, u64>>,
    /// Datacoord's process-wide counter, which every system_info reply moves.
    placeholder_ids: AtomicU64,
    /// Per RPC name: in flight now, and the most in flight at once.
    in_flight_by: Mutex<HashMap<String, (u64, u64)>>,
    /// Connections accepted in all, open now, and the most open at once.
    connections: AtomicU64,
    open_connections: AtomicU64,
    max_open_connections: AtomicU64,
}

/// Decrements `in_flight` when the RPC finishes or its future is dropped.
struct FlightGuard(Arc<Counters>, String);

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(e) = lock_ignore_poison(&self.0.in_flight_by).get_mut(&self.1) {
            e.0 = e.0.saturating_sub(1);
        }
    }
}

#[derive(Clone, Default)]
pub struct FakeState {
    behaviour: Arc<Mutex<Behaviour>>,
    counters: Arc<Counters>,
}

impl FakeState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder-style configuration.
    pub fn with(self, f: impl FnOnce(&mut Behaviour)) -> Self {
        self.update(f);
        self
    }

    /// Change the behaviour while the server runs.
    pub fn update(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.lock());
    }

    pub fn calls(&self, rpc: &str) -> u64 {
        lock_ignore_poison(&self.counters.calls)
            .get(rpc)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_calls(&self) -> u64 {
        self.counters.total.load(Ordering::SeqCst)
    }

    /// HTTP GETs of `path` on the metrics ports since the last `reset_calls`.
    pub fn http_gets(&self, path: &str) -> u64 {
        lock_ignore_poison(&self.counters.http)
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Every HTTP GET of the metrics ports since the last `reset_calls`.
    pub fn total_http_gets(&self) -> u64 {
        lock_ignore_poison(&self.counters.http).values().sum()
    }

    /// Turns the profile's faults on or off while the fake runs.
    pub fn faults(&self, f: impl FnOnce(&mut ProfileFaults)) {
        self.update(|b| {
            if let Some(p) = b.profile.as_mut() {
                f(&mut p.faults)
            }
        });
    }

    fn count_http(&self, path: &str) {
        *lock_ignore_poison(&self.counters.http)
            .entry(path.to_string())
            .or_insert(0) += 1;
    }

    fn next_placeholder_id(&self) -> u64 {
        profiles::FIRST_PLACEHOLDER_ID
            + self.counters.placeholder_ids.fetch_add(1, Ordering::SeqCst)
    }

    /// Zeroes the call counters; `max_in_flight` restarts from the current
    /// `in_flight`.
    pub fn reset_calls(&self) {
        lock_ignore_poison(&self.counters.http).clear();
        lock_ignore_poison(&self.counters.calls).clear();
        self.counters.total.store(0, Ordering::SeqCst);
        let now = self.counters.in_flight.load(Ordering::SeqCst);
        self.counters.max_in_flight.store(now, Ordering::SeqCst);
        let open = self.counters.open_connections.load(Ordering::SeqCst);
        self.counters
            .max_open_connections
            .store(open, Ordering::SeqCst);
        for e in lock_ignore_poison(&self.counters.in_flight_by).values_mut() {
            e.1 = e.0;
        }
    }

    /// RPCs currently being served.
    pub fn in_flight(&self) -> u64 {
        self.counters.in_flight.load(Ordering::SeqCst)
    }

    /// `rpc` calls in flight now (a call whose client gave up ends when its stream is reset).
    pub fn in_flight_of(&self, rpc: &str) -> u64 {
        lock_ignore_poison(&self.counters.in_flight_by)
            .get(rpc)
            .map_or(0, |e| e.0)
    }

    /// The most `rpc` calls in flight at once since the last `reset_calls`.
    pub fn max_in_flight_of(&self, rpc: &str) -> u64 {
        lock_ignore_poison(&self.counters.in_flight_by)
            .get(rpc)
            .map_or(0, |e| e.1)
    }

    /// TCP connections accepted since the fake started.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// TCP connections open now.
    pub fn open_connections(&self) -> u64 {
        self.counters.open_connections.load(Ordering::SeqCst)
    }

    /// The most TCP connections open at once since the fake started (or `reset_calls`).
    pub fn max_open_connections(&self) -> u64 {
        self.counters.max_open_connections.load(Ordering::SeqCst)
    }

    /// Peak concurrent RPCs since the last `reset_calls`.
    pub fn max_in_flight(&self) -> u64 {
        self.counters.max_in_flight.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, Behaviour> {
        lock_ignore_poison(&self.behaviour)
    }

    fn enter(&self, rpc: &str) -> FlightGuard {
        *lock_ignore_poison(&self.counters.calls)
            .entry(rpc.to_string())
            .or_insert(0) += 1;
        self.counters.total.fetch_add(1, Ordering::SeqCst);
        let now = self.counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
        {
            let mut by = lock_ignore_poison(&self.counters.in_flight_by);
            let e = by.entry(rpc.to_string()).or_insert((0, 0));
            e.0 += 1;
            e.1 = e.1.max(e.0);
        }
        FlightGuard(self.counters.clone(), rpc.to_string())
    }
}

/// A test closure panicking inside `update` must not wedge the server.
fn lock_ignore_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Server handle
// ---------------------------------------------------------------------------

pub struct FakeMilvus {
    addr: SocketAddr,
    state: FakeState,
    stop_tx: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    /// The metrics ports of a profile: the standalone's (or a cluster's proxy pod), and a
    /// cluster's coordinator pod.
    metrics: Vec<(Pod, SocketAddr)>,
    http_tasks: Vec<JoinHandle<()>>,
}

impl FakeMilvus {
    /// Binds 127.0.0.1:0, serves in a background tokio task; returns once the
    /// listener is bound.
    pub async fn start(state: FakeState) -> FakeMilvus {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("fake milvus: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake milvus: local_addr");
        let counters = Arc::clone(&state.counters);
        // Every accepted connection is counted while it is open.
        let incoming = futures::stream::unfold(listener, move |listener| {
            let counters = Arc::clone(&counters);
            async move {
                let accepted = listener.accept().await.map(|(stream, _)| {
                    let _ = stream.set_nodelay(true);
                    CountedStream::new(stream, counters)
                });
                Some((accepted, listener))
            }
        });

        let (stop_tx, stop_rx) = watch::channel(false);
        let svc = Arc::new(FakeService {
            state: state.clone(),
            stop: stop_rx.clone(),
        });
        let router = Router {
            inner: MilvusServiceServer::from_arc(svc.clone()),
            svc,
        };
        let mut shutdown_rx = stop_rx;
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = shutdown_rx.wait_for(|stopped| *stopped).await;
            };
            // Errors (e.g. accept failures) end the task; never panic.
            let _ = tonic::transport::Server::builder()
                .add_service(router)
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await;
        });

        FakeMilvus {
            addr,
            state,
            stop_tx,
            task: Some(task),
            metrics: Vec::new(),
            http_tasks: Vec::new(),
        }
    }

    /// Starts a fake that answers as `profile` does, with its metrics ports: one for a
    /// standalone, the proxy pod's and the coordinator pod's for a cluster. Collections are
    /// sent with ids, as real servers send them.
    pub async fn start_profile(profile: Profile, state: FakeState) -> FakeMilvus {
        let layout = profile.layout;
        state.update(|b| {
            b.names_only = false;
            b.version = profile.line.version().to_string();
            b.profile = Some(profile);
        });
        let mut fake = FakeMilvus::start(state).await;
        let pods: &[Pod] = match layout {
            Layout::Standalone => &[Pod::Proxy],
            Layout::Cluster => &[Pod::Proxy, Pod::Coordinator],
        };
        for pod in pods {
            let (addr, task) =
                metrics_port(fake.state.clone(), *pod, fake.stop_tx.subscribe()).await;
            fake.metrics.push((*pod, addr));
            fake.http_tasks.push(task);
        }
        fake
    }

    /// The metrics port where the gRPC address is (the standalone, a cluster's proxy pod).
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics
            .iter()
            .find(|(p, _)| *p == Pod::Proxy)
            .map(|(_, a)| format!("http://{a}"))
    }

    /// A cluster's coordinator pod metrics port (rootcoord's; 2.6 mixcoord's), where the
    /// quota center's page is.
    pub fn coordinator_metrics_url(&self) -> Option<String> {
        self.metrics
            .iter()
            .find(|(p, _)| *p == Pod::Coordinator)
            .map(|(_, a)| format!("http://{a}"))
    }

    /// The `[milvus]` keys an operator writes for this fake: the address, the metrics port,
    /// and for a cluster the coordinator's metrics port for quota.
    pub fn milvus_toml(&self) -> String {
        let mut t = format!("address = \"{}\"\n", self.url());
        if let Some(m) = self.metrics_url() {
            t.push_str(&format!("metrics_address = \"{m}\"\n"));
        }
        if let Some(c) = self.coordinator_metrics_url() {
            t.push_str(&format!("quota_metrics_address = \"{c}\"\n"));
        }
        t
    }

    /// "http://127.0.0.1:PORT"
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &FakeState {
        &self.state
    }

    /// Stops serving and closes the listener. Hanging/delayed RPCs are woken
    /// and answer `Unavailable`; open connections get a GOAWAY. Requests that
    /// still reach a lingering connection afterwards answer `Unavailable`.
    pub async fn stop(mut self) {
        let _ = self.stop_tx.send(true);
        for t in self.http_tasks.drain(..) {
            t.abort();
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(3), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

impl Drop for FakeMilvus {
    fn drop(&mut self) {
        let _ = self.stop_tx.send(true);
        for t in self.http_tasks.drain(..) {
            t.abort();
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// One metrics port of a profile on 127.0.0.1:0: `/healthz` and `/metrics` as `pod` answers
/// them, each GET counted. A profile-less behaviour answers 404.
async fn metrics_port(
    state: FakeState,
    pod: Pod,
    mut stop: watch::Receiver<bool>,
) -> (SocketAddr, JoinHandle<()>) {
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("fake milvus: bind the metrics port on 127.0.0.1:0");
    let addr = listener.local_addr().expect("fake milvus: metrics address");
    let healthz = {
        let state = state.clone();
        move |headers: HeaderMap| async move {
            state.count_http("/healthz");
            let wants_json = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().starts_with("application/json"));
            let profile = state.lock().profile.clone();
            match profile {
                Some(p) => {
                    let (status, content_type, body) = profiles::healthz(&p, pod, wants_json);
                    (
                        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        [(header::CONTENT_TYPE, content_type)],
                        body,
                    )
                        .into_response()
                }
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    let metrics = move || async move {
        state.count_http("/metrics");
        let (profile, names) = {
            let b = state.lock();
            (
                b.profile.clone(),
                b.collections
                    .iter()
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>(),
            )
        };
        match profile {
            Some(p) => (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                profiles::metrics(&p, pod, &names),
            )
                .into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    };
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", axum::routing::get(metrics));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    });
    (addr, task)
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

struct FakeService {
    state: FakeState,
    stop: watch::Receiver<bool>,
}

fn ok_status() -> MStatus {
    MStatus::default()
}

fn err_status(error_code: i32, code: i32, reason: impl Into<String>) -> MStatus {
    #[allow(deprecated)]
    MStatus {
        error_code,
        code,
        reason: reason.into(),
        ..Default::default()
    }
}

fn auth_status() -> MStatus {
    err_status(ErrorCode::UnexpectedError as i32, 1800, AUTH_FAILURE_REASON)
}

fn not_found_status(name: &str) -> MStatus {
    err_status(
        ErrorCode::CollectionNotExists as i32,
        100,
        format!("collection not found[collection={name}]"),
    )
}

fn not_loaded_status(name: &str) -> MStatus {
    err_status(
        ErrorCode::UnexpectedError as i32,
        101,
        format!("collection not loaded[collection={name}]"),
    )
}

fn db_not_found_status(db: &str) -> MStatus {
    err_status(
        ErrorCode::UnexpectedError as i32,
        800,
        format!("database not found[database={db}]"),
    )
}

/// Replies whose only common part is `status` (field 1).
trait WithStatus: Default {
    fn with_status(status: Option<MStatus>) -> Self;
}

macro_rules! with_status {
    ($($t:ty),* $(,)?) => {$(
        impl WithStatus for $t {
            fn with_status(status: Option<MStatus>) -> Self {
                Self { status, ..Default::default() }
            }
        }
    )*};
}

with_status!(
    CheckHealthResponse,
    GetVersionResponse,
    ListDatabasesResponse,
    ShowCollectionsResponse,
    GetLoadStateResponse,
    GetLoadingProgressResponse,
    GetCollectionStatisticsResponse,
    DescribeCollectionResponse,
    QueryResults,
    SearchResults,
    ConnectResponse,
    DescribeIndexResponse,
    GetMetricsResponse,
);

/// Database a request refers to: the request field, else the `dbname`
/// metadata header (as sent by the Milvus SDKs), else "default".
fn request_db(field: &str, md: &MetadataMap) -> String {
    if !field.is_empty() {
        return field.to_string();
    }
    md.get("dbname")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string()
}

fn find<'a>(b: &'a Behaviour, db: &str, name: &str) -> Option<(usize, &'a FakeCollection)> {
    b.collections
        .iter()
        .enumerate()
        .find(|(_, c)| c.db_name() == db && c.name == name)
}

/// ShowCollections(InMemory): Milvus 2.3 lists the loaded and loading collections with their
/// percentages; Milvus Lite (`names_only`) lists every collection, 0 for not loaded.
fn show_in_memory(b: &Behaviour, db: &str) -> ShowCollectionsResponse {
    let colls: Vec<(usize, &FakeCollection)> = b
        .collections
        .iter()
        .enumerate()
        .filter(|(_, c)| c.db_name() == db)
        .filter(|(_, c)| b.names_only || c.load_state != LoadState::NotLoad as i32)
        .collect();
    let pct = |c: &FakeCollection| match c.load_state {
        x if x == LoadState::Loaded as i32 => 100,
        x if x == LoadState::Loading as i32 => c.loading_progress,
        _ => 0,
    };
    #[allow(deprecated)]
    ShowCollectionsResponse {
        status: Some(ok_status()),
        collection_names: colls.iter().map(|(_, c)| c.name.clone()).collect(),
        collection_ids: if b.names_only {
            Vec::new()
        } else {
            colls.iter().map(|(i, _)| collection_id(*i)).collect()
        },
        in_memory_percentages: colls.iter().map(|(_, c)| pct(c)).collect(),
        // Every line fills it; Milvus Lite sends none.
        query_service_available: if b.names_only {
            Vec::new()
        } else {
            colls
                .iter()
                .map(|(_, c)| !b.unserved.contains(&c.name))
                .collect()
        },
        ..Default::default()
    }
}

fn collection_id(idx: usize) -> i64 {
    1000 + idx as i64
}

/// The id the fake gives the collection at `position` in `Behaviour.collections` (what
/// ShowCollections and DescribeCollection send when not `names_only`), for a system_info
/// whose binlog sizes must name the fake's own collections.
pub fn fake_collection_id(position: usize) -> i64 {
    collection_id(position)
}

fn enormous_name() -> String {
    "n".repeat(1024 * 1024)
}

impl FakeService {
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    async fn wait_stopped(&self) {
        let mut rx = self.stop.clone();
        // Err means the handle was dropped: treat as stopped too.
        let _ = rx.wait_for(|s| *s).await;
    }

    async fn sleep(&self, d: Duration) -> Result<(), Status> {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.wait_stopped() => Err(Status::unavailable("fake milvus stopped")),
        }
    }

    /// Common prologue: count, delay, auth, faults. Returns the early reply,
    /// or the RPC-specific fault (MismatchedArrays/EnormousNames/NonUtf8)
    /// the builder should apply.
    async fn run<Resp, F>(
        &self,
        rpc: &'static str,
        md: &MetadataMap,
        collection: Option<&str>,
        build: F,
    ) -> Result<Response<Resp>, Status>
    where
        Resp: WithStatus,
        F: FnOnce(&Behaviour, Option<&Fault>) -> Resp,
    {
        let _guard = self.state.enter(rpc);
        if self.stopped() {
            return Err(Status::unavailable("fake milvus stopped"));
        }
        let (delay, required, faults) = {
            let b = self.state.lock();
            let mut faults = Vec::new();
            if let Some(f) = b.rpc_faults.get(rpc) {
                faults.push(f.clone());
            }
            if let Some(name) = collection {
                if let Some(f) = b.collection_faults.get(name) {
                    faults.push(f.clone());
                }
            }
            (b.delay, b.required_metadata.clone(), faults)
        };

        if !delay.is_zero() {
            self.sleep(delay).await?;
        }

        if let Some((key, value)) = required {
            let got = md.get(key.as_str()).and_then(|v| v.to_str().ok());
            if got != Some(value.as_str()) {
                return Ok(Response::new(Resp::with_status(Some(auth_status()))));
            }
        }

        let mut specific = None;
        for fault in faults {
            match fault {
                Fault::Delay(d) => self.sleep(d).await?,
                Fault::Hang => {
                    self.wait_stopped().await;
                    return Err(Status::unavailable("fake milvus stopped"));
                }
                Fault::GrpcError(code, msg) => return Err(Status::new(code, msg)),
                Fault::StatusError(error_code, code, reason) => {
                    return Ok(Response::new(Resp::with_status(Some(err_status(
                        error_code, code, reason,
                    )))))
                }
                Fault::MissingStatus => return Ok(Response::new(Resp::with_status(None))),
                Fault::Dropped => {
                    if let Some(name) = collection {
                        return Ok(Response::new(Resp::with_status(Some(not_found_status(
                            name,
                        )))));
                    }
                    // Not meaningful for non-collection RPCs: ignored.
                }
                f @ (Fault::MismatchedArrays | Fault::EnormousNames | Fault::NonUtf8) => {
                    specific = Some(f)
                }
            }
        }

        let b = self.state.lock();
        Ok(Response::new(build(&b, specific.as_ref())))
    }
}

#[tonic::async_trait]
impl MilvusService for FakeService {
    async fn check_health(
        &self,
        request: Request<CheckHealthRequest>,
    ) -> Result<Response<CheckHealthResponse>, Status> {
        self.run("CheckHealth", request.metadata(), None, |b, _| {
            if let Some(p) = &b.profile {
                let (is_healthy, reasons, quota_states) = profiles::check_health(p);
                return CheckHealthResponse {
                    status: Some(ok_status()),
                    is_healthy,
                    reasons,
                    quota_states,
                };
            }
            CheckHealthResponse {
                status: Some(ok_status()),
                is_healthy: b.healthy,
                reasons: b.health_reasons.clone(),
                quota_states: b.quota_states.clone(),
            }
        })
        .await
    }

    async fn get_version(
        &self,
        request: Request<GetVersionRequest>,
    ) -> Result<Response<GetVersionResponse>, Status> {
        self.run("GetVersion", request.metadata(), None, |b, _| {
            GetVersionResponse {
                status: Some(ok_status()),
                version: b.version.clone(),
            }
        })
        .await
    }

    async fn list_databases(
        &self,
        request: Request<ListDatabasesRequest>,
    ) -> Result<Response<ListDatabasesResponse>, Status> {
        self.run("ListDatabases", request.metadata(), None, |b, fault| {
            let mut names = b.databases.clone();
            if matches!(fault, Some(Fault::EnormousNames)) {
                names.push(enormous_name());
            }
            let mut ids: Vec<i64> = (1..=names.len() as i64).collect();
            if matches!(fault, Some(Fault::MismatchedArrays)) {
                ids.push(ids.len() as i64 + 1);
            }
            ListDatabasesResponse {
                status: Some(ok_status()),
                created_timestamp: vec![0; names.len()],
                db_names: names,
                db_ids: ids,
            }
        })
        .await
    }

    async fn show_collections(
        &self,
        request: Request<ShowCollectionsRequest>,
    ) -> Result<Response<ShowCollectionsResponse>, Status> {
        let db = request_db(&request.get_ref().db_name, request.metadata());
        let in_memory = request.get_ref().r#type == ShowType::InMemory as i32;
        self.run("ShowCollections", request.metadata(), None, |b, fault| {
            if !b.databases.contains(&db) {
                return ShowCollectionsResponse::with_status(Some(db_not_found_status(&db)));
            }
            if in_memory {
                if let Some(reason) = &b.in_memory_error {
                    return ShowCollectionsResponse::with_status(Some(err_status(
                        ErrorCode::UnexpectedError as i32,
                        1,
                        reason.clone(),
                    )));
                }
            }
            if in_memory && !matches!(fault, Some(Fault::MismatchedArrays)) {
                return show_in_memory(b, &db);
            }
            let colls: Vec<(usize, &FakeCollection)> = b
                .collections
                .iter()
                .enumerate()
                .filter(|(_, c)| c.db_name() == db)
                .collect();
            if matches!(fault, Some(Fault::MismatchedArrays)) {
                let mut names: Vec<String> =
                    colls.iter().take(2).map(|(_, c)| c.name.clone()).collect();
                for extra in ["mismatched_a", "mismatched_b"] {
                    if names.len() < 2 {
                        names.push(extra.to_string());
                    }
                }
                #[allow(deprecated)]
                return ShowCollectionsResponse {
                    status: Some(ok_status()),
                    collection_names: names,
                    collection_ids: vec![collection_id(0)],
                    in_memory_percentages: vec![100, 50, 0],
                    ..Default::default()
                };
            }
            let mut names: Vec<String> = colls.iter().map(|(_, c)| c.name.clone()).collect();
            if matches!(fault, Some(Fault::EnormousNames)) {
                names.push(enormous_name());
            }
            if b.names_only {
                return ShowCollectionsResponse {
                    status: Some(ok_status()),
                    collection_names: names,
                    ..Default::default()
                };
            }
            let n = names.len();
            let mut ids: Vec<i64> = colls.iter().map(|(i, _)| collection_id(*i)).collect();
            let mut pct: Vec<i64> = colls
                .iter()
                .map(|(_, c)| match c.load_state {
                    x if x == LoadState::Loaded as i32 => 100,
                    x if x == LoadState::Loading as i32 => c.loading_progress,
                    _ => 0,
                })
                .collect();
            let mut avail: Vec<bool> = colls
                .iter()
                .map(|(_, c)| c.load_state == LoadState::Loaded as i32)
                .collect();
            while ids.len() < n {
                // the enormous name
                ids.push(collection_id(b.collections.len() + ids.len()));
                pct.push(0);
                avail.push(false);
            }
            #[allow(deprecated)]
            ShowCollectionsResponse {
                status: Some(ok_status()),
                collection_names: names,
                collection_ids: ids,
                created_timestamps: vec![0; n],
                created_utc_timestamps: vec![0; n],
                in_memory_percentages: pct,
                query_service_available: avail,
                shards_num: vec![1; n],
            }
        })
        .await
    }

    async fn get_load_state(
        &self,
        request: Request<GetLoadStateRequest>,
    ) -> Result<Response<GetLoadStateResponse>, Status> {
        let db = request_db(&request.get_ref().db_name, request.metadata());
        let name = request.get_ref().collection_name.clone();
        self.run(
            "GetLoadState",
            request.metadata(),
            Some(&name),
            |b, _| match find(b, &db, &name) {
                Some((_, c)) => GetLoadStateResponse {
                    status: Some(ok_status()),
                    state: c.load_state,
                },
                None => GetLoadStateResponse::with_status(Some(not_found_status(&name))),
            },
        )
        .await
    }

    async fn get_loading_progress(
        &self,
        request: Request<GetLoadingProgressRequest>,
    ) -> Result<Response<GetLoadingProgressResponse>, Status> {
        let db = request_db(&request.get_ref().db_name, request.metadata());
        let name = request.get_ref().collection_name.clone();
        self.run(
            "GetLoadingProgress",
            request.metadata(),
            Some(&name),
            |b, _| match find(b, &db, &name) {
                None => GetLoadingProgressResponse::with_status(Some(not_found_status(&name))),
                Some((_, c)) if c.load_state == LoadState::NotLoad as i32 => {
                    GetLoadingProgressResponse::with_status(Some(not_loaded_status(&name)))
                }
                Some((_, c)) => {
                    let progress = if c.load_state == LoadState::Loaded as i32 {
                        100
                    } else {
                        c.loading_progress
                    };
                    GetLoadingProgressResponse {
                        status: Some(ok_status()),
                        progress,
                        refresh_progress: progress,
                    }
                }
            },
        )
        .await
    }

    async fn get_collection_statistics(
        &self,
        request: Request<GetCollectionStatisticsRequest>,
    ) -> Result<Response<GetCollectionStatisticsResponse>, Status> {
        let db = request_db(&request.get_ref().db_name, request.metadata());
        let name = request.get_ref().collection_name.clone();
        self.run(
            "GetCollectionStatistics",
            request.metadata(),
            Some(&name),
            |b, _| match find(b, &db, &name) {
                Some((_, c)) => GetCollectionStatisticsResponse {
                    status: Some(ok_status()),
                    stats: vec![KeyValuePair {
                        key: "row_count".to_string(),
                        value: c.rows.to_string(),
                    }],
                },
                None => GetCollectionStatisticsResponse::with_status(Some(not_found_status(&name))),
            },
        )
        .await
    }

    async fn describe_index(
        &self,
        request: Request<DescribeIndexRequest>,
    ) -> Result<Response<DescribeIndexResponse>, Status> {
        let db = request_db(&request.get_ref().db_name, request.metadata());
        let name = request.get_ref().collection_name.clone();
        self.run(
            "DescribeIndex",
            request.metadata(),
            Some(&name),
            |b, _| match (find(b, &db, &name), b.indexes.get(&name)) {
                (None, _) => DescribeIndexResponse::with_status(Some(not_found_status(&name))),
                (Some(_), None) => DescribeIndexResponse::with_status(Some(err_status(
                    ErrorCode::IndexNotExist as i32,
                    700,
                    format!("index not found[collection={name}]"),
                ))),
                (Some(_), Some(list)) => DescribeIndexResponse {
                    status: Some(ok_status()),
                    index_descriptions: list.clone(),
                },
            },
        )
        .await
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let wants_system_info = request.get_ref().request.contains("system_info");
        let supported = {
            let b = self.state.lock();
            b.system_info.is_some() || b.profile.is_some()
        };
        // Every reply moves datacoord's counter, as Milvus's does.
        let counter = self.state.next_placeholder_id();
        if !supported {
            let _guard = self.state.enter("GetMetrics");
            return Err(Status::unimplemented(
                "GetMetrics is not implemented by the fake",
            ));
        }
        self.run("GetMetrics", request.metadata(), None, |b, _| {
            if !wants_system_info {
                return GetMetricsResponse::with_status(Some(err_status(
                    1,
                    1,
                    "unknown metric type",
                )));
            }
            let response = match &b.profile {
                Some(p) => profiles::system_info(p, counter),
                None => b.system_info.clone().unwrap_or_default(),
            };
            GetMetricsResponse {
                status: Some(ok_status()),
                response,
                component_name: "proxy".to_string(),
            }
        })
        .await
    }

    async fn describe_collection(
        &self,
        request: Request<DescribeCollectionRequest>,
    ) -> Result<Response<DescribeCollectionResponse>, Status> {
        let db = request_db(&request.get_ref().db_name, request.metadata());
        let name = request.get_ref().collection_name.clone();
        self.run(
            "DescribeCollection",
            request.metadata(),
            Some(&name),
            |b, _| {
                let Some((idx, c)) = find(b, &db, &name) else {
                    return DescribeCollectionResponse::with_status(Some(not_found_status(&name)));
                };
                let fields = vec![
                    FieldSchema {
                        field_id: 100,
                        name: "id".to_string(),
                        is_primary_key: true,
                        data_type: DataType::Int64 as i32,
                        ..Default::default()
                    },
                    FieldSchema {
                        field_id: 101,
                        name: "vector".to_string(),
                        data_type: DataType::FloatVector as i32,
                        type_params: vec![KeyValuePair {
                            key: "dim".to_string(),
                            value: FAKE_DIM.to_string(),
                        }],
                        ..Default::default()
                    },
                ];
                DescribeCollectionResponse {
                    status: Some(ok_status()),
                    schema: Some(CollectionSchema {
                        name: c.name.clone(),
                        fields,
                        db_name: c.db_name().to_string(),
                        ..Default::default()
                    }),
                    collection_id: collection_id(idx),
                    shards_num: 1,
                    collection_name: c.name.clone(),
                    db_name: c.db_name().to_string(),
                    num_partitions: 1,
                    ..Default::default()
                }
            },
        )
        .await
    }

    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<QueryResults>, Status> {
        let db = request_db(&request.get_ref().db_name, request.metadata());
        let name = request.get_ref().collection_name.clone();
        let output_fields = request.get_ref().output_fields.clone();
        self.run("Query", request.metadata(), Some(&name), |b, _| {
            if find(b, &db, &name).is_none() {
                return QueryResults::with_status(Some(not_found_status(&name)));
            }
            QueryResults {
                status: Some(ok_status()),
                collection_name: name.clone(),
                output_fields,
                primary_field_name: "id".to_string(),
                ..Default::default()
            }
        })
        .await
    }

    async fn search(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<SearchResults>, Status> {
        let db = request_db(&request.get_ref().db_name, request.metadata());
        let name = request.get_ref().collection_name.clone();
        let nq = request.get_ref().nq;
        self.run("Search", request.metadata(), Some(&name), |b, _| {
            if find(b, &db, &name).is_none() {
                return SearchResults::with_status(Some(not_found_status(&name)));
            }
            SearchResults {
                status: Some(ok_status()),
                results: Some(SearchResultData {
                    num_queries: nq,
                    top_k: 0,
                    topks: vec![0; nq.max(0) as usize],
                    primary_field_name: "id".to_string(),
                    ..Default::default()
                }),
                collection_name: name.clone(),
                ..Default::default()
            }
        })
        .await
    }

    async fn connect(
        &self,
        request: Request<ConnectRequest>,
    ) -> Result<Response<ConnectResponse>, Status> {
        self.run("Connect", request.metadata(), None, |b, _| {
            ConnectResponse {
                status: Some(ok_status()),
                server_info: Some(ServerInfo {
                    build_tags: b.version.clone(),
                    deploy_mode: "STANDALONE".to_string(),
                    ..Default::default()
                }),
                identifier: 1,
            }
        })
        .await
    }
}

// ---------------------------------------------------------------------------
// Counted connections
// ---------------------------------------------------------------------------

/// A TCP connection of the fake, counted open until it is dropped.
struct CountedStream {
    inner: tokio::net::TcpStream,
    counters: Arc<Counters>,
}

impl CountedStream {
    fn new(inner: tokio::net::TcpStream, counters: Arc<Counters>) -> Self {
        counters.connections.fetch_add(1, Ordering::SeqCst);
        let open = counters.open_connections.fetch_add(1, Ordering::SeqCst) + 1;
        counters
            .max_open_connections
            .fetch_max(open, Ordering::SeqCst);
        CountedStream { inner, counters }
    }
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.counters
            .open_connections
            .fetch_sub(1, Ordering::SeqCst);
    }
}

impl tonic::transport::server::Connected for CountedStream {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl tokio::io::AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------
// Routing layer for Fault::NonUtf8
// ---------------------------------------------------------------------------

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

#[derive(Clone)]
struct Router {
    inner: MilvusServiceServer<FakeService>,
    svc: Arc<FakeService>,
}

impl tonic::server::NamedService for Router {
    const NAME: &'static str = milvus_service_server::SERVICE_NAME;
}

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for Router {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFut<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tonic::codegen::Service::<http::Request<tonic::body::Body>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let rpc = req
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let (non_utf8, synthetic) = {
            let b = self.svc.state.lock();
            (
                matches!(b.rpc_faults.get(&rpc), Some(Fault::NonUtf8)),
                b.synthetic_listing,
            )
        };
        if let (Some(listing), "ShowCollections") = (synthetic, rpc.as_str()) {
            let svc = self.svc.clone();
            return Box::pin(async move {
                let mut grpc =
                    tonic::server::Grpc::new(RawCodec::<ShowCollectionsRequest>(PhantomData));
                Ok(grpc.unary(Synthetic { svc, listing }, req).await)
            });
        }
        if non_utf8 {
            let svc = self.svc.clone();
            match rpc.as_str() {
                "ShowCollections" => {
                    return raw_unary(svc, req, |s, r| {
                        Box::pin(async move { s.show_collections(r).await })
                    })
                }
                "ListDatabases" => {
                    return raw_unary(svc, req, |s, r| {
                        Box::pin(async move { s.list_databases(r).await })
                    })
                }
                "GetVersion" => {
                    return raw_unary(svc, req, |s, r| {
                        Box::pin(async move { s.get_version(r).await })
                    })
                }
                _ => {}
            }
        }
        tonic::codegen::Service::<http::Request<tonic::body::Body>>::call(&mut self.inner, req)
    }
}

type Handler<Req, Resp> =
    fn(Arc<FakeService>, Request<Req>) -> BoxFut<Result<Response<Resp>, Status>>;

/// Serves one unary request whose reply gets an invalid-UTF-8 string field
/// (tag 2) appended to its normal prost encoding.
fn raw_unary<Req, Resp>(
    svc: Arc<FakeService>,
    req: http::Request<tonic::body::Body>,
    handler: Handler<Req, Resp>,
) -> BoxFut<Result<http::Response<tonic::body::Body>, std::convert::Infallible>>
where
    Req: Message + Default + Send + 'static,
    Resp: Message + Send + 'static,
{
    Box::pin(async move {
        let mut grpc = tonic::server::Grpc::new(RawCodec::<Req>(PhantomData));
        let method = NonUtf8Unary { svc, handler };
        Ok(grpc.unary(method, req).await)
    })
}

struct NonUtf8Unary<Req, Resp> {
    svc: Arc<FakeService>,
    handler: Handler<Req, Resp>,
}

impl<Req, Resp> tonic::server::UnaryService<Req> for NonUtf8Unary<Req, Resp>
where
    Req: Send + 'static,
    Resp: Message + Send + 'static,
{
    type Response = Vec<u8>;
    type Future = BoxFut<Result<Response<Vec<u8>>, Status>>;

    fn call(&mut self, request: Request<Req>) -> Self::Future {
        let fut = (self.handler)(self.svc.clone(), request);
        Box::pin(async move {
            let resp = fut.await?;
            Ok(resp.map(|m| {
                let mut bytes = m.encode_to_vec();
                prost::encoding::bytes::encode(2, &NON_UTF8_BYTES.to_vec(), &mut bytes);
                bytes
            }))
        })
    }
}

/// ShowCollections answered with a [`SyntheticListing`], counted as any RPC.
struct Synthetic {
    svc: Arc<FakeService>,
    listing: SyntheticListing,
}

impl tonic::server::UnaryService<ShowCollectionsRequest> for Synthetic {
    type Response = Vec<u8>;
    type Future = BoxFut<Result<Response<Vec<u8>>, Status>>;

    fn call(&mut self, request: Request<ShowCollectionsRequest>) -> Self::Future {
        let _guard = self.svc.state.enter("ShowCollections");
        let in_memory = request.get_ref().r#type == ShowType::InMemory as i32;
        let bytes = self.listing.encode(in_memory);
        Box::pin(async move { Ok(Response::new(bytes)) })
    }
}

/// Decodes requests with prost, sends pre-encoded reply bytes verbatim.
struct RawCodec<D>(PhantomData<fn() -> D>);

impl<D: Message + Default + Send + 'static> Codec for RawCodec<D> {
    type Encode = Vec<u8>;
    type Decode = D;
    type Encoder = RawEncoder;
    type Decoder = ProstDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder(PhantomData)
    }
}

struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

struct ProstDecoder<D>(PhantomData<fn() -> D>);

impl<D: Message + Default> Decoder for ProstDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        D::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}
