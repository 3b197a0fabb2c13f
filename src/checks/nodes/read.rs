//! From system_info's JSON ([`super::system_info`]'s shape) to the `nodes` check's facts:
//! each node's role, id, error and hardware figures, read field by field, so a field that is
//! missing or of the wrong type is named and skipped, never a guess.

use super::*;

/// Reads system_info's JSON. Only a reply that is not JSON of that shape, or has no
/// `nodes_info` list, fails as a whole; everything else is read field by field.
pub fn parse(json: &str) -> Result<NodesFacts, CheckError> {
    let malformed = |message: String| CheckError::Malformed {
        rpc: "GetMetrics",
        message,
    };
    let doc: system_info::Doc = serde_json::from_str(json)
        .map_err(|e| malformed(format!("system_info is not JSON: {}", clip(&e.to_string()))))?;
    let (list, total) = match doc.nodes_info {
        system_info::NodeList::Nodes { kept, total } => (kept, total),
        _ => return Err(malformed("system_info has no nodes_info list".into())),
    };
    let mut facts = NodesFacts::default();
    if total > MAX_NODES {
        facts.problems.push(format!(
            "system_info lists {total} nodes; the first {MAX_NODES} are read"
        ));
    }
    // The reply's own release, for a node that names none (a placeholder, an untagged build).
    let reply_release = list.iter().find_map(|e| {
        let sys = e.get()?.infos.get()?.system_info.get()?;
        match &sys.build_version {
            Scalar::Text(v) => Release::parse(v),
            _ => None,
        }
    });
    // Each coordinator's `manage` edges: the role of every node it manages, by identifier.
    let mut managed: HashMap<i64, String> = HashMap::new();
    for e in list.iter().filter_map(|e| e.get()) {
        for (id, role) in &e.connected.0 {
            if managed.len() < MAX_NODES {
                managed.entry(*id).or_insert_with(|| role.clone());
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut placeholders: HashMap<String, usize> = HashMap::new();
    let none_hw = system_info::Hardware::default();
    let none_sys = system_info::SysInfo::default();
    for (i, entry) in list.iter().enumerate() {
        let Some((entry, infos)) = entry.get().and_then(|e| e.infos.get().map(|i| (e, i))) else {
            facts
                .problems
                .push(format!("nodes_info[{i}] has no infos object"));
            continue;
        };
        let mut field = Fields {
            at: i,
            problems: &mut facts.problems,
        };
        let has_error = field.flag(&infos.has_error, "has_error");
        let name = field.text(&infos.name, "name").unwrap_or_default();
        let typed = field.text(&infos.role, "type").filter(|r| !r.is_empty());
        let mut node_id = field
            .int(&infos.id, "id")
            .or_else(|| field.int(&entry.identifier, "identifier"))
            .unwrap_or(-1);
        // A failed node's placeholder has no type and a counter id. Its name, when the node
        // answered with an error status, is the node's own (`datanode9`); when the RPC
        // failed it is empty, and the coordinator's edge still names the role.
        let mut placeholder = None;
        let role = match (typed, has_error) {
            (Some(r), _) => r,
            (None, true) => match split_name(&name) {
                Some((role, id)) => {
                    node_id = id;
                    role
                }
                None => {
                    let role = entry
                        .identifier
                        .as_i64()
                        .or(Some(node_id))
                        .and_then(|id| managed.get(&id).cloned())
                        .unwrap_or_else(|| "unknown".into());
                    let k = placeholders.entry(role.clone()).or_insert(0);
                    *k += 1;
                    placeholder = Some(*k);
                    role
                }
            },
            (None, false) => "unknown".into(),
        };
        // Cut to the label's bound here, so two roles that differ only past it are one node
        // listed twice, not two series with the same labels.
        let role = crate::limits::clip_bytes(&role, crate::limits::MAX_LABEL_BYTES)
            .0
            .to_string();
        if placeholder.is_none() && !seen.insert((role.clone(), node_id)) {
            facts
                .problems
                .push(format!("nodes_info[{i}]: {role} {node_id} is listed twice"));
            continue;
        }
        for (key, what) in [
            ("hardware_infos", infos.hardware_infos.wrong()),
            ("system_info", infos.system_info.wrong()),
            ("quota_metrics", infos.quota_metrics.wrong()),
        ] {
            if let (Some(what), true) = (what, field.problems.len() < crate::limits::MAX_REASONS) {
                field
                    .problems
                    .push(format!("nodes_info[{i}].{key} is not an object: {what}"));
            }
        }
        let hw = infos.hardware_infos.get().unwrap_or(&none_hw);
        let sys = infos.system_info.get().unwrap_or(&none_sys);
        let version = field
            .text(&sys.build_version, "build_version")
            .filter(|v| !v.is_empty());
        let release = version
            .as_deref()
            .and_then(Release::parse)
            .or(reply_release);
        // The units come from the line, never from the number's shape: a whole `105` on 2.5
        // is gigabytes, and 2.3/2.4's figures are constants whatever they look like. A node
        // of no known release is taken to be recent (an untagged build is a branch head).
        let (disk_bytes, disk_used_bytes) = if release.is_none_or(|r| r.reports_disk()) {
            let total = field.gigabytes(&hw.disk, "disk");
            let used = field.gigabytes(&hw.disk_usage, "disk_usage");
            match total {
                Some(t) if t > 0 => (Some(t), used),
                _ => (None, None),
            }
        } else {
            (None, None)
        };
        let node = NodeFacts {
            name,
            has_error,
            error_reason: field
                .text(&infos.error_reason, "error_reason")
                .filter(|r| !r.is_empty()),
            memory_bytes: field.uint(&hw.memory, "memory"),
            memory_used_bytes: field.uint(&hw.memory_usage, "memory_usage"),
            cpu_cores: field.uint(&hw.cpu_core_count, "cpu_core_count"),
            cpu_usage_percent: field.float(&hw.cpu_core_usage, "cpu_core_usage"),
            disk_bytes,
            disk_used_bytes,
            version,
            release,
            deploy_mode: field
                .text(&sys.deploy_mode, "deploy_mode")
                .filter(|v| !v.is_empty()),
            role,
            node_id,
            placeholder,
        };
        if node.role == "datacoord" {
            if let Some(b) = infos.quota_metrics.get().and_then(|q| q.binlog.get()) {
                facts.binlog_bytes.extend(b.sizes.iter().copied());
            }
        }
        facts.nodes.push(node);
    }
    facts.nodes.sort_by(|a, b| {
        (&a.role, a.placeholder, a.node_id).cmp(&(&b.role, b.placeholder, b.node_id))
    });
    Ok(facts)
}

/// `datanode9` → (`datanode`, 9): the name a node's placeholder keeps when the node answered
/// with an error status. Only a known role with a number counts.
fn split_name(name: &str) -> Option<(String, i64)> {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (role, id) = name.split_at(name.len() - digits);
    let id = id.parse().ok()?;
    crate::config::NODE_ROLES
        .contains(&role)
        .then(|| (role.to_string(), id))
}

/// Reads fields of one node, noting each one present with the wrong type. A missing field is
/// no problem (older servers lack some); a field of the wrong type is a lie worth naming.
struct Fields<'a> {
    at: usize,
    problems: &'a mut Vec<String>,
}

impl Fields<'_> {
    fn wrong<T>(&mut self, key: &str, want: &str, got: &Scalar) -> Option<T> {
        if !matches!(got, Scalar::Missing | Scalar::Null)
            && self.problems.len() < crate::limits::MAX_REASONS
        {
            self.problems.push(format!(
                "nodes_info[{}].{key} is not {want}: {}",
                self.at,
                clip(&got.describe())
            ));
        }
        None
    }

    fn text(&mut self, v: &Scalar, key: &str) -> Option<String> {
        match v {
            Scalar::Text(s) => Some(s.clone()),
            other => self.wrong(key, "text", other),
        }
    }

    fn int(&mut self, v: &Scalar, key: &str) -> Option<i64> {
        match v {
            Scalar::Int(i) => Some(*i),
            Scalar::UInt(u) if i64::try_from(*u).is_ok() => i64::try_from(*u).ok(),
            other => self.wrong(key, "an integer", other),
        }
    }

    fn uint(&mut self, v: &Scalar, key: &str) -> Option<u64> {
        match v {
            Scalar::UInt(u) => Some(*u),
            Scalar::Int(i) if *i >= 0 => u64::try_from(*i).ok(),
            other => self.wrong(key, "a byte count", other),
        }
    }

    /// Decimal gigabytes (a float, or a whole number: Go writes `105` for 105.0) as bytes.
    fn gigabytes(&mut self, v: &Scalar, key: &str) -> Option<u64> {
        let gb = match v {
            Scalar::Float(f) if f.is_finite() && *f >= 0.0 => *f,
            Scalar::Int(i) if *i >= 0 => *i as f64,
            Scalar::UInt(u) => *u as f64,
            other => return self.wrong(key, "a number of gigabytes", other),
        };
        let bytes = (gb * 1e9).round();
        // 2^64 bytes is 18 EB: a figure past it is no disk's.
        if bytes >= u64::MAX as f64 {
            return self.wrong(key, "a disk size", v);
        }
        Some(bytes as u64)
    }

    fn float(&mut self, v: &Scalar, key: &str) -> Option<f64> {
        match v {
            Scalar::Float(f) if f.is_finite() => Some(*f),
            Scalar::Int(i) => Some(*i as f64),
            Scalar::UInt(u) => Some(*u as f64),
            other => self.wrong(key, "a number", other),
        }
    }

    /// A missing flag is false; a flag of another type is named and taken as an error, since
    /// a node that cannot say it is well is not known to be.
    fn flag(&mut self, v: &Scalar, key: &str) -> bool {
        match v {
            Scalar::Bool(b) => *b,
            Scalar::Missing | Scalar::Null => false,
            other => {
                let _: Option<()> = self.wrong(key, "true or false", other);
                true
            }
        }
    }
}
