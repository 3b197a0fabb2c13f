//! `/healthz` (is the exporter alive), `/readyz` (should traffic go to Milvus), `/health`
//! (everything, for people).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;

use super::bodies::Part;
use super::respond::{application_json, text_plain};
use super::{json, query_params, text, AppState, Disclosure};
use crate::cache::View;
use crate::readiness::RuleStatus;
use crate::render::report;

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

/// The names of the failing rules, built-in rules by name and every dependency as
/// `dependencies` (a dependency's name can say what the application talks to).
fn failing_rules(view: &View) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in &view.verdict.rules {
        if !matches!(r.status, RuleStatus::Fail(_)) {
            continue;
        }
        let name = crate::checks::rules()
            .into_iter()
            .map(|rule| rule.name)
            .find(|n| *n == r.name)
            .unwrap_or("dependencies");
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// The answer for a client that has not authenticated: `{"status":"not_ready","failing":
/// ["milvus","collections"]}`. Tiny, so rendered per request rather than memoised.
#[derive(serde::Serialize)]
struct StatusOnly<'a> {
    status: &'static str,
    failing: Vec<&'a str>,
}

fn status_only(view: &View) -> StatusOnly<'static> {
    StatusOnly {
        status: if view.verdict.ready {
            "ready"
        } else {
            "not_ready"
        },
        failing: failing_rules(view),
    }
}

fn disclosure(d: Option<Extension<Disclosure>>) -> Disclosure {
    d.map_or(Disclosure::Full, |Extension(d)| d)
}

pub async fn readyz(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    shown: Option<Extension<Disclosure>>,
) -> Response {
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
    if disclosure(shown) == Disclosure::StatusOnly {
        return json(status, &status_only(&read.view));
    }
    // Both bodies are the view's shared renderings plus this answer's own few bytes,
    // under the process-wide budget for unsent answers.
    let (content_type, chunks) = if verbose {
        let now = std::time::SystemTime::now();
        (
            text_plain(),
            report::verbose_chunks(&read.view, read.cached, age, now),
        )
    } else {
        (application_json(), report::ready_chunks(&read, age))
    };
    state.bodies.answer(
        status,
        content_type,
        chunks.into_iter().map(Part::from).collect(),
    )
}

/// Everything at once, always 200: the status is in the body, for people and dashboards.
/// (Behind basic auth unless the operator exempts it; then the unauthenticated get the status
/// only, as on `/readyz`.)
/// `?history=N`: how many history entries `/health` shows, at most [`report::MAX_HISTORY`].
fn history_length(raw: Option<&str>) -> Result<usize, String> {
    let params = query_params(raw, &["history"])?;
    let mut given = params
        .iter()
        .filter(|(k, _)| k == "history")
        .map(|(_, v)| v);
    let Some(value) = given.next() else {
        return Ok(report::DEFAULT_HISTORY);
    };
    if given.next().is_some() {
        return Err("history is given more than once\n".to_string());
    }
    match value.parse::<usize>() {
        Ok(n) if n <= report::MAX_HISTORY && !value.starts_with('+') => Ok(n),
        _ => {
            let shown: String = value
                .chars()
                .take(32)
                .flat_map(char::escape_default)
                .collect();
            Err(format!(
                "history must be a whole number from 0 to {}, not \"{shown}\"\n",
                report::MAX_HISTORY
            ))
        }
    }
}

pub async fn health(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    shown: Option<Extension<Disclosure>>,
) -> Response {
    let history = match history_length(q.as_deref()) {
        Ok(n) => n,
        Err(msg) => return text(StatusCode::BAD_REQUEST, msg),
    };
    let arrived = Instant::now();
    let caches = state.caches.load();
    let liveness = caches.wedged().is_none();
    let cache = Arc::clone(&caches.main);
    drop(caches);
    let read = cache.read().await;
    if disclosure(shown) == Disclosure::StatusOnly {
        #[derive(serde::Serialize)]
        struct Health {
            liveness: bool,
            #[serde(flatten)]
            status: StatusOnly<'static>,
        }
        let body = Health {
            liveness,
            status: status_only(&read.view),
        };
        return json(StatusCode::OK, &body);
    }
    let age = read.view.snapshot.age(arrived).as_secs_f64();
    let now = std::time::SystemTime::now();
    let chunks = report::health_chunks(&read, age, liveness, history, now);
    state.bodies.answer(
        StatusCode::OK,
        application_json(),
        chunks.into_iter().map(Part::from).collect(),
    )
}
