//! HTTP: the router and its shared state. Every handler reads the cache; none talks to Milvus.

mod health;
mod landing;
mod metrics;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::cache::Caches;

/// What handlers share. The caches sit behind an `ArcSwap` so a configuration reload can
/// replace them without a lock on the request path.
pub struct AppState {
    pub caches: ArcSwap<Caches>,
    pub started: Instant,
}

impl AppState {
    pub fn new(caches: Caches) -> Arc<Self> {
        Arc::new(AppState {
            caches: ArcSwap::from_pointee(caches),
            started: Instant::now(),
        })
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(landing::page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .route("/probe", get(metrics::probe))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn not_found() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "not found; endpoints: / /metrics /probe /healthz /readyz /health\n",
    )
}

async fn method_not_allowed() -> Response {
    text(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed; use GET\n",
    )
}

pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

pub(crate) fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode JSON: {e}\n"),
        ),
    }
}

/// Query parameters, checked against the names an endpoint knows; anything else is a 400
/// (the `Err` message) so a typo is an error rather than a silently different answer.
pub(crate) fn query_params(
    raw: Option<&str>,
    known: &[&str],
) -> Result<Vec<(String, String)>, String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (k, _) in &pairs {
        if !known.contains(&k.as_str()) {
            let shown: String = k.chars().take(64).flat_map(char::escape_default).collect();
            return Err(format!(
                "unknown query parameter \"{shown}\" (known: {})\n",
                known.join(", ")
            ));
        }
    }
    Ok(pairs)
}
