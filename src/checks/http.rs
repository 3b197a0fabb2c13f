//! RAG dependency checks: the embedding API, the LLM gateway, anything the service behind
//! Milvus needs. An HTTP check sends its request (a POST may carry a configured body, which
//! is never shown) and asserts status and body; a TCP check only connects.
//!
//! The check runs when `[[dependencies]]` lists any. It has no built-in rule: each dependency
//! is a rule of its own name (failing only when `required`), evaluated after the built-in
//! rules, and a key of its own in `/readyz`'s `dependencies`.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use serde::Serialize;

use super::facts::{bool01, round, Facts, Family, MetricsContext, Results, Section};
use super::http_client::{client_for, shown_url};
use super::{error_chain, Check, CheckError, ClientError, Deadline, Registration, Setup};
use crate::config::{BodyMatch, DependencyConfig, DependencyKind, HttpDependency, ReadinessConfig};
use crate::limits::{self, BodyError, MAX_DEPENDENCY_BODY};
use crate::model::{CheckResult, RuleStatus};

pub static CHECK: Registration = Registration {
    name: "dependencies",
    rules: &[],
    build: |setup: &Setup<'_>| {
        if setup.dependencies().is_empty() {
            return Ok(None);
        }
        let mut checkers = Vec::new();
        for d in setup.dependencies() {
            let name = d.name.clone();
            checkers.push(
                DependencyChecker::new(d.clone()).map_err(|problem| ClientError {
                    key: format!("dependencies.{name}"),
                    problem,
                })?,
            );
        }
        Ok(Some(Box::new(Dependencies(checkers))))
    },
};

/// One RAG dependency (embedding API, LLM gateway, …) and whether it answered as expected.
#[derive(Clone, Debug)]
pub struct DependencyResult {
    pub name: String,
    pub kind: &'static str,
    pub required: bool,
    /// Where it was checked, without query string or credentials.
    pub target: String,
    pub result: CheckResult<Option<u16>>,
}

/// Every dependency's result of one refresh, in configuration order.
#[derive(Clone, Debug, Default)]
pub struct DependencyResults(pub Vec<DependencyResult>);

struct Dependencies(Vec<DependencyChecker>);

impl Check for Dependencies {
    fn run(&self, deadline: Deadline) -> BoxFuture<'_, Box<dyn Facts>> {
        async move {
            let results =
                futures::future::join_all(self.0.iter().map(|d| d.check(deadline.budget))).await;
            let r: Box<dyn Facts> = Box::new(DependencyResults(results));
            r
        }
        .boxed()
    }

    /// A refresh that failed as a whole checked no dependency.
    fn failed(&self, _error: &CheckError) -> Option<Box<dyn Facts>> {
        None
    }
}

/// One key of `dependencies` in `/readyz` and `/health`.
#[derive(Serialize)]
struct DependencyEntry<'a> {
    status: &'static str,
    kind: &'static str,
    target: &'a str,
    required: bool,
    duration_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Facts for DependencyResults {
    fn panels(&self, _all: &Results, limit: usize) -> Vec<crate::checks::Panel> {
        use crate::checks::{Cell, Panel};
        if self.0.is_empty() {
            return Vec::new();
        }
        let rows = self.0.iter().take(limit).map(|d| {
            let result = match (&d.result.outcome, d.result.ok()) {
                (Err(e), _) => Cell::judged(e.to_string(), !d.required),
                (Ok(_), Some(Some(code))) => Cell::judged(format!("ok (HTTP {code})"), true),
                (Ok(_), _) => Cell::judged("ok", true),
            };
            vec![
                Cell::plain(d.name.clone()),
                Cell::plain(d.kind),
                Cell::plain(d.target.clone()),
                Cell::plain(if d.required { "yes" } else { "no" }),
                Cell::millis(d.result.duration),
                result,
            ]
        });
        vec![Panel {
            id: "dependencies",
            title: "Dependencies",
            columns: &["Name", "Kind", "Target", "Required", "Latency", "Result"],
            rows: rows.collect(),
            more: self.0.len().saturating_sub(limit),
            note: None,
        }]
    }

    /// One rule per dependency, named after it; one that is not `required` never fails.
    fn named_rules(&self, _config: &ReadinessConfig) -> Vec<(String, RuleStatus)> {
        self.0
            .iter()
            .map(|d| {
                let status = if !d.required {
                    RuleStatus::Excluded
                } else {
                    match &d.result.outcome {
                        Ok(_) => RuleStatus::Pass,
                        Err(e) => RuleStatus::Fail(format!(
                            "dependency {} ({} {}) failed: {e}",
                            d.name, d.kind, d.target
                        )),
                    }
                };
                (d.name.clone(), status)
            })
            .collect()
    }

    fn families(&self, f: &mut Family<'_, '_>, m: &MetricsContext<'_>) -> std::fmt::Result {
        let cached = m.cached;
        f.gauge(
            "milvus_dependency_up",
            &format!("1 when the RAG dependency answered as expected.{cached}"),
            self.0.iter().map(|d| {
                (
                    [("dependency", d.name.as_str())],
                    bool01(d.result.outcome.is_ok()),
                )
            }),
        )?;
        f.gauge(
            "milvus_dependency_duration_seconds",
            &format!("How long the dependency check took.{cached}"),
            self.0.iter().map(|d| {
                (
                    [("dependency", d.name.as_str())],
                    d.result.duration.as_secs_f64(),
                )
            }),
        )
    }

    /// One key per dependency beside `milvus` and `collections`, sorted by name.
    fn sections(&self, _all: &Results, _address: &str) -> Vec<Section> {
        let sorted: BTreeMap<&str, DependencyEntry<'_>> = self
            .0
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    DependencyEntry {
                        status: if d.result.outcome.is_ok() {
                            "healthy"
                        } else {
                            "unhealthy"
                        },
                        kind: d.kind,
                        target: &d.target,
                        required: d.required,
                        duration_seconds: round(d.result.duration.as_secs_f64(), 6),
                        http_status: d.result.ok().copied().flatten(),
                        error: d.result.error().map(|e| e.to_string()),
                    },
                )
            })
            .collect();
        sorted
            .into_iter()
            .map(|(name, entry)| Section::dependency(name, &entry))
            .collect()
    }
}

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

fn http_client(h: &HttpDependency) -> Result<reqwest::Client, reqwest::Error> {
    client_for(
        &h.url,
        &h.headers,
        h.ca_pem.as_deref(),
        h.insecure_skip_verify,
    )
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
        let mut request = client.request(method, h.url.clone());
        if let Some(body) = &h.body {
            if let Some(ct) = &body.content_type {
                request = request.header(reqwest::header::CONTENT_TYPE, ct.as_str());
            }
            request = request.body(body.bytes.clone());
        }
        let mut resp = request.send().await.map_err(map)?;
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
        return Err(CheckError::Http {
            rpc: RPC,
            status,
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
