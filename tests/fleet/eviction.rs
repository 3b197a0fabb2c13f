//! The bounds on discovered targets: an idle one is evicted with its channel, at most
//! `fleet.max_targets` are live (a new one past that gets 503 with the reason), and
//! `/metrics` says how many are live and how many were evicted.

use std::time::Duration;

use crate::support::exporter::{eventually, Exporter};
use crate::support::fake_milvus::{FakeMilvus, FakeState};

async fn fleet_of(n: usize) -> Vec<FakeMilvus> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(FakeMilvus::start(FakeState::new()).await);
    }
    v
}

#[tokio::test]
async fn idle_targets_are_evicted_and_counted() {
    let milvus = fleet_of(2).await;
    let ex = Exporter::start(
        "[milvus]\naddress = \"127.0.0.1:1\"\ntimeout = \"1s\"\n[cache]\nrefresh_interval = \"0s\"\n\
         [fleet]\nidle_timeout = \"1s\"\nallowed_targets = [\"127.0.0.1/32\"]\n",
    )
    .await;
    for m in &milvus {
        let r = ex.get(&format!("/probe?target={}", m.addr())).await;
        assert_eq!(r.metrics().value("milvus_up", &[]), 1.0, "{}", r.body);
    }
    let live = |m: &crate::support::exporter::Metrics| {
        m.value("milvus_exporter_probe_targets", &[("state", "live")])
    };
    assert_eq!(live(&ex.get("/metrics").await.metrics()), 2.0);
    eventually(Duration::from_secs(10), "idle targets evicted", || async {
        let m = ex.get("/metrics").await.metrics();
        live(&m) == 0.0 && m.value("milvus_exporter_probe_targets_evicted_total", &[]) == 2.0
    })
    .await;
    // An evicted target comes back on its next probe, with a new cache.
    let r = ex.get(&format!("/probe?target={}", milvus[0].addr())).await;
    assert_eq!(r.metrics().value("milvus_up", &[]), 1.0);
    assert_eq!(live(&ex.get("/metrics").await.metrics()), 1.0);
    ex.stop().await;
}

#[tokio::test]
async fn past_max_targets_a_new_target_gets_503_and_the_live_ones_still_answer() {
    let milvus = fleet_of(3).await;
    let ex = Exporter::start(
        "[milvus]\naddress = \"127.0.0.1:1\"\ntimeout = \"1s\"\n[cache]\nrefresh_interval = \"0s\"\n\
         [fleet]\nmax_targets = 2\nallowed_targets = [\"127.0.0.1/32\"]\n",
    )
    .await;
    for m in &milvus[..2] {
        assert_eq!(
            ex.get(&format!("/probe?target={}", m.addr())).await.status,
            200
        );
    }
    let r = ex.get(&format!("/probe?target={}", milvus[2].addr())).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("fleet.max_targets"), "{}", r.body);
    assert_eq!(
        milvus[2].state().total_calls(),
        0,
        "the refused target was not dialled"
    );
    assert_eq!(
        ex.get(&format!("/probe?target={}", milvus[0].addr()))
            .await
            .status,
        200
    );
    let m = ex.get("/metrics").await.metrics();
    assert_eq!(
        m.value("milvus_exporter_probe_targets_refused_full_total", &[]),
        1.0
    );
    ex.stop().await;
}

/// A reload keeps the discovered targets (cache, snapshot, channel) when how they are probed
/// did not change, as it keeps a configured target's; a changed module or `[fleet]` starts
/// them afresh, and the old caches are retired, not left refreshing beside the new.
#[tokio::test]
async fn a_reload_keeps_discovered_targets_unless_how_they_are_probed_changed() {
    let milvus = fleet_of(1).await;
    let toml = |allowed: &str| {
        format!(
            "[milvus]\naddress = \"127.0.0.1:1\"\ntimeout = \"1s\"\n\
             [cache]\nrefresh_interval = \"0s\"\nttl = \"1h\"\n\
             [fleet]\nallowed_targets = [{allowed}]\n"
        )
    };
    let ex = Exporter::start(&toml("\"127.0.0.1/32\"")).await;
    let probe = format!("/probe?target={}", milvus[0].addr());
    let live = |m: &crate::support::exporter::Metrics| {
        m.value("milvus_exporter_probe_targets", &[("state", "live")])
    };
    assert_eq!(ex.get(&probe).await.status, 200);
    let calls = milvus[0].state().total_calls();
    assert!(calls > 0);

    // The same file again, and one that adds a named target. (The main `[milvus]` section
    // is the default module's connection settings, so a change there is a change to how
    // discovered targets are probed.)
    ex.reload().await.expect("reload");
    assert_eq!(live(&ex.get("/metrics").await.metrics()), 1.0);
    std::fs::write(
        ex.config_path(),
        toml("\"127.0.0.1/32\"") + "[[targets]]\nname = \"other\"\naddress = \"127.0.0.1:2\"\n",
    )
    .expect("write config");
    ex.reload().await.expect("reload");
    assert_eq!(live(&ex.get("/metrics").await.metrics()), 1.0);
    let r = ex.get(&probe).await;
    assert_eq!(r.metrics().value("milvus_up", &[]), 1.0, "{}", r.body);
    assert_eq!(
        milvus[0].state().total_calls(),
        calls,
        "the kept target answered from its snapshot (ttl 1h): no RPC"
    );

    // A changed allowlist: the discovered targets start again.
    std::fs::write(ex.config_path(), toml("\"127.0.0.1/32\", \"10.0.0.0/8\"")).expect("write");
    ex.reload().await.expect("reload");
    assert_eq!(live(&ex.get("/metrics").await.metrics()), 0.0);
    assert_eq!(ex.get(&probe).await.status, 200);
    assert!(
        milvus[0].state().total_calls() > calls,
        "a new cache asked Milvus again"
    );
    ex.stop().await;
}
