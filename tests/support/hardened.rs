//! The in-process exporter served through `server::serve_with`, so a test can choose the
//! connection limits and the web configuration (TLS, basic auth).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use milvus_exporter::cache::Caches;
use milvus_exporter::config::{Config, Overrides};
use milvus_exporter::server::{self, AppState, ServeOptions};

pub struct Served {
    pub addr: std::net::SocketAddr,
    pub state: Arc<AppState>,
    pub config: Config,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Served {
    pub async fn start(toml: &str, options: ServeOptions) -> Served {
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
        let task = tokio::spawn(server::serve_with(
            listener,
            Arc::clone(&state),
            options,
            async move {
                let _ = rx.await;
            },
        ));
        Served {
            addr,
            state,
            config,
            stop: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
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

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Sends `request` bytes on a fresh connection and reads until the server closes or `limit`
/// passes; returns what was read.
pub async fn raw_request(addr: std::net::SocketAddr, request: &[u8], limit: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(request).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&buf).into_owned()
}

/// Peak resident set size of this process (VmHWM), in KiB.
pub fn peak_rss_kib() -> u64 {
    status_field("VmHWM:")
}

/// Current resident set size of this process (VmRSS), in KiB.
pub fn rss_kib() -> u64 {
    status_field("VmRSS:")
}

fn status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
