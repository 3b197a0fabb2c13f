//! The routes: each path to its handler, `POST /-/reload`, and the answers for unknown paths
//! and methods.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::{health, landing, metrics, text, AppState};

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(landing::page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .route("/probe", get(metrics::probe))
        .route("/-/reload", post(reload))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// `POST /-/reload`: re-read the configuration; 200 with a summary, or 500 with the reason
/// (the running configuration stays). Without `--web.enable-lifecycle`, 403 and nothing done.
async fn reload(State(state): State<Arc<AppState>>) -> Response {
    if state.reloader.get().is_some() && !state.lifecycle_enabled() {
        return text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n");
    }
    match state.reload().await {
        None => text(
            StatusCode::NOT_FOUND,
            "reload is not available in this process\n",
        ),
        Some(Ok(summary)) => text(StatusCode::OK, format!("{summary}\n")),
        Some(Err(why)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload failed, running configuration kept: {why}\n"),
        ),
    }
}

async fn not_found() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "not found; endpoints: / /metrics /probe /healthz /readyz /health (POST /-/reload)\n",
    )
}

async fn method_not_allowed() -> Response {
    text(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed; use GET (POST for /-/reload)\n",
    )
}
