//! Hung targets cost their own waiters, never the exporter: a request waiting on a refresh
//! holds no `web.max_requests` permit, each target's waiters are bounded, and the exporter's
//! own `/metrics` and the healthy targets answer as usual however many targets hang.

use std::time::{Duration, Instant};

use crate::support::exporter::Exporter;
use crate::support::fake_milvus::{FakeMilvus, FakeState};
use crate::Silent;

const HUNG: usize = 45;

/// Fires `paths` at once and gives back their statuses (in order) with the slowest time.
async fn all_at_once(ex: &Exporter, paths: Vec<String>) -> Vec<tokio::task::JoinHandle<u16>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    paths
        .into_iter()
        .map(|p| {
            let (client, url) = (client.clone(), ex.url_of(&p));
            tokio::spawn(async move {
                client
                    .get(url)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect()
}

/// Waits until at least `web.max_requests` (40) of the hung targets have been dialled: their
/// probes are inside the exporter, waiting.
async fn while_they_hang(hung: &[Silent]) {
    crate::support::exporter::eventually(Duration::from_secs(10), "hung targets dialled", || {
        let n = hung.iter().filter(|h| h.accepted() > 0).count();
        async move { n >= 40 }
    })
    .await;
}

async fn check_the_others_answer(ex: &Exporter, healthy: &str) {
    for path in [
        "/metrics".to_string(),
        healthy.to_string(),
        "/healthz".into(),
    ] {
        let start = Instant::now();
        let r = ex.get(&path).await;
        let took = start.elapsed();
        assert_eq!(
            r.status, 200,
            "{path} while {HUNG} targets hang: {}",
            r.body
        );
        assert!(
            took < Duration::from_secs(3),
            "{path} took {took:?} while targets hang"
        );
    }
}

/// Named targets: the same configuration runs on the code before fleet probing, where the
/// 45 waiting probes held all 40 permits and `/metrics` answered 503.
#[tokio::test]
async fn hung_named_targets_leave_metrics_and_healthy_targets_answering() {
    let healthy = FakeMilvus::start(FakeState::new()).await;
    let mut hung = Vec::new();
    for _ in 0..HUNG {
        hung.push(Silent::hung().await);
    }
    let mut toml = format!(
        "[milvus]\naddress = \"{}\"\ntimeout = \"2s\"\n[cache]\nrefresh_interval = \"0s\"\n\
         [[targets]]\nname = \"healthy\"\naddress = \"{}\"\ntimeout = \"2s\"\n",
        healthy.url(),
        healthy.url()
    );
    for (i, h) in hung.iter().enumerate() {
        toml.push_str(&format!(
            "[[targets]]\nname = \"hung{i}\"\naddress = \"{}\"\ntimeout = \"8s\"\n",
            h.addr
        ));
    }
    let ex = Exporter::start(&toml).await;
    // Warm the main target and the healthy one, as Prometheus's earlier scrapes would.
    assert_eq!(ex.get("/metrics").await.status, 200);
    assert_eq!(ex.get("/probe?target=healthy").await.status, 200);
    let waiting = all_at_once(
        &ex,
        (0..HUNG)
            .map(|i| format!("/probe?target=hung{i}"))
            .collect(),
    )
    .await;
    while_they_hang(&hung).await;
    check_the_others_answer(&ex, "/probe?target=healthy").await;
    for w in waiting {
        assert_eq!(
            w.await.expect("probe"),
            200,
            "a hung target still answers, milvus_up 0"
        );
    }
    ex.stop().await;
}

#[tokio::test]
async fn hung_discovered_targets_leave_metrics_and_healthy_targets_answering() {
    let healthy = FakeMilvus::start(FakeState::new()).await;
    let mut hung = Vec::new();
    for _ in 0..HUNG {
        hung.push(Silent::hung().await);
    }
    let ex = Exporter::start(&format!(
        "[milvus]\naddress = \"{}\"\ntimeout = \"2s\"\n[cache]\nrefresh_interval = \"0s\"\n\
         [fleet]\nallowed_targets = [\"127.0.0.1/32\"]\n\
         [[modules]]\nname = \"slow\"\nallowed_targets = [\"127.0.0.1/32\"]\n\
         [modules.milvus]\ntimeout = \"8s\"\n",
        healthy.url()
    ))
    .await;
    let healthy_probe = format!("/probe?target={}", healthy.addr());
    assert_eq!(ex.get("/metrics").await.status, 200);
    assert_eq!(ex.get(&healthy_probe).await.status, 200);
    let waiting = all_at_once(
        &ex,
        hung.iter()
            .map(|h| format!("/probe?target={}&module=slow", h.addr))
            .collect(),
    )
    .await;
    while_they_hang(&hung).await;
    check_the_others_answer(&ex, &healthy_probe).await;
    for w in waiting {
        assert_eq!(w.await.expect("probe"), 200);
    }
    let m = ex.get("/metrics").await.metrics();
    assert_eq!(
        m.value("milvus_exporter_probe_targets", &[("state", "live")]),
        (HUNG + 1) as f64
    );
    ex.stop().await;
}

#[tokio::test]
async fn a_targets_waiters_are_bounded_and_the_rest_get_its_newest_snapshot_or_503() {
    let hung = Silent::hung().await;
    let ex = Exporter::start(&format!(
        "[milvus]\naddress = \"127.0.0.1:1\"\ntimeout = \"1s\"\n[cache]\nrefresh_interval = \"0s\"\nttl = \"100ms\"\n\
         [fleet]\nmax_waiters = 2\nallowed_targets = [\"127.0.0.1:{}\"]\n",
        hung.addr.port()
    ))
    .await;
    let path = format!("/probe?target={}", hung.addr);
    // Milvus's timeout is 1 s: before the first refresh completes, two wait and three are
    // turned away at once (there is no snapshot yet to give them).
    let first = all_at_once(&ex, vec![path.clone(); 5]).await;
    let mut statuses = Vec::new();
    for w in first {
        statuses.push(w.await.expect("probe"));
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 200, 503, 503, 503], "{statuses:?}");
    let turned_away = ex.get(&path).await;
    assert_eq!(
        turned_away.status, 200,
        "the first refresh's snapshot: {}",
        turned_away.body
    );
    // Once a refresh has completed, the waiters past the bound get that snapshot, not 503.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = all_at_once(&ex, vec![path.clone(); 5]).await;
    for w in again {
        assert_eq!(w.await.expect("probe"), 200);
    }
    ex.stop().await;
}
