//! Milvus's per-component health from its metrics port (`GET :9091/healthz` asking for JSON).
//! In cluster mode a coordinator or query node can be down while the proxy still answers gRPC;
//! only this endpoint says so. The check runs only when `milvus.metrics_address` is set; its
//! rule is `components` (every component Healthy or StandBy), and its facts are also shown in
//! `dependencies.milvus.components`, which the `milvus` check reads from the shared facts
//! (the list's type, [`ComponentFacts`], is in `checks::shared` for that reason).

use std::collections::HashSet;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use serde_json::Value;

use super::facts::{CheckRow, Clipped, Facts, Family, MetricsContext};
use super::shared::{ComponentFacts, Shared};
use super::{
    error_chain, timed, Check, CheckError, ClientError, Deadline, Registration, Rule, RuleInput,
    Setup,
};
use crate::limits::{self, BodyError, MAX_COMPONENTS, MAX_COMPONENTS_BODY};
use crate::model::{CheckResult, RuleStatus};

pub static CHECK: Registration = Registration {
    name: "components",
    rules: &[Rule {
        name: "components",
        rank: 20,
        probe_targets: true,
        eval: components_rule,
    }],
    build: |setup: &Setup<'_>| {
        let Some(addr) = &setup.target.metrics_address else {
            return Ok(None);
        };
        let client = ComponentsClient::new(addr).map_err(|problem| ClientError {
            key: "milvus.metrics_address".into(),
            problem,
        })?;
        Ok(Some(Box::new(client)))
    },
};

impl Check for ComponentsClient {
    fn run(&self, deadline: Deadline) -> BoxFuture<'_, Box<dyn Facts>> {
        async move {
            let r: Box<dyn Facts> = Box::new(timed(self.check(deadline.budget)).await);
            r
        }
        .boxed()
    }

    fn failed(&self, error: &CheckError) -> Option<Box<dyn Facts>> {
        super::failed::<Vec<ComponentFacts>>(error)
    }
}

fn components_rule(input: &RuleInput<'_>) -> RuleStatus {
    match input
        .results
        .result::<Vec<ComponentFacts>>()
        .map(|c| &c.outcome)
    {
        None => RuleStatus::Excluded,
        Some(Err(e)) => RuleStatus::Fail(format!("Milvus component health unknown: {e}")),
        Some(Ok(list)) => {
            // The first few are named; a cluster with a thousand bad nodes gets a count, not
            // a page.
            let unhealthy = list.iter().filter(|c| !c.is_ok()).count();
            let mut bad: Vec<String> = list
                .iter()
                .filter(|c| !c.is_ok())
                .take(crate::limits::MAX_NAMED_IN_REASON)
                .map(|c| {
                    let node = if c.node_id.is_empty() {
                        String::new()
                    } else {
                        format!(" (node {})", c.node_id)
                    };
                    let reason = c
                        .reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default();
                    format!("component {}{node} is {}{reason}", c.role, c.state)
                })
                .collect();
            if unhealthy > bad.len() {
                bad.push(format!("(and {} more)", unhealthy - bad.len()));
            }
            if bad.is_empty() {
                RuleStatus::Pass
            } else {
                RuleStatus::Fail(bad.join("; "))
            }
        }
    }
}

/// The list itself appears in `dependencies.milvus.components`, written by the `milvus`
/// check, which reads it from the shared facts.
impl Facts for CheckResult<Vec<ComponentFacts>> {
    fn checks(&self) -> Vec<CheckRow> {
        vec![CheckRow::of("components", self)]
    }

    fn share<'a>(&'a self, shared: &mut Shared<'a>) {
        shared.components = self.ok().map(|c| c.as_slice());
    }

    fn families(&self, f: &mut Family<'_, '_>, m: &MetricsContext<'_>) -> std::fmt::Result {
        let cached = m.cached;
        let Some(list) = self.ok() else { return Ok(()) };
        f.gauge(
            "milvus_component_state",
            &format!("1 for each Milvus component's current state, from its metrics port's /healthz.{cached}"),
            list.iter().map(|c| {
                (
                    [
                        ("role", Clipped(&c.role)),
                        ("node_id", Clipped(&c.node_id)),
                        ("state", Clipped(&c.state)),
                    ],
                    1.0,
                )
            }),
        )
    }
}

pub struct ComponentsClient {
    url: String,
    client: reqwest::Client,
}

impl ComponentsClient {
    pub fn new(metrics_address: &str) -> Result<Self, String> {
        // No redirects: the metrics port answers itself, and nothing is sent anywhere else.
        let client = super::http_client::system_trust(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(ComponentsClient {
            url: format!("{}/healthz", metrics_address.trim_end_matches('/')),
            client,
        })
    }

    pub async fn check(&self, budget: Duration) -> Result<Vec<ComponentFacts>, CheckError> {
        const RPC: &str = "GET /healthz";
        let deadline = tokio::time::Instant::now() + budget;
        let send = self
            .client
            .get(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(budget)
            .send();
        let mut resp = tokio::time::timeout_at(deadline, send)
            .await
            .map_err(|_| CheckError::Timeout {
                rpc: RPC,
                after: budget,
            })?
            .map_err(|e| http_error(RPC, &self.url, budget, &e))?;
        let status = resp.status();
        let body = limits::read_body(&mut resp, MAX_COMPONENTS_BODY, deadline)
            .await
            .map_err(|e| match e {
                BodyError::Timeout => CheckError::Timeout {
                    rpc: RPC,
                    after: budget,
                },
                BodyError::Read(e) => http_error(RPC, &self.url, budget, &e),
                too_large @ BodyError::TooLarge { .. } => CheckError::Malformed {
                    rpc: RPC,
                    message: too_large.to_string(),
                },
            })?;
        let components = parse(&body);
        // Milvus answers 500 whenever a component is not healthy, with the detail in the
        // body: the list is the answer then, and the rule names the bad ones. Only a failure
        // without a readable list is the check's error.
        if let (Ok(list), true) = (&components, status.is_server_error()) {
            if list.iter().any(|c| !c.is_ok()) {
                return components;
            }
        }
        if !status.is_success() {
            let detail = match &components {
                Ok(c) => c
                    .iter()
                    .filter(|c| !c.is_ok())
                    .map(|c| format!("{} {}", c.role, c.state))
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(_) => limits::one_line(&String::from_utf8_lossy(&body)),
            };
            return Err(CheckError::Http {
                rpc: RPC,
                status: status.as_u16(),
                message: if detail.is_empty() {
                    format!("{} answered {status}", self.url)
                } else {
                    detail
                },
            });
        }
        components
    }
}

fn http_error(rpc: &'static str, url: &str, budget: Duration, e: &reqwest::Error) -> CheckError {
    if e.is_timeout() {
        CheckError::Timeout { rpc, after: budget }
    } else {
        CheckError::Unreachable {
            rpc,
            address: url.to_string(),
            message: error_chain(e),
        }
    }
}

/// Reads `{"state": …, "detail": [{"name"|"role", "node_id"|"nodeID", "code"|"state", "reason"}]}`
/// leniently: Milvus versions differ in field names, and a plain `OK` body means "no detail".
/// A body that is not UTF-8 is no Milvus's. At most [`MAX_COMPONENTS`] components are kept,
/// the unhealthy ones first, in the server's order; their texts are clipped (labels to
/// [`limits::MAX_LABEL_BYTES`], the reason to one line), and repeats are dropped so no two
/// series are the same.
fn parse(body: &[u8]) -> Result<Vec<ComponentFacts>, CheckError> {
    let text = std::str::from_utf8(body).map_err(|e| CheckError::Malformed {
        rpc: "GET /healthz",
        message: format!(
            "body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ),
    })?;
    let trimmed = text.trim();
    if !trimmed.starts_with('{') {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_str(trimmed).map_err(|e| CheckError::Malformed {
        rpc: "GET /healthz",
        message: format!("not JSON: {e}"),
    })?;
    let Some(detail) = v.get("detail").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut seen = HashSet::new();
    let mut all: Vec<(usize, ComponentFacts)> = detail
        .iter()
        .filter_map(component)
        .filter(|c| seen.insert((c.role.clone(), c.node_id.clone(), c.state.clone())))
        .enumerate()
        .collect();
    if all.len() > MAX_COMPONENTS {
        all.sort_by_key(|(i, c)| (c.is_ok(), *i));
        all.truncate(MAX_COMPONENTS);
        all.sort_by_key(|(i, _)| *i);
    }
    Ok(all.into_iter().map(|(_, c)| c).collect())
}

fn component(v: &Value) -> Option<ComponentFacts> {
    let text = |keys: &[&str]| {
        keys.iter().find_map(|k| match v.get(*k) {
            Some(Value::String(s)) => Some(s.as_str().into()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    let label = |s: String| limits::clip_label(&s).into_owned();
    let role = label(text(&["role", "name", "Role", "Name"])?);
    let node_id = label(text(&["node_id", "nodeID", "NodeID", "node"]).unwrap_or_default());
    let state = match v.get("code").or_else(|| v.get("state_code")) {
        Some(Value::Number(n)) => state_name(n.as_i64().unwrap_or(-1)),
        _ => label(text(&["state", "State", "code"]).unwrap_or_else(|| "Unknown".into())),
    };
    let reason = text(&["reason", "Reason"])
        .filter(|r| !r.is_empty())
        .map(|r| limits::one_line(&r));
    Some(ComponentFacts {
        role,
        node_id,
        state,
        reason,
    })
}

/// `commonpb.StateCode`.
fn state_name(code: i64) -> String {
    match code {
        0 => "Initializing",
        1 => "Healthy",
        2 => "Abnormal",
        3 => "StandBy",
        4 => "Stopping",
        _ => "Unknown",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_is_read_with_numeric_or_named_states() {
        let body = br#"{"state":"OK","detail":[{"name":"querynode","code":1},{"role":"datacoord","node_id":7,"state":"Abnormal","reason":"lost"}]}"#;
        let c = parse(body).expect("parses");
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].role.as_str(), c[0].state.as_str()),
            ("querynode", "Healthy")
        );
        assert_eq!(c[1].node_id, "7");
        assert!(!c[1].is_ok());
        assert_eq!(c[1].reason.as_deref(), Some("lost"));
        assert!(parse(b"OK").expect("plain").is_empty());
        assert!(parse(b"{not json").is_err());
        let err = parse(b"{\"detail\":[{\"role\":\"\xff\"}]}").unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn components_are_bounded_unhealthy_first_and_clipped() {
        let mut detail: Vec<String> = (0..MAX_COMPONENTS + 50)
            .map(|i| format!(r#"{{"role":"querynode","node_id":{i},"code":1}}"#))
            .collect();
        let long = "x".repeat(5000);
        detail.push(format!(r#"{{"role":"{long}","code":2,"reason":"{long}"}}"#));
        detail.push(detail[0].clone());
        let body = format!(r#"{{"detail":[{}]}}"#, detail.join(","));
        let c = parse(body.as_bytes()).expect("parses");
        assert_eq!(c.len(), MAX_COMPONENTS);
        let bad = c
            .iter()
            .find(|c| !c.is_ok())
            .expect("the abnormal one is kept");
        assert!(bad.role.len() <= limits::MAX_LABEL_BYTES + 3 && bad.role.ends_with('…'));
        assert!(bad
            .reason
            .as_ref()
            .is_some_and(|r| r.chars().count() <= 301));
        assert_eq!(c[0].node_id, "0", "server order is kept");
    }
}
