//! The one in-process harness: the real app (`milvus_exporter::app`, what the binary runs)
//! on a free loopback port, built from a TOML configuration, and small helpers to read its
//! answers. The host's disk and memory thresholds are 100 % unless the TOML sets them. `Exporter::start` serves with the limits of the TOML's `[web]` section, as the
//! binary does; `Exporter::start_with` takes the server's limits and web configuration (TLS,
//! basic auth) from the test.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use milvus_exporter::app::{App, AppError, Layers, Running};
use milvus_exporter::config::{Config, Overrides};
use milvus_exporter::server::{AppState, ServeOptions, WebConfig};

pub struct Exporter {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    /// The configuration the exporter started with.
    pub config: Config,
    running: Option<Running>,
    dir: tempfile::TempDir,
}

impl Exporter {
    /// Starts the exporter with `toml` as its configuration file (no environment layer but
    /// the host thresholds it does not set) and the connection limits of its `[web]`
    /// section, as the binary would.
    pub async fn start(toml: &str) -> Exporter {
        Exporter::launch(toml, None).await
    }

    /// Starts the exporter with `toml` as its configuration file, serving with `options`.
    pub async fn start_with(toml: &str, options: ServeOptions) -> Exporter {
        Exporter::launch(toml, Some(options)).await
    }

    async fn launch(toml: &str, options: Option<ServeOptions>) -> Exporter {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("exporter.toml");
        std::fs::write(&path, toml).expect("write config");
        // As `--web.listen-address 127.0.0.1:0`: a flag, so a reload keeps it.
        let layers = Layers {
            file: Some(path),
            // Only the host thresholds a test did not set (see `host_neutral_env`).
            env: super::host_neutral_env(Some(toml), &[]),
            overrides: Overrides {
                listen_address: Some("127.0.0.1:0".into()),
                ..Overrides::default()
            },
            web_file: None,
        };
        let config = layers
            .config()
            .unwrap_or_else(|e| panic!("test config does not load: {e}\n{toml}"));
        let built = match options {
            None => App::build(config.clone(), WebConfig::default(), layers).await,
            Some(options) => App::build_with(config.clone(), layers, options).await,
        };
        let app = built.unwrap_or_else(|e| panic!("the app does not build: {e}\n{toml}"));
        let addr = app.local_addr();
        let state = Arc::clone(app.state());
        Exporter {
            url: format!("http://{addr}"),
            addr,
            state,
            config,
            running: Some(app.spawn()),
            dir,
        }
    }

    /// `self.url` + `path`.
    pub fn url_of(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The configuration file: rewrite it, then [`Exporter::reload`].
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("exporter.toml")
    }

    /// Reloads as SIGHUP does.
    pub async fn reload(&self) -> Result<String, String> {
        match &self.running {
            Some(r) => r.reload().await,
            None => Err("stopped".into()),
        }
    }

    /// How many reloads have actually run: requests made during one are answered by the next.
    pub fn reloads_run(&self) -> u64 {
        self.running.as_ref().map_or(0, |r| r.reloads_run())
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

    /// Shuts down gracefully and returns what serving returned: in-flight requests are
    /// answered first (for the grace period at most).
    pub async fn shutdown(mut self) -> Result<(), AppError> {
        match self.running.take() {
            Some(r) => r.shutdown().await,
            None => Ok(()),
        }
    }

    /// Shuts down gracefully, waiting at most 5 s.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), r.shutdown()).await;
        }
    }
}

// Dropping an `Exporter` drops its `Running`, which stops the server at once.

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
