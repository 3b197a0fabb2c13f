//! Readiness as one pure function of a snapshot: the same facts always give the same verdict,
//! so the verdict can be unit-tested rule by rule and shared by every endpoint.
//!
//! The rules themselves live in the check modules whose facts they judge
//! ([`crate::checks::Rule`]); this module only runs them in verdict order, applies
//! `readiness.disabled_rules` and the target's scope, and adds the rules a result names at
//! run time (one per dependency).

use crate::checks::RuleInput;
use crate::config::ReadinessConfig;
use crate::snapshot::Snapshot;

pub use crate::model::RuleStatus;

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
/// somewhere else, so the host rules (memory, disk) do not apply to it. Everything else comes
/// from the target's module and applies to every target alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Main,
    ProbeTarget,
}

pub fn evaluate(snapshot: &Snapshot, config: &ReadinessConfig, scope: Scope) -> Verdict {
    let input = RuleInput {
        results: &snapshot.results,
        config,
        address: &snapshot.address,
    };
    let builtin = crate::checks::rules().into_iter().map(|rule| {
        let applies = scope == Scope::Main || rule.probe_targets;
        let status = if !config.enabled(rule.name) || !applies {
            RuleStatus::Excluded
        } else {
            (rule.eval)(&input)
        };
        RuleOutcome {
            name: rule.name.to_string(),
            status,
        }
    });
    let named = snapshot
        .results
        .iter()
        .flat_map(|r| r.named_rules(config))
        .map(|(name, status)| {
            let status = if config.enabled(&name) {
                status
            } else {
                RuleStatus::Excluded
            };
            RuleOutcome { name, status }
        });
    let rules: Vec<RuleOutcome> = builtin.chain(named).collect();
    let ready = rules
        .iter()
        .all(|r| !matches!(r.status, RuleStatus::Fail(_)));
    Verdict { ready, rules }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::checks::collections::{CollectionFacts, CollectionsFacts, DatabaseFacts};
    use crate::checks::milvus::MilvusFacts;
    use crate::checks::system::{DiskFacts, SystemFacts};
    use crate::checks::{CheckError, Results};
    use crate::config::CollectionRef;
    use crate::model::{CheckResult, LoadState, QuotaState};
    use crate::snapshot::*;
    use std::time::{Duration, Instant, SystemTime};

    /// The built-in rules, parsed from a verdict's rule names (a dependency's is not one).
    #[derive(Debug, PartialEq)]
    enum Rule {
        Milvus,
        Components,
        Quota,
        Collections,
        Probe,
        Memory,
        Disk,
    }

    impl std::str::FromStr for Rule {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, ()> {
            Ok(match s {
                "milvus" => Rule::Milvus,
                "components" => Rule::Components,
                "quota" => Rule::Quota,
                "collections" => Rule::Collections,
                "probe" => Rule::Probe,
                "memory" => Rule::Memory,
                "disk" => Rule::Disk,
                _ => return Err(()),
            })
        }
    }

    /// The fixture's results, to change one check's facts in a test.
    pub(crate) fn milvus(s: &mut Snapshot) -> &mut CheckResult<MilvusFacts> {
        s.result_mut::<MilvusFacts>()
            .expect("the fixture has milvus")
    }
    pub(crate) fn collections(s: &mut Snapshot) -> &mut CheckResult<CollectionsFacts> {
        s.result_mut::<CollectionsFacts>()
            .expect("the fixture has collections")
    }
    fn system(s: &mut Snapshot) -> Option<&mut CheckResult<SystemFacts>> {
        s.result_mut::<SystemFacts>()
    }

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
            id: None,
            rows: Some(1),
            replicas: None,
            indexes: Vec::new(),
            query_service_available: None,
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
            results: Results::new(vec![
                Box::new(ok(MilvusFacts {
                    version: Some("v2.3.5".into()),
                    healthy: true,
                    reasons: vec![],
                    quota_states: vec![],
                    quota: crate::checks::milvus::QuotaFacts {
                        source: crate::checks::milvus::quota::QuotaSource::CheckHealth,
                        ..Default::default()
                    },
                    ..Default::default()
                })),
                Box::new(ok(CollectionsFacts {
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
                    ..CollectionsFacts::default()
                })),
                Box::new(ok(SystemFacts {
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
            ]),
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
            node_grace: crate::config::DEFAULT_NODE_GRACE,
            min_nodes: vec![],
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
        milvus(&mut s).outcome = Err(CheckError::Unreachable {
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
        if let Ok(m) = &mut milvus(&mut s).outcome {
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
        collections(&mut s).outcome = Err(CheckError::Timeout {
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
            if let Some(Ok(f)) = system(s).map(|c| &mut c.outcome) {
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
        if let Some(Ok(f)) = system(&mut s).map(|c| &mut c.outcome) {
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
        milvus(&mut s).outcome = Err(CheckError::Other("down".into()));
        let mut c = cfg();
        c.disabled_rules = vec!["milvus".into()];
        let v = evaluate(&s, &c, Scope::Main);
        assert!(v.ready);
        assert_eq!(v.rules[0].status, RuleStatus::Excluded);
    }

    #[test]
    fn probe_targets_ignore_the_host_rules_only() {
        let mut s = healthy();
        s.results.remove::<CheckResult<SystemFacts>>();
        let v = evaluate(&s, &cfg(), Scope::ProbeTarget);
        assert!(v.ready);
        let excluded = |name: &str| {
            v.rules
                .iter()
                .any(|r| r.name == name && r.status == RuleStatus::Excluded)
        };
        assert!(excluded("memory") && excluded("disk"));
        assert!(!excluded("collections") && !excluded("milvus"));
        // The module's required collections apply to a probe target as to the main one.
        let v = evaluate(&s, &require(&["missing"]), Scope::ProbeTarget);
        assert!(!v.ready);
    }

    #[test]
    fn several_failures_are_all_listed_in_rule_order() {
        let mut s = healthy();
        milvus(&mut s).outcome = Err(CheckError::Other("down".into()));
        if let Some(Ok(f)) = system(&mut s).map(|c| &mut c.outcome) {
            f.memory_percent = 99.0;
        }
        let v = evaluate(&s, &cfg(), Scope::Main);
        assert_eq!(failing(&v), vec![Rule::Milvus, Rule::Memory]);
        assert_eq!(v.reasons().len(), 2);
        assert!(v.reason().unwrap_or_default().starts_with("Milvus at"));
    }
}
