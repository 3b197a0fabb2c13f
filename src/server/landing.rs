//! `/` and `/?target=NAME`: the status page (its HTML is [`crate::render::page`]).
//!
//! The main target's page never triggers a refresh: the background refresher keeps it warm,
//! and the page shows what the cache has. Another target is refreshed only when `/probe`
//! asks, so its page reads it as `/probe` would (a stale view is refreshed once, shared by
//! everyone asking, and the page waits at most [`TARGET_WAIT`] for it): what it costs Milvus
//! is bounded by the ttl, not by how often the page is opened. The targets list shows each
//! target's newest view as it is, without waiting.
//!
//! Behind basic auth when it is configured. An operator who lists `/` in
//! `unauthenticated_paths` gets, for a client without credentials, the status and the
//! failing rules' names only, as on `/readyz`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::{query_params, text, AppState, Disclosure};
use crate::readiness::RuleStatus;
use crate::render;
use crate::render::page::{Page, TargetLine};

/// The longest the page of a `/probe` target waits for that target's refresh.
pub const TARGET_WAIT: Duration = Duration::from_secs(2);

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    shown: Option<Extension<Disclosure>>,
) -> Response {
    let params = match query_params(q.as_deref(), &["target"]) {
        Ok(p) => p,
        Err(msg) => return text(StatusCode::BAD_REQUEST, msg),
    };
    let mut asked = params.iter().filter(|(k, _)| k == "target").map(|(_, v)| v);
    let name = asked.next().cloned();
    if asked.next().is_some() {
        return text(StatusCode::BAD_REQUEST, "target is given more than once\n");
    }
    let caches = state.caches.load_full();
    let (cache, main) = match &name {
        None => (Arc::clone(&caches.main), true),
        Some(n) => match caches.target(n) {
            Some(c) => (Arc::clone(c), Arc::ptr_eq(c, &caches.main)),
            // Says nothing of which targets exist: a name is not a way to list them.
            None => return text(StatusCode::BAD_REQUEST, "unknown target\n"),
        },
    };
    let view = if main {
        cache.peek()
    } else {
        Some(cache.read_by(Some(TARGET_WAIT)).await.view)
            .filter(|v| v.snapshot.counters.refreshes > 0)
    };
    if shown.is_some_and(|Extension(d)| d == Disclosure::StatusOnly) {
        return html(status_only(view.as_deref()));
    }
    let targets: Vec<TargetLine<'_>> = std::iter::once(&caches.main)
        .chain(caches.targets.values())
        .map(|c| TargetLine {
            name: c.name(),
            view: if Arc::ptr_eq(c, &cache) {
                view.clone()
            } else {
                c.peek()
            },
        })
        .collect();
    html(render::page::html(&Page {
        target: cache.name(),
        view: view.as_deref(),
        main,
        targets,
        now: Instant::now(),
        wall: SystemTime::now(),
    }))
}

/// For a client without credentials on an exempt `/`: the verdict and the failing rules'
/// names (rule names are the exporter's own words, never Milvus's).
fn status_only(view: Option<&crate::cache::View>) -> String {
    let (status, failing) = match view {
        None => ("no data yet".to_string(), String::new()),
        Some(v) => {
            let failing: Vec<&str> = v
                .verdict
                .rules
                .iter()
                .filter(|r| matches!(r.status, RuleStatus::Fail(_)))
                .map(|r| {
                    if crate::checks::rules().iter().any(|b| b.name == r.name) {
                        r.name.as_str()
                    } else {
                        "dependencies"
                    }
                })
                .collect();
            let word = if v.verdict.ready {
                "ready"
            } else {
                "not ready"
            };
            (word.to_string(), render::inert::html(&failing.join(", ")))
        }
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Milvus Exporter</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head><body>\
         <h1>Milvus Exporter</h1><p id=\"status\">{status}</p><p id=\"failing\">{failing}</p>\
         <p>Sign in (basic auth) for the details.</p></body></html>\n"
    )
}
