//! Runs the real exporter in-process on a free loopback port, from a TOML configuration, and
//! offers small helpers to read its answers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use milvus_exporter::cache::Caches;
use milvus_exporter::config::{Config, Overrides};
use milvus_exporter::server::{self, AppState};

pub struct Exporter {
    pub url: String,
    pub state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Exporter {
    /// Starts the exporter with `toml` as its configuration file (no environment layer).
    pub async fn start(toml: &str) -> Exporter {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("exporter.toml");
        std::fs::write(&path, toml).expect("write config");
        let config = Config::load_from(Some(&path), &[], &Overrides::default())
            .unwrap_or_else(|e| panic!("test config does not load: {e}\n{toml}"));
        let mut caches = Caches::from_config(&config).expect("caches build");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        caches.start_refresher(config.cache.refresh_interval);
        let state = AppState::new(caches);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, Arc::clone(&state), async move {
            let _ = rx.await;
        }));
        Exporter {
            url: format!("http://{addr}"),
            state,
            stop: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut req = client.get(format!("{}{}", self.url, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp.text().await.expect("body");
        Reply {
            status,
            content_type,
            body,
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn metrics(&self) -> Metrics {
        Metrics::parse(&self.body)
    }
}

/// Samples of a text exposition, keyed by `name{sorted labels}`.
#[derive(Debug)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut out = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            let key = match series.split_once('{') {
                None => series.to_string(),
                Some((name, rest)) => {
                    let mut parts = parse_labels(rest.trim_end_matches('}'));
                    parts.sort();
                    format!("{name}{{{}}}", parts.join(","))
                }
            };
            out.insert(key, value);
        }
        Metrics(out)
    }

    /// The value of `name` with exactly these labels (any order), if present.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let key = if labels.is_empty() {
            name.to_string()
        } else {
            let mut parts: Vec<String> =
                labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            parts.sort();
            format!("{name}{{{}}}", parts.join(","))
        };
        self.0.get(&key).copied()
    }

    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| {
            panic!(
                "no sample {name}{labels:?}; have:\n{:#?}",
                self.0.keys().collect::<Vec<_>>()
            )
        })
    }

    pub fn has_family(&self, name: &str) -> bool {
        self.0
            .keys()
            .any(|k| k == name || k.starts_with(&format!("{name}{{")))
    }
}

/// `a="x",b="",c="q\"uote"` → [`a="x"`, `b=""`, `c="q\"uote"`], honouring escapes.
fn parse_labels(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_value = false;
    let mut escaped = false;
    for c in s.chars() {
        if in_value {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_value = false;
            }
        } else if c == '"' {
            cur.push(c);
            in_value = true;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Polls `f` until it returns true or `limit` passes; returns how long it took.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if f().await {
            return start.elapsed();
        }
        if start.elapsed() > limit {
            panic!("{what}: not within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The structure of a JSON value with the leaves reduced to their types: two bodies with the
/// same shape have the same skeleton. Null is its own type again: `cpu_percent` has a figure
/// from the first snapshot on, so a null where a number was is a change a client would see.
pub fn skeleton(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), skeleton(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().take(1).map(skeleton).collect()),
        Value::Null => Value::String("null".into()),
        Value::Number(_) => Value::String("number".into()),
        Value::Bool(_) => Value::String("bool".into()),
        Value::String(_) => Value::String("string".into()),
    }
}
