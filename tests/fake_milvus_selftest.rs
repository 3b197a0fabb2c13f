//! Self-test of the fake Milvus server in tests/support/fake_milvus.rs, using
//! the generated gRPC client directly (no dependency on the exporter crate).

mod support;

use std::time::{Duration, Instant};

use milvus::proto::common::{ErrorCode, LoadState, Status as MStatus};
use milvus::proto::milvus::milvus_service_client::MilvusServiceClient;
use milvus::proto::milvus::{
    CheckHealthRequest, ConnectRequest, DescribeCollectionRequest, GetCollectionStatisticsRequest,
    GetLoadStateRequest, GetLoadingProgressRequest, GetVersionRequest, ListDatabasesRequest,
    QueryRequest, QuotaState, SearchRequest, ShowCollectionsRequest,
};
use support::fake_milvus::{FakeCollection, FakeMilvus, FakeState, Fault};
use tonic::transport::Channel;
use tonic::{Code, Request};

type Client = MilvusServiceClient<Channel>;

async fn client(fake: &FakeMilvus) -> Client {
    let channel = Channel::from_shared(fake.url())
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .expect("connect to fake");
    MilvusServiceClient::new(channel)
}

fn is_ok(s: &Option<MStatus>) -> bool {
    #[allow(deprecated)]
    let ok = matches!(s, Some(s) if s.error_code == 0 && s.code == 0);
    ok
}

#[allow(deprecated)]
fn codes(s: &Option<MStatus>) -> (i32, i32, String) {
    let s = s.as_ref().expect("status present");
    (s.error_code, s.code, s.reason.clone())
}

fn two_collections() -> FakeState {
    FakeState::new().with(|b| {
        b.collections = vec![
            FakeCollection::loaded("default", "c1", 42),
            FakeCollection::released("default", "c2"),
            FakeCollection::loading("default", "c3", 37),
        ];
    })
}

fn show(db: &str) -> ShowCollectionsRequest {
    ShowCollectionsRequest {
        db_name: db.to_string(),
        ..Default::default()
    }
}

fn load_state(name: &str) -> GetLoadStateRequest {
    GetLoadStateRequest {
        collection_name: name.to_string(),
        db_name: "default".to_string(),
        ..Default::default()
    }
}

#[tokio::test]
async fn version_and_health() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    assert!(fake.url().starts_with("http://127.0.0.1:"));
    assert!(fake.addr().ip().is_loopback());
    let mut c = client(&fake).await;

    let v = c
        .get_version(GetVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&v.status));
    assert_eq!(v.version, "v2.4.0-fake");

    let h = c
        .check_health(CheckHealthRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&h.status));
    assert!(h.is_healthy);
    assert!(h.reasons.is_empty());

    fake.state().update(|b| {
        b.healthy = false;
        b.health_reasons = vec!["querynode down".into()];
        b.quota_states = vec![QuotaState::DenyToWrite as i32];
        b.version = "v2.5.1".into();
    });
    let h = c
        .check_health(CheckHealthRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!h.is_healthy);
    assert_eq!(h.reasons, vec!["querynode down".to_string()]);
    assert_eq!(h.quota_states, vec![QuotaState::DenyToWrite as i32]);
    let v = c
        .get_version(GetVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.version, "v2.5.1");

    let conn = c
        .connect(ConnectRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&conn.status));

    let dbs = c
        .list_databases(ListDatabasesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&dbs.status));
    assert_eq!(dbs.db_names, vec!["default".to_string()]);
    fake.stop().await;
}

#[tokio::test]
async fn collections_names_only_and_details() {
    let fake = FakeMilvus::start(two_collections()).await;
    let mut c = client(&fake).await;

    let r = c.show_collections(show("")).await.unwrap().into_inner();
    assert!(is_ok(&r.status));
    assert_eq!(r.collection_names, vec!["c1", "c2", "c3"]);
    assert!(r.collection_ids.is_empty(), "names only by default");
    #[allow(deprecated)]
    let pct_empty = r.in_memory_percentages.is_empty();
    assert!(pct_empty);

    fake.state().update(|b| b.names_only = false);
    let r = c
        .show_collections(show("default"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.collection_ids.len(), 3);
    #[allow(deprecated)]
    let pct = r.in_memory_percentages.clone();
    assert_eq!(pct, vec![100, 0, 37]);

    // Unknown database.
    let r = c.show_collections(show("nope")).await.unwrap().into_inner();
    assert_eq!(codes(&r.status).1, 800);

    let s = c
        .get_load_state(load_state("c1"))
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&s.status));
    assert_eq!(s.state, LoadState::Loaded as i32);
    let s = c
        .get_load_state(load_state("c2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.state, LoadState::NotLoad as i32);

    let p = c
        .get_loading_progress(GetLoadingProgressRequest {
            collection_name: "c3".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&p.status));
    assert_eq!(p.progress, 37);

    let st = c
        .get_collection_statistics(GetCollectionStatisticsRequest {
            collection_name: "c1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&st.status));
    assert_eq!(st.stats[0].key, "row_count");
    assert_eq!(st.stats[0].value, "42");

    let d = c
        .describe_collection(DescribeCollectionRequest {
            collection_name: "c1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&d.status));
    let schema = d.schema.unwrap();
    let id = schema.fields.iter().find(|f| f.name == "id").unwrap();
    assert!(id.is_primary_key);
    let vector = schema.fields.iter().find(|f| f.name == "vector").unwrap();
    assert_eq!(vector.type_params[0].key, "dim");

    let q = c
        .query(QueryRequest {
            collection_name: "c1".into(),
            expr: "id >= 0".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&q.status));
    assert!(q.fields_data.is_empty());
    let s = c
        .search(SearchRequest {
            collection_name: "c1".into(),
            nq: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&s.status));
    fake.stop().await;
}

#[tokio::test]
async fn counters_increment_and_reset() {
    let fake = FakeMilvus::start(two_collections()).await;
    let mut c = client(&fake).await;
    assert_eq!(fake.state().total_calls(), 0);
    for _ in 0..3 {
        c.get_version(GetVersionRequest {}).await.unwrap();
    }
    c.check_health(CheckHealthRequest {}).await.unwrap();
    c.get_load_state(load_state("c1")).await.unwrap();
    assert_eq!(fake.state().calls("GetVersion"), 3);
    assert_eq!(fake.state().calls("CheckHealth"), 1);
    assert_eq!(fake.state().calls("GetLoadState"), 1);
    assert_eq!(fake.state().calls("Search"), 0);
    assert_eq!(fake.state().total_calls(), 5);
    assert_eq!(fake.state().in_flight(), 0);
    assert_eq!(fake.state().max_in_flight(), 1);

    // A gRPC-level fault is still counted (counting happens at arrival).
    fake.state().update(|b| {
        b.rpc_faults.insert(
            "GetVersion".into(),
            Fault::GrpcError(Code::Unavailable, "x".into()),
        );
    });
    let err = c.get_version(GetVersionRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(fake.state().calls("GetVersion"), 4);

    fake.state().reset_calls();
    assert_eq!(fake.state().total_calls(), 0);
    assert_eq!(fake.state().calls("GetVersion"), 0);
    assert_eq!(fake.state().max_in_flight(), 0);
    fake.stop().await;
}

#[tokio::test]
async fn max_in_flight_under_concurrency() {
    let state = FakeState::new().with(|b| b.delay = Duration::from_millis(200));
    let fake = FakeMilvus::start(state).await;
    let c = client(&fake).await;
    let started = Instant::now();
    let calls = (0..8).map(|_| {
        let mut c = c.clone();
        async move { c.get_version(GetVersionRequest {}).await }
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|r| r.is_ok()));
    // Concurrent, not serialised: 8 x 200 ms would take 1.6 s.
    assert!(started.elapsed() < Duration::from_millis(1200));
    assert_eq!(fake.state().calls("GetVersion"), 8);
    assert_eq!(fake.state().max_in_flight(), 8);
    assert_eq!(fake.state().in_flight(), 0);
    fake.stop().await;
}

#[tokio::test]
async fn hang_times_out_while_other_rpcs_answer() {
    let state = two_collections().with(|b| {
        b.rpc_faults.insert("ShowCollections".into(), Fault::Hang);
    });
    let fake = FakeMilvus::start(state).await;
    let c = client(&fake).await;

    let mut hung = c.clone();
    let hang = tokio::spawn(async move {
        let started = Instant::now();
        let mut req = Request::new(show(""));
        req.set_timeout(Duration::from_millis(200));
        let res = tokio::time::timeout(Duration::from_secs(3), hung.show_collections(req)).await;
        (started.elapsed(), res)
    });

    // While ShowCollections hangs, GetVersion still answers promptly.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.state().in_flight(), 1);
    let mut other = c.clone();
    let started = Instant::now();
    let v = other
        .get_version(GetVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.version, "v2.4.0-fake");
    assert!(started.elapsed() < Duration::from_millis(150));

    let (elapsed, res) = hang.await.unwrap();
    let err = res.expect("deadline must end the call").unwrap_err();
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "unexpected {err:?}"
    );
    assert!(elapsed >= Duration::from_millis(180), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");

    // The hung handler was dropped by the deadline.
    let deadline = Instant::now() + Duration::from_secs(1);
    while fake.state().in_flight() != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.state().in_flight(), 0);
    fake.stop().await;
}

#[tokio::test]
async fn stop_wakes_hangs_and_closes_listener() {
    let state = FakeState::new().with(|b| {
        b.rpc_faults.insert("CheckHealth".into(), Fault::Hang);
    });
    let fake = FakeMilvus::start(state.clone()).await;
    let addr = fake.addr();
    let mut c = client(&fake).await;
    let hang = tokio::spawn(async move { c.check_health(CheckHealthRequest {}).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(state.in_flight(), 1);

    tokio::time::timeout(Duration::from_secs(5), fake.stop())
        .await
        .expect("stop must not block on a hanging RPC");
    let res = tokio::time::timeout(Duration::from_secs(2), hang)
        .await
        .expect("hung call ends once the server stops")
        .unwrap();
    assert!(res.is_err());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
    assert_eq!(state.in_flight(), 0);
}

#[tokio::test]
async fn status_error_missing_status_and_grpc_error() {
    let state = two_collections().with(|b| {
        b.rpc_faults.insert(
            "GetVersion".into(),
            Fault::StatusError(ErrorCode::UnexpectedError as i32, 2, "boom".into()),
        );
        b.rpc_faults
            .insert("CheckHealth".into(), Fault::MissingStatus);
        b.rpc_faults.insert(
            "ListDatabases".into(),
            Fault::GrpcError(Code::PermissionDenied, "nope".into()),
        );
    });
    let fake = FakeMilvus::start(state).await;
    let mut c = client(&fake).await;

    let v = c
        .get_version(GetVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!is_ok(&v.status));
    assert_eq!(codes(&v.status), (1, 2, "boom".to_string()));
    assert!(v.version.is_empty());

    let h = c
        .check_health(CheckHealthRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(h.status.is_none());
    assert!(!h.is_healthy);

    let e = c
        .list_databases(ListDatabasesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(e.message(), "nope");
    fake.stop().await;
}

#[tokio::test]
async fn dropped_collection() {
    let state = two_collections().with(|b| {
        b.collection_faults.insert("c1".into(), Fault::Dropped);
    });
    let fake = FakeMilvus::start(state).await;
    let mut c = client(&fake).await;

    // Still listed...
    let r = c.show_collections(show("")).await.unwrap().into_inner();
    assert!(r.collection_names.contains(&"c1".to_string()));
    // ...but gone for per-collection RPCs.
    let s = c
        .get_load_state(load_state("c1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        codes(&s.status),
        (4, 100, "collection not found[collection=c1]".to_string())
    );
    let st = c
        .get_collection_statistics(GetCollectionStatisticsRequest {
            collection_name: "c1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(codes(&st.status).0, ErrorCode::CollectionNotExists as i32);
    // Other collections are unaffected.
    let s = c
        .get_load_state(load_state("c2"))
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&s.status));
    fake.stop().await;
}

#[tokio::test]
async fn required_metadata() {
    let state = FakeState::new().with(|b| {
        b.required_metadata = Some(("authorization".into(), "cm9vdDpNaWx2dXM=".into()));
    });
    let fake = FakeMilvus::start(state).await;
    let mut c = client(&fake).await;

    let v = c
        .get_version(GetVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    let (_, code, reason) = codes(&v.status);
    assert_eq!(code, 1800);
    assert!(reason.contains("auth check failure"));
    assert!(v.version.is_empty());

    let mut req = Request::new(GetVersionRequest {});
    req.metadata_mut()
        .insert("authorization", "wrong".parse().unwrap());
    let v = c.get_version(req).await.unwrap().into_inner();
    assert_eq!(codes(&v.status).1, 1800);

    let mut req = Request::new(GetVersionRequest {});
    req.metadata_mut()
        .insert("authorization", "cm9vdDpNaWx2dXM=".parse().unwrap());
    let v = c.get_version(req).await.unwrap().into_inner();
    assert!(is_ok(&v.status));
    assert_eq!(v.version, "v2.4.0-fake");
    fake.stop().await;
}

#[tokio::test]
async fn shape_faults_mismatched_enormous_non_utf8() {
    let state = two_collections().with(|b| {
        b.rpc_faults
            .insert("ShowCollections".into(), Fault::MismatchedArrays);
        b.rpc_faults
            .insert("ListDatabases".into(), Fault::EnormousNames);
    });
    let fake = FakeMilvus::start(state).await;
    let mut c = client(&fake).await;

    let r = c.show_collections(show("")).await.unwrap().into_inner();
    assert_eq!(r.collection_names.len(), 2);
    assert_eq!(r.collection_ids.len(), 1);
    #[allow(deprecated)]
    let n = r.in_memory_percentages.len();
    assert_eq!(n, 3);

    let d = c
        .list_databases(ListDatabasesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(d.db_names.iter().any(|n| n.len() == 1024 * 1024));

    fake.state().update(|b| {
        b.rpc_faults
            .insert("ShowCollections".into(), Fault::NonUtf8);
        b.rpc_faults.insert("GetVersion".into(), Fault::NonUtf8);
        b.rpc_faults
            .insert("ListDatabases".into(), Fault::MismatchedArrays);
    });
    let e = c.show_collections(show("")).await.unwrap_err();
    assert_eq!(e.code(), Code::Internal, "{e:?}");
    assert!(e.message().contains("UTF-8"), "{e:?}");
    let e = c.get_version(GetVersionRequest {}).await.unwrap_err();
    assert_eq!(e.code(), Code::Internal, "{e:?}");
    assert_eq!(fake.state().calls("ShowCollections"), 2);
    assert_eq!(fake.state().calls("GetVersion"), 1);

    let d = c
        .list_databases(ListDatabasesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_ne!(d.db_names.len(), d.db_ids.len());

    // The channel still works after a decode failure.
    fake.state().update(|b| b.rpc_faults.clear());
    let r = c.show_collections(show("")).await.unwrap().into_inner();
    assert_eq!(r.collection_names.len(), 3);
    fake.stop().await;
}

#[tokio::test]
async fn delay_fault_on_one_collection_only() {
    let state = two_collections().with(|b| {
        b.collection_faults
            .insert("c1".into(), Fault::Delay(Duration::from_millis(300)));
    });
    let fake = FakeMilvus::start(state).await;
    let mut c = client(&fake).await;

    let started = Instant::now();
    let s = c
        .get_load_state(load_state("c2"))
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&s.status));
    assert!(started.elapsed() < Duration::from_millis(200));

    let started = Instant::now();
    let s = c
        .get_load_state(load_state("c1"))
        .await
        .unwrap()
        .into_inner();
    assert!(is_ok(&s.status));
    assert!(started.elapsed() >= Duration::from_millis(280));

    let mut req = Request::new(load_state("c1"));
    req.set_timeout(Duration::from_millis(100));
    let e = c.get_load_state(req).await.unwrap_err();
    assert!(
        matches!(e.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{e:?}"
    );
    drop(fake); // Drop aborts the server without panicking.
}

#[tokio::test]
async fn unimplemented_rpc_and_restart_with_shared_state() {
    let state = FakeState::new();
    let fake = FakeMilvus::start(state.clone()).await;
    let mut c = client(&fake).await;
    let e = c
        .has_collection(milvus::proto::milvus::HasCollectionRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    c.get_version(GetVersionRequest {}).await.unwrap();
    fake.stop().await;

    let fake2 = FakeMilvus::start(state.clone()).await;
    let mut c2 = client(&fake2).await;
    c2.get_version(GetVersionRequest {}).await.unwrap();
    assert_eq!(state.calls("GetVersion"), 2);
    fake2.stop().await;
}
