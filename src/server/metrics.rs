//! `/metrics` (the main target and the host) and `/probe?target=NAME` (one configured target,
//! blackbox_exporter style). A failing Milvus is a metric value, never an HTTP error. Both
//! answer gzip when the client accepts it ([`super::encoding`]), compressed once per snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::bodies::Part;
use super::{encoding, query_params, text, AppState};
use crate::cache::TargetCache;
use crate::render::exposition::{Exposition, Format};

pub async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let caches = state.caches.load();
    let (cache, offset) = (Arc::clone(&caches.main), caches.scrape_timeout_offset);
    drop(caches);
    render(&state, &cache, &headers, true, offset).await
}

pub async fn probe(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params = match query_params(q.as_deref(), &["target"]) {
        Ok(p) => p,
        Err(msg) => return text(StatusCode::BAD_REQUEST, msg),
    };
    let targets: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "target")
        .map(|(_, v)| v.as_str())
        .collect();
    let name = match targets.as_slice() {
        [one] if !one.is_empty() => *one,
        [] | [_] => return text(StatusCode::BAD_REQUEST, "missing ?target=NAME\n"),
        _ => return text(StatusCode::BAD_REQUEST, "give ?target= once\n"),
    };
    let caches = state.caches.load();
    let Some(cache) = caches.target(name).cloned() else {
        let shown: String = name
            .chars()
            .take(64)
            .flat_map(char::escape_default)
            .collect();
        let known: Vec<&str> = std::iter::once(caches.main.name())
            .chain(caches.targets.keys().map(String::as_str))
            .collect();
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown target \"{shown}\": only configured targets can be probed (known: {})\n",
                known.join(", ")
            ),
        );
    };
    let offset = caches.scrape_timeout_offset;
    drop(caches);
    render(&state, &cache, &headers, false, offset).await
}

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
    include_host: bool,
    offset: Duration,
) -> Response {
    let arrived = Instant::now();
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let coding = encoding::negotiate(headers);
    let read = cache.read_by(scrape_deadline(headers, offset)).await;
    let age_seconds = read.view.snapshot.age(arrived).as_secs_f64();
    let answer = Exposition {
        view: read.view,
        age_seconds,
        ttl: cache.ttl(),
        include_host,
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
