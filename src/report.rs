//! Snapshot → the JSON bodies of `/readyz` and `/health` (and `check --output json`).
//! One builder per body, so a cached answer and a fresh one have the same shape by
//! construction: only `cached` and `age_seconds` differ.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cache::{Read, Rendering, View};
use crate::readiness::RuleStatus;
use crate::snapshot::{LoadState, Snapshot};

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The `/readyz` body but for its two per-request fields, `cached` and `age_seconds`, which
/// [`ready_json`] appends: everything here depends on the view alone.
#[derive(Serialize)]
pub struct ReadyBody {
    pub status: &'static str,
    pub reason: Option<String>,
    pub reasons: Vec<String>,
    pub dependencies: Dependencies,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    pub checked_at: f64,
}

#[derive(Serialize)]
pub struct Dependencies {
    pub milvus: MilvusDep,
    pub collections: CollectionsDep,
    /// RAG dependencies by name, beside Milvus.
    #[serde(flatten)]
    pub others: BTreeMap<String, DependencyEntry>,
}

#[derive(Serialize)]
pub struct DependencyEntry {
    pub status: &'static str,
    pub kind: &'static str,
    pub target: String,
    pub required: bool,
    pub duration_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct ComponentEntry {
    pub role: String,
    pub node_id: String,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Serialize)]
pub struct ProbeEntry {
    pub db_name: String,
    pub collection: String,
    pub kind: &'static str,
    pub required: bool,
    pub success: bool,
    pub duration_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct MilvusDep {
    pub status: &'static str,
    pub address: String,
    pub collections_count: usize,
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quota_states: Vec<&'static str>,
    /// Per-component states, when `milvus.metrics_address` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<ComponentEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct CollectionsDep {
    pub total: usize,
    pub collections: Vec<CollectionEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct CollectionEntry {
    pub name: String,
    pub db_name: String,
    pub loaded: bool,
    pub load_state: &'static str,
    pub num_entities: Option<u64>,
    pub loading_progress: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct Resources {
    pub memory_percent: Option<f64>,
    pub memory_available_gb: Option<f64>,
    pub cpu_percent: Option<f64>,
    pub disk_percent: Option<f64>,
    pub disk_free_gb: Option<f64>,
    pub disks: Vec<DiskEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct DiskEntry {
    pub path: String,
    pub mount_point: String,
    pub percent: Option<f64>,
    pub free_gb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct HealthBody {
    pub liveness: bool,
    pub readiness: bool,
    pub status: &'static str,
    pub reasons: Vec<String>,
    pub rules: BTreeMap<String, &'static str>,
    pub dependencies: Dependencies,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    pub checks: BTreeMap<&'static str, CheckEntry>,
    pub cached: bool,
    pub age_seconds: f64,
    pub checked_at: f64,
    pub timestamp: f64,
}

#[derive(Serialize)]
pub struct CheckEntry {
    pub success: bool,
    pub duration_seconds: f64,
    pub error: Option<String>,
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

pub fn dependencies(s: &Snapshot) -> Dependencies {
    let (collections, collections_error) = match &s.collections.outcome {
        Ok(c) => (
            c.collections
                .iter()
                .map(|c| CollectionEntry {
                    name: c.name.clone(),
                    db_name: c.db_name.clone(),
                    loaded: c.load_state == LoadState::Loaded,
                    load_state: c.load_state.as_str(),
                    num_entities: c.rows,
                    loading_progress: c.loading_progress,
                    replicas: c.replicas,
                    error: c.error.clone(),
                })
                .collect::<Vec<_>>(),
            {
                let p = c.problems();
                (!p.is_empty()).then(|| p.join("; "))
            },
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let milvus = match &s.milvus.outcome {
        Ok(m) => MilvusDep {
            status: if m.healthy { "healthy" } else { "unhealthy" },
            address: s.address.clone(),
            collections_count: collections.len(),
            version: m.version.clone(),
            quota_states: m.quota_states.iter().map(|q| q.as_str()).collect(),
            components: components(s),
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
            address: s.address.clone(),
            collections_count: collections.len(),
            version: None,
            quota_states: Vec::new(),
            components: components(s),
            error: Some(e.to_string()),
        },
    };
    let others = s
        .dependencies
        .iter()
        .map(|d| {
            (
                d.name.clone(),
                DependencyEntry {
                    status: if d.result.outcome.is_ok() {
                        "healthy"
                    } else {
                        "unhealthy"
                    },
                    kind: d.kind,
                    target: d.target.clone(),
                    required: d.required,
                    duration_seconds: round(d.result.duration.as_secs_f64(), 6),
                    http_status: d.result.ok().copied().flatten(),
                    error: d.result.error().map(|e| e.to_string()),
                },
            )
        })
        .collect();
    Dependencies {
        milvus,
        collections: CollectionsDep {
            total: collections.len(),
            collections,
            error: collections_error,
        },
        others,
    }
}

fn components(s: &Snapshot) -> Option<Vec<ComponentEntry>> {
    let list = s.components.as_ref()?.ok()?;
    Some(
        list.iter()
            .map(|c| ComponentEntry {
                role: c.role.clone(),
                node_id: c.node_id.clone(),
                state: c.state.clone(),
                reason: c.reason.clone(),
            })
            .collect(),
    )
}

pub fn probes(s: &Snapshot) -> Vec<ProbeEntry> {
    s.probes
        .iter()
        .map(|p| ProbeEntry {
            db_name: p.db_name.clone(),
            collection: p.collection.clone(),
            kind: p.kind.as_str(),
            required: p.required,
            success: p.success(),
            duration_seconds: round(p.duration.as_secs_f64(), 6),
            error: p.failure(),
        })
        .collect()
}

pub fn resources(s: &Snapshot) -> Option<Resources> {
    let sys = s.system.as_ref()?;
    Some(match &sys.outcome {
        Ok(h) => {
            let fullest = h.fullest_disk();
            Resources {
                memory_percent: Some(round(h.memory_percent, 2)),
                memory_available_gb: Some(round(h.memory_available_bytes as f64 / GB, 3)),
                cpu_percent: h.cpu_percent.map(|c| round(c, 2)),
                disk_percent: fullest.map(|d| round(d.percent, 2)),
                disk_free_gb: fullest.map(|d| round(d.free_bytes as f64 / GB, 3)),
                disks: h
                    .disks
                    .iter()
                    .map(|d| DiskEntry {
                        path: d.path.clone(),
                        mount_point: d.mount_point.clone(),
                        percent: d.error.is_none().then(|| round(d.percent, 2)),
                        free_gb: d
                            .error
                            .is_none()
                            .then(|| round(d.free_bytes as f64 / GB, 3)),
                        error: d.error.clone(),
                    })
                    .collect(),
                error: None,
            }
        }
        Err(e) => Resources {
            memory_percent: None,
            memory_available_gb: None,
            cpu_percent: None,
            disk_percent: None,
            disk_free_gb: None,
            disks: Vec::new(),
            error: Some(e.to_string()),
        },
    })
}

pub fn ready_body(view: &View) -> ReadyBody {
    let View {
        snapshot, verdict, ..
    } = view;
    ReadyBody {
        status: if verdict.ready { "ready" } else { "not_ready" },
        reason: verdict.reason(),
        reasons: verdict.reasons(),
        dependencies: dependencies(snapshot),
        probes: probes(snapshot),
        resources: resources(snapshot),
        checked_at: round(snapshot.unix_seconds(), 3),
    }
}

/// The `/readyz` JSON. A probe every few seconds from every kubelet and load balancer reads
/// the same view, so the view's part is serialised once (the first time it is asked for) and
/// each answer adds only `cached` and `age_seconds` to it.
pub fn ready_json(read: &Read, age_seconds: f64) -> Vec<u8> {
    let fixed = read.view.rendered(Rendering::Ready, |view| {
        match serde_json::to_string(&ready_body(view)) {
            // Drop the closing brace: the per-request fields follow.
            Ok(mut json) if json.len() > 2 && json.ends_with('}') => {
                json.pop();
                json
            }
            // Serialising these structs cannot fail; stay valid JSON regardless.
            _ => format!(
                "{{\"status\":\"{}\"",
                if view.verdict.ready {
                    "ready"
                } else {
                    "not_ready"
                }
            ),
        }
    });
    let mut out = Vec::with_capacity(fixed.len() + 48);
    out.extend_from_slice(&fixed);
    out.extend_from_slice(if read.cached {
        b",\"cached\":true,\"age_seconds\":"
    } else {
        b",\"cached\":false,\"age_seconds\":"
    });
    if serde_json::to_writer(&mut out, &round(age_seconds, 3)).is_err() {
        out.extend_from_slice(b"null");
    }
    out.push(b'}');
    out
}

pub fn health_body(read: &Read, age_seconds: f64, liveness: bool) -> HealthBody {
    let View {
        snapshot, verdict, ..
    } = read.view.as_ref();
    HealthBody {
        liveness,
        readiness: verdict.ready,
        status: if verdict.ready { "ready" } else { "not_ready" },
        reasons: verdict.reasons(),
        rules: verdict
            .rules
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    match r.status {
                        RuleStatus::Pass => "pass",
                        RuleStatus::Fail(_) => "fail",
                        RuleStatus::Excluded => "excluded",
                    },
                )
            })
            .collect(),
        dependencies: dependencies(snapshot),
        probes: probes(snapshot),
        resources: resources(snapshot),
        checks: snapshot
            .checks()
            .into_iter()
            .map(|(name, success, duration, error)| {
                (
                    name.as_str(),
                    CheckEntry {
                        success,
                        duration_seconds: round(duration.as_secs_f64(), 6),
                        error,
                    },
                )
            })
            .collect(),
        cached: read.cached,
        age_seconds: round(age_seconds, 3),
        checked_at: round(snapshot.unix_seconds(), 3),
        timestamp: round(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            3,
        ),
    }
}

/// The kube-apiserver `?verbose` style: one `[+]`/`[-]` line per rule, the verdict last.
pub fn verbose_text(view: &View, cached: bool, age_seconds: f64) -> String {
    let mut out = String::new();
    for r in &view.verdict.rules {
        let name = r.name.as_str();
        match &r.status {
            RuleStatus::Pass => out.push_str(&format!("[+]{name} ok\n")),
            RuleStatus::Excluded => out.push_str(&format!("[+]{name} excluded: ok\n")),
            RuleStatus::Fail(reason) => out.push_str(&format!("[-]{name} failed: {reason}\n")),
        }
    }
    out.push_str(&format!(
        "data age {:.1}s ({})\n",
        age_seconds,
        if cached { "cached" } else { "fresh" }
    ));
    out.push_str(if view.verdict.ready {
        "readyz check passed\n"
    } else {
        "readyz check failed\n"
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::{evaluate, Scope};
    use std::sync::Arc;

    #[test]
    fn ready_json_is_the_memoised_view_part_plus_per_request_fields() {
        let snapshot = crate::readiness::tests::healthy();
        let verdict = evaluate(&snapshot, &crate::readiness::tests::cfg(), Scope::Main);
        let view = Arc::new(View::new(snapshot, verdict));
        let parse =
            |s: &[u8]| -> serde_json::Value { serde_json::from_slice(s).expect("valid JSON") };
        let whole = |cached: bool, age: f64| {
            let mut v = serde_json::to_value(ready_body(&view)).expect("serialisable");
            v["cached"] = cached.into();
            v["age_seconds"] = age.into();
            v
        };
        let first = Read {
            view: Arc::clone(&view),
            cached: false,
        };
        assert_eq!(parse(&ready_json(&first, 0.0)), whole(false, 0.0));
        // Later answers reuse the memo (a second rendering would panic) with their own fields.
        view.rendered(Rendering::Ready, |_| panic!("serialised twice"));
        let later = Read {
            view: Arc::clone(&view),
            cached: true,
        };
        assert_eq!(parse(&ready_json(&later, 2.34567)), whole(true, 2.346));
        assert_eq!(parse(&ready_json(&later, 7.0))["age_seconds"], 7.0);
        assert_eq!(
            parse(&ready_json(&later, 7.0))["dependencies"]["collections"]["total"],
            3
        );
    }
}
