//! The `milvus` check: CheckHealth and GetVersion, asked together over the target's shared
//! gRPC client, and the quota center's metrics page beside them when an address for it is
//! known ([`quota`]). Its facts are what Milvus says about itself and the release it names
//! ([`Release`]); its rules are `milvus` (it answered and calls itself healthy; its reasons
//! made readable by `reasons.rs`) and `quota` (no quota state in
//! `readiness.quota_states_not_ready` is on).
//!
//! Where quota states come from depends on the line: CheckHealth's `quota_states` on 2.3, the
//! coordinator's `milvus_rootcoord_quota_states` from 2.4 on (CheckHealth no longer fills
//! them). A 2.4+ Milvus without an address for that page has quota *unknown*: the rule is
//! excluded and `/health` says why, never "fine".

pub mod quota;
mod reasons;
mod render;

use std::sync::Arc;

use ::milvus::proto::milvus as pb;
use futures::future::{BoxFuture, FutureExt};
use serde::Serialize;
use tokio::time::Instant;

use super::facts::{bool01, CheckRow, Clipped, Facts, Family, MetricsContext, Results, Section};
use super::grpc::{clip, status_ok, MilvusClient};
use super::shared::{ComponentFacts, Release, Shared};
use super::{
    timed, Check, CheckError, ClientError, Deadline, Registration, Rule, RuleInput, Setup,
};
use crate::model::{CheckResult, QuotaState, RuleStatus};
use quota::{QuotaCause, QuotaPage, QuotaSource};

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
        // The quota center's page: named for a cluster, else the metrics port of a
        // standalone (where every role shares one registry).
        let t = setup.target;
        let (key, address) = match (&t.quota_metrics_address, &t.metrics_address) {
            (Some(a), _) => ("milvus.quota_metrics_address", Some(a)),
            (None, Some(a)) => ("milvus.metrics_address", Some(a)),
            (None, None) => ("", None),
        };
        let quota = address
            .map(|a| QuotaPage::new(a, t.quota_metrics_address.is_some()))
            .transpose()
            .map_err(|problem| ClientError {
                key: key.into(),
                problem,
            })?;
        Ok(Some(Box::new(MilvusCheck {
            client: Arc::clone(setup.milvus),
            quota,
        })))
    },
};

/// What Milvus said about itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MilvusFacts {
    /// `None` when GetVersion failed while CheckHealth answered.
    pub version: Option<String>,
    /// The release `version` names (`None` for an untagged build or no version).
    pub release: Option<Release>,
    pub healthy: bool,
    /// CheckHealth's reasons, one readable line each, repeats said once, or why CheckHealth
    /// itself could not be asked.
    pub reasons: Vec<String>,
    /// The active quota states, from whichever source this line has ([`MilvusFacts::quota`]).
    pub quota_states: Vec<QuotaState>,
    pub quota: QuotaFacts,
}

/// Where the quota states came from, and their causes when the metrics page gave them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuotaFacts {
    pub source: QuotaSource,
    /// Active (cause, scope) pairs from the metrics page, sorted.
    pub causes: Vec<QuotaCause>,
    /// Active pairs past [`quota::MAX_CAUSES`].
    pub dropped: usize,
}

struct MilvusCheck {
    client: Arc<MilvusClient>,
    quota: Option<QuotaPage>,
}

impl Check for MilvusCheck {
    fn run(&self, deadline: Deadline) -> BoxFuture<'_, Box<dyn Facts>> {
        async move {
            let r: Box<dyn Facts> =
                Box::new(timed(health(&self.client, self.quota.as_ref(), deadline.at)).await);
            r
        }
        .boxed()
    }

    fn failed(&self, error: &CheckError) -> Option<Box<dyn Facts>> {
        super::failed::<MilvusFacts>(error)
    }
}

/// CheckHealth and GetVersion, asked together with the quota page. Milvus is "up" when
/// either RPC answers.
async fn health(
    client: &MilvusClient,
    quota_page: Option<&QuotaPage>,
    deadline: Instant,
) -> Result<MilvusFacts, CheckError> {
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
    let page = async {
        match quota_page {
            Some(p) => Some(p.read(deadline).await),
            None => None,
        }
    };
    let (version, health, page) = tokio::join!(version, health, page);
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
        (version, Ok(h)) => {
            let version = version.ok();
            let release = version.as_deref().and_then(Release::parse);
            let mut from_health: Vec<QuotaState> = h
                .quota_states
                .iter()
                .filter_map(|s| QuotaState::from_proto(*s))
                .collect();
            from_health.sort();
            from_health.dedup();
            // Milvus Lite has no quota center: what its CheckHealth says is all there is.
            let lite = version
                .as_deref()
                .is_some_and(|v| v.starts_with("milvus_lite"));
            let (quota_states, quota) = quota_truth(
                release,
                lite || !from_health.is_empty(),
                from_health,
                page,
                quota_page,
            );
            Ok(MilvusFacts {
                version,
                release,
                healthy: h.is_healthy,
                reasons: reasons::readable(&h.reasons),
                quota_states,
                quota,
            })
        }
        (Ok(version), Err(h)) => Ok(MilvusFacts {
            release: Release::parse(&version),
            version: Some(version),
            healthy: false,
            reasons: vec![format!("CheckHealth could not be asked: {h}")],
            quota_states: Vec::new(),
            quota: QuotaFacts {
                source: QuotaSource::Unknown("CheckHealth could not be asked".into()),
                ..QuotaFacts::default()
            },
        }),
    }
}

/// The quota states of this refresh and where they came from. On 2.3 CheckHealth says, and
/// the page (when read) adds its causes; from 2.4 (or an untagged build, taken to be recent)
/// only the page can say.
fn quota_truth(
    release: Option<Release>,
    health_says: bool,
    from_health: Vec<QuotaState>,
    page: Option<Result<quota::PageRead, CheckError>>,
    quota_page: Option<&QuotaPage>,
) -> (Vec<QuotaState>, QuotaFacts) {
    // A state CheckHealth names is believed on any line; an empty list means "none" only on
    // 2.3 (and on Milvus Lite, which has no quota center).
    let in_health = release.is_some_and(|r| r.quota_in_check_health()) || health_says;
    let url = quota_page.map_or("", |p| p.url.as_str());
    let mut states = from_health;
    let mut facts = QuotaFacts::default();
    match page {
        Some(Ok(read)) if read.is_quota_center => {
            states.extend(read.states.iter().copied());
            facts.causes = read.causes;
            facts.dropped = read.dropped;
            facts.source = QuotaSource::MetricsPage;
        }
        _ if in_health => facts.source = QuotaSource::CheckHealth,
        Some(Ok(_)) => {
            facts.source = QuotaSource::Unknown(format!(
                "{url} has no milvus_rootcoord_quota_states nor \
                 milvus_rootcoord_force_deny_writing_counter: it is not the metrics port of \
                 rootcoord (2.6: mixcoord); name that one in milvus.quota_metrics_address"
            ))
        }
        // The page of a named quota address must answer; `metrics_address` is borrowed for
        // quota only on a standalone's say-so, so its failing page leaves quota unknown.
        Some(Err(e)) if quota_page.is_some_and(|p| p.explicit) => {
            facts.source = QuotaSource::Failed(e.to_string())
        }
        Some(Err(e)) => facts.source = QuotaSource::Unknown(e.to_string()),
        None => facts.source = QuotaSource::NotConfigured,
    }
    states.sort();
    states.dedup();
    (states, facts)
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
    match &m.quota.source {
        // Unknown is not fine: no verdict, and `/health` says why.
        QuotaSource::NotConfigured | QuotaSource::Unknown(_) => return RuleStatus::Excluded,
        QuotaSource::Failed(e) => {
            return RuleStatus::Fail(format!("Milvus quota state unknown: {e}"))
        }
        QuotaSource::CheckHealth | QuotaSource::MetricsPage => {}
    }
    let blocking: Vec<&str> = m
        .quota_states
        .iter()
        .filter(|q| input.config.quota_states_not_ready.contains(q))
        .map(|q| q.as_str())
        .collect();
    if blocking.is_empty() {
        RuleStatus::Pass
    } else {
        let causes: Vec<String> = m
            .quota
            .causes
            .iter()
            .filter(|c| {
                quota::cause_state(&c.cause)
                    .is_some_and(|s| input.config.quota_states_not_ready.contains(&s))
            })
            .take(crate::limits::MAX_NAMED_IN_REASON)
            .map(|c| match c.scope.as_str() {
                "" => c.cause.clone(),
                scope => format!("{} on {scope}", c.cause),
            })
            .collect();
        let because = if causes.is_empty() {
            String::new()
        } else {
            format!(" ({})", causes.join(", "))
        };
        RuleStatus::Fail(format!(
            "Milvus quota state {} is active{because}",
            blocking.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::limits::MAX_REASONS;

    #[test]
    fn reasons_are_bounded_in_number() {
        let many: Vec<String> = (0..MAX_REASONS + 7).map(|i| format!("r{i}")).collect();
        let kept = reasons::readable(&many);
        assert_eq!(kept.len(), MAX_REASONS + 1);
        assert_eq!(kept[MAX_REASONS], "(and 7 more)");
        assert_eq!(reasons::readable(&many[..2]), vec!["r0", "r1"]);
    }

    fn page(states: &[QuotaState], center: bool) -> Option<Result<quota::PageRead, CheckError>> {
        Some(Ok(quota::PageRead {
            states: states.to_vec(),
            is_quota_center: center,
            ..Default::default()
        }))
    }

    #[test]
    fn quota_comes_from_check_health_on_23_and_from_the_page_from_24() {
        let r23 = Release::parse("v2.3.5");
        let r24 = Release::parse("v2.4.23");
        let deny = [QuotaState::DenyToWrite];
        let (s, q) = quota_truth(r23, true, deny.to_vec(), None, None);
        assert_eq!((s, q.source), (deny.to_vec(), QuotaSource::CheckHealth));
        let (s, q) = quota_truth(r24, false, vec![], None, None);
        assert_eq!((s.len(), q.source), (0, QuotaSource::NotConfigured));
        let (s, q) = quota_truth(r24, false, vec![], page(&deny, true), None);
        assert_eq!((s, q.source), (deny.to_vec(), QuotaSource::MetricsPage));
        let (_, q) = quota_truth(r24, false, vec![], page(&[], false), None);
        assert!(matches!(q.source, QuotaSource::Unknown(_)), "{q:?}");
        // An untagged build is taken to be recent: the page decides.
        let (_, q) = quota_truth(None, false, vec![], None, None);
        assert_eq!(q.source, QuotaSource::NotConfigured);
        // Milvus Lite has no quota center: its CheckHealth is the source.
        let (_, q) = quota_truth(None, true, vec![], None, None);
        assert_eq!(q.source, QuotaSource::CheckHealth);
        let refused = || Some(Err(CheckError::Other("refused".into())));
        let named = QuotaPage::new("http://127.0.0.1:1", true).expect("client");
        let (_, q) = quota_truth(r24, false, vec![], refused(), Some(&named));
        assert_eq!(q.source, QuotaSource::Failed("refused".into()));
        let borrowed = QuotaPage::new("http://127.0.0.1:1", false).expect("client");
        let (_, q) = quota_truth(r24, false, vec![], refused(), Some(&borrowed));
        assert_eq!(q.source, QuotaSource::Unknown("refused".into()));
        // A state CheckHealth names counts on any line.
        let (s, q) = quota_truth(r24, true, deny.to_vec(), None, None);
        assert_eq!((s, q.source), (deny.to_vec(), QuotaSource::CheckHealth));
    }
}
