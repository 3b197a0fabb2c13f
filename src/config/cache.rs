//! `[cache]`: how long a snapshot is fresh, and the background refresh.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCache {
    pub(super) ttl: HumanDuration,
    pub(super) refresh_interval: HumanDuration,
    pub(super) inventory_interval: HumanDuration,
}

impl Default for RawCache {
    fn default() -> Self {
        RawCache {
            ttl: HumanDuration(Duration::from_secs(10)),
            refresh_interval: HumanDuration(Duration::from_secs(30)),
            inventory_interval: HumanDuration(Duration::from_secs(300)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CacheConfig {
    pub ttl: Duration,
    /// Zero turns the background refresher off.
    pub refresh_interval: Duration,
    /// How often the per-collection facts (row counts, index progress, replicas) are asked
    /// for, one RPC or more per collection; zero asks with every health refresh. The health
    /// refresh itself costs Milvus the same few RPCs however many collections there are.
    pub inventory_interval: Duration,
}

impl CacheConfig {
    pub(super) fn from_raw(raw: &RawCache) -> Result<Self, ConfigError> {
        let cache = CacheConfig {
            ttl: raw.ttl.0,
            refresh_interval: raw.refresh_interval.0,
            inventory_interval: raw.inventory_interval.0,
        };
        if cache.ttl.is_zero() {
            return Err(ConfigError::invalid(
                "cache.ttl",
                "must be greater than 0 (a zero ttl would refresh on every request)",
            ));
        }
        // A ttl of 1ns is a zero ttl in all but name: every request would refresh, and the
        // exporter's cost to Milvus would grow with its traffic.
        bounded("cache.ttl", cache.ttl, MIN_TTL, MAX_INTERVAL)?;
        if !cache.refresh_interval.is_zero() {
            bounded(
                "cache.refresh_interval",
                cache.refresh_interval,
                MIN_REFRESH_INTERVAL,
                MAX_INTERVAL,
            )
            .map_err(|_| {
                ConfigError::invalid(
                    "cache.refresh_interval",
                    format!(
                        "{} is outside 0s (on demand only) or 1s-1day",
                        humantime::format_duration(cache.refresh_interval)
                    ),
                )
            })?;
        }
        if !cache.inventory_interval.is_zero() {
            bounded(
                "cache.inventory_interval",
                cache.inventory_interval,
                MIN_REFRESH_INTERVAL,
                MAX_INTERVAL,
            )
            .map_err(|_| {
                ConfigError::invalid(
                    "cache.inventory_interval",
                    format!(
                        "{} is outside 0s (with every health refresh) or 1s-1day",
                        humantime::format_duration(cache.inventory_interval)
                    ),
                )
            })?;
        }
        Ok(cache)
    }
}
