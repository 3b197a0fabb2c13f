//! The `milvus` check: CheckHealth and GetVersion, asked together over the target's shared
//! gRPC client. Its facts are what Milvus says about itself; its rules are `milvus` (it
//! answered and calls itself healthy) and `quota` (no quota state that blocks reads is on).

use std::sync::Arc;

use ::milvus::proto::milvus as pb;
use futures::future::{BoxFuture, FutureExt};
use serde::Serialize;
use tokio::time::Instant;

use super::facts::{bool01, CheckRow, Clipped, Facts, Family, MetricsContext, Results, Section};
use super::grpc::{clip, status_ok, MilvusClient};
use super::shared::{ComponentFacts, Shared};
use super::{timed, Check, CheckError, Deadline, Registration, Rule, RuleInput, Setup};
use crate::limits::MAX_REASONS;
use crate::model::{CheckResult, QuotaState, RuleStatus};

pub static CHECK: Registration = Registration {
    name: "milvus",
    rules: &[
        Rule {
            name: "milvus",
            rank: 10,
            probe_targets: true,
            eval: milvus_rule,
        },
        Rule {
            name: "quota",
            rank: 30,
            probe_targets: true,
            eval: quota_rule,
        },
    ],
    build: |setup: &Setup<'_>| {
        Ok(Some(Box::new(MilvusCheck {
            client: Arc::clone(setup.milvus),
        })))
    },
};

/// What Milvus said about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct MilvusFacts {
    /// `None` when GetVersion failed while CheckHealth answered.
    pub version: Option<String>,
    pub healthy: bool,
    /// CheckHealth's reasons, or why CheckHealth itself could not be asked.
    pub reasons: Vec<String>,
    pub quota_states: Vec<QuotaState>,
}

struct MilvusCheck {
    client: Arc<MilvusClient>,
}

impl Check for MilvusCheck {
    fn run(&self, deadline: Deadline) -> BoxFuture<'_, Box<dyn Facts>> {
        async move {
            let r: Box<dyn Facts> = Box::new(timed(health(&self.client, deadline.at)).await);
            r
        }
        .boxed()
    }

    fn failed(&self, error: &CheckError) -> Option<Box<dyn Facts>> {
        super::failed::<MilvusFacts>(error)
    }
}

/// CheckHealth and GetVersion, asked together. Milvus is "up" when either answers.
async fn health(client: &MilvusClient, deadline: Instant) -> Result<MilvusFacts, CheckError> {
    let version = client.call(
        "GetVersion",
        deadline,
        None,
        pb::GetVersionRequest {},
        |mut c, r| async move { c.get_version(r).await },
    );
    let health = client.call(
        "CheckHealth",
        deadline,
        None,
        pb::CheckHealthRequest {},
        |mut c, r| async move { c.check_health(r).await },
    );
    let (version, health) = tokio::join!(version, health);
    let version = version.and_then(|v| {
        status_ok("GetVersion", v.status.as_ref())?;
        Ok(clip(&v.version))
    });
    let health = health.and_then(|h| {
        status_ok("CheckHealth", h.status.as_ref())?;
        Ok(h)
    });
    match (version, health) {
        (Err(v), Err(h)) => {
            if matches!(
                h,
                CheckError::Unreachable { .. } | CheckError::Timeout { .. }
            ) {
                client.reset();
            }
            // Prefer CheckHealth's error unless it is the less informative one.
            Err(
                if matches!(h, CheckError::Rpc { ref code, .. } if code == "Unimplemented") {
                    v
                } else {
                    h
                },
            )
        }
        (version, Ok(h)) => Ok(MilvusFacts {
            version: version.ok(),
            healthy: h.is_healthy,
            reasons: bounded_reasons(&h.reasons),
            quota_states: {
                let mut q: Vec<QuotaState> = h
                    .quota_states
                    .iter()
                    .filter_map(|s| QuotaState::from_proto(*s))
                    .collect();
                q.sort();
                q.dedup();
                q
            },
        }),
        (Ok(version), Err(h)) => Ok(MilvusFacts {
            version: Some(version),
            healthy: false,
            reasons: vec![format!("CheckHealth could not be asked: {h}")],
            quota_states: Vec::new(),
        }),
    }
}

/// The first [`MAX_REASONS`] reasons, each one clipped line, and a count of the rest.
fn bounded_reasons(reasons: &[String]) -> Vec<String> {
    let mut out: Vec<String> = reasons.iter().take(MAX_REASONS).map(|r| clip(r)).collect();
    if reasons.len() > MAX_REASONS {
        out.push(format!("(and {} more)", reasons.len() - MAX_REASONS));
    }
    out
}

fn milvus_rule(input: &RuleInput<'_>) -> RuleStatus {
    let Some(result) = input.results.result::<MilvusFacts>() else {
        return RuleStatus::Excluded;
    };
    match &result.outcome {
        Err(e) => RuleStatus::Fail(format!("Milvus at {} did not answer: {e}", input.address)),
        Ok(m) if !m.healthy => RuleStatus::Fail(if m.reasons.is_empty() {
            "Milvus reports itself unhealthy (no reason given)".to_string()
        } else {
            format!("Milvus reports itself unhealthy: {}", m.reasons.join("; "))
        }),
        Ok(_) => RuleStatus::Pass,
    }
}

fn quota_rule(input: &RuleInput<'_>) -> RuleStatus {
    let Some(m) = input.results.facts::<MilvusFacts>() else {
        // Nothing is known; the milvus rule already says why.
        return RuleStatus::Pass;
    };
    let blocking: Vec<&str> = m
        .quota_states
        .iter()
        .filter(|q| input.config.quota_states_not_ready.contains(q))
        .map(|q| q.as_str())
        .collect();
    if blocking.is_empty() {
        RuleStatus::Pass
    } else {
        RuleStatus::Fail(format!(
            "Milvus quota state {} is active",
            blocking.join(", ")
        ))
    }
}

/// `dependencies.milvus` in `/readyz` and `/health`.
#[derive(Serialize)]
struct MilvusDep<'a> {
    status: &'static str,
    address: &'a str,
    /// How many collections the `collections` check saw (0 when it failed).
    collections_count: usize,
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    quota_states: Vec<&'static str>,
    /// Per-component states, when `milvus.metrics_address` is set (the `components` check).
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<&'a [ComponentFacts]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Facts for CheckResult<MilvusFacts> {
    fn checks(&self) -> Vec<CheckRow> {
        vec![CheckRow::of("milvus", self)]
    }

    fn headline(&self, f: &mut Family<'_, '_>, m: &MetricsContext<'_>) -> std::fmt::Result {
        let cached = m.cached;
        f.gauge1(
            "milvus_up",
            &format!("1 when the last refresh reached Milvus and it answered.{cached}"),
            Some(bool01(self.outcome.is_ok())),
        )?;
        f.gauge1(
            "milvus_healthy",
            &format!("1 when Milvus's CheckHealth says it is healthy.{cached}"),
            Some(bool01(self.ok().is_some_and(|m| m.healthy))),
        )
    }

    fn families(&self, f: &mut Family<'_, '_>, m: &MetricsContext<'_>) -> std::fmt::Result {
        let cached = m.cached;
        let Some(facts) = self.ok() else {
            return Ok(());
        };
        f.gauge(
            "milvus_server_info",
            &format!("Milvus server version, always 1.{cached}"),
            facts
                .version
                .iter()
                .map(|v| ([("version", Clipped(v))], 1.0)),
        )?;
        f.gauge(
            "milvus_quota_state",
            &format!("1 for each quota state CheckHealth reports as active.{cached}"),
            facts
                .quota_states
                .iter()
                .map(|q| ([("state", q.as_str())], 1.0)),
        )
    }

    fn sections(&self, all: &Results, address: &str) -> Vec<Section> {
        let shared = all.shared();
        let collections_count = shared.collections.map_or(0, |c| c.count());
        let components = shared.components;
        let dep = match &self.outcome {
            Ok(m) => MilvusDep {
                status: if m.healthy { "healthy" } else { "unhealthy" },
                address,
                collections_count,
                version: m.version.as_deref(),
                quota_states: m.quota_states.iter().map(|q| q.as_str()).collect(),
                components,
                error: (!m.healthy).then(|| {
                    if m.reasons.is_empty() {
                        "CheckHealth: not healthy".to_string()
                    } else {
                        m.reasons.join("; ")
                    }
                }),
            },
            Err(e) => MilvusDep {
                status: "unhealthy",
                address,
                collections_count,
                version: None,
                quota_states: Vec::new(),
                components,
                error: Some(e.to_string()),
            },
        };
        vec![Section::dependency("milvus", &dep)]
    }

    /// The `nodes` rule leaves a Milvus that did not answer to the `milvus` rule.
    fn share<'a>(&'a self, shared: &mut Shared<'a>) {
        shared.milvus_answered = self.outcome.is_ok();
    }

    fn panels(&self, all: &Results, _limit: usize) -> Vec<crate::checks::Panel> {
        use crate::checks::{Cell, Panel};
        let mut panel = Panel {
            id: "milvus",
            title: "Milvus",
            columns: &["Fact", "Value"],
            ..Panel::default()
        };
        let row = |k: &str, v: Cell| vec![Cell::plain(k), v];
        match &self.outcome {
            Err(e) => panel
                .rows
                .push(row("answer", Cell::judged(e.to_string(), false))),
            Ok(m) => {
                panel
                    .rows
                    .push(row("version", Cell::maybe(m.version.clone())));
                panel.rows.push(row(
                    "health",
                    Cell::judged(if m.healthy { "healthy" } else { "unhealthy" }, m.healthy),
                ));
                for r in &m.reasons {
                    panel
                        .rows
                        .push(row("reason", Cell::judged(r.clone(), false)));
                }
                if !m.quota_states.is_empty() {
                    let q: Vec<&str> = m.quota_states.iter().map(|q| q.as_str()).collect();
                    panel.rows.push(row(
                        "quota",
                        Cell::tone(q.join(", "), crate::checks::Tone::Warn),
                    ));
                }
            }
        }
        if let Some(components) = all.shared().components {
            for c in components {
                let state = match &c.reason {
                    Some(why) => format!("{} ({why})", c.state),
                    None => c.state.clone(),
                };
                panel.rows.push(row(
                    &format!("component {} {}", c.role, c.node_id),
                    Cell::judged(state, c.is_ok()),
                ));
            }
        }
        vec![panel]
    }

    fn table(&self, out: &mut String) {
        use std::fmt::Write as _;
        let Some(m) = self.ok() else { return };
        let _ = writeln!(
            out,
            "\n  version {}  healthy {}{}",
            m.version.as_deref().unwrap_or("unknown"),
            m.healthy,
            if m.quota_states.is_empty() {
                String::new()
            } else {
                format!(
                    "  quota {}",
                    m.quota_states
                        .iter()
                        .map(|q| q.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_bounded_in_number() {
        let many: Vec<String> = (0..MAX_REASONS + 7).map(|i| format!("r{i}")).collect();
        let kept = bounded_reasons(&many);
        assert_eq!(kept.len(), MAX_REASONS + 1);
        assert_eq!(kept[MAX_REASONS], "(and 7 more)");
        assert_eq!(bounded_reasons(&many[..2]), vec!["r0", "r1"]);
    }
}
