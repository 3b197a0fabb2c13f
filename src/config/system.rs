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

/// The longest disk path, in bytes: Linux's PATH_MAX, past which statvfs(2) refuses it anyway
/// and which is already far more than a `path` label should carry.
const MAX_PATH_BYTES: usize = 4096;

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
        // A path written twice is measured once: two series with one `path` label would make
        // Prometheus drop the scrape's samples, and a list of places has nothing else to say.
        // The same place is the same components (`/data`, `/data/`, `/data/.` and `//data`);
        // `..` and symlinks are not resolved, since that needs the path to exist at start-up.
        let mut disk_paths = Vec::new();
        let mut seen = HashSet::new();
        for (i, p) in raw.disk_paths.into_iter().enumerate() {
            let key = format!("system.disk_paths[{i}]");
            let len = p.as_os_str().len();
            if len > MAX_PATH_BYTES {
                return Err(ConfigError::invalid(
                    key,
                    format!("a path of {len} bytes is longer than {MAX_PATH_BYTES} (PATH_MAX)"),
                ));
            }
            if !p.is_absolute() {
                return Err(ConfigError::invalid(
                    key,
                    format!("{} is not an absolute path", p.display()),
                ));
            }
            if seen.insert(p.components().collect::<PathBuf>()) {
                disk_paths.push(p);
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
            disk_paths,
            cpu_sample_interval: raw.cpu_sample_interval.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Result<Vec<PathBuf>, ConfigError> {
        SystemConfig::from_raw(RawSystem {
            disk_paths: list.iter().map(PathBuf::from).collect(),
            ..RawSystem::default()
        })
        .map(|c| c.disk_paths)
    }

    #[test]
    fn one_place_written_several_ways_is_measured_once_as_first_written() {
        let got =
            paths(&["/data/", "/", "/data", "/data/.", "//data", "/./data", "/"]).expect("loads");
        assert_eq!(got, vec![PathBuf::from("/data/"), PathBuf::from("/")]);
        // `..` is not resolved: that would need the path to exist at start-up.
        let got = paths(&["/data", "/data/../data"]).expect("loads");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn a_path_longer_than_path_max_is_refused_without_being_echoed() {
        let long = format!("/{}", "d".repeat(MAX_PATH_BYTES));
        let e = paths(&["/", &long]).expect_err("too long").to_string();
        assert_eq!(
            e,
            "config: system.disk_paths[1]: a path of 4097 bytes is longer than 4096 (PATH_MAX)"
        );
        assert!(
            paths(&[&long[..MAX_PATH_BYTES]]).is_ok(),
            "4096 bytes is allowed"
        );
    }
}
