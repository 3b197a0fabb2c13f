//! The bytes held for answers not yet sent, across every connection, under one process-wide
//! ceiling ([`BodyBudget`]), and the multi-part body that carries them ([`Frames`]).
//!
//! Each connection was bounded (one answer per HTTP/1.1 connection, [`MAX_H2_STREAMS`] per
//! HTTP/2 one, each for at most `write_timeout` without progress), but the process was not:
//! 200 clients that asked for a 3.7 MB `/readyz` and never read held 200 copies. Now the
//! large parts of every answer are the snapshot's memoised renderings, shared (`Bytes`), and
//! each answer is charged when it is made: a shared part once however many answers hold it,
//! its own parts (the per-request tail) each time. The charge is given back when hyper drops
//! the last piece of the answer, that is once it has been written or its connection closed.
//! An answer that would take the held bytes past the ceiling is refused with 503 before it
//! exists; `/healthz` and error answers are never charged, so they always answer.
//!
//! [`MAX_H2_STREAMS`]: super::serve

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::text;

/// Default ceiling of the bytes held for unsent answers, process-wide: 64 MiB, half of the
/// 128 MiB the shipped manifests give the exporter.
pub const DEFAULT_MAX_UNSENT_BYTES: usize = 64 << 20;

/// An answer that adds at most this many bytes to what is held is never refused: the tail of
/// an answer whose large part another answer already holds, a status-only `/readyz`. These
/// are bounded apart from the ceiling, by connections × streams × this.
pub const SMALL_ANSWER: usize = 4 * 1024;

/// One part of an answer.
pub enum Part {
    /// A memoised rendering of the snapshot, counted once while any answer holds it; the
    /// answer sends its first `upto` bytes (`/health`'s `history` is a prefix of one).
    Shared { whole: Bytes, upto: usize },
    /// Made for this answer alone (the data's age, whether it is cached).
    Own(Bytes),
}

impl Part {
    /// All of a memoised rendering.
    pub fn shared(whole: Bytes) -> Part {
        let upto = whole.len();
        Part::Shared { whole, upto }
    }

    pub fn own(bytes: impl Into<Bytes>) -> Part {
        Part::Own(bytes.into())
    }
}

impl From<crate::render::report::Chunk> for Part {
    fn from(c: crate::render::report::Chunk) -> Part {
        match c {
            crate::render::report::Chunk::Shared { whole, upto } => Part::Shared { whole, upto },
            crate::render::report::Chunk::Own(v) => Part::Own(Bytes::from(v)),
        }
    }
}

/// The process-wide ceiling on bytes held for unsent answers. See the module docs.
pub struct BodyBudget {
    limit: AtomicUsize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    held: usize,
    /// Shared renderings held, by address: their length and how many answers hold them. An
    /// entry lives only while an answer holds the bytes, so an address cannot be reused by
    /// another buffer meanwhile.
    shared: HashMap<usize, (usize, usize)>,
}

/// Why an answer was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct Over {
    pub held: usize,
    pub adding: usize,
    pub limit: usize,
}

impl BodyBudget {
    pub fn new(limit: usize) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            limit: AtomicUsize::new(limit),
            inner: Mutex::new(Inner::default()),
        })
    }

    /// Changes the ceiling (the server's options); answers already held are kept.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::SeqCst);
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::SeqCst)
    }

    /// Bytes held now for answers not yet sent.
    pub fn held(&self) -> usize {
        self.lock().held
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Counters stay consistent whatever panicked while they were held.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer made of `parts`, charged; `Err` when it would take the held bytes past the
    /// ceiling (and adds more than [`SMALL_ANSWER`]).
    pub fn frames(self: &Arc<Self>, parts: Vec<Part>) -> Result<Frames, Over> {
        let limit = self.limit();
        let mut inner = self.lock();
        let mut adding = 0usize;
        let mut keys: Vec<(usize, usize)> = Vec::new();
        let mut own = 0usize;
        for p in &parts {
            match p {
                Part::Shared { whole, .. } if !whole.is_empty() => {
                    let key = whole.as_ptr() as usize;
                    if !inner.shared.contains_key(&key) && !keys.iter().any(|(k, _)| *k == key) {
                        adding = adding.saturating_add(whole.len());
                    }
                    keys.push((key, whole.len()));
                }
                Part::Shared { .. } => {}
                Part::Own(b) => own = own.saturating_add(b.len()),
            }
        }
        adding = adding.saturating_add(own);
        if adding > SMALL_ANSWER && inner.held.saturating_add(adding) > limit {
            return Err(Over {
                held: inner.held,
                adding,
                limit,
            });
        }
        inner.held = inner.held.saturating_add(adding);
        for (key, len) in &keys {
            inner.shared.entry(*key).or_insert((*len, 0)).1 += 1;
        }
        drop(inner);
        let charge = Arc::new(Charge {
            budget: Arc::clone(self),
            shared: keys.into_iter().map(|(k, _)| k).collect(),
            own,
        });
        let parts: Vec<Bytes> = parts
            .into_iter()
            .filter_map(|p| {
                let bytes = match p {
                    Part::Shared { whole, upto } => whole.slice(..upto.min(whole.len())),
                    Part::Own(b) => b,
                };
                (!bytes.is_empty()).then(|| {
                    Bytes::from_owner(Held {
                        bytes,
                        _charge: Arc::clone(&charge),
                    })
                })
            })
            .collect();
        Ok(Frames::new(parts))
    }

    /// A `200`-like answer of `parts`, or 503 when the ceiling is reached.
    pub fn answer(
        self: &Arc<Self>,
        status: StatusCode,
        content_type: HeaderValue,
        parts: Vec<Part>,
    ) -> Response {
        match self.frames(parts) {
            Ok(frames) => (
                status,
                [(header::CONTENT_TYPE, content_type)],
                Body::new(frames),
            )
                .into_response(),
            Err(over) => over.response(),
        }
    }
}

impl Over {
    /// 503, saying which ceiling and by how much.
    pub fn response(&self) -> Response {
        let mib = |b: usize| b as f64 / (1u64 << 20) as f64;
        let mut resp = text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "too many unsent answers held: {:.1} MiB held, this one adds {:.1} MiB, the ceiling is {:.1} MiB; retry later\n",
                mib(self.held),
                mib(self.adding),
                mib(self.limit)
            ),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        resp
    }
}

/// What one answer took from the budget; given back when its last piece is dropped.
struct Charge {
    budget: Arc<BodyBudget>,
    shared: Vec<usize>,
    own: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        let mut inner = self.budget.lock();
        let mut freed = self.own;
        for key in &self.shared {
            if let Some((len, holders)) = inner.shared.get_mut(key) {
                *holders = holders.saturating_sub(1);
                if *holders == 0 {
                    freed = freed.saturating_add(*len);
                    inner.shared.remove(key);
                }
            }
        }
        inner.held = inner.held.saturating_sub(freed);
    }
}

/// A part's bytes with the answer's charge: hyper may keep slices of them in its write queue
/// after the body is gone, and the charge lasts as long as any of them.
struct Held {
    bytes: Bytes,
    _charge: Arc<Charge>,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Parts as an HTTP body of known total length (so hyper still sends a Content-Length, not
/// chunks), one data frame per part.
pub struct Frames {
    parts: std::collections::VecDeque<Bytes>,
    remaining: u64,
}

impl Frames {
    pub fn new(parts: Vec<Bytes>) -> Self {
        let remaining = parts.iter().map(|b| b.len() as u64).sum();
        Frames {
            parts: parts.into_iter().filter(|b| !b.is_empty()).collect(),
            remaining,
        }
    }
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let next = self.parts.pop_front();
        if let Some(b) = &next {
            self.remaining = self.remaining.saturating_sub(b.len() as u64);
        }
        Poll::Ready(next.map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_send_every_part_with_an_exact_length() {
        use http_body::Body as _;
        use http_body_util::BodyExt;
        for parts in [
            vec!["fam\n", "age 1\n"],
            vec!["", "age 1\n"],
            vec!["fam\n", ""],
            vec!["a", "b", "c"],
        ] {
            let frames = Frames::new(
                parts
                    .iter()
                    .map(|p| Bytes::from_static(p.as_bytes()))
                    .collect(),
            );
            let whole: String = parts.concat();
            assert_eq!(frames.size_hint().exact(), Some(whole.len() as u64));
            let body = frames.collect().await.expect("infallible").to_bytes();
            assert_eq!(body, whole.as_bytes());
        }
    }

    #[test]
    fn a_shared_part_counts_once_however_many_answers_hold_it_and_is_freed_by_the_last() {
        let budget = BodyBudget::new(10_000);
        let big = Bytes::from(vec![b'x'; 6_000]);
        let answers: Vec<Frames> = (0..50)
            .map(|_| {
                budget
                    .frames(vec![Part::shared(big.clone()), Part::own("tail")])
                    .expect("within the ceiling")
            })
            .collect();
        assert_eq!(budget.held(), 6_000 + 50 * 4);
        // Another large rendering does not fit beside it.
        let other = Bytes::from(vec![b'y'; 6_000]);
        let refused = budget.frames(vec![Part::shared(other.clone())]);
        assert!(matches!(refused, Err(Over { adding: 6_000, .. })));
        // A small one always does.
        assert!(budget
            .frames(vec![Part::own("{\"status\":\"ready\"}")])
            .is_ok());
        drop(answers);
        assert_eq!(budget.held(), 0);
        assert!(budget.frames(vec![Part::shared(other)]).is_ok());
    }

    #[tokio::test]
    async fn the_charge_lasts_while_any_slice_of_the_answer_is_held() {
        use http_body_util::BodyExt;
        let budget = BodyBudget::new(1 << 20);
        let big = Bytes::from(vec![b'z'; 100_000]);
        let mut frames = budget
            .frames(vec![Part::Shared {
                whole: big.clone(),
                upto: 10,
            }])
            .expect("fits");
        assert_eq!(budget.held(), 100_000, "charged the whole rendering");
        let frame = frames
            .frame()
            .await
            .expect("a frame")
            .expect("infallible")
            .into_data()
            .expect("data");
        assert_eq!(frame.len(), 10, "sends the prefix");
        drop(frames);
        assert_eq!(budget.held(), 100_000, "hyper may still hold the piece");
        drop(frame);
        assert_eq!(budget.held(), 0);
    }
}
