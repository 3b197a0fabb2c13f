//! What stands between a request and the router: the rate limit, basic auth, the
//! `max_requests` cap, and the web config's response headers on every answer.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use super::{text, WebConfig};

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
) -> (Response, Option<OwnedSemaphorePermit>) {
    let (mut resp, permit) = guard(req, app, web, requests).await;
    for (name, value) in &web.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    (resp, permit)
}

/// The rate limit (first, as in the toolkit, so a flood is turned away before it costs a
/// bcrypt; `/healthz` and `/readyz` are exempt), basic auth (when configured and the path is
/// not exempt), the `max_requests` cap on `/metrics` and `/probe`, then the router. The
/// permit, if any, goes with the response body.
async fn guard(
    mut req: Request<hyper::body::Incoming>,
    app: Router,
    web: &WebConfig,
    requests: Option<&Arc<Semaphore>>,
) -> (Response, Option<OwnedSemaphorePermit>) {
    if web.rate_limited(req.uri().path()) {
        return (
            text(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests (rate_limit in the web config); retry later\n",
            ),
            None,
        );
    }
    let mut disclosure = Disclosure::Full;
    if let Some(auth) = &web.auth {
        let credentials = req.headers().get(header::AUTHORIZATION);
        if !web.needs_auth(req.uri().path()) {
            // Open to all, but only the authenticated see the details.
            if credentials.is_none() || !auth.check(credentials).await {
                disclosure = Disclosure::StatusOnly;
            }
        } else if !auth.check(credentials).await {
            let mut resp = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic"),
            );
            return (resp, None);
        }
    }
    // The handlers of `/metrics` and `/probe` take the permit themselves, once the snapshot
    // is in hand (super::metrics::RenderPermits): waiting on a refresh holds none.
    if let (Some(limit), true) = (requests, matches!(req.uri().path(), "/metrics" | "/probe")) {
        req.extensions_mut()
            .insert(super::metrics::RenderPermits(Arc::clone(limit)));
    }
    req.extensions_mut().insert(disclosure);
    match app.oneshot(req.map(Body::new)).await {
        Ok(mut resp) => {
            let permit = resp
                .extensions_mut()
                .remove::<super::metrics::RenderPermit>()
                .and_then(|p| p.take());
            (resp, permit)
        }
        Err(never) => match never {},
    }
}
