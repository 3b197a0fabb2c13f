//! An in-process OpenAI-compatible embeddings API (`POST /v1/embeddings`) on a free loopback
//! port, for the RAG probe tests. It answers what the test sets ([`Answer`]), including what
//! a real API does on a bad day (401 with an error body, 500, slow, malformed, enormous,
//! endless, a redirect elsewhere), and records every request it receives ([`Seen`]), so a
//! test can tell what was sent, with which headers, and that nothing was sent at all.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use tokio::task::JoinHandle;

/// How the API answers the next requests.
#[derive(Clone, Debug)]
pub enum Answer {
    /// 200 with an embedding of `dim` floats, or of the request's `dimensions` when it sends
    /// one (as OpenAI's text-embedding-3 models do).
    Embedding { dim: usize },
    /// This status, with this body as `application/json`.
    Status(u16, String),
    /// Waits this long, then answers an embedding of 8 floats.
    Slow(Duration),
    /// 200 with this body verbatim.
    Body(String),
    /// 200 with `{"data":[{"embedding":[0.0,0.0,…` that goes on for 64 MiB (it never closes
    /// the array): more than any client should read.
    Endless,
    /// 200 and its headers at once, then the body one byte every 100 ms: a slow peer.
    Trickle,
    /// 307 to this URL for `/v1/embeddings`; any other path answers an embedding of 8
    /// floats (so a same-origin redirect ends somewhere).
    Redirect(String),
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "request body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Everything received, as text, to search for a secret.
    pub fn text(&self) -> String {
        format!(
            "{} {} {:?} {}",
            self.method,
            self.path,
            self.headers,
            String::from_utf8_lossy(&self.body)
        )
    }
}

/// Requests kept; past it the oldest are dropped (a test never needs more).
const MAX_SEEN: usize = 1000;

struct Shared {
    answer: Mutex<Answer>,
    seen: Mutex<Vec<Seen>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Embeddings {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Embeddings {
    pub async fn start(answer: Answer) -> Embeddings {
        let shared = Arc::new(Shared {
            answer: Mutex::new(answer),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("embeddings: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("embeddings: local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Embeddings { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT/v1/embeddings`
    pub fn url(&self) -> String {
        format!("http://{}/v1/embeddings", self.addr)
    }

    /// `http://127.0.0.1:PORT` (the origin)
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, answer: Answer) {
        *lock(&self.shared.answer) = answer;
    }

    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    pub fn last(&self) -> Seen {
        self.requests()
            .pop()
            .expect("the embeddings API received a request")
    }
}

impl Drop for Embeddings {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `[1.0, 0.0, 0.0, …]` of `dim` floats: a valid vector for every metric.
pub fn unit(dim: usize) -> String {
    let mut v = vec!["0.0"; dim];
    if let Some(first) = v.first_mut() {
        *first = "1.0";
    }
    format!("[{}]", v.join(","))
}

/// An OpenAI embeddings answer holding `vector` (JSON text).
pub fn answer_with(vector: &str) -> String {
    format!(
        r#"{{"object":"list","data":[{{"object":"embedding","index":0,"embedding":{vector}}}],"model":"fake","usage":{{"prompt_tokens":2,"total_tokens":2}}}}"#
    )
}

fn json(status: u16, body: String) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let seen = Seen {
        method: method.to_string(),
        path: uri.to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let asked: Option<usize> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("dimensions").and_then(|d| d.as_u64()))
        .map(|d| d as usize);
    {
        let mut all = lock(&shared.seen);
        if all.len() >= MAX_SEEN {
            all.remove(0);
        }
        all.push(seen);
    }
    let answer = lock(&shared.answer).clone();
    match answer {
        Answer::Embedding { dim } => json(200, answer_with(&unit(asked.unwrap_or(dim)))),
        Answer::Status(code, body) => json(code, body),
        Answer::Slow(d) => {
            tokio::time::sleep(d).await;
            json(200, answer_with(&unit(8)))
        }
        Answer::Body(b) => json(200, b),
        Answer::Endless => {
            let chunk = Bytes::from("0.0,".repeat(4096));
            let head = futures::stream::once(async {
                Ok::<_, std::convert::Infallible>(Bytes::from_static(br#"{"data":[{"embedding":["#))
            });
            // 16 KiB chunks, 4,096 of them: 64 MiB, then the stream ends (bounded here too).
            let tail = futures::stream::iter(
                (0..4096).map(move |_| Ok::<_, std::convert::Infallible>(chunk.clone())),
            );
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::from_stream(futures::StreamExt::chain(head, tail)))
                .unwrap_or_default()
        }
        Answer::Trickle => {
            let bytes = answer_with(&unit(8)).into_bytes();
            let stream = futures::stream::unfold(0usize, move |i| {
                let bytes = bytes.clone();
                async move {
                    if i >= bytes.len() {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((
                        Ok::<_, std::convert::Infallible>(Bytes::copy_from_slice(&bytes[i..=i])),
                        i + 1,
                    ))
                }
            });
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::from_stream(stream))
                .unwrap_or_default()
        }
        Answer::Redirect(_) if path != "/v1/embeddings" => json(200, answer_with(&unit(8))),
        Answer::Redirect(to) => Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header("location", to)
            .body(Body::empty())
            .unwrap_or_default(),
    }
}
