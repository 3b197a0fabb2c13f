//! Readiness as one pure function of a snapshot: the same facts always give the same verdict,
//! so the verdict can be unit-tested rule by rule and shared by every endpoint.

use crate::config::{ReadinessConfig, Rule};
use crate::snapshot::{LoadState, Snapshot};

/// What a rule concluded.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleStatus {
    Pass,
    Fail(String),
    /// Turned off in `readiness.disabled_rules`, or meaningless for this target.
    Excluded,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RuleOutcome {
    /// A built-in rule's name (`milvus`, `probe`, …) or a dependency's name.
    pub name: String,
    pub status: RuleStatus,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub ready: bool,
    pub rules: Vec<RuleOutcome>,
}

impl Verdict {
    /// Every failing rule's reason, in rule order.
    pub fn reasons(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter_map(|r| match &r.status {
                RuleStatus::Fail(reason) => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn reason(&self) -> Option<String> {
        self.reasons().into_iter().next()
    }
}

/// Which rules make sense: the main target shares the exporter's host; a `/probe` target is
/// somewhere else, so the host rules and the main target's required collections do not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Main,
    ProbeTarget,
}

pub fn evaluate(snapshot: &Snapshot, config: &ReadinessConfig, scope: Scope) -> Verdict {
    let builtin = Rule::ALL.into_iter().map(|rule| {
        let applies = match scope {
            Scope::Main => true,
            Scope::ProbeTarget => matches!(rule, Rule::Milvus | Rule::Components | Rule::Quota),
        };
        let status = if !config.enabled(rule.as_str()) || !applies {
            RuleStatus::Excluded
        } else {
            match rule {
                Rule::Milvus => milvus(snapshot),
                Rule::Components => components(snapshot),
                Rule::Quota => quota(snapshot, config),
                Rule::Collections => collections(snapshot, config),
                Rule::Probe => probes(snapshot),
                Rule::Memory => memory(snapshot, config),
                Rule::Disk => disk(snapshot, config),
            }
        };
        RuleOutcome {
            name: rule.as_str().to_string(),
            status,
        }
    });
    let dependencies = snapshot.dependencies.iter().map(|d| {
        let status = if !d.required || !config.enabled(&d.name) {
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
        RuleOutcome {
            name: d.name.clone(),
            status,
        }
    });
    let rules: Vec<RuleOutcome> = builtin.chain(dependencies).collect();
    let ready = rules
        .iter()
        .all(|r| !matches!(r.status, RuleStatus::Fail(_)));
    Verdict { ready, rules }
}

fn components(s: &Snapshot) -> RuleStatus {
    match s.components.as_ref().map(|c| &c.outcome) {
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

fn quota(s: &Snapshot, config: &ReadinessConfig) -> RuleStatus {
    let Some(m) = s.milvus.ok() else {
        // Nothing is known; the milvus rule already says why.
        return RuleStatus::Pass;
    };
    let blocking: Vec<&str> = m
        .quota_states
        .iter()
        .filter(|q| config.quota_states_not_ready.contains(q))
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

fn probes(s: &Snapshot) -> RuleStatus {
    if s.probes.is_empty() {
        return RuleStatus::Excluded;
    }
    let facts = s.collections.ok();
    let problems: Vec<String> = s
        .probes
        .iter()
        .filter(|p| p.required)
        .filter_map(|p| {
            let why = p.failure()?;
            let hint = facts
                .and_then(|f| f.find(&p.db_name, &p.collection))
                .map(|c| match c.load_state {
                    LoadState::Loaded => String::new(),
                    other => format!(" (collection is {})", other.as_str()),
                })
                .unwrap_or_else(|| match facts {
                    Some(_) => " (collection does not exist)".to_string(),
                    None => String::new(),
                });
            Some(format!(
                "probe {} {}.{} failed: {why}{hint}",
                p.kind.as_str(),
                p.db_name,
                p.collection
            ))
        })
        .collect();
    if problems.is_empty() {
        RuleStatus::Pass
    } else {
        RuleStatus::Fail(problems.join("; "))
    }
}

fn milvus(s: &Snapshot) -> RuleStatus {
    match &s.milvus.outcome {
        Err(e) => RuleStatus::Fail(format!("Milvus at {} did not answer: {e}", s.address)),
        Ok(m) if !m.healthy => RuleStatus::Fail(if m.reasons.is_empty() {
            "Milvus reports itself unhealthy (no reason given)".to_string()
        } else {
            format!("Milvus reports itself unhealthy: {}", m.reasons.join("; "))
        }),
        Ok(_) => RuleStatus::Pass,
    }
}

fn collections(s: &Snapshot, config: &ReadinessConfig) -> RuleStatus {
    if config.required_collections.is_empty() {
        return RuleStatus::Pass;
    }
    let facts = match &s.collections.outcome {
        Ok(f) => f,
        Err(e) => {
            return RuleStatus::Fail(format!("cannot list collections: {e}"));
        }
    };
    let mut problems = Vec::new();
    for wanted in &config.required_collections {
        let db_error = facts
            .databases
            .iter()
            .find(|d| d.name == wanted.db_name)
            .and_then(|d| d.collections_count.is_none().then_some(d.error.clone()));
        match (facts.find(&wanted.db_name, &wanted.name), db_error) {
            (_, Some(err)) => problems.push(format!(
                "required collection {wanted}: database {} could not be listed: {}",
                wanted.db_name,
                err.unwrap_or_default()
            )),
            (None, None) => problems.push(format!("required collection {wanted} does not exist")),
            (Some(c), None) => match c.load_state {
                LoadState::Loaded => {}
                LoadState::Loading => problems.push(format!(
                    "required collection {wanted} is still loading ({}%)",
                    c.loading_progress.unwrap_or(0)
                )),
                LoadState::Unknown => problems.push(format!(
                    "required collection {wanted}: load state unknown ({})",
                    c.error.as_deref().unwrap_or("no answer")
                )),
                other => problems.push(format!(
                    "required collection {wanted} is not loaded (state {})",
                    other.as_str()
                )),
            },
        }
    }
    if problems.is_empty() {
        RuleStatus::Pass
    } else {
        RuleStatus::Fail(problems.join("; "))
    }
}

fn memory(s: &Snapshot, config: &ReadinessConfig) -> RuleStatus {
    match s.system.as_ref().map(|c| &c.outcome) {
        None => RuleStatus::Excluded,
        Some(Err(e)) => RuleStatus::Fail(format!("host memory unknown: {e}")),
        Some(Ok(f)) if f.memory_percent > config.memory_percent_max => RuleStatus::Fail(format!(
            "memory use {:.1}% is above {}%{}",
            f.memory_percent,
            config.memory_percent_max,
            if f.memory_cgroup_limited {
                " of the container's limit"
            } else {
                ""
            }
        )),
        Some(Ok(_)) => RuleStatus::Pass,
    }
}

fn disk(s: &Snapshot, config: &ReadinessConfig) -> RuleStatus {
    let facts = match s.system.as_ref().map(|c| &c.outcome) {
        None => return RuleStatus::Excluded,
        Some(Err(e)) => return RuleStatus::Fail(format!("disk use unknown: {e}")),
        Some(Ok(f)) => f,
    };
    let problems: Vec<String> = facts
        .disks
        .iter()
        .filter_map(|d| match &d.error {
            Some(e) => Some(format!("disk {}: {e}", d.path)),
            None if d.percent > config.disk_percent_max => Some(format!(
                "disk {} is {:.1}% full, above {}%",
                d.path, d.percent, config.disk_percent_max
            )),
            None => None,
        })
        .collect();
    if problems.is_empty() {
        RuleStatus::Pass
    } else {
        RuleStatus::Fail(problems.join("; "))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::checks::CheckError;
    use crate::config::CollectionRef;
    use crate::snapshot::*;
    use std::time::{Duration, Instant, SystemTime};

    fn ok<T>(v: T) -> CheckResult<T> {
        CheckResult {
            duration: Duration::from_millis(1),
            outcome: Ok(v),
        }
    }

    fn collection(name: &str, state: LoadState) -> CollectionFacts {
        CollectionFacts {
            db_name: "default".into(),
            name: name.into(),
            load_state: state,
            loading_progress: Some(if state == LoadState::Loaded { 100 } else { 40 }),
            rows: Some(1),
            replicas: None,
            error: None,
        }
    }

    /// A healthy snapshot with three collections, for other modules' tests too.
    pub(crate) fn healthy() -> Snapshot {
        Snapshot {
            target: "default".into(),
            address: "http://m:19530".into(),
            checked_at: SystemTime::now(),
            taken_at: Instant::now(),
            duration: Duration::from_millis(3),
            milvus: ok(MilvusFacts {
                version: Some("v2.3.5".into()),
                healthy: true,
                reasons: vec![],
                quota_states: vec![],
            }),
            collections: ok(CollectionsFacts {
                databases: vec![DatabaseFacts {
                    name: "default".into(),
                    collections_count: Some(3),
                    error: None,
                }],
                collections: vec![
                    collection("docs", LoadState::Loaded),
                    collection("archive", LoadState::NotLoad),
                    collection("warming", LoadState::Loading),
                ],
            }),
            system: Some(ok(SystemFacts {
                memory_percent: 50.0,
                memory_available_bytes: 1 << 30,
                memory_cgroup_limited: false,
                cpu_percent: Some(10.0),
                disks: vec![DiskFacts {
                    path: "/".into(),
                    mount_point: "/".into(),
                    percent: 60.0,
                    free_bytes: 1 << 30,
                    total_bytes: 1 << 31,
                    error: None,
                }],
            })),
            components: None,
            probes: vec![],
            dependencies: vec![],
            counters: Counters::default(),
        }
    }

    pub(crate) fn cfg() -> ReadinessConfig {
        ReadinessConfig {
            memory_percent_max: 90.0,
            disk_percent_max: 95.0,
            required_collections: vec![],
            disabled_rules: vec![],
            quota_states_not_ready: vec![QuotaState::DenyToRead],
            probes: vec![],
        }
    }

    fn require(names: &[&str]) -> ReadinessConfig {
        ReadinessConfig {
            required_collections: names
                .iter()
                .map(|n| CollectionRef::parse(n).expect("valid"))
                .collect(),
            ..cfg()
        }
    }

    fn failing(v: &Verdict) -> Vec<Rule> {
        v.rules
            .iter()
            .filter(|r| matches!(r.status, RuleStatus::Fail(_)))
            .filter_map(|r| r.name.parse().ok())
            .collect()
    }

    #[test]
    fn all_well_is_ready_with_no_reason() {
        let v = evaluate(&healthy(), &cfg(), Scope::Main);
        assert!(v.ready);
        assert_eq!(v.reason(), None);
    }

    #[test]
    fn unreachable_milvus_fails_milvus_rule_naming_the_address() {
        let mut s = healthy();
        s.milvus.outcome = Err(CheckError::Unreachable {
            rpc: "CheckHealth",
            address: "http://m:19530".into(),
            message: "connection refused".into(),
        });
        let v = evaluate(&s, &cfg(), Scope::Main);
        assert!(!v.ready);
        assert_eq!(failing(&v), vec![Rule::Milvus]);
        let reason = v.reason().expect("a reason");
        assert!(reason.contains("http://m:19530") && reason.contains("connection refused"));
    }

    #[test]
    fn unhealthy_milvus_fails_with_its_reasons() {
        let mut s = healthy();
        if let Ok(m) = &mut s.milvus.outcome {
            m.healthy = false;
            m.reasons = vec!["querynode down".into()];
        }
        let v = evaluate(&s, &cfg(), Scope::Main);
        assert_eq!(failing(&v), vec![Rule::Milvus]);
        assert!(v.reason().unwrap_or_default().contains("querynode down"));
    }

    #[test]
    fn required_collections_must_exist_and_be_loaded() {
        let s = healthy();
        assert!(evaluate(&s, &require(&["docs"]), Scope::Main).ready);
        assert!(evaluate(&s, &require(&["default.docs"]), Scope::Main).ready);
        let v = evaluate(
            &s,
            &require(&["docs", "archive", "missing", "warming"]),
            Scope::Main,
        );
        assert_eq!(failing(&v), vec![Rule::Collections]);
        let reason = v.reason().unwrap_or_default();
        assert!(
            reason.contains("default.archive is not loaded (state NotLoad)"),
            "{reason}"
        );
        assert!(
            reason.contains("default.missing does not exist"),
            "{reason}"
        );
        assert!(
            reason.contains("default.warming is still loading (40%)"),
            "{reason}"
        );
        assert!(!reason.contains("docs is"), "{reason}");
    }

    #[test]
    fn collection_listing_failure_fails_only_when_collections_are_required() {
        let mut s = healthy();
        s.collections.outcome = Err(CheckError::Timeout {
            rpc: "ShowCollections",
            after: Duration::from_secs(3),
        });
        assert!(evaluate(&s, &cfg(), Scope::Main).ready);
        let v = evaluate(&s, &require(&["docs"]), Scope::Main);
        assert_eq!(failing(&v), vec![Rule::Collections]);
        assert!(v.reason().unwrap_or_default().contains("timed out"));
    }

    #[test]
    fn memory_threshold_is_inclusive() {
        let mut s = healthy();
        let set = |s: &mut Snapshot, pct: f64| {
            if let Some(Ok(f)) = s.system.as_mut().map(|c| &mut c.outcome) {
                f.memory_percent = pct;
            }
        };
        set(&mut s, 90.0);
        assert!(
            evaluate(&s, &cfg(), Scope::Main).ready,
            "at the limit is fine"
        );
        set(&mut s, 90.1);
        let v = evaluate(&s, &cfg(), Scope::Main);
        assert_eq!(failing(&v), vec![Rule::Memory]);
        assert!(v.reason().unwrap_or_default().contains("90.1%"));
    }

    #[test]
    fn every_disk_path_counts_and_errors_fail() {
        let mut s = healthy();
        if let Some(Ok(f)) = s.system.as_mut().map(|c| &mut c.outcome) {
            f.disks.push(DiskFacts {
                path: "/data".into(),
                mount_point: "/data".into(),
                percent: 96.5,
                free_bytes: 1,
                total_bytes: 100,
                error: None,
            });
        }
        let v = evaluate(&s, &cfg(), Scope::Main);
        assert_eq!(failing(&v), vec![Rule::Disk]);
        assert!(v
            .reason()
            .unwrap_or_default()
            .contains("/data is 96.5% full"));
    }

    #[test]
    fn disabled_rules_are_excluded_and_cannot_fail() {
        let mut s = healthy();
        s.milvus.outcome = Err(CheckError::Other("down".into()));
        let mut c = cfg();
        c.disabled_rules = vec!["milvus".into()];
        let v = evaluate(&s, &c, Scope::Main);
        assert!(v.ready);
        assert_eq!(v.rules[0].status, RuleStatus::Excluded);
    }

    #[test]
    fn probe_targets_ignore_host_and_required_collections() {
        let mut s = healthy();
        s.system = None;
        let v = evaluate(&s, &require(&["missing"]), Scope::ProbeTarget);
        assert!(v.ready);
        assert!(v
            .rules
            .iter()
            .filter(|r| !["milvus", "quota", "components"].contains(&r.name.as_str()))
            .all(|r| r.status == RuleStatus::Excluded));
    }

    #[test]
    fn several_failures_are_all_listed_in_rule_order() {
        let mut s = healthy();
        s.milvus.outcome = Err(CheckError::Other("down".into()));
        if let Some(Ok(f)) = s.system.as_mut().map(|c| &mut c.outcome) {
            f.memory_percent = 99.0;
        }
        let v = evaluate(&s, &cfg(), Scope::Main);
        assert_eq!(failing(&v), vec![Rule::Milvus, Rule::Memory]);
        assert_eq!(v.reasons().len(), 2);
        assert!(v.reason().unwrap_or_default().starts_with("Milvus at"));
    }
}
