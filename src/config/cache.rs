//! `[cache]`: how long a snapshot is fresh, and the background refresh.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCache {
    pub(super) ttl: HumanDuration,
    pub(super) refresh_interval: HumanDuration,
}

impl Default for RawCache {
    fn default() -> Self {
        RawCache {
            ttl: HumanDuration(Duration::from_secs(10)),
            refresh_interval: HumanDuration(Duration::from_secs(30)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CacheConfig {
    pub ttl: Duration,
    /// Zero turns the background refresher off.
    pub refresh_interval: Duration,
}

impl CacheConfig {
    pub(super) fn from_raw(raw: &RawCache) -> Result<Self, ConfigError> {
        let cache = CacheConfig {
            ttl: raw.ttl.0,
            refresh_interval: raw.refresh_interval.0,
        };
        if cache.ttl.is_zero() {
            return Err(ConfigError::invalid(
                "cache.ttl",
                "must be greater than 0 (a zero ttl would refresh on every request)",
            ));
        }
        bounded("cache.ttl", cache.ttl, Duration::ZERO, MAX_INTERVAL)?;
        bounded(
            "cache.refresh_interval",
            cache.refresh_interval,
            Duration::ZERO,
            MAX_INTERVAL,
        )?;

        Ok(cache)
    }
}
