//! Reload storms: any burst of `POST /-/reload` and SIGHUP leaves at most one refresh and one
//! inventory pass per target in flight, one connection per target to Milvus, `/readyz`
//! answering from the last complete snapshot, and the process's memory where it was.
//! Reloads coalesce (one runs; every request during it is answered by the one after), and a
//! target whose configuration did not change keeps its cache, history and channel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use milvus_exporter::cache::TargetCache;

use super::support::binary::Binary;
use super::support::exporter::{eventually, Exporter};
use super::support::fake_milvus::{FakeCollection, FakeMilvus, FakeState, Fault};
use super::support::memory;

fn config(url: &str, extra: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"5s\"\n\
         [cache]\nttl = \"1s\"\nrefresh_interval = \"2s\"\ninventory_interval = \"300s\"\n\
         [readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\n\
         required_collections = [\"c0000\"]\n{extra}"
    )
}

fn collections(n: usize) -> FakeState {
    FakeState::new().with(|b| {
        b.collections = (0..n)
            .map(|i| FakeCollection::loaded("default", &format!("c{i:04}"), 5))
            .collect()
    })
}

fn main_cache(e: &Exporter) -> Arc<TargetCache> {
    Arc::clone(&e.state.caches.load().main)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_reload_requests_coalesces_into_a_few_reloads() {
    let fake = FakeMilvus::start(collections(3)).await;
    let exporter = Exporter::start(&config(&fake.url(), "")).await;
    assert_eq!(exporter.get("/readyz").await.status, 200);
    let before = exporter.reloads_run();
    let answers = futures::future::join_all((0..64).map(|_| exporter.reload())).await;
    assert!(answers.iter().all(|a| a.is_ok()), "{answers:?}");
    let ran = exporter.reloads_run() - before;
    // The requests reach the reloader in a wave or two (join_all polls 32 futures at a
    // time): each wave is answered by the reload running and one more.
    assert!(
        (1..=4).contains(&ran),
        "64 requests at once coalesce into a few reloads, not {ran}"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_changes_nothing_keeps_cache_history_and_channel() {
    let fake = FakeMilvus::start(collections(30)).await;
    let exporter = Exporter::start(&config(&fake.url(), "")).await;
    assert_eq!(exporter.get("/readyz").await.status, 200);
    let cache = main_cache(&exporter);
    let history = cache.peek().expect("a view").history.entries.len();
    let stats = fake.state().calls("GetCollectionStatistics");
    let dialled = fake.state().connections();
    assert_eq!(stats, 30, "one inventory pass");
    for _ in 0..20 {
        exporter.reload().await.expect("reloads");
        assert_eq!(exporter.get("/readyz").await.status, 200);
    }
    let kept = main_cache(&exporter);
    assert!(Arc::ptr_eq(&cache, &kept), "the same cache, not a new one");
    assert!(kept.peek().expect("a view").history.entries.len() >= history);
    assert_eq!(
        fake.state().calls("GetCollectionStatistics"),
        stats,
        "no inventory pass per reload"
    );
    assert_eq!(fake.state().connections(), dialled, "no new connection");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_target_cuts_the_old_refresh_and_keeps_channel_and_history() {
    let fake = FakeMilvus::start(collections(3)).await;
    // A long timeout: the hung refreshes stay in flight for the whole test.
    let toml = config(&fake.url(), "").replace("timeout = \"5s\"", "timeout = \"30s\"");
    let exporter = Exporter::start(&toml).await;
    assert_eq!(exporter.get("/readyz").await.status, 200);
    let old = main_cache(&exporter);
    let history = old.peek().expect("a view").history.entries.len();
    let dialled = fake.state().connections();

    // Milvus stops answering; a refresh of the old cache hangs in CheckHealth.
    fake.state().update(|b| {
        b.rpc_faults.insert("CheckHealth".into(), Fault::Hang);
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    drop(old.refresh());
    eventually(
        Duration::from_secs(10),
        "the old refresh is in CheckHealth",
        || async { fake.state().in_flight_of("CheckHealth") == 1 },
    )
    .await;

    // A reload that changes the main target's checks (not its connection).
    let changed = toml.replace("memory_percent_max = 100", "memory_percent_max = 99");
    std::fs::write(exporter.config_path(), changed).expect("rewrite");
    exporter.reload().await.expect("reloads");
    let new = main_cache(&exporter);
    assert!(!Arc::ptr_eq(&old, &new), "a new cache for new checks");
    assert!(old.is_retired());
    // It answers from the last complete snapshot at once (Milvus hangs, so a fresh one is
    // not to be had), with the history it had.
    let view = new.peek().expect("the old view carried over");
    assert!(view.verdict.ready);
    assert!(view.history.entries.len() >= history);
    // The new cache's refresh hangs too, but alone: the old one was cut.
    eventually(
        Duration::from_secs(10),
        "only the new refresh in CheckHealth",
        || async { fake.state().in_flight_of("CheckHealth") == 1 && new.wedged().is_none() },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        fake.state().in_flight_of("CheckHealth"),
        1,
        "the retired cache's refresh is not left running beside the new one"
    );
    assert_eq!(fake.state().connections(), dialled, "the same channel");
    exporter.stop().await;
}

/// POSTs `/-/reload` until `until`; how many were answered 200.
async fn post_reloads(url: String, until: Instant) -> usize {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut ok = 0;
    while Instant::now() < until {
        if let Ok(r) = client.post(format!("{url}/-/reload")).send().await {
            ok += usize::from(r.status().as_u16() == 200);
        }
    }
    ok
}

/// GETs `/readyz` every 50 ms until `until`; the statuses seen.
async fn watch_readyz(url: String, until: Instant) -> Vec<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut seen = Vec::new();
    while Instant::now() < until {
        let status = match client.get(format!("{url}/readyz")).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        seen.push(status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen
}

fn sighup(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::HUP);
    }
}

async fn start_binary(toml: String) -> Binary {
    tokio::task::spawn_blocking(move || Binary::start(&toml, &["--web.enable-lifecycle"], &[]))
        .await
        .expect("start")
}

async fn until_ready(url: &str) {
    let client = reqwest::Client::new();
    eventually(Duration::from_secs(30), "the exporter is ready", || {
        let get = client.get(format!("{url}/readyz")).send();
        async move { get.await.is_ok_and(|r| r.status().as_u16() == 200) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_reloads_and_hangups_keeps_readyz_green_and_memory_flat() {
    // Every CheckHealth takes 100 ms, so refreshes overlap the storm.
    let fake = FakeMilvus::start(collections(200).with(|b| {
        b.rpc_faults.insert(
            "CheckHealth".into(),
            Fault::Delay(Duration::from_millis(100)),
        );
    }))
    .await;
    let bin = start_binary(config(&fake.url(), "")).await;
    let url = format!("http://{}", bin.addr);
    until_ready(&url).await;
    // Warm the reload path once, so "before" is the steady state of a process that reloads.
    post_reloads(url.clone(), Instant::now() + Duration::from_millis(300)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = memory::rss_kib(bin.pid());
    fake.state().reset_calls();

    let until = Instant::now() + Duration::from_secs(3);
    let posters: Vec<_> = (0..4)
        .map(|_| tokio::spawn(post_reloads(url.clone(), until)))
        .collect();
    let watcher = tokio::spawn(watch_readyz(url.clone(), until));
    let pid = bin.pid();
    let hangups = tokio::task::spawn_blocking(move || {
        let mut sent = 0;
        while Instant::now() < until {
            sighup(pid);
            sent += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        sent
    });
    let mut posted = 0;
    for p in posters {
        posted += p.await.expect("poster");
    }
    let statuses = watcher.await.expect("watcher");
    let sent = hangups.await.expect("hangups");
    let peak = memory::hwm_kib(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = memory::rss_kib(pid);
    let state = fake.state();
    eprintln!(
        "storm: {posted} POSTs answered, {sent} SIGHUPs; readyz {} samples; \
         CheckHealth at once {}; GetCollectionStatistics {}; connections at once {}; \
         RSS {} MiB before, {} MiB after (peak {} MiB)",
        statuses.len(),
        state.max_in_flight_of("CheckHealth"),
        state.calls("GetCollectionStatistics"),
        state.max_open_connections(),
        memory::mib(before),
        memory::mib(after),
        memory::mib(peak),
    );
    assert!(posted > 10, "the storm happened: {posted}");
    assert!(
        statuses.len() >= 10 && statuses.iter().all(|s| *s == 200),
        "readyz answered 200 throughout: {statuses:?}"
    );
    assert!(
        state.max_in_flight_of("CheckHealth") <= 1,
        "one refresh at a time"
    );
    assert_eq!(
        state.calls("GetCollectionStatistics"),
        0,
        "no inventory pass from reloads (the last one is not due for 300 s)"
    );
    assert!(
        state.max_open_connections() <= 2,
        "one connection to Milvus (two while a stuck one is replaced): {}",
        state.max_open_connections()
    );
    assert!(
        after <= before + before / 10,
        "RSS back within 10%: {} MiB before, {} MiB after",
        memory::mib(before),
        memory::mib(after)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_targets_reload_at_a_bounded_cost() {
    let fake = FakeMilvus::start(collections(3)).await;
    let mut toml = config(&fake.url(), "");
    for i in 0..10_000 {
        toml.push_str(&format!(
            "[[targets]]\nname = \"t{i:05}\"\naddress = \"{}\"\n",
            fake.url()
        ));
    }
    let bin = start_binary(toml).await;
    let url = format!("http://{}", bin.addr);
    until_ready(&url).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    // Two reloads first: they warm the reload path (the allocator keeps what parsing a
    // 10,000-target file once needed), and the second's answer time is one reload's cost.
    let mut one = Duration::ZERO;
    for _ in 0..2 {
        let started = Instant::now();
        let r = client
            .post(format!("{url}/-/reload"))
            .send()
            .await
            .expect("reload");
        assert_eq!(r.status().as_u16(), 200);
        one = started.elapsed();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = memory::rss_kib(bin.pid());
    let until = Instant::now() + Duration::from_secs(3);
    let posters: Vec<_> = (0..4)
        .map(|_| tokio::spawn(post_reloads(url.clone(), until)))
        .collect();
    let mut posted = 0;
    for p in posters {
        posted += p.await.expect("poster");
    }
    let peak = memory::hwm_kib(bin.pid());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = memory::rss_kib(bin.pid());
    eprintln!(
        "10,000 targets: one reload {one:?}; {posted} POSTs answered in 3 s; \
         RSS {} MiB before, {} MiB after (peak {} MiB); {} connections to Milvus",
        memory::mib(before),
        memory::mib(after),
        memory::mib(peak),
        fake.state().connections(),
    );
    assert!(posted >= 1);
    assert!(
        after <= before + before / 10,
        "RSS back within 10%: {} MiB before, {} MiB after",
        memory::mib(before),
        memory::mib(after)
    );
    assert!(
        fake.state().connections() <= 2,
        "targets nobody probed never dial: {}",
        fake.state().connections()
    );
}
