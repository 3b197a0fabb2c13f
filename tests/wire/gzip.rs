//! gzip on `/metrics` and `/probe` over HTTP: headers, lengths, HEAD, `/healthz` never
//! compressed, and hostile `Accept-Encoding` values answered 200 and readable.

use std::io::Read as _;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};

use crate::support::exporter::{Exporter, Metrics};
use crate::support::fake_milvus::{FakeCollection, FakeMilvus, FakeState};

/// What Prometheus 2.x and 3.x send on every scrape.
const PROMETHEUS_ACCEPT_ENCODING: &str = "gzip";
const PROMETHEUS_ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1";

fn config(url: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"2s\"\n\
         [cache]\nttl = \"60s\"\nrefresh_interval = \"0s\"\n\
         [readiness]\ndisabled_rules = [\"memory\", \"disk\"]\n\
         [[targets]]\nname = \"other\"\naddress = \"{url}\"\n"
    )
}

async fn start() -> (FakeMilvus, Exporter) {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        b.collections = (0..200)
            .map(|i| FakeCollection::loaded("default", &format!("c{i}"), i))
            .collect();
    }))
    .await;
    let s = Exporter::start(&config(&fake.url())).await;
    (fake, s)
}

/// Request headers as raw bytes.
type Headers<'a> = Vec<(&'a str, &'a [u8])>;

struct Raw {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn content_length(&self) -> Option<usize> {
        self.header("content-length")?.parse().ok()
    }

    /// The body decoded as exactly one gzip member, nothing after it.
    fn gunzip(&self) -> String {
        let mut decoder = flate2::read::GzDecoder::new(self.body.as_slice());
        let mut text = String::new();
        decoder
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("not one gzip member: {e}"));
        let mut rest = Vec::new();
        let _ = decoder.into_inner().read_to_end(&mut rest);
        assert!(
            rest.is_empty(),
            "{} bytes after the gzip member",
            rest.len()
        );
        text
    }
}

/// A request with raw header values (reqwest here has no gzip feature, so nothing is
/// decoded on the way: the bytes are what the exporter sent).
async fn fetch(method: reqwest::Method, url: &str, headers: &[(&str, &[u8])]) -> Raw {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut req = client.request(method, url);
    for (k, v) in headers {
        req = req.header(*k, HeaderValue::from_bytes(v).expect("header value"));
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

async fn get(url: &str, headers: &[(&str, &[u8])]) -> Raw {
    fetch(reqwest::Method::GET, url, headers).await
}

fn without_age(m: &Metrics) -> Vec<String> {
    m.0.keys()
        .filter(|k| !k.starts_with("milvus_exporter_cache_age_seconds"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn metrics_and_probe_answer_gzip_when_prometheus_asks_for_it() {
    let (_fake, s) = start().await;
    for path in ["/metrics", "/probe?target=other"] {
        let url = s.url_of(path);
        let plain = get(&url, &[("accept", PROMETHEUS_ACCEPT.as_bytes())]).await;
        let gz = get(
            &url,
            &[
                ("accept", PROMETHEUS_ACCEPT.as_bytes()),
                ("accept-encoding", PROMETHEUS_ACCEPT_ENCODING.as_bytes()),
            ],
        )
        .await;
        assert_eq!((plain.status, gz.status), (200, 200), "{path}");
        assert_eq!(
            gz.header("content-encoding"),
            Some("gzip"),
            "{path}: no Content-Encoding: gzip"
        );
        assert_eq!(plain.header("content-encoding"), None, "{path}");
        for r in [&plain, &gz] {
            assert_eq!(r.header("vary"), Some("accept-encoding"), "{path}");
            assert_eq!(r.content_length(), Some(r.body.len()), "{path}");
            assert!(r
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/openmetrics-text")));
        }
        let text = gz.gunzip();
        assert!(text.ends_with("# EOF\n"), "{path}");
        let plain_text = String::from_utf8(plain.body.clone()).expect("utf-8");
        assert_eq!(
            without_age(&Metrics::parse(&text)),
            without_age(&Metrics::parse(&plain_text)),
            "{path}: the gzip answer says what the plain one says"
        );
        assert!(
            gz.body.len() * 4 < plain.body.len(),
            "{path}: {} gzip bytes for {} plain",
            gz.body.len(),
            plain.body.len()
        );
    }
}

#[tokio::test]
async fn head_healthz_and_text_format() {
    let (_fake, s) = start().await;
    let gzip: &[(&str, &[u8])] = &[("accept-encoding", b"gzip")];
    let head = fetch(reqwest::Method::HEAD, &s.url_of("/metrics"), gzip).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-encoding"), Some("gzip"));
    assert!(head.body.is_empty());
    let get_len = get(&s.url_of("/metrics"), gzip).await.body.len();
    let head_len = head.content_length().expect("HEAD has a Content-Length");
    // The same answer but for the age's digits.
    assert!(
        head_len.abs_diff(get_len) < 16,
        "HEAD {head_len} vs GET {get_len}"
    );

    for path in ["/healthz", "/readyz"] {
        let r = get(&s.url_of(path), gzip).await;
        assert_eq!(
            r.header("content-encoding"),
            None,
            "{path} is never compressed"
        );
    }

    // No Accept header: text 0.0.4, gzipped all the same.
    let text = get(&s.url_of("/metrics"), gzip).await;
    assert!(text
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")));
    let body = text.gunzip();
    assert!(!body.contains("# EOF") && body.contains("milvus_up "));
}

#[tokio::test]
async fn hostile_accept_encoding_values_get_a_readable_200() {
    let (_fake, s) = start().await;
    let long = "br;q=0.1, ".repeat(600);
    let repeated: Vec<(&str, &[u8])> =
        std::iter::repeat_n(("accept-encoding", &b"deflate"[..]), 40)
            .chain([("accept-encoding", &b"gzip"[..])])
            .collect();
    let cases: Vec<(&str, Headers, bool)> = vec![
        ("q above 1", vec![("accept-encoding", b"gzip;q=1.5")], false),
        ("negative q", vec![("accept-encoding", b"gzip;q=-1")], false),
        (
            "gzip refused",
            vec![("accept-encoding", b"gzip;q=0")],
            false,
        ),
        (
            "identity refused",
            vec![("accept-encoding", b"identity;q=0")],
            false,
        ),
        (
            "everything refused",
            vec![("accept-encoding", b"identity;q=0, *;q=0")],
            false,
        ),
        (
            "non-UTF-8",
            vec![("accept-encoding", b"gzip\xff\xfe")],
            false,
        ),
        (
            "garbage",
            vec![("accept-encoding", b";;;==,,q=,\"gzip\"")],
            false,
        ),
        (
            "long list",
            vec![("accept-encoding", long.as_bytes())],
            false,
        ),
        (
            "gzip after 40 lines, past the entries read",
            repeated,
            false,
        ),
        (
            "wildcard refusing identity",
            vec![("accept-encoding", b"*, identity;q=0")],
            true,
        ),
    ];
    for (name, headers, gzip) in cases {
        let r = get(&s.url_of("/metrics"), &headers).await;
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.content_length(), Some(r.body.len()), "{name}");
        let text = if gzip {
            assert_eq!(r.header("content-encoding"), Some("gzip"), "{name}");
            r.gunzip()
        } else {
            assert_eq!(r.header("content-encoding"), None, "{name}");
            String::from_utf8(r.body.clone()).expect("utf-8")
        };
        assert!(text.contains("milvus_up "), "{name}");
    }
}
