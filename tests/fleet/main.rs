//! Fleet probing: `/probe?target=<address>&module=<name>` for targets Prometheus discovered
//! (docs/fleet.md). Each module pins one class of rule: what an allowlist refuses (and that
//! nothing is dialled then), isolation of hung targets, and the bounds on discovered targets.
//! Hermetic: the in-process fake Milvus and local listeners on loopback only; the live module
//! (`--features live`) drives probes from a real Prometheus with `file_sd_configs`.

#[path = "../support/mod.rs"]
mod support;

mod admission;
mod eviction;
mod isolation;
#[cfg(feature = "live")]
mod live;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// A loopback listener that counts the connections made to it and either holds each open
/// without a byte (`Silent::hung`, a Milvus that hangs) or answers every request with `reply`.
pub struct Silent {
    pub addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Silent {
    /// Accepts and never answers.
    pub async fn hung() -> Silent {
        Silent::answering(None).await
    }

    /// Accepts, and writes `reply` (a whole HTTP response) to each connection, if any.
    pub async fn answering(reply: Option<&'static str>) -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut sock, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                if let Some(r) = reply {
                    let mut buf = [0u8; 4096];
                    let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
                    let _ = sock.write_all(r.as_bytes()).await;
                }
                // Bounded: the tests open a few connections each.
                if held.len() < 256 {
                    held.push(sock);
                }
            }
        });
        Silent {
            addr,
            accepted,
            task,
        }
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.task.abort();
    }
}
