//! The `milvus` check's facts as every rendering reads them (its [`Facts`] impl):
//! `dependencies.milvus` with its quota section in `/readyz` and `/health`, the metric families
//! (`milvus_up`, `milvus_healthy`, `milvus_server_info`, `milvus_quota_*`), the release it
//! shares with the other checks, the status page's panels and the check table.

use super::*;

/// `dependencies.milvus.quota`.
#[derive(Serialize)]
struct QuotaSection<'a> {
    /// `ok` (no state), `active`, `unknown` (nothing can say) or `error` (the page failed).
    status: &'static str,
    /// `check_health` (2.3), `metrics` (the quota center's page), or absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
    #[serde(skip_serializing_if = "<[CauseEntry<'_>]>::is_empty")]
    causes: &'a [CauseEntry<'a>],
    #[serde(skip_serializing_if = "is_zero")]
    causes_dropped: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize)]
struct CauseEntry<'a> {
    cause: &'a str,
    scope: &'a str,
    state: Option<&'static str>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn quota_reason(m: &MilvusFacts) -> Option<String> {
    match &m.quota.source {
        QuotaSource::NotConfigured => Some(format!(
            "Milvus {} reports quota states only on the metrics port of rootcoord (2.6: \
             mixcoord): set milvus.metrics_address (standalone) or \
             milvus.quota_metrics_address (cluster)",
            m.release
                .map_or_else(|| "of this release".to_string(), |r| r.to_string())
        )),
        QuotaSource::Unknown(why) | QuotaSource::Failed(why) => Some(why.clone()),
        QuotaSource::CheckHealth | QuotaSource::MetricsPage => None,
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
    /// The release the version names, `2.4.23` (no `v`), and its line, `2.4`: what the
    /// exporter reads each fact by (docs/compatibility.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    release: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    release_line: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    quota_states: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quota: Option<QuotaSection<'a>>,
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
            &format!(
                "1 for each active quota state: CheckHealth's on Milvus 2.3, the quota \
                 center's milvus_rootcoord_quota_states (every cause denies writes) from 2.4.{cached}"
            ),
            facts
                .quota_states
                .iter()
                .map(|q| ([("state", q.as_str())], 1.0)),
        )?;
        f.gauge1(
            "milvus_quota_known",
            &format!(
                "1 when this refresh knows the quota states (CheckHealth on 2.3, the quota \
                 center's metrics page from 2.4), 0 when nothing can say (2.4+ without \
                 milvus.quota_metrics_address, or the page failed).{cached}"
            ),
            Some(bool01(matches!(
                facts.quota.source,
                QuotaSource::CheckHealth | QuotaSource::MetricsPage
            ))),
        )?;
        f.gauge(
            "milvus_quota_cause",
            &format!(
                "1 for each active cause and scope of the quota center's \
                 milvus_rootcoord_quota_states (Milvus 2.4+; scope cluster, db_<name> or \
                 collection_<name>; empty on 2.3).{cached}"
            ),
            facts.quota.causes.iter().map(|c| {
                (
                    [("cause", Clipped(&c.cause)), ("scope", Clipped(&c.scope))],
                    1i64,
                )
            }),
        )
    }

    fn sections(&self, all: &Results, address: &str) -> Vec<Section> {
        let shared = all.shared();
        let collections_count = shared.collections.map_or(0, |c| c.count());
        let components = shared.components;
        let causes: Vec<CauseEntry<'_>> = self.ok().map_or_else(Vec::new, |m| {
            m.quota
                .causes
                .iter()
                .map(|c| CauseEntry {
                    cause: &c.cause,
                    scope: &c.scope,
                    state: quota::cause_state(&c.cause).map(QuotaState::as_str),
                })
                .collect()
        });
        let dep = match &self.outcome {
            Ok(m) => MilvusDep {
                status: if m.healthy { "healthy" } else { "unhealthy" },
                address,
                collections_count,
                version: m.version.as_deref(),
                release: m.release.map(|r| r.to_string()),
                release_line: m.release.map(|r| r.line()),
                quota_states: m.quota_states.iter().map(|q| q.as_str()).collect(),
                quota: Some(QuotaSection {
                    status: match &m.quota.source {
                        QuotaSource::NotConfigured | QuotaSource::Unknown(_) => "unknown",
                        QuotaSource::Failed(_) => "error",
                        _ if m.quota_states.is_empty() => "ok",
                        _ => "active",
                    },
                    source: match &m.quota.source {
                        QuotaSource::CheckHealth => Some("check_health"),
                        QuotaSource::MetricsPage => Some("metrics"),
                        _ => None,
                    },
                    causes: &causes,
                    causes_dropped: m.quota.dropped,
                    reason: quota_reason(m),
                }),
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
                release: None,
                release_line: None,
                quota_states: Vec::new(),
                quota: None,
                components,
                error: Some(e.to_string()),
            },
        };
        vec![Section::dependency("milvus", &dep)]
    }

    /// The `nodes` rule leaves a Milvus that did not answer to the `milvus` rule.
    fn share<'a>(&'a self, shared: &mut Shared<'a>) {
        shared.milvus_answered = self.outcome.is_ok();
        shared.release = self.ok().and_then(|m| m.release);
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
                let version = match (&m.version, m.release) {
                    (Some(v), Some(r)) => Some(format!("{v} (line {})", r.line())),
                    (v, _) => v.clone(),
                };
                panel.rows.push(row("version", Cell::maybe(version)));
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
                } else {
                    match &m.quota.source {
                        QuotaSource::NotConfigured | QuotaSource::Unknown(_) => panel.rows.push(
                            row("quota", Cell::tone("unknown", crate::checks::Tone::Warn)),
                        ),
                        QuotaSource::Failed(why) => panel
                            .rows
                            .push(row("quota", Cell::judged(format!("error: {why}"), false))),
                        _ => {}
                    }
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
            "\n  version {}{}  healthy {}{}",
            crate::render::inert::terminal(m.version.as_deref().unwrap_or("unknown")),
            m.release
                .map(|r| format!(" (release {r}, line {})", r.line()))
                .unwrap_or_default(),
            m.healthy,
            if m.quota_states.is_empty() {
                match &m.quota.source {
                    QuotaSource::NotConfigured | QuotaSource::Unknown(_) => {
                        "  quota unknown".to_string()
                    }
                    QuotaSource::Failed(_) => "  quota error".to_string(),
                    _ => String::new(),
                }
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
