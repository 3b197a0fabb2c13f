//! `/metrics` (the main target and the host) and `/probe` (a configured target by name, or
//! an address Prometheus discovered, with a module: blackbox_exporter style). A failing
//! Milvus is a metric value, never an HTTP error. Both answer gzip when the client accepts it
//! ([`super::encoding`]), compressed once per snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use tokio::sync::Semaphore;

use super::bodies::Part;
use super::{encoding, query_params, text, AppState};
use crate::cache::fleet::{FleetCounts, Refused};
use crate::cache::TargetCache;
use crate::render::exposition::{Exposition, Format};

pub async fn metrics(
    State(state): State<Arc<AppState>>,
    permits: Option<Extension<RenderPermits>>,
    headers: HeaderMap,
) -> Response {
    let caches = state.caches.load();
    let (cache, offset) = (Arc::clone(&caches.main), caches.scrape_timeout_offset);
    let fleet = caches.fleet.counts();
    drop(caches);
    render(&state, &cache, &headers, Some(fleet), offset, permits).await
}

/// `/probe?target=NAME` for a configured target, or `/probe?target=ADDRESS&module=NAME` for a
/// discovered one (`module` defaults to `default`). Without `module=`, a configured target's
/// name is looked up first; with it, the target is always an address.
pub async fn probe(
    State(state): State<Arc<AppState>>,
    permits: Option<Extension<RenderPermits>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params = match query_params(q.as_deref(), &["target", "module"]) {
        Ok(p) => p,
        Err(msg) => return text(StatusCode::BAD_REQUEST, msg),
    };
    let values = |key: &str| -> Vec<&str> {
        params
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let name = match values("target").as_slice() {
        [one] if !one.is_empty() => *one,
        [] | [_] => {
            return text(
                StatusCode::BAD_REQUEST,
                "missing ?target=NAME or ?target=ADDRESS&module=NAME\n",
            )
        }
        _ => return text(StatusCode::BAD_REQUEST, "give ?target= once\n"),
    };
    let module = match values("module").as_slice() {
        [] => None,
        [one] if !one.is_empty() => Some(*one),
        [_] => return text(StatusCode::BAD_REQUEST, "?module= is empty\n"),
        _ => return text(StatusCode::BAD_REQUEST, "give ?module= once\n"),
    };
    let caches = state.caches.load();
    let offset = caches.scrape_timeout_offset;
    let configured = module
        .is_none()
        .then(|| caches.target(name).cloned())
        .flatten();
    let fleet = Arc::clone(&caches.fleet);
    drop(caches);
    let cache = match configured {
        Some(cache) => cache,
        // A bare word is a name that is not configured; the answer names no other target,
        // so a caller cannot list what this exporter watches.
        None if module.is_none() && !name.contains([':', '.']) => {
            let shown: String = name
                .chars()
                .take(64)
                .flat_map(char::escape_default)
                .collect();
            return text(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown target \"{shown}\": not a configured target, nor an address \
                     (host:port, with ?module=)\n"
                ),
            );
        }
        None => match fleet
            .admit(module.unwrap_or(crate::config::DEFAULT_MODULE), name)
            .await
        {
            Ok(cache) => cache,
            Err(Refused::Invalid(why)) => return text(StatusCode::BAD_REQUEST, format!("{why}\n")),
            Err(Refused::Full(why)) => {
                return text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"))
            }
        },
    };
    render(&state, &cache, &headers, None, offset, permits).await
}

/// The `web.max_requests` permits, handed by the guard to `/metrics` and `/probe`, which take
/// one only once the snapshot is in hand: a request waiting on a target's refresh holds none,
/// so hung targets cannot starve the exporter's own `/metrics` or the healthy targets.
#[derive(Clone)]
pub struct RenderPermits(pub Arc<Semaphore>);

/// Prometheus says how long it will wait; an answer after that is lost, so the answer must
/// be ready `offset` before it. Unparseable or non-positive values are ignored.
fn scrape_deadline(headers: &HeaderMap, offset: Duration) -> Option<Duration> {
    let secs: f64 = headers
        .get("x-prometheus-scrape-timeout-seconds")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if !secs.is_finite() || secs <= 0.0 {
        return None;
    }
    let total = Duration::try_from_secs_f64(secs.min(3600.0)).ok()?;
    Some(total.saturating_sub(offset).max(Duration::from_millis(10)))
}

async fn render(
    state: &AppState,
    cache: &Arc<TargetCache>,
    headers: &HeaderMap,
    fleet: Option<FleetCounts>,
    offset: Duration,
    permits: Option<Extension<RenderPermits>>,
) -> Response {
    let arrived = Instant::now();
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let coding = encoding::negotiate(headers);
    let Some(read) = cache.read_within(scrape_deadline(headers, offset)).await else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "target {} has no complete snapshot yet and fleet.max_waiters requests already \
                 wait on its refresh; retry later\n",
                cache.name()
            ),
        );
    };
    // Taken once the snapshot is in hand, given back when this returns: the render holds it,
    // neither the wait above nor the write to the reader.
    let _permit = match permits {
        None => None,
        Some(Extension(RenderPermits(limit))) => match limit.try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many concurrent /metrics and /probe requests (web.max_requests); retry later\n",
                )
            }
        },
    };
    let age_seconds = read.view.snapshot.age(arrived).as_secs_f64();
    let answer = Exposition {
        view: read.view,
        age_seconds,
        ttl: cache.ttl(),
        include_host: fleet.is_some(),
        fleet,
    }
    .render_coded(format, coding);
    // The families (plain or gzipped) are the snapshot's memoised bytes, shared by every
    // answer (and counted once in the body budget); the tail is this answer's own.
    let mut response = state.bodies.answer(
        StatusCode::OK,
        format.content_type_header(),
        vec![Part::shared(answer.families), Part::own(answer.tail)],
    );
    if response.status() == StatusCode::OK {
        // The body depends on Accept-Encoding, whichever coding this one got.
        let h = response.headers_mut();
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        if let Some(value) = coding.content_encoding() {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(value));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_deadline_leaves_the_offset_and_ignores_garbage() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(
                "x-prometheus-scrape-timeout-seconds",
                v.parse().expect("header value"),
            );
            m
        };
        let off = Duration::from_millis(100);
        assert_eq!(
            scrape_deadline(&h("1"), off),
            Some(Duration::from_millis(900))
        );
        assert_eq!(
            scrape_deadline(&h("0.05"), off),
            Some(Duration::from_millis(10))
        );
        for bad in ["", "abc", "-1", "0", "NaN", "inf"] {
            assert_eq!(scrape_deadline(&h(bad), off), None, "{bad:?}");
        }
        assert_eq!(scrape_deadline(&HeaderMap::new(), off), None);
    }
}
