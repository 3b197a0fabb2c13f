//! `/healthz` (is the exporter alive), `/readyz` (should traffic go to Milvus), `/health`
//! (everything, for people).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{json, query_params, raw_json, text, AppState};
use crate::report;

/// Liveness: never waits on a refresh and never asks Milvus. Fails only when the exporter's
/// own machinery is stuck, which a restart would mend.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.caches.load().wedged() {
        None => text(StatusCode::OK, "OK"),
        Some(why) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("exporter wedged: {why}\n"),
        ),
    }
}

pub async fn readyz(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response {
    let params = match query_params(q.as_deref(), &["verbose"]) {
        Ok(p) => p,
        Err(msg) => return text(StatusCode::BAD_REQUEST, msg),
    };
    let verbose = params
        .iter()
        .any(|(k, v)| k == "verbose" && !matches!(v.as_str(), "0" | "false"));
    let arrived = Instant::now();
    let cache = Arc::clone(&state.caches.load().main);
    let read = cache.read().await;
    let age = read.view.snapshot.age(arrived).as_secs_f64();
    let status = if read.view.verdict.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if verbose {
        text(status, report::verbose_text(&read.view, read.cached, age))
    } else {
        raw_json(status, report::ready_json(&read, age))
    }
}

/// Everything at once, always 200: the status is in the body, for people and dashboards.
pub async fn health(State(state): State<Arc<AppState>>) -> Response {
    let arrived = Instant::now();
    let caches = state.caches.load();
    let liveness = caches.wedged().is_none();
    let cache = Arc::clone(&caches.main);
    drop(caches);
    let read = cache.read().await;
    let age = read.view.snapshot.age(arrived).as_secs_f64();
    json(StatusCode::OK, &report::health_body(&read, age, liveness))
}
