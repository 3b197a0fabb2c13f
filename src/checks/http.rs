//! RAG dependency checks: the embedding API, the LLM gateway, anything the service behind
//! Milvus needs. An HTTP check asserts status and body; a TCP check only connects.

use std::time::Duration;

use super::components::error_chain;
use super::CheckError;
use crate::config::{BodyMatch, DependencyConfig, DependencyKind, HttpDependency};
use crate::limits::{self, BodyError, MAX_DEPENDENCY_BODY, MAX_REDIRECTS};
use crate::snapshot::{CheckResult, DependencyResult};

pub struct DependencyChecker {
    config: DependencyConfig,
    client: Option<reqwest::Client>,
}

impl DependencyChecker {
    pub fn new(config: DependencyConfig) -> Result<Self, String> {
        let client = match &config.kind {
            DependencyKind::Http(h) => Some(http_client(h).map_err(|e| {
                format!(
                    "dependencies.{}: cannot build an HTTP client: {e}",
                    config.name
                )
            })?),
            DependencyKind::Tcp { .. } => None,
        };
        Ok(DependencyChecker { config, client })
    }

    pub async fn check(&self, budget: Duration) -> DependencyResult {
        let budget = budget.min(self.config.timeout);
        let started = std::time::Instant::now();
        let (kind, target, outcome) = match (&self.config.kind, &self.client) {
            (DependencyKind::Http(h), Some(client)) => (
                "http",
                shown_url(&h.url),
                http(client, h, budget).await.map(Some),
            ),
            (DependencyKind::Tcp { address }, _) => (
                "tcp",
                address.clone(),
                tcp(address, budget).await.map(|_| None),
            ),
            (DependencyKind::Http(h), None) => (
                "http",
                shown_url(&h.url),
                Err(CheckError::Other("no HTTP client".into())),
            ),
        };
        DependencyResult {
            name: self.config.name.clone(),
            kind,
            required: self.config.required,
            target,
            result: CheckResult {
                duration: started.elapsed(),
                outcome,
            },
        }
    }
}

/// Why a redirect was not followed.
#[derive(Debug, thiserror::Error)]
enum RedirectRefused {
    #[error("redirect to another origin refused: {0}")]
    OtherOrigin(String),
    #[error("more than {0} redirects")]
    TooMany(usize),
}

/// Redirects are followed only within the configured URL's origin (scheme, host and port),
/// at most [`MAX_REDIRECTS`] of them. The configured headers are often credentials, and
/// reqwest strips only `Authorization`, `Cookie` and their kin on a cross-host redirect: an
/// `X-Api-Key` would follow a 302 anywhere. A same-origin redirect (`/health` → `/health/`)
/// is common and harmless, so it is followed rather than refused.
fn same_origin_redirects(configured: &url::Url) -> reqwest::redirect::Policy {
    let origin = configured.origin();
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(RedirectRefused::TooMany(MAX_REDIRECTS))
        } else if attempt.url().origin() != origin {
            let to = attempt.url().origin().ascii_serialization();
            attempt.error(RedirectRefused::OtherOrigin(to))
        } else {
            attempt.follow()
        }
    })
}

fn http_client(h: &HttpDependency) -> Result<reqwest::Client, reqwest::Error> {
    let mut b = reqwest::Client::builder().redirect(same_origin_redirects(&h.url));
    if let Some(pem) = &h.ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)? {
            b = b.add_root_certificate(cert);
        }
    }
    if h.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &h.headers {
        if let (Ok(name), Ok(mut value)) = (
            k.parse::<reqwest::header::HeaderName>(),
            v.expose().parse::<reqwest::header::HeaderValue>(),
        ) {
            value.set_sensitive(true);
            headers.insert(name, value);
        }
    }
    b.default_headers(headers).build()
}

/// The URL as shown in answers and logs: no query string (tokens hide there) and no fragment.
fn shown_url(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

async fn http(
    client: &reqwest::Client,
    h: &HttpDependency,
    budget: Duration,
) -> Result<u16, CheckError> {
    const RPC: &str = "HTTP";
    let method = reqwest::Method::from_bytes(h.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let shown = shown_url(&h.url);
    let map = |e: reqwest::Error| {
        if e.is_timeout() {
            CheckError::Timeout {
                rpc: RPC,
                after: budget,
            }
        } else {
            // The error text can carry the full URL; say where with the query-free form.
            CheckError::Unreachable {
                rpc: RPC,
                address: shown.clone(),
                message: error_chain(&e.without_url()),
            }
        }
    };
    let deadline = tokio::time::Instant::now() + budget;
    let work = async {
        let mut resp = client
            .request(method, h.url.clone())
            .send()
            .await
            .map_err(map)?;
        let status = resp.status().as_u16();
        // Without expect_body the body is not read at all: the connection is dropped.
        let body = match h.expect_body {
            None => Vec::new(),
            Some(_) => limits::read_body(&mut resp, MAX_DEPENDENCY_BODY, deadline)
                .await
                .map_err(|e| match e {
                    BodyError::Timeout => CheckError::Timeout {
                        rpc: RPC,
                        after: budget,
                    },
                    BodyError::Read(e) => map(e),
                    too_large @ BodyError::TooLarge { .. } => CheckError::Malformed {
                        rpc: RPC,
                        message: format!("{shown} {too_large}"),
                    },
                })?,
        };
        Ok::<_, CheckError>((status, body))
    };
    let (status, body) = tokio::time::timeout_at(deadline, work)
        .await
        .map_err(|_| CheckError::Timeout {
            rpc: RPC,
            after: budget,
        })??;
    let status_ok = if h.expect_status.is_empty() {
        (200..300).contains(&status)
    } else {
        h.expect_status.contains(&status)
    };
    if !status_ok {
        return Err(CheckError::Rpc {
            rpc: RPC,
            code: status.to_string(),
            message: format!(
                "{shown} answered {status}, expected {}",
                if h.expect_status.is_empty() {
                    "2xx".to_string()
                } else {
                    format!("{:?}", h.expect_status)
                }
            ),
        });
    }
    if let Some(m) = &h.expect_body {
        let text = String::from_utf8_lossy(&body);
        let (found, what) = match m {
            BodyMatch::Substring(s) => (text.contains(s.as_str()), format!("{s:?}")),
            BodyMatch::Regex(r) => (r.is_match(&text), format!("/{}/", r.as_str())),
        };
        if !found {
            return Err(CheckError::Malformed {
                rpc: RPC,
                message: format!("{shown} body does not contain {what}"),
            });
        }
    }
    Ok(status)
}

async fn tcp(address: &str, budget: Duration) -> Result<(), CheckError> {
    match tokio::time::timeout(budget, tokio::net::TcpStream::connect(address)).await {
        Err(_) => Err(CheckError::Timeout {
            rpc: "TCP connect",
            after: budget,
        }),
        Ok(Err(e)) => Err(CheckError::Unreachable {
            rpc: "TCP connect",
            address: address.to_string(),
            message: e.to_string(),
        }),
        Ok(Ok(_)) => Ok(()),
    }
}
