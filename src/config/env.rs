//! The environment layer: `MILVUS_EXPORTER_SECTION__KEY` variables, taken as written.

use super::*;

/// The `MILVUS_EXPORTER_SECTION__KEY` variables, as a configuration source that takes every
/// value as written. `config::Environment` guesses types (`007` became `7`, `TRUE` became
/// `true`, a 25-digit token became a float), which rewrote passwords, tokens and names on
/// their way to Milvus. Here every value is a string, and the typed fields (numbers,
/// booleans, durations) are parsed from that string by the deserializer, as for the file. The
/// keys that hold lists take a comma-separated value.
#[derive(Clone, Debug)]
pub(super) struct VerbatimEnv {
    values: config::Map<String, config::Value>,
}

impl VerbatimEnv {
    /// Keys whose environment value is a comma-separated list.
    /// A regex with a comma in it (`a{1,3}`) can only be given in the file.
    const LIST_KEYS: [&'static str; 7] = [
        "milvus.databases",
        "milvus.collections.include",
        "milvus.collections.exclude",
        "readiness.required_collections",
        "readiness.disabled_rules",
        "readiness.quota_states_not_ready",
        "system.disk_paths",
    ];

    /// The config key a variable sets, if it is one of ours. Every key lives in a section, so
    /// a real override always has `__` after the prefix; variables without it are not ours:
    /// Kubernetes injects MILVUS_EXPORTER_PORT=tcp://… and MILVUS_EXPORTER_SERVICE_HOST into
    /// every pod when a Service has this name.
    pub(super) fn key_of(var: &str) -> Option<String> {
        let rest = var.strip_prefix(ENV_PREFIX)?.strip_prefix('_')?;
        rest.contains("__")
            .then(|| rest.to_ascii_lowercase().replace("__", "."))
    }

    pub(super) fn from_vars(env: &[(String, String)]) -> Self {
        let origin = "the environment".to_string();
        let mut values = config::Map::new();
        for (var, value) in env {
            let Some(key) = Self::key_of(var) else {
                continue;
            };
            let kind = if Self::LIST_KEYS.contains(&key.as_str()) && value.is_empty() {
                // An empty value is an empty list (to clear a default), not one empty item.
                config::ValueKind::Array(Vec::new())
            } else if Self::LIST_KEYS.contains(&key.as_str()) {
                config::ValueKind::Array(
                    value
                        .split(',')
                        .map(|item| config::Value::new(Some(&origin), item.to_string()))
                        .collect(),
                )
            } else {
                config::ValueKind::String(value.clone())
            };
            values.insert(key, config::Value::new(Some(&origin), kind));
        }
        VerbatimEnv { values }
    }
}

impl config::Source for VerbatimEnv {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, config::Value>, config::ConfigError> {
        // Dotted keys are paths: the builder nests them, as for `config::Environment`.
        Ok(self.values.clone())
    }
}
