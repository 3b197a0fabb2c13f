//! Milvus's per-component health from its metrics port (`GET :9091/healthz` asking for JSON).
//! In cluster mode a coordinator or query node can be down while the proxy still answers gRPC;
//! only this endpoint says so.

use std::time::Duration;

use serde_json::Value;

use super::CheckError;
use crate::snapshot::ComponentFacts;

pub struct ComponentsClient {
    url: String,
    client: reqwest::Client,
}

impl ComponentsClient {
    pub fn new(metrics_address: &str) -> Result<Self, String> {
        let client = reqwest::Client::builder()
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
        let send = self
            .client
            .get(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(budget)
            .send();
        let resp = send
            .await
            .map_err(|e| http_error(RPC, &self.url, budget, &e))?;
        let status = resp.status();
        let body = tokio::time::timeout(budget, resp.bytes())
            .await
            .map_err(|_| CheckError::Timeout {
                rpc: RPC,
                after: budget,
            })?
            .map_err(|e| http_error(RPC, &self.url, budget, &e))?;
        let components = parse(&body);
        if !status.is_success() {
            let detail = match &components {
                Ok(c) => c
                    .iter()
                    .filter(|c| !c.is_ok())
                    .map(|c| format!("{} {}", c.role, c.state))
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(_) => String::from_utf8_lossy(&body).chars().take(200).collect(),
            };
            return Err(CheckError::Rpc {
                rpc: RPC,
                code: status.as_u16().to_string(),
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

/// reqwest's top-level message is generic; the cause (refused, reset, DNS) is below it.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Reads `{"state": …, "detail": [{"name"|"role", "node_id"|"nodeID", "code"|"state", "reason"}]}`
/// leniently: Milvus versions differ in field names, and a plain `OK` body means "no detail".
fn parse(body: &[u8]) -> Result<Vec<ComponentFacts>, CheckError> {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if !trimmed.starts_with('{') {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_str(trimmed).map_err(|e| CheckError::Malformed {
        rpc: "GET /healthz",
        message: format!("not JSON: {e}"),
    })?;
    let detail = v
        .get("detail")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(detail.iter().filter_map(component).collect())
}

fn component(v: &Value) -> Option<ComponentFacts> {
    let text = |keys: &[&str]| {
        keys.iter().find_map(|k| match v.get(*k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    let role = text(&["role", "name", "Role", "Name"])?;
    let node_id = text(&["node_id", "nodeID", "NodeID", "node"]).unwrap_or_default();
    let state = match v.get("code").or_else(|| v.get("state_code")) {
        Some(Value::Number(n)) => state_name(n.as_i64().unwrap_or(-1)),
        _ => text(&["state", "State", "code"]).unwrap_or_else(|| "Unknown".into()),
    };
    let reason = text(&["reason", "Reason"]).filter(|r| !r.is_empty());
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
    }
}
