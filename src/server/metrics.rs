//! `/metrics` (the main target and the host) and `/probe?target=NAME` (one configured target,
//! blackbox_exporter style). A failing Milvus is a metric value, never an HTTP error.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{query_params, text, AppState};
use crate::cache::TargetCache;
use crate::exposition::{Exposition, Format};

pub async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let cache = Arc::clone(&state.caches.load().main);
    render(&cache, &headers, true).await
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
    drop(caches);
    render(&cache, &headers, false).await
}

async fn render(cache: &Arc<TargetCache>, headers: &HeaderMap, include_host: bool) -> Response {
    let arrived = Instant::now();
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let read = cache.read().await;
    let age_seconds = read.view.snapshot.age(arrived).as_secs_f64();
    let body = Exposition {
        view: read.view,
        age_seconds,
        ttl: cache.ttl(),
        include_host,
    }
    .render(format);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response()
}
