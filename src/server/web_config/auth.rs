//! `basic_auth_users`: HTTP basic authentication against bcrypt hashes.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use base64::Engine;
use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::Semaphore;

/// Credentials whose outcome is remembered at once; beyond it the oldest tenth is dropped.
/// Each entry is a 32-byte tag, an outcome and a time: under 100 KiB in all.
pub const VERIFIED_CACHE_MAX: usize = 1024;

/// How long an outcome (right or wrong) is remembered. A reload builds a new cache, so a
/// changed password takes effect at the reload, not after this.
pub const VERIFIED_CACHE_TTL: Duration = Duration::from_secs(600);

/// What a check of an `Authorization` header found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A configured user's password.
    Valid,
    /// No credentials, unreadable ones, an unknown user or a wrong password.
    Invalid,
    /// Not known, and every bcrypt worker is busy: the caller answers 503 (or, on a path that
    /// needs no password, the status only) rather than queue behind other people's hashes.
    Busy,
}

type Verifying = Shared<BoxFuture<'static, bool>>;

/// One credential's outcome, or the verification that will give it (which every request
/// with the same credential waits on, rather than starting its own).
#[derive(Clone)]
enum State {
    Known(bool),
    Verifying(Verifying),
}

struct Entry {
    since: Instant,
    state: State,
}

type Cache = Arc<Mutex<HashMap<Vec<u8>, Entry>>>;

/// HTTP basic authentication against bcrypt hashes.
///
/// bcrypt is slow on purpose (tens of milliseconds at cost 10, hundreds at 12), so:
/// - the outcome of each credential, right or wrong, is remembered for
///   [`VERIFIED_CACHE_TTL`] in at most [`VERIFIED_CACHE_MAX`] entries (as the toolkit
///   does), keyed by an HMAC of user and password under a key made at start, never the
///   password itself; requests with the same credential share one verification;
/// - verification runs on the blocking pool, at most [`BasicAuth::workers`] at a time, and
///   nothing queues behind them: a credential that is not known when every worker is busy is
///   [`Outcome::Busy`]. So a flood of wrong passwords costs the right user at most one hash
///   time (or a 503 to retry), never a place at the end of a queue;
/// - paths that need no password never wait behind anyone ([`BasicAuth::check_free`]).
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    key: ring::hmac::Key,
    cache: Cache,
    workers: Arc<Semaphore>,
    worker_count: usize,
    /// bcrypt verifications run since start.
    hashes: Arc<AtomicU64>,
}

impl BasicAuth {
    pub(super) fn new(users: BTreeMap<String, String>) -> BasicAuth {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            // No system randomness: fall back to a per-process key from the clock and address
            // space. Weaker, but the cache holds only tags, never a password.
            let seed = format!(
                "{:?}{:p}",
                std::time::SystemTime::now(),
                &rng as *const ring::rand::SystemRandom
            );
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, seed.as_bytes())
        });
        let worker_count = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 4);
        BasicAuth {
            users,
            key,
            cache: Arc::new(Mutex::new(HashMap::new())),
            workers: Arc::new(Semaphore::new(worker_count)),
            worker_count,
            hashes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Number of configured users.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// bcrypt verifications run since start (every other check was answered from memory).
    pub fn hashes(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    /// bcrypt verifications that may run at once (the CPUs, 1 to 4).
    pub fn workers(&self) -> usize {
        self.worker_count
    }

    /// Whether the `Authorization` header carries a configured user's password, for a path
    /// that needs one. A remembered outcome answers at once; another request's verification
    /// of the same credential is waited for; otherwise a free worker verifies it (one hash
    /// time), or, when none is free, [`Outcome::Busy`].
    pub async fn check(&self, header: Option<&HeaderValue>) -> Outcome {
        self.verify(header, true).await
    }

    /// The same for a path that answers without a password but tells more to those who give
    /// one (`/readyz`), which must never wait behind anyone: a remembered outcome answers; a
    /// credential nobody is verifying is verified only if a worker is idle right now (once:
    /// the outcome is then remembered, so a kubelet's stale header costs one hash per
    /// [`VERIFIED_CACHE_TTL`]); a credential another request is verifying, or one that finds
    /// every worker busy, is [`Outcome::Busy`] at once.
    pub async fn check_free(&self, header: Option<&HeaderValue>) -> Outcome {
        self.verify(header, false).await
    }

    async fn verify(&self, header: Option<&HeaderValue>, may_wait: bool) -> Outcome {
        let Some((user, password)) = header.and_then(parse_basic) else {
            return Outcome::Invalid;
        };
        let tag = {
            let mut ctx = ring::hmac::Context::with_key(&self.key);
            ctx.update(user.as_bytes());
            ctx.update(&[0]);
            ctx.update(&password);
            ctx.sign().as_ref().to_vec()
        };
        let verifying = {
            let now = Instant::now();
            let mut cache = lock(&self.cache);
            let fresh = cache
                .get(&tag)
                .filter(|e| now.duration_since(e.since) < VERIFIED_CACHE_TTL)
                .map(|e| e.state.clone());
            match fresh {
                Some(State::Known(ok)) => return outcome(ok),
                Some(State::Verifying(_)) if !may_wait => return Outcome::Busy,
                Some(State::Verifying(v)) => v,
                None => {
                    let Ok(permit) = Arc::clone(&self.workers).try_acquire_owned() else {
                        return Outcome::Busy;
                    };
                    // Unknown users pay for a bcrypt too, so timing does not tell which
                    // users exist.
                    let hash = self.users.get(&user).cloned();
                    let known = hash.is_some();
                    let hashes = Arc::clone(&self.hashes);
                    let job = tokio::task::spawn_blocking(move || {
                        let _permit = permit;
                        hashes.fetch_add(1, Ordering::Relaxed);
                        let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
                        bcrypt::verify(&password, &hash).unwrap_or(false) && known
                    });
                    // The outcome is stored by the task, not by a request: one that hangs up
                    // does not waste the hash for the others.
                    let store = Arc::clone(&self.cache);
                    let key = tag.clone();
                    let done = tokio::spawn(async move {
                        let ok = job.await.unwrap_or(false);
                        if let Some(e) = lock(&store).get_mut(&key) {
                            e.state = State::Known(ok);
                        }
                        ok
                    });
                    let v: Verifying = done.map(|r| r.unwrap_or(false)).boxed().shared();
                    make_room(&mut cache, now);
                    cache.insert(
                        tag,
                        Entry {
                            since: now,
                            state: State::Verifying(v.clone()),
                        },
                    );
                    v
                }
            }
        };
        outcome(verifying.await)
    }

    /// Remembered credentials (tests).
    #[cfg(test)]
    fn remembered(&self) -> usize {
        lock(&self.cache).len()
    }
}

fn outcome(ok: bool) -> Outcome {
    if ok {
        Outcome::Valid
    } else {
        Outcome::Invalid
    }
}

fn lock(cache: &Cache) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Entry>> {
    match cache.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Below [`VERIFIED_CACHE_MAX`] entries: drops the expired, then the oldest tenth. Rarely
/// done, and bounded by the cache's size when it is.
fn make_room(cache: &mut HashMap<Vec<u8>, Entry>, now: Instant) {
    if cache.len() < VERIFIED_CACHE_MAX {
        return;
    }
    cache.retain(|_, e| now.duration_since(e.since) < VERIFIED_CACHE_TTL);
    if cache.len() < VERIFIED_CACHE_MAX {
        return;
    }
    let mut ages: Vec<Instant> = cache.values().map(|e| e.since).collect();
    ages.sort_unstable();
    if let Some(cut) = ages.get(VERIFIED_CACHE_MAX / 10).copied() {
        cache.retain(|_, e| e.since > cut);
    }
}

/// Whether `hash` is a bcrypt hash the server can check: `$2a$`/`$2b$`/`$2x$`/`$2y$`, cost
/// 4 to 31 (what Go's `bcrypt.Cost`, which the toolkit calls at start-up, accepts).
pub(super) fn is_bcrypt(hash: &str) -> bool {
    matches!(hash.parse::<bcrypt::HashParts>(), Ok(parts) if (4..=31).contains(&parts.get_cost()))
}

/// A bcrypt hash of nothing anyone knows, checked for unknown users.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| bcrypt::hash("milvus_exporter: no such user", 10).unwrap_or_default())
}

/// `Basic base64(user:password)` → (user, password bytes).
fn parse_basic(value: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let text = value.to_str().ok()?.trim();
    let (scheme, rest) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_parses() {
        let v = HeaderValue::from_static("Basic YWxpY2U6cDpzcw==");
        assert_eq!(
            parse_basic(&v),
            Some(("alice".to_string(), b"p:ss".to_vec()))
        );
        assert!(parse_basic(&HeaderValue::from_static("Bearer x")).is_none());
        assert!(parse_basic(&HeaderValue::from_static("Basic !!!")).is_none());
    }

    fn basic(user: &str, password: &str) -> HeaderValue {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {b64}")).expect("header")
    }

    fn one_user(cost: u32) -> BasicAuth {
        let hash = bcrypt::hash("right", cost).expect("hash");
        BasicAuth::new(BTreeMap::from([("prom".to_string(), hash)]))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn right_and_wrong_outcomes_are_remembered_and_shared_by_concurrent_requests() {
        let auth = Arc::new(one_user(6));
        let wrong = basic("prom", "wrong");
        let right = basic("prom", "right");
        // Twenty at once with the same wrong password: one hash between them.
        let many = (0..20).map(|_| {
            let auth = Arc::clone(&auth);
            let wrong = wrong.clone();
            tokio::spawn(async move { auth.check(Some(&wrong)).await })
        });
        for r in futures::future::join_all(many).await {
            assert_eq!(r.expect("task"), Outcome::Invalid);
        }
        assert_eq!(auth.hashes(), 1, "a wrong password is verified once");
        assert_eq!(auth.check(Some(&wrong)).await, Outcome::Invalid);
        assert_eq!(auth.check_free(Some(&wrong)).await, Outcome::Invalid);
        assert_eq!(auth.check(Some(&right)).await, Outcome::Valid);
        assert_eq!(auth.check(Some(&right)).await, Outcome::Valid);
        assert_eq!(auth.check_free(Some(&right)).await, Outcome::Valid);
        assert_eq!(auth.hashes(), 2, "and a right one once");
        assert_eq!(
            auth.check(Some(&basic("nobody", "right"))).await,
            Outcome::Invalid
        );
        assert_eq!(auth.check(None).await, Outcome::Invalid);
        assert_eq!(auth.remembered(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_every_worker_busy_a_new_credential_is_busy_at_once_and_never_queued() {
        // Cost 11: each hash takes long enough (a fraction of a second or more) to look at the
        // pool mid-way.
        let auth = Arc::new(one_user(11));
        let running: Vec<_> = (0..auth.workers())
            .map(|i| {
                let auth = Arc::clone(&auth);
                tokio::spawn(
                    async move { auth.check(Some(&basic("prom", &format!("w{i}")))).await },
                )
            })
            .collect();
        // Wait (bounded) until every worker holds a hash.
        let t = Instant::now();
        while auth.workers.available_permits() > 0 && t.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(auth.workers.available_permits(), 0);
        let t = Instant::now();
        assert_eq!(
            auth.check(Some(&basic("prom", "right"))).await,
            Outcome::Busy
        );
        assert_eq!(
            auth.check_free(Some(&basic("prom", "other"))).await,
            Outcome::Busy
        );
        // A credential being verified: an open path does not wait for it either.
        assert_eq!(
            auth.check_free(Some(&basic("prom", "w0"))).await,
            Outcome::Busy
        );
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        for r in running {
            assert_eq!(r.await.expect("task"), Outcome::Invalid);
        }
        // Busy is not remembered: once a worker is free the right password passes.
        assert_eq!(
            auth.check(Some(&basic("prom", "right"))).await,
            Outcome::Valid
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_memory_of_outcomes_is_bounded() {
        let auth = one_user(4);
        for i in 0..VERIFIED_CACHE_MAX + 200 {
            assert_eq!(
                auth.check(Some(&basic("prom", &format!("guess{i}")))).await,
                Outcome::Invalid
            );
            assert!(auth.remembered() <= VERIFIED_CACHE_MAX);
        }
        assert!(auth.remembered() >= VERIFIED_CACHE_MAX / 2);
    }
}
