//! Release-line profiles of the fake Milvus: what Milvus 2.3, 2.4, 2.5 and 2.6 answer, as a
//! standalone or a cluster, to system_info, CheckHealth, GetVersion, ShowCollections and on
//! the metrics port (`/healthz`, `/metrics`), each fault switchable while the fake runs.
//!
//! Every reply is built from the recorded replies under `tests/fixtures/milvus/` (their
//! `README.md` names the upstream file and commit behind each), read at compile time:
//! - system_info: `<line>/system_info_{standalone,cluster,cluster_failed_datanode,…}.json`;
//!   2.3 has no recording of its own and answers 2.4's with `v2.3.5` (the 2.3 and 2.4 shapes
//!   differ only in 2.4's `collection_metrics`, which nothing reads). A fault the recordings
//!   do not hold for a layout is derived from the healthy reply: a dead query node's entry is
//!   removed (querycoord drops a node whose GetMetrics fails), a failed data node's entry
//!   becomes datacoord's placeholder (`type ""`, an error, a counter id).
//! - The placeholder's id is a counter that moves on every reply, as Milvus's
//!   `uniquegenerator` does.
//! - CheckHealth: `2.3/check_health_quota_denied.json`, `2.4/check_health_unhealthy*.json`,
//!   `2.5/check_health_unhealthy.json`, `2.6/check_health_dead_querynode.json`.
//! - `/healthz`: JSON only when the request's Content-Type is `application/json`, else the
//!   bare state; 500 unless every component is Healthy. A cluster's proxy pod lists only
//!   `proxy`; the coordinator pod (rootcoord, 2.6 mixcoord) serves the quota page.
//! - `/metrics`: the quota family as `<line>/metrics_quota_states*.prom` have it, after one
//!   series per collection of a proxy family, so the page grows with collections as Milvus's
//!   does.

use serde_json::Value;

/// A Milvus release line the fake answers as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    V23,
    V24,
    V25,
    V26,
}

impl Line {
    pub const ALL: [Line; 4] = [Line::V23, Line::V24, Line::V25, Line::V26];

    pub fn parse(s: &str) -> Option<Line> {
        match s.trim() {
            "2.3" => Some(Line::V23),
            "2.4" => Some(Line::V24),
            "2.5" => Some(Line::V25),
            "2.6" => Some(Line::V26),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Line::V23 => "2.3",
            Line::V24 => "2.4",
            Line::V25 => "2.5",
            Line::V26 => "2.6",
        }
    }

    /// GetVersion and `build_version` as the recorded release of the line names itself.
    pub fn version(self) -> &'static str {
        match self {
            Line::V23 => "v2.3.5",
            Line::V24 => "v2.4.23",
            Line::V25 => "2.5.27",
            Line::V26 => "2.6.18",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Standalone,
    Cluster,
}

impl Layout {
    pub const ALL: [Layout; 2] = [Layout::Standalone, Layout::Cluster];

    pub fn parse(s: &str) -> Option<Layout> {
        match s.trim() {
            "standalone" => Some(Layout::Standalone),
            "cluster" => Some(Layout::Cluster),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::Standalone => "standalone",
            Layout::Cluster => "cluster",
        }
    }
}

/// The faults a profile can show, each switchable while the fake runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileFaults {
    /// A query node died: gone from system_info; Abnormal in a standalone's `/healthz`; a
    /// JSON reason on 2.4.18+; nothing at all in CheckHealth on the other lines.
    pub dead_querynode: bool,
    /// 2.6 only: the streaming node died (gone from system_info; CheckHealth says nothing).
    pub dead_streamingnode: bool,
    /// A data node's GetMetrics fails: datacoord's placeholder in system_info, with Milvus's
    /// reason; CheckHealth names it on 2.3-2.5, not on 2.6.
    pub failed_datanode: bool,
    /// Writes denied by the memory, disk and time-tick quotas: CheckHealth's quota_states on
    /// 2.3, the quota center's page on every line.
    pub quota_denied: bool,
    /// 2.4 only: CheckHealth's reasons are the 2.4.18-2.4.23 JSON documents.
    pub json_reasons: bool,
    /// 2.5 and 2.6: rootcoord reports one time-tick error twice.
    pub repeated_reasons: bool,
    /// A component is not Healthy in `/healthz` (500).
    pub unhealthy_component: bool,
}

impl ProfileFaults {
    /// The names `--fault` and the example's control port take.
    pub const NAMES: [&'static str; 7] = [
        "dead-querynode",
        "dead-streamingnode",
        "failed-datanode",
        "quota-denied",
        "json-reasons",
        "repeated-reasons",
        "unhealthy-component",
    ];

    /// Turns the named fault on or off; `false` for an unknown name.
    pub fn set(&mut self, name: &str, on: bool) -> bool {
        let flag = match name.trim() {
            "dead-querynode" => &mut self.dead_querynode,
            "dead-streamingnode" => &mut self.dead_streamingnode,
            "failed-datanode" => &mut self.failed_datanode,
            "quota-denied" => &mut self.quota_denied,
            "json-reasons" => &mut self.json_reasons,
            "repeated-reasons" => &mut self.repeated_reasons,
            "unhealthy-component" => &mut self.unhealthy_component,
            _ => return false,
        };
        *flag = on;
        true
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub line: Line,
    pub layout: Layout,
    pub faults: ProfileFaults,
}

impl Profile {
    pub fn new(line: Line, layout: Layout) -> Profile {
        Profile {
            line,
            layout,
            faults: ProfileFaults::default(),
        }
    }
}

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/milvus/",
            $path
        ))
    };
}

/// The counter id the first placeholder gets; the fixtures use 37.
pub const FIRST_PLACEHOLDER_ID: u64 = 37;

/// system_info as the profile's line and layout answer it; `counter` is the placeholder id
/// this reply consumes.
pub fn system_info(p: &Profile, counter: u64) -> String {
    let f = &p.faults;
    let cluster = p.layout == Layout::Cluster;
    let healthy = match (p.line, cluster) {
        (Line::V23 | Line::V24, false) => fixture!("2.4/system_info_standalone.json"),
        (Line::V23 | Line::V24, true) => fixture!("2.4/system_info_cluster.json"),
        (Line::V25, false) => fixture!("2.5/system_info_standalone.json"),
        (Line::V25, true) => fixture!("2.5/system_info_cluster.json"),
        (Line::V26, false) => fixture!("2.6/system_info_standalone.json"),
        (Line::V26, true) => fixture!("2.6/system_info_cluster.json"),
    };
    let recorded_failed = match p.line {
        Line::V23 | Line::V24 => fixture!("2.4/system_info_cluster_failed_datanode.json"),
        Line::V25 => fixture!("2.5/system_info_cluster_failed_datanode.json"),
        Line::V26 => fixture!("2.6/system_info_cluster_failed_datanode.json"),
    };
    // The 2.5 recording of an unreachable query node is used as it is; every other dead
    // node is derived from the healthy reply.
    let recorded_unreachable =
        f.dead_querynode && cluster && p.line == Line::V25 && !f.failed_datanode;
    let mut text = if f.failed_datanode && cluster {
        // The recorded placeholder, with this reply's counter id.
        recorded_failed
            .replace("\"identifier\":37,", &format!("\"identifier\":{counter},"))
            .replace("\"id\":37", &format!("\"id\":{counter}"))
            .replace(
                "\"connected_identifier\":37,",
                &format!("\"connected_identifier\":{counter},"),
            )
    } else if recorded_unreachable {
        fixture!("2.5/system_info_cluster_unreachable_querynode.json").to_string()
    } else {
        healthy.to_string()
    };
    if p.line == Line::V23 {
        text = text.replace("\"v2.4.23\"", "\"v2.3.5\"");
    }
    let remove_querynode = f.dead_querynode && !recorded_unreachable;
    let remove_streamingnode = f.dead_streamingnode && p.line == Line::V26;
    let fail_in_standalone = f.failed_datanode && !cluster;
    if !(remove_querynode || remove_streamingnode || fail_in_standalone) {
        return text;
    }
    let Ok(mut doc) = serde_json::from_str::<Value>(&text) else {
        return text;
    };
    if remove_querynode {
        // The query node with the highest id (8 in a 2.3-2.5 cluster, 6 in 2.6's).
        remove_node(&mut doc, "querynode", None);
    }
    if remove_streamingnode {
        remove_node(&mut doc, "streamingnode", None);
    }
    if fail_in_standalone {
        fail_datanode(&mut doc, counter);
    }
    doc.to_string()
}

fn entries(doc: &mut Value) -> Option<&mut Vec<Value>> {
    doc.get_mut("nodes_info").and_then(Value::as_array_mut)
}

/// Drops the `role` node with the highest id (or `id`), and its coordinator's edge to it.
fn remove_node(doc: &mut Value, role: &str, id: Option<i64>) {
    let Some(list) = entries(doc) else { return };
    let pick = list
        .iter()
        .filter(|e| e["infos"]["type"] == role)
        .filter_map(|e| e["identifier"].as_i64())
        .filter(|i| id.is_none_or(|want| *i == want))
        .max();
    let Some(gone) = pick else { return };
    list.retain(|e| !(e["infos"]["type"] == role && e["identifier"].as_i64() == Some(gone)));
    for e in list.iter_mut() {
        if let Some(edges) = e.get_mut("connected").and_then(Value::as_array_mut) {
            edges.retain(|edge| {
                !(edge["target_type"] == role
                    && edge["connected_identifier"].as_i64() == Some(gone))
            });
        }
    }
}

/// The standalone's data node entry as datacoord's placeholder for a node whose GetMetrics
/// failed (`internal/datacoord/metrics_info.go` getDataNodeMetrics).
fn fail_datanode(doc: &mut Value, counter: u64) {
    let Some(list) = entries(doc) else { return };
    let Some(pos) = list.iter().position(|e| e["infos"]["type"] == "datanode") else {
        return;
    };
    let old = list[pos]["identifier"].as_i64();
    list[pos] = serde_json::json!({
        "identifier": counter,
        "connected": null,
        "infos": {
            "has_error": true,
            "error_reason": "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:21124: connect: connection refused\"",
            "name": "",
            "hardware_infos": {"ip": "", "cpu_core_count": 0, "cpu_core_usage": 0, "memory": 0, "memory_usage": 0, "disk": 0, "disk_usage": 0},
            "system_info": {"system_version": "", "deploy_mode": "", "build_version": "", "build_time": "", "used_go_version": ""},
            "created_time": "",
            "updated_time": "",
            "type": "",
            "id": counter,
            "system_configurations": {"flush_insert_buffer_size": 0},
            "quota_metrics": null
        }
    });
    for e in list.iter_mut() {
        if let Some(edges) = e.get_mut("connected").and_then(Value::as_array_mut) {
            for edge in edges.iter_mut() {
                if edge["target_type"] == "datanode" && edge["connected_identifier"].as_i64() == old
                {
                    edge["connected_identifier"] = counter.into();
                }
            }
        }
    }
}

/// CheckHealth: (is_healthy, reasons, quota_states as proto numbers).
pub fn check_health(p: &Profile) -> (bool, Vec<String>, Vec<i32>) {
    let f = &p.faults;
    let recorded = |text: &str| -> Vec<String> {
        serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v["reasons"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect()
    };
    let mut healthy = true;
    let mut reasons = Vec::new();
    let mut quota = Vec::new();
    let json_docs = recorded(fixture!("2.4/check_health_unhealthy.json"));
    if f.quota_denied && p.line == Line::V23 {
        // A 2.3 cluster under quota stays healthy; the state and its reason come along.
        reasons.extend(recorded(fixture!("2.3/check_health_quota_denied.json")));
        quota.push(5); // DenyToWrite
    }
    match p.line {
        Line::V24 if f.json_reasons => {
            healthy = false;
            reasons.extend(json_docs.iter().cloned());
        }
        Line::V24 => {
            // 2.4.18+: each unhealthy coordinator's document (query node 8, data node 9).
            if f.dead_querynode {
                healthy = false;
                reasons.extend(json_docs.first().cloned());
            }
            if f.failed_datanode {
                healthy = false;
                reasons.extend(json_docs.get(1).cloned());
            }
        }
        Line::V23 | Line::V25 if f.failed_datanode => {
            healthy = false;
            reasons.extend(recorded(fixture!(
                "2.4/check_health_unhealthy_before_2.4.18.json"
            )));
        }
        _ => {}
    }
    if f.repeated_reasons && matches!(p.line, Line::V25 | Line::V26) {
        healthy = false;
        reasons.extend(recorded(fixture!("2.5/check_health_unhealthy.json")));
    }
    // 2.6 asks rootcoord alone: dead or failed nodes leave it healthy
    // (2.6/check_health_dead_querynode.json).
    (healthy, reasons, quota)
}

/// Which pod of the profile a metrics port belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pod {
    /// The standalone, or a cluster's proxy pod: where the gRPC address points.
    Proxy,
    /// A cluster's rootcoord pod (2.6: mixcoord), where the quota center's metrics live.
    Coordinator,
}

/// `GET /healthz`: (status, content type, body).
pub fn healthz(p: &Profile, pod: Pod, wants_json: bool) -> (u16, &'static str, String) {
    let f = &p.faults;
    let names: &[&str] = match (p.layout, pod, p.line) {
        (Layout::Cluster, Pod::Proxy, _) => &["proxy"],
        (Layout::Cluster, Pod::Coordinator, Line::V26) => &["mixcoord"],
        (Layout::Cluster, Pod::Coordinator, _) => &["rootcoord"],
        (Layout::Standalone, _, Line::V26) => &[
            "mixcoord",
            "querynode",
            "datanode",
            "proxy",
            "streamingnode",
        ],
        (Layout::Standalone, _, _) => &[
            "rootcoord",
            "datacoord",
            "indexcoord",
            "querycoord",
            "querynode",
            "datanode",
            "indexnode",
            "proxy",
        ],
    };
    let bad = |name: &str| {
        let standalone = p.layout == Layout::Standalone;
        (f.unhealthy_component
            && match (p.layout, pod, p.line) {
                (Layout::Standalone, _, Line::V26) => name == "streamingnode",
                (Layout::Standalone, _, _) => name == "querynode",
                (Layout::Cluster, Pod::Proxy, _) => name == "proxy",
                (Layout::Cluster, Pod::Coordinator, _) => false,
            })
            || (standalone && f.dead_querynode && name == "querynode")
    };
    let detail: Vec<String> = names
        .iter()
        .map(|n| {
            format!(
                "{{\"name\":\"{n}\",\"code\":{}}}",
                if bad(n) { 2 } else { 1 }
            )
        })
        .collect();
    let healthy = names.iter().filter(|n| !bad(n)).count();
    let state = if healthy == names.len() {
        "OK".to_string()
    } else if p.line == Line::V23 {
        let last = names
            .iter()
            .rev()
            .find(|n| bad(n))
            .copied()
            .unwrap_or("proxy");
        format!("component {last} state is Abnormal")
    } else {
        format!("Not all components are healthy, {healthy}/{}", names.len())
    };
    let status = if state == "OK" { 200 } else { 500 };
    if wants_json {
        let body = format!(
            "{{\"state\":\"{state}\",\"detail\":[{}]}}",
            detail.join(",")
        );
        (status, "application/json", body)
    } else {
        (status, "text/plain", state)
    }
}

/// `GET /metrics`: one proxy series per collection (the page grows as Milvus's does), the
/// quota family where the quota center runs, then a family that sorts after it.
pub fn metrics(p: &Profile, pod: Pod, collections: &[String]) -> String {
    let mut page = String::with_capacity(64 * collections.len() + 2048);
    page.push_str("# HELP milvus_proxy_req_count count of operation executed\n");
    page.push_str("# TYPE milvus_proxy_req_count counter\n");
    for c in collections {
        page.push_str(&format!(
            "milvus_proxy_req_count{{collection_name=\"{c}\",function_name=\"Search\",node_id=\"5\",status=\"total\"}} 1\n"
        ));
    }
    let quota_here = p.layout == Layout::Standalone || pod == Pod::Coordinator;
    if quota_here {
        let family = match (p.line, p.faults.quota_denied) {
            (Line::V23, true) => fixture!("2.3/metrics_quota_states.prom").to_string(),
            (Line::V23, false) => fixture!("2.3/metrics_quota_states.prom").replace("} 1", "} 0"),
            (_, true) => fixture!("2.4/metrics_quota_states.prom").to_string(),
            (_, false) => fixture!("2.4/metrics_quota_states_clear.prom").to_string(),
        };
        page.push_str(&family);
        if !family.ends_with('\n') {
            page.push('\n');
        }
    }
    page.push_str(
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n",
    );
    page.push_str("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n");
    page
}
