//! `/`: the status page (its HTML is [`crate::render::page`]). It never triggers a refresh:
//! it shows what the cache has.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::render;

pub async fn page(State(state): State<Arc<AppState>>) -> Response {
    let caches = state.caches.load();
    let main = Arc::clone(&caches.main);
    let targets: Vec<String> = caches.targets.keys().cloned().collect();
    drop(caches);
    // The landing page never triggers a refresh: it shows what the cache has.
    let view = main.peek();
    let html = render::page::html(view.as_deref(), main.name(), &targets);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}
