//! What `allowed_targets` admits, what it refuses with a one-line 400, and that nothing is
//! dialled for a refused target: not the address, not a name's resolved address, not the
//! metrics port, and no redirect is followed.

use std::time::Duration;

use crate::support::exporter::Exporter;
use crate::support::fake_milvus::{FakeMilvus, FakeState};
use crate::Silent;

/// Counts connections for a little while after a refusal: a dial would be on its way by then.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

fn one_line_400(r: &crate::support::exporter::Reply, needle: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains(needle), "wanted {needle:?} in {:?}", r.body);
    assert_eq!(
        r.body.trim_end().lines().count(),
        1,
        "one line: {:?}",
        r.body
    );
}

#[tokio::test]
async fn an_allowed_address_is_probed_with_its_module() {
    let milvus = FakeMilvus::start(FakeState::new()).await;
    let ex = Exporter::start(&format!(
        "[milvus]\naddress = \"127.0.0.1:1\"\n[cache]\nrefresh_interval = \"0s\"\n\
         [[modules]]\nname = \"prod\"\nallowed_targets = [\"127.0.0.1:{}\"]\n\
         [modules.milvus]\ntimeout = \"2s\"\n",
        milvus.addr().port()
    ))
    .await;
    let r = ex
        .get(&format!("/probe?target={}&module=prod", milvus.addr()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.metrics().value("milvus_up", &[]), 1.0, "{}", r.body);
    // A URL names the same target.
    let r = ex
        .get(&format!(
            "/probe?target=http://{}/&module=prod",
            milvus.addr()
        ))
        .await;
    assert_eq!(r.metrics().value("milvus_up", &[]), 1.0);
    assert!(milvus.state().calls("CheckHealth") >= 1);
    ex.stop().await;
}

#[tokio::test]
async fn refused_targets_get_a_clear_400_and_nothing_is_dialled() {
    let counted = Silent::hung().await;
    let redirect_target = Silent::hung().await;
    let port = counted.addr.port();
    let ex = Exporter::start(&format!(
        "[milvus]\naddress = \"127.0.0.1:1\"\n[cache]\nrefresh_interval = \"0s\"\n\
         [[modules]]\nname = \"wide\"\nallowed_targets = [\"0.0.0.0/0\", \"10.0.0.0/8\"]\n\
         [[modules]]\nname = \"names\"\nallowed_targets = [\"localhost:*\"]\n\
         [[modules]]\nname = \"metrics\"\nallowed_targets = [\"127.0.0.1:{port}\"]\nmetrics_port = 9091\n\
         [[modules]]\nname = \"closed\"\n"
    ))
    .await;
    let cases: Vec<(String, &str)> = vec![
        // Loopback is refused unless listed, however wide the CIDR.
        (format!("127.0.0.1:{port}&module=wide"), "loopback"),
        (format!("[::ffff:127.0.0.1]:{port}&module=wide"), "loopback"),
        ("169.254.169.254:80&module=wide".into(), "link-local"),
        // A name that matches its pattern but resolves to a refused address.
        (format!("localhost:{port}&module=names"), "resolves to"),
        (
            format!("other.example:{port}&module=names"),
            "matches no allowed_targets",
        ),
        // The metrics port must pass the same allowlist.
        (format!("127.0.0.1:{port}&module=metrics"), "127.0.0.1:9091"),
        // Discovered targets are off for a module with no allowlist, and the default's.
        (
            format!("127.0.0.1:{port}&module=closed"),
            "allows no discovered targets",
        ),
        (
            format!("127.0.0.1:{port}"),
            "fleet.allowed_targets is empty",
        ),
        ("127.0.0.1:1&module=nope".into(), "unknown module"),
        // What could lead elsewhere.
        (
            format!("http://u:p@127.0.0.1:{port}&module=wide"),
            "credentials",
        ),
        (
            format!("http://10.0.0.1:{port}/redirect%3Fto%3Dx&module=wide"),
            "has a path",
        ),
        (format!("ftp://10.0.0.1:{port}&module=wide"), "is not http"),
    ];
    for (query, needle) in &cases {
        let r = ex.get(&format!("/probe?target={query}")).await;
        one_line_400(&r, needle);
    }
    settle().await;
    assert_eq!(counted.accepted(), 0, "a refused target was dialled");
    assert_eq!(redirect_target.accepted(), 0);
    ex.stop().await;
}

#[tokio::test]
async fn an_unknown_target_name_names_no_other_target() {
    let ex = Exporter::start(
        "[milvus]\naddress = \"127.0.0.1:1\"\n[cache]\nrefresh_interval = \"0s\"\n\
         [[targets]]\nname = \"secret-tenant\"\naddress = \"127.0.0.1:2\"\n",
    )
    .await;
    let r = ex.get("/probe?target=elsewhere").await;
    one_line_400(&r, "unknown target \"elsewhere\"");
    assert!(!r.body.contains("secret-tenant"), "{}", r.body);
    assert!(!r.body.contains("default"), "{}", r.body);
    // A configured name still works.
    let r = ex.get("/probe?target=secret-tenant").await;
    assert_eq!(r.status, 200);
    ex.stop().await;
}

#[tokio::test]
async fn a_redirect_from_the_metrics_port_is_not_followed() {
    let milvus = FakeMilvus::start(FakeState::new()).await;
    let elsewhere = Silent::hung().await;
    let reply: &'static str = Box::leak(
        format!(
            "HTTP/1.1 302 Found\r\nLocation: http://{}/healthz\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            elsewhere.addr
        )
        .into_boxed_str(),
    );
    let metrics = Silent::answering(Some(reply)).await;
    let ex = Exporter::start(&format!(
        "[milvus]\naddress = \"127.0.0.1:1\"\n[cache]\nrefresh_interval = \"0s\"\n\
         [[modules]]\nname = \"m\"\nallowed_targets = [\"127.0.0.1/32\"]\nmetrics_port = {}\n",
        metrics.addr.port()
    ))
    .await;
    let r = ex
        .get(&format!("/probe?target={}&module=m", milvus.addr()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.metrics().value("milvus_up", &[]), 1.0);
    assert!(metrics.accepted() >= 1, "the derived metrics port is asked");
    settle().await;
    assert_eq!(elsewhere.accepted(), 0, "the redirect was followed");
    ex.stop().await;
}
