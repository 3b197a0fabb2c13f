//! `[web]`: the listener and its limits (see docs/hardening.md, "Bounds").

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWeb {
    pub(super) listen_address: String,
    pub(super) scrape_timeout_offset: HumanDuration,
    pub(super) header_read_timeout: HumanDuration,
    pub(super) max_connections: i64,
    pub(super) write_timeout: HumanDuration,
    pub(super) max_requests: i64,
}

impl Default for RawWeb {
    fn default() -> Self {
        RawWeb {
            listen_address: "0.0.0.0:9727".into(),
            scrape_timeout_offset: HumanDuration(Duration::from_millis(100)),
            header_read_timeout: HumanDuration(Duration::from_secs(10)),
            max_connections: 1024,
            write_timeout: HumanDuration(Duration::from_secs(30)),
            max_requests: 40,
        }
    }
}

/// The `[web]` section, typed and checked; `Config` carries its fields flat.
pub(super) struct WebConfig {
    pub(super) listen_address: std::net::SocketAddr,
    pub(super) scrape_timeout_offset: Duration,
    pub(super) header_read_timeout: Duration,
    pub(super) max_connections: usize,
    pub(super) write_timeout: Duration,
    pub(super) max_requests: usize,
}

impl WebConfig {
    pub(super) fn from_raw(raw: RawWeb) -> Result<Self, ConfigError> {
        let listen_address = raw.listen_address.trim().parse().map_err(|_| {
            ConfigError::invalid(
                "web.listen_address",
                format!(
                    "{:?} is not an address like 0.0.0.0:9727",
                    raw.listen_address
                ),
            )
        })?;
        let scrape_timeout_offset = raw.scrape_timeout_offset.0;
        if scrape_timeout_offset >= Duration::from_secs(10) {
            return Err(ConfigError::invalid(
                "web.scrape_timeout_offset",
                "must be under 10s (it is subtracted from Prometheus's scrape timeout)",
            ));
        }
        let header_read_timeout = bounded(
            "web.header_read_timeout",
            raw.header_read_timeout.0,
            MIN_CLIENT_TIMEOUT,
            MAX_TIMEOUT,
        )?;
        if !(1..=1_000_000).contains(&raw.max_connections) {
            return Err(ConfigError::invalid(
                "web.max_connections",
                format!("{} is outside 1-1000000", raw.max_connections),
            ));
        }
        let max_connections = raw.max_connections as usize;
        let write_timeout = bounded(
            "web.write_timeout",
            raw.write_timeout.0,
            MIN_CLIENT_TIMEOUT,
            MAX_TIMEOUT,
        )?;
        if !(0..=1_000_000).contains(&raw.max_requests) {
            return Err(ConfigError::invalid(
                "web.max_requests",
                format!(
                    "{} is outside 0-1000000 (0 means no limit)",
                    raw.max_requests
                ),
            ));
        }
        let max_requests = raw.max_requests as usize;
        Ok(WebConfig {
            listen_address,
            scrape_timeout_offset,
            header_read_timeout,
            max_connections,
            write_timeout,
            max_requests,
        })
    }
}
