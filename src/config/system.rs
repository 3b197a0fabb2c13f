//! `[system]`: the exporter's own host (disk paths, CPU sampling).

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSystem {
    pub(super) disk_paths: Vec<PathBuf>,
    pub(super) cpu_sample_interval: HumanDuration,
}

impl Default for RawSystem {
    fn default() -> Self {
        RawSystem {
            disk_paths: vec![PathBuf::from("/")],
            cpu_sample_interval: HumanDuration(Duration::from_secs(5)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SystemConfig {
    pub disk_paths: Vec<PathBuf>,
    pub cpu_sample_interval: Duration,
}

impl SystemConfig {
    pub(super) fn from_raw(raw: RawSystem) -> Result<Self, ConfigError> {
        if raw.disk_paths.is_empty() {
            return Err(ConfigError::invalid(
                "system.disk_paths",
                "needs at least one path (default [\"/\"])",
            ));
        }
        for (i, p) in raw.disk_paths.iter().enumerate() {
            if !p.is_absolute() {
                return Err(ConfigError::invalid(
                    format!("system.disk_paths[{i}]"),
                    format!("{} is not an absolute path", p.display()),
                ));
            }
        }
        if raw.cpu_sample_interval.0 < Duration::from_millis(200) {
            return Err(ConfigError::invalid(
                "system.cpu_sample_interval",
                "must be at least 200ms (CPU usage needs two samples apart)",
            ));
        }
        bounded(
            "system.cpu_sample_interval",
            raw.cpu_sample_interval.0,
            Duration::ZERO,
            MAX_CPU_SAMPLE_INTERVAL,
        )?;
        Ok(SystemConfig {
            disk_paths: raw.disk_paths,
            cpu_sample_interval: raw.cpu_sample_interval.0,
        })
    }
}
