//! The status page through the real server and the in-process fake Milvus: every target one
//! click away, an unknown target refused without naming the others, and basic auth as the
//! web config says.

mod support;

use std::sync::Arc;
use std::time::Duration;

use milvus_exporter::server::{ServeOptions, WebConfig};
use support::exporter::{eventually, Exporter};
use support::fake_milvus::{FakeCollection, FakeMilvus, FakeState};

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

fn config(url: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"3s\"\n\
         [cache]\nttl = \"1s\"\nrefresh_interval = \"1s\"\n\
         [readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\n\
         [[targets]]\nname = \"replica\"\naddress = \"{url}\"\ntimeout = \"3s\"\n\
         [[targets]]\nname = \"secret-cluster\"\naddress = \"http://127.0.0.1:1\"\ntimeout = \"1s\"\n"
    )
}

async fn fake() -> FakeMilvus {
    FakeMilvus::start(FakeState::new().with(|b| {
        b.collections = vec![
            FakeCollection::loaded("default", "docs", 10),
            FakeCollection::loaded("default", HOSTILE, 3),
        ];
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_target_has_its_page_and_an_unknown_one_is_a_400_naming_no_target() {
    let fake = fake().await;
    let exporter = Exporter::start(&config(&fake.url())).await;
    eventually(Duration::from_secs(10), "a first refresh", || async {
        exporter.get("/").await.body.contains("id=\"status\"")
    })
    .await;
    let main = exporter.get("/").await;
    assert_eq!(main.status, 200);
    assert!(main.content_type.starts_with("text/html"));
    for link in [
        "href=\"/\"",
        "href=\"/?target=replica\"",
        "href=\"/?target=secret-cluster\"",
    ] {
        assert!(main.body.contains(link), "{link}");
    }
    assert!(
        main.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "escaped collection"
    );
    assert!(!main.body.contains(HOSTILE));

    let replica = exporter.get("/?target=replica").await;
    assert_eq!(replica.status, 200, "{}", replica.body);
    assert!(
        replica
            .body
            .contains("<strong id=\"status\">Ready</strong>"),
        "{}",
        replica.body
    );
    assert!(replica
        .body
        .contains("href=\"/?target=replica\" aria-current=\"page\""));

    let down = exporter.get("/?target=secret-cluster").await;
    assert_eq!(down.status, 200);
    assert!(down.body.contains("Not ready"), "{}", down.body);

    for bad in [
        "/?target=nope",
        "/?target=",
        "/?target=%FF%FE",
        "/?target=replica&target=default",
    ] {
        let r = exporter.get(bad).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.body.trim_end().lines().count(), 1, "{bad}: {}", r.body);
        for name in ["replica", "secret-cluster", "default"] {
            assert!(!r.body.contains(name), "{bad} names {name}: {}", r.body);
        }
    }
    assert_eq!(exporter.get("/?bogus=1").await.status, 400);
    exporter.stop().await;
}

fn with_web(yaml: &str) -> (ServeOptions, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("web.yml");
    std::fs::write(&path, yaml).expect("write web config");
    let web = WebConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let options = ServeOptions {
        web: Arc::new(arc_swap::ArcSwap::from_pointee(web)),
        ..ServeOptions::default()
    };
    (options, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_behind_basic_auth_and_an_exempt_page_tells_only_the_status() {
    let fake = fake().await;
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let client = reqwest::Client::new();

    let (options, _dir) = with_web(&format!("basic_auth_users:\n  alice: {hash}\n"));
    let exporter = Exporter::start_with(&config(&fake.url()), options).await;
    let anonymous = client.get(exporter.url_of("/")).send().await.expect("send");
    assert_eq!(anonymous.status().as_u16(), 401);
    let signed = client
        .get(exporter.url_of("/?target=replica"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .expect("send");
    assert_eq!(signed.status().as_u16(), 200);

    // `check --url` with and without the password.
    let pw = _dir.path().join("pw");
    std::fs::write(&pw, "pw\n").expect("write password file");
    let url = exporter.url.clone();
    let pw = pw.display().to_string();
    let (with, without) = tokio::task::spawn_blocking(move || {
        let limit = Duration::from_secs(20);
        let with = support::binary::run(
            &[
                "check",
                "--url",
                &url,
                "--username",
                "alice",
                "--password-file",
                &pw,
            ],
            &[],
            limit,
        );
        let without = support::binary::run(&["check", "--url", &url], &[], limit);
        (with, without)
    })
    .await
    .expect("the checks ran");
    assert!(with.1.starts_with("Exporter "), "{with:?}");
    assert!(matches!(with.0, Some(0 | 1)), "{with:?}");
    assert_eq!(without.0, Some(1), "{without:?}");
    assert!(without.2.contains("answered 401"), "{without:?}");
    exporter.stop().await;

    let (options, _dir) = with_web(&format!(
        "basic_auth_users:\n  alice: {hash}\nunauthenticated_paths: [/healthz, /readyz, /]\n"
    ));
    let exporter = Exporter::start_with(&config(&fake.url()), options).await;
    eventually(Duration::from_secs(10), "a first refresh", || async {
        let r = client.get(exporter.url_of("/")).send().await.expect("send");
        r.text().await.unwrap_or_default().contains(">ready<")
    })
    .await;
    let body = client
        .get(exporter.url_of("/"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .unwrap_or_default();
    for secret in ["docs", "img", "replica", "secret-cluster", "127.0.0.1"] {
        assert!(
            !body.contains(secret),
            "the status-only page shows {secret}: {body}"
        );
    }
    exporter.stop().await;
}
