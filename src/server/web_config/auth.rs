//! `basic_auth_users`: HTTP basic authentication against bcrypt hashes.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::HeaderValue;
use base64::Engine;
use tokio::sync::Semaphore;

/// Successful (user, password) checks remembered, so a scrape does not pay bcrypt every time.
const VERIFIED_CACHE_MAX: usize = 1024;

/// HTTP basic authentication against bcrypt hashes.
///
/// bcrypt is slow on purpose (tens of milliseconds at cost 10), so checks run on the blocking
/// pool, at most a few at a time, and a successful (user, password) pair is remembered as an
/// HMAC under a key made at start, never as the password itself. Failures are not remembered:
/// each costs the caller one queued bcrypt, and none can hold up the async workers that answer
/// `/healthz`.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    key: ring::hmac::Key,
    verified: Mutex<HashSet<Vec<u8>>>,
    limiter: Arc<Semaphore>,
}

impl BasicAuth {
    pub(super) fn new(users: BTreeMap<String, String>) -> BasicAuth {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            // No system randomness: fall back to a per-process key from the clock and address
            // space. Weaker, but the cache holds only tags of passwords that were correct.
            let seed = format!(
                "{:?}{:p}",
                std::time::SystemTime::now(),
                &rng as *const ring::rand::SystemRandom
            );
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, seed.as_bytes())
        });
        let permits = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 4);
        BasicAuth {
            users,
            key,
            verified: Mutex::new(HashSet::new()),
            limiter: Arc::new(Semaphore::new(permits)),
        }
    }

    /// Number of configured users.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Whether the `Authorization` header carries a configured user's password.
    pub async fn check(&self, header: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = header.and_then(parse_basic) else {
            return false;
        };
        let tag = {
            let mut ctx = ring::hmac::Context::with_key(&self.key);
            ctx.update(user.as_bytes());
            ctx.update(&[0]);
            ctx.update(&password);
            ctx.sign().as_ref().to_vec()
        };
        if self.lock().contains(&tag) {
            return true;
        }
        // Unknown users pay for a bcrypt too, so timing does not tell which users exist.
        let hash = self.users.get(&user).cloned();
        let known = hash.is_some();
        let Ok(permit) = Arc::clone(&self.limiter).acquire_owned().await else {
            return false;
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let hash = match hash {
                Some(h) => h,
                None => dummy_hash().to_string(),
            };
            bcrypt::verify(&password, &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let ok = outcome && known;
        if ok {
            let mut cache = self.lock();
            if cache.len() >= VERIFIED_CACHE_MAX {
                cache.clear();
            }
            cache.insert(tag);
        }
        ok
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Vec<u8>>> {
        match self.verified.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
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
}
