//! `[readiness]` and `[[readiness.probes]]`: thresholds, required collections, rules turned
//! off, and the read probes.

use std::collections::HashMap;

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawReadiness {
    pub(super) memory_percent_max: f64,
    pub(super) disk_percent_max: f64,
    pub(super) required_collections: Vec<String>,
    pub(super) disabled_rules: Vec<String>,
    pub(super) quota_states_not_ready: Vec<String>,
    pub(super) probes: Vec<RawProbe>,
    pub(super) node_grace: HumanDuration,
    pub(super) min_nodes: std::collections::BTreeMap<String, i64>,
}

impl Default for RawReadiness {
    fn default() -> Self {
        RawReadiness {
            memory_percent_max: 90.0,
            disk_percent_max: 95.0,
            required_collections: Vec::new(),
            disabled_rules: Vec::new(),
            quota_states_not_ready: vec!["DenyToRead".into()],
            probes: Vec::new(),
            node_grace: HumanDuration(DEFAULT_NODE_GRACE),
            min_nodes: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawProbe {
    pub(super) collection: Option<String>,
    pub(super) kind: String,
    pub(super) timeout: HumanDuration,
    pub(super) max_latency: Option<HumanDuration>,
    pub(super) required: bool,
    pub(super) vector_from: String,
}

impl Default for RawProbe {
    fn default() -> Self {
        RawProbe {
            collection: None,
            kind: "query".into(),
            timeout: HumanDuration(Duration::from_secs(2)),
            max_latency: None,
            required: true,
            vector_from: "unit".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReadinessConfig {
    pub memory_percent_max: f64,
    pub disk_percent_max: f64,
    pub required_collections: Vec<CollectionRef>,
    /// Rule names (built-in or dependency) that never fail.
    pub disabled_rules: Vec<String>,
    /// Quota states that make Milvus not ready (default DenyToRead).
    pub quota_states_not_ready: Vec<crate::model::QuotaState>,
    pub probes: Vec<ProbeConfig>,
    /// How long a node that system_info listed and no longer lists fails the `nodes` rule
    /// ("stopped reporting") before it is forgotten, so a scale-down heals; zero turns the
    /// memory of nodes off.
    pub node_grace: Duration,
    /// At least this many nodes of a role (`querynode = 2`) reporting without an error.
    pub min_nodes: Vec<(String, usize)>,
}

/// `readiness.node_grace` by default: a query node's session lives 60 s after it dies
/// (`common.session.ttl`), and a few refreshes past that tell a restart from a loss.
pub const DEFAULT_NODE_GRACE: Duration = Duration::from_secs(300);
/// The longest `readiness.node_grace`: a node gone for a day is a scale-down.
pub const MAX_NODE_GRACE: Duration = Duration::from_secs(86_400);
/// The roles system_info names, for `readiness.min_nodes`: a role Milvus never reports is a
/// typo that would fail readiness for ever.
pub const NODE_ROLES: [&str; 8] = [
    "proxy",
    "rootcoord",
    "querycoord",
    "datacoord",
    "querynode",
    "datanode",
    "indexnode",
    "streamingnode",
];
/// The largest `readiness.min_nodes` count: system_info is read up to 1,000 nodes.
const MAX_MIN_NODES: i64 = 1_000;

impl ReadinessConfig {
    pub fn enabled(&self, rule: &str) -> bool {
        !self.disabled_rules.iter().any(|r| r == rule)
    }
}

/// Which vector a search probe sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorFrom {
    /// A fixed unit vector of the field's dimension.
    Unit,
    /// The first stored row's vector (falls back to the unit vector on an empty collection).
    FirstRow,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProbeConfig {
    pub collection: CollectionRef,
    pub kind: ProbeKind,
    pub timeout: Duration,
    pub max_latency: Option<Duration>,
    pub required: bool,
    pub vector_from: VectorFrom,
}

impl ProbeConfig {
    pub(super) fn from_raw(raw: RawProbe, i: usize) -> Result<Self, ConfigError> {
        let key = |k: &str| format!("readiness.probes[{i}].{k}");
        let name = raw
            .collection
            .ok_or_else(|| ConfigError::invalid(key("collection"), "is required"))?;
        let collection = CollectionRef::parse(&name).ok_or_else(|| {
            ConfigError::invalid(
                key("collection"),
                format!("{name:?} is not a collection name or db.collection"),
            )
        })?;
        let kind = match raw.kind.trim() {
            "query" => ProbeKind::Query,
            "search" => ProbeKind::Search,
            other => {
                return Err(ConfigError::invalid(
                    key("kind"),
                    format!("{other:?} is not query or search"),
                ))
            }
        };
        bounded(
            &key("timeout"),
            raw.timeout.0,
            Duration::from_millis(1),
            MAX_TIMEOUT,
        )?;
        let vector_from = match raw.vector_from.trim() {
            "unit" => VectorFrom::Unit,
            "first_row" => VectorFrom::FirstRow,
            other => {
                return Err(ConfigError::invalid(
                    key("vector_from"),
                    format!("{other:?} is not unit or first_row"),
                ))
            }
        };
        Ok(ProbeConfig {
            collection,
            kind,
            timeout: raw.timeout.0,
            max_latency: raw
                .max_latency
                .map(|d| {
                    bounded(
                        &key("max_latency"),
                        d.0,
                        Duration::from_millis(1),
                        MAX_TIMEOUT,
                    )
                })
                .transpose()?,
            required: raw.required,
            vector_from,
        })
    }
}

impl ReadinessConfig {
    pub(super) fn from_raw(raw: RawReadiness) -> Result<Self, ConfigError> {
        let pct = |key: &str, v: f64| {
            if v.is_finite() && (0.0..=100.0).contains(&v) {
                Ok(v)
            } else {
                Err(ConfigError::invalid(
                    key,
                    format!("{v} is outside 0-100 (a percentage)"),
                ))
            }
        };
        // A collection required twice is required once (`docs` is `default.docs`): a list of
        // names has nothing else to say, and each entry has its own series.
        let mut required = Vec::new();
        let mut seen = HashSet::new();
        for (i, c) in raw.required_collections.iter().enumerate() {
            let r = CollectionRef::parse(c).ok_or_else(|| {
                ConfigError::invalid(
                    format!("readiness.required_collections[{i}]"),
                    format!("{} is not a collection name or db.collection", shown(c)),
                )
            })?;
            if seen.insert(r.clone()) {
                required.push(r);
            }
        }
        // Each name is checked against the checks' rules and the dependencies by
        // `checks::validate` when the checks are built (start-up, `check`, reload): config sits
        // below the checks and cannot see their rules.
        let disabled: Vec<String> = raw
            .disabled_rules
            .iter()
            .map(|r| r.trim().to_string())
            .collect();
        let mut quota_states = Vec::new();
        for (i, q) in raw.quota_states_not_ready.iter().enumerate() {
            let state = crate::model::QuotaState::parse(q.trim()).ok_or_else(|| {
                ConfigError::invalid(
                    format!("readiness.quota_states_not_ready[{i}]"),
                    format!(
                        "unknown quota state {q:?} (ReadLimited, WriteLimited, DenyToRead, DenyToWrite, DenyToDDL)"
                    ),
                )
            })?;
            if !quota_states.contains(&state) {
                quota_states.push(state);
            }
        }
        // One probe per collection and kind: that pair is its series' labels and its reason in
        // /readyz. Two entries for one pair are refused, not merged, since their timeouts and
        // thresholds may differ and either choice would drop one silently.
        let mut probes: Vec<ProbeConfig> = Vec::new();
        let mut seen: HashMap<(CollectionRef, ProbeKind), usize> = HashMap::new();
        for (i, p) in raw.probes.into_iter().enumerate() {
            let probe = ProbeConfig::from_raw(p, i)?;
            if let Some(first) = seen.insert((probe.collection.clone(), probe.kind), i) {
                return Err(ConfigError::invalid(
                    format!("readiness.probes[{i}]"),
                    format!(
                        "a {} probe of {} is already readiness.probes[{first}]",
                        probe.kind.as_str(),
                        shown(&probe.collection.to_string())
                    ),
                ));
            }
            probes.push(probe);
        }
        if raw.node_grace.0 > MAX_NODE_GRACE {
            return Err(ConfigError::invalid(
                "readiness.node_grace",
                format!(
                    "{} is longer than {}",
                    humantime::format_duration(raw.node_grace.0),
                    humantime::format_duration(MAX_NODE_GRACE)
                ),
            ));
        }
        let mut min_nodes = Vec::new();
        for (role, want) in &raw.min_nodes {
            let key = "readiness.min_nodes";
            if !NODE_ROLES.contains(&role.as_str()) {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "{} is not a role Milvus reports (known: {})",
                        shown(role),
                        NODE_ROLES.join(", ")
                    ),
                ));
            }
            if !(0..=MAX_MIN_NODES).contains(want) {
                return Err(ConfigError::invalid(
                    key,
                    format!("{role} = {want} is outside 0-{MAX_MIN_NODES}"),
                ));
            }
            if *want > 0 {
                min_nodes.push((role.clone(), *want as usize));
            }
        }
        Ok(ReadinessConfig {
            node_grace: raw.node_grace.0,
            min_nodes,
            memory_percent_max: pct("readiness.memory_percent_max", raw.memory_percent_max)?,
            disk_percent_max: pct("readiness.disk_percent_max", raw.disk_percent_max)?,
            required_collections: required,
            disabled_rules: disabled,
            quota_states_not_ready: quota_states,
            probes,
        })
    }
}
