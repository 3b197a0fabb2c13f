//! What stands between a request and the router: the rate limit, basic auth, the
//! `max_requests` cap, and the web config's response headers on every answer.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::web_config::Outcome;
use super::{text, WebConfig};

/// The open paths whose answer tells an authenticated client more than the status
/// ([`Disclosure`]): only there is a credential on an open path looked at.
const DISCLOSING: [&str; 3] = ["/readyz", "/health", "/"];

/// How much a health answer may tell. With basic auth configured, a request on a path exempt
/// from it (`/readyz` for the kubelet) that does not carry valid credentials gets
/// [`Disclosure::StatusOnly`]: the status and the failing rules' names, no addresses,
/// collection names, versions, dependency names or error details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    Full,
    StatusOnly,
}

/// [`guard`], then the web config's response headers on whatever it answered.
pub(super) async fn handle(
    req: Request<hyper::body::Incoming>,
    app: Router,
    web: &WebConfig,
    requests: Option<&Arc<Semaphore>>,
) -> Response {
    let mut resp = guard(req, app, web, requests).await;
    for (name, value) in &web.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

/// The rate limit (first, as in the toolkit, so a flood is turned away before it costs a
/// bcrypt; `/healthz` and `/readyz` are exempt), basic auth (when configured and the path is
/// not exempt; a flood of checks that finds every bcrypt worker busy gets 503 with
/// `Retry-After`, see [`super::web_config::BasicAuth`]), the `max_requests` cap on `/metrics` and `/probe`, then the router.
///
/// The permit covers the render, not the write: it is given back as soon as the handler has
/// its answer, before a byte is sent. A `/metrics` body is shared bytes of the snapshot, so a
/// reader that takes minutes to read it costs memory the body budget already bounds, and
/// never a render slot: 40 clients reading at 256 B/s cannot make Prometheus's scrape 503.
async fn guard(
    mut req: Request<hyper::body::Incoming>,
    app: Router,
    web: &WebConfig,
    requests: Option<&Arc<Semaphore>>,
) -> Response {
    if web.rate_limited(req.uri().path()) {
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests (rate_limit in the web config); retry later\n",
        );
    }
    let mut disclosure = Disclosure::Full;
    if let Some(auth) = &web.auth {
        let credentials = req.headers().get(header::AUTHORIZATION);
        let path = req.uri().path();
        if !web.needs_auth(path) {
            // Open to all. Where the answer tells the authenticated more, a credential is
            // looked at without ever waiting behind another; elsewhere (`/healthz`) it is
            // not looked at at all: a stale header costs nothing.
            disclosure = Disclosure::StatusOnly;
            if credentials.is_some()
                && DISCLOSING.contains(&path)
                && auth.check_free(credentials).await == Outcome::Valid
            {
                disclosure = Disclosure::Full;
            }
        } else {
            match auth.check(credentials).await {
                Outcome::Valid => {}
                Outcome::Invalid => {
                    let mut resp = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
                    resp.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        header::HeaderValue::from_static("Basic"),
                    );
                    return resp;
                }
                Outcome::Busy => {
                    let mut resp = text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "every password check is busy (basic_auth_users); retry in a second\n",
                    );
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
                    return resp;
                }
            }
        }
    }
    // The handlers of `/metrics` and `/probe` take the permit themselves, once the snapshot
    // is in hand (super::metrics::RenderPermits), and give it back when they have their
    // answer: neither waiting on a refresh nor writing to a slow reader holds one.
    if let (Some(limit), true) = (requests, matches!(req.uri().path(), "/metrics" | "/probe")) {
        req.extensions_mut()
            .insert(super::metrics::RenderPermits(Arc::clone(limit)));
    }
    req.extensions_mut().insert(disclosure);
    match app.oneshot(req.map(Body::new)).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}
