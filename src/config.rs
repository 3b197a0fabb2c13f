//! Layered configuration: defaults < TOML file < `MILVUS_EXPORTER_*` environment < flags.
//!
//! Everything is parsed and checked once, here, so the rest of the program works with typed
//! values (`Duration`, `Url`, `CollectionRef`) and never has to handle a bad string at request time.
//! Every problem becomes one [`ConfigError`] that names the key, because an operator reading a
//! crash-looping pod's log has exactly one line to go on.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Prefix of environment overrides; `__` separates levels (`MILVUS_EXPORTER_CACHE__TTL=2s`).
pub use crate::model::{CollectionRef, ProbeKind};

pub const ENV_PREFIX: &str = "MILVUS_EXPORTER";

/// A configuration problem, always tied to the key that caused it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config: {key}: {problem}")]
    Invalid { key: String, problem: String },
    #[error("config: {0}")]
    Parse(String),
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// A credential that must never be printed: `Debug` and `Display` both redact it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Durations are written as humans write them (`3s`, `500ms`, `1m`), parsed once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid duration {text:?} ({e}); write e.g. \"3s\" or \"500ms\""
                ))
            })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => {
                return Err(format!(
                    "unknown log level {s:?} (use error, warn, info, debug or trace)"
                ))
            }
        })
    }
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "logfmt" => Ok(LogFormat::Logfmt),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("unknown log format {s:?} (use logfmt or json)")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw shape of the file/environment. Strings stay strings here; `Config::from_raw` types them.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    web: RawWeb,
    log: RawLog,
    milvus: RawMilvus,
    targets: Vec<RawMilvus>,
    dependencies: Vec<RawDependency>,
    cache: RawCache,
    readiness: RawReadiness,
    system: RawSystem,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWeb {
    listen_address: String,
    scrape_timeout_offset: HumanDuration,
    header_read_timeout: HumanDuration,
    max_connections: i64,
    write_timeout: HumanDuration,
    max_requests: i64,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    level: String,
    format: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            level: "info".into(),
            format: "logfmt".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMilvus {
    name: Option<String>,
    address: String,
    username: Option<String>,
    password: Option<Secret>,
    password_file: Option<PathBuf>,
    token: Option<Secret>,
    token_file: Option<PathBuf>,
    databases: Vec<String>,
    timeout: HumanDuration,
    max_concurrency: i64,
    tls: RawTls,
    metrics_address: Option<String>,
    replicas: bool,
}

impl Default for RawMilvus {
    fn default() -> Self {
        RawMilvus {
            name: None,
            address: "http://localhost:19530".into(),
            username: None,
            password: None,
            password_file: None,
            token: None,
            token_file: None,
            databases: Vec::new(),
            timeout: HumanDuration(Duration::from_secs(3)),
            max_concurrency: 16,
            tls: RawTls::default(),
            metrics_address: None,
            replicas: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTls {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    server_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCache {
    ttl: HumanDuration,
    refresh_interval: HumanDuration,
}

impl Default for RawCache {
    fn default() -> Self {
        RawCache {
            ttl: HumanDuration(Duration::from_secs(10)),
            refresh_interval: HumanDuration(Duration::from_secs(30)),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawReadiness {
    memory_percent_max: f64,
    disk_percent_max: f64,
    required_collections: Vec<String>,
    disabled_rules: Vec<String>,
    quota_states_not_ready: Vec<String>,
    probes: Vec<RawProbe>,
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
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProbe {
    collection: Option<String>,
    kind: String,
    timeout: HumanDuration,
    max_latency: Option<HumanDuration>,
    required: bool,
    vector_from: String,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDependency {
    name: Option<String>,
    kind: Option<String>,
    url: Option<String>,
    address: Option<String>,
    timeout: HumanDuration,
    required: bool,
    method: String,
    expect_status: Vec<u16>,
    expect_body: Option<String>,
    expect_body_regex: Option<String>,
    headers: std::collections::BTreeMap<String, RawHeaderValue>,
    tls: RawDependencyTls,
}

impl Default for RawDependency {
    fn default() -> Self {
        RawDependency {
            name: None,
            kind: None,
            url: None,
            address: None,
            timeout: HumanDuration(Duration::from_secs(2)),
            required: true,
            method: "GET".into(),
            expect_status: Vec::new(),
            expect_body: None,
            expect_body_regex: None,
            headers: Default::default(),
            tls: RawDependencyTls::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDependencyTls {
    ca_file: Option<PathBuf>,
    insecure_skip_verify: bool,
}

/// A header value written inline, or taken from an environment variable or a file (for
/// bearer tokens that must not sit in a ConfigMap).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawHeaderValue {
    Inline(Secret),
    From(RawHeaderFrom),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeaderFrom {
    env: Option<String>,
    file: Option<PathBuf>,
    #[serde(default)]
    prefix: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSystem {
    disk_paths: Vec<PathBuf>,
    cpu_sample_interval: HumanDuration,
}

impl Default for RawSystem {
    fn default() -> Self {
        RawSystem {
            disk_paths: vec![PathBuf::from("/")],
            cpu_sample_interval: HumanDuration(Duration::from_secs(5)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Typed configuration.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Config {
    pub listen_address: std::net::SocketAddr,
    /// Subtracted from Prometheus's scrape timeout to leave time to write the answer.
    pub scrape_timeout_offset: Duration,
    /// A client must send its request head within this (slowloris protection).
    pub header_read_timeout: Duration,
    /// Connections held at once; at the limit a new one evicts the longest-idle connection.
    pub max_connections: usize,
    /// A response write that makes no progress for this long closes the connection.
    pub write_timeout: Duration,
    /// `/metrics` and `/probe` answers at once (0 = no limit); more get 503.
    pub max_requests: usize,
    /// RAG dependencies (embedding API, LLM gateway, …) checked beside Milvus.
    pub dependencies: Vec<DependencyConfig>,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    /// The Milvus watched by `/metrics`, `/readyz` and friends (target name `default` unless set).
    pub milvus: MilvusTarget,
    /// Extra Milvus instances reachable only through `/probe?target=NAME`.
    pub targets: Vec<MilvusTarget>,
    pub cache: CacheConfig,
    pub readiness: ReadinessConfig,
    pub system: SystemConfig,
    /// The file the configuration came from, kept so a reload can read it again.
    pub file: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MilvusTarget {
    pub name: String,
    /// Normalised `http://host:port` or `https://host:port`.
    pub address: String,
    pub credentials: Credentials,
    pub databases: Vec<String>,
    pub timeout: Duration,
    pub max_concurrency: usize,
    pub tls: Option<TlsConfig>,
    /// Milvus's metrics/health port (`http://host:9091`), for per-component health.
    pub metrics_address: Option<String>,
    /// Ask GetReplicas for each loaded collection (one more RPC per loaded collection).
    pub replicas: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    None,
    UserPassword { username: String, password: Secret },
    Token(Secret),
}

impl Credentials {
    /// The secret values, so tests and log scrubbing can look for them.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Credentials::None => vec![],
            Credentials::UserPassword { password, .. } => vec![password.expose()],
            Credentials::Token(t) => vec![t.expose()],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    pub ca_pem: Option<Vec<u8>>,
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
    pub server_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CacheConfig {
    pub ttl: Duration,
    /// Zero turns the background refresher off.
    pub refresh_interval: Duration,
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
}

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

#[derive(Clone, Debug)]
pub struct DependencyConfig {
    pub name: String,
    pub timeout: Duration,
    pub required: bool,
    pub kind: DependencyKind,
}

#[derive(Clone, Debug)]
pub enum DependencyKind {
    Http(Box<HttpDependency>),
    Tcp { address: String },
}

#[derive(Clone, Debug)]
pub struct HttpDependency {
    pub url: url::Url,
    pub method: String,
    /// Empty means any 2xx.
    pub expect_status: Vec<u16>,
    pub expect_body: Option<BodyMatch>,
    pub headers: Vec<(String, Secret)>,
    pub ca_pem: Option<Vec<u8>>,
    pub insecure_skip_verify: bool,
}

#[derive(Clone, Debug)]
pub enum BodyMatch {
    Substring(String),
    Regex(regex::Regex),
}

#[derive(Clone, Debug, PartialEq)]
pub struct SystemConfig {
    pub disk_paths: Vec<PathBuf>,
    pub cpu_sample_interval: Duration,
}

/// Command-line values that override everything else.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen_address: Option<String>,
    pub milvus_address: Option<String>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
}

impl Config {
    /// Loads defaults, then `file`, then the process environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_from(file, &Self::environment()?, overrides)
    }

    /// The process environment as text. `std::env::vars` would panic on a variable that is
    /// not UTF-8: ours must be text (one is refused by name); anybody else's is not our
    /// business and is left out.
    pub fn environment() -> Result<Vec<(String, String)>, ConfigError> {
        let mut env = Vec::new();
        for (k, v) in std::env::vars_os() {
            match (k.into_string(), v.into_string()) {
                (Ok(k), Ok(v)) => env.push((k, v)),
                (Ok(k), Err(_)) if VerbatimEnv::key_of(&k).is_some() => {
                    return Err(ConfigError::invalid(k, "is not valid UTF-8"));
                }
                _ => {}
            }
        }
        Ok(env)
    }

    /// Same as [`Config::load`] with an explicit environment, so tests need not mutate the
    /// process environment (which is shared by every test thread).
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::invalid(
                    "--config",
                    format!("cannot read {}: no such file", path.display()),
                ));
            }
            builder = builder.add_source(
                config::File::from(path.to_path_buf()).format(config::FileFormat::Toml),
            );
        }
        builder = builder.add_source(VerbatimEnv::from_vars(env));
        let set = |b: config::ConfigBuilder<config::builder::DefaultState>,
                   key: &str,
                   v: &Option<String>| match v {
            Some(v) => b.set_override(key, v.clone()),
            None => Ok(b),
        };
        builder = set(builder, "web.listen_address", &overrides.listen_address)
            .and_then(|b| set(b, "milvus.address", &overrides.milvus_address))
            .and_then(|b| set(b, "log.level", &overrides.log_level))
            .and_then(|b| set(b, "log.format", &overrides.log_format))
            .map_err(|e| ConfigError::Parse(one_line(&e.to_string())))?;
        let raw: RawConfig = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::Parse(key_paths(&one_line(&e.to_string()))))?;
        Config::from_raw(raw, file.map(Path::to_path_buf), env)
    }

    fn from_raw(
        raw: RawConfig,
        file: Option<PathBuf>,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let listen_address = raw.web.listen_address.trim().parse().map_err(|_| {
            ConfigError::invalid(
                "web.listen_address",
                format!(
                    "{:?} is not an address like 0.0.0.0:9727",
                    raw.web.listen_address
                ),
            )
        })?;
        let scrape_timeout_offset = raw.web.scrape_timeout_offset.0;
        if scrape_timeout_offset >= Duration::from_secs(10) {
            return Err(ConfigError::invalid(
                "web.scrape_timeout_offset",
                "must be under 10s (it is subtracted from Prometheus's scrape timeout)",
            ));
        }
        let header_read_timeout = bounded(
            "web.header_read_timeout",
            raw.web.header_read_timeout.0,
            Duration::from_millis(1),
            MAX_TIMEOUT,
        )?;
        if !(1..=1_000_000).contains(&raw.web.max_connections) {
            return Err(ConfigError::invalid(
                "web.max_connections",
                format!("{} is outside 1-1000000", raw.web.max_connections),
            ));
        }
        let max_connections = raw.web.max_connections as usize;
        let write_timeout = bounded(
            "web.write_timeout",
            raw.web.write_timeout.0,
            Duration::from_millis(1),
            MAX_TIMEOUT,
        )?;
        if !(0..=1_000_000).contains(&raw.web.max_requests) {
            return Err(ConfigError::invalid(
                "web.max_requests",
                format!(
                    "{} is outside 0-1000000 (0 means no limit)",
                    raw.web.max_requests
                ),
            ));
        }
        let max_requests = raw.web.max_requests as usize;
        let log_level = raw
            .log
            .level
            .parse()
            .map_err(|e| ConfigError::invalid("log.level", e))?;
        let log_format = raw
            .log
            .format
            .parse()
            .map_err(|e| ConfigError::invalid("log.format", e))?;

        let milvus = MilvusTarget::from_raw(raw.milvus, "milvus", "default")?;
        let mut targets = Vec::with_capacity(raw.targets.len());
        let mut names = HashSet::from([milvus.name.clone()]);
        for (i, t) in raw.targets.into_iter().enumerate() {
            let key = format!("targets[{i}]");
            let name = t.name.clone().unwrap_or_default();
            if name.trim().is_empty() {
                return Err(ConfigError::invalid(
                    format!("{key}.name"),
                    "every target needs a non-empty name",
                ));
            }
            let target = MilvusTarget::from_raw(t, &key, &name)?;
            if !names.insert(target.name.clone()) {
                return Err(ConfigError::invalid(
                    format!("{key}.name"),
                    format!("duplicate target name {:?}", target.name),
                ));
            }
            targets.push(target);
        }

        let cache = CacheConfig {
            ttl: raw.cache.ttl.0,
            refresh_interval: raw.cache.refresh_interval.0,
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
        let mut required = Vec::new();
        for (i, c) in raw.readiness.required_collections.iter().enumerate() {
            let r = CollectionRef::parse(c).ok_or_else(|| {
                ConfigError::invalid(
                    format!("readiness.required_collections[{i}]"),
                    format!("{c:?} is not a collection name or db.collection"),
                )
            })?;
            required.push(r);
        }
        let env_lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut dependencies: Vec<DependencyConfig> = Vec::new();
        for (i, d) in raw.dependencies.into_iter().enumerate() {
            let dep = DependencyConfig::from_raw(d, i, &env_lookup)?;
            // A rule of the same name is refused by `checks::validate`: the rules are the
            // checks', above config in the floor plan.
            if names.contains(&dep.name) {
                return Err(ConfigError::invalid(
                    format!("dependencies[{i}].name"),
                    format!("{:?} is already the name of a rule or target", dep.name),
                ));
            }
            if dependencies.iter().any(|o| o.name == dep.name) {
                return Err(ConfigError::invalid(
                    format!("dependencies[{i}].name"),
                    format!("duplicate dependency name {:?}", dep.name),
                ));
            }
            dependencies.push(dep);
        }

        // Each name is checked against the checks' rules and the dependencies by
        // `checks::validate` when the checks are built (start-up, `check`, reload): config sits
        // below the checks and cannot see their rules.
        let disabled: Vec<String> = raw
            .readiness
            .disabled_rules
            .iter()
            .map(|r| r.trim().to_string())
            .collect();
        let mut quota_states = Vec::new();
        for (i, q) in raw.readiness.quota_states_not_ready.iter().enumerate() {
            let state = crate::model::QuotaState::parse(q.trim()).ok_or_else(|| {
                ConfigError::invalid(
                    format!("readiness.quota_states_not_ready[{i}]"),
                    format!(
                        "unknown quota state {q:?} (ReadLimited, WriteLimited, DenyToRead, DenyToWrite, DenyToDDL)"
                    ),
                )
            })?;
            quota_states.push(state);
        }
        let mut probes = Vec::new();
        for (i, p) in raw.readiness.probes.into_iter().enumerate() {
            probes.push(ProbeConfig::from_raw(p, i)?);
        }
        let readiness = ReadinessConfig {
            memory_percent_max: pct(
                "readiness.memory_percent_max",
                raw.readiness.memory_percent_max,
            )?,
            disk_percent_max: pct("readiness.disk_percent_max", raw.readiness.disk_percent_max)?,
            required_collections: required,
            disabled_rules: disabled,
            quota_states_not_ready: quota_states,
            probes,
        };

        if raw.system.disk_paths.is_empty() {
            return Err(ConfigError::invalid(
                "system.disk_paths",
                "needs at least one path (default [\"/\"])",
            ));
        }
        for (i, p) in raw.system.disk_paths.iter().enumerate() {
            if !p.is_absolute() {
                return Err(ConfigError::invalid(
                    format!("system.disk_paths[{i}]"),
                    format!("{} is not an absolute path", p.display()),
                ));
            }
        }
        if raw.system.cpu_sample_interval.0 < Duration::from_millis(200) {
            return Err(ConfigError::invalid(
                "system.cpu_sample_interval",
                "must be at least 200ms (CPU usage needs two samples apart)",
            ));
        }
        bounded(
            "system.cpu_sample_interval",
            raw.system.cpu_sample_interval.0,
            Duration::ZERO,
            MAX_CPU_SAMPLE_INTERVAL,
        )?;
        let system = SystemConfig {
            disk_paths: raw.system.disk_paths,
            cpu_sample_interval: raw.system.cpu_sample_interval.0,
        };

        Ok(Config {
            listen_address,
            scrape_timeout_offset,
            header_read_timeout,
            max_connections,
            write_timeout,
            max_requests,
            dependencies,
            log_level,
            log_format,
            milvus,
            targets,
            cache,
            readiness,
            system,
            file,
        })
    }

    /// Every target, the default one first.
    pub fn all_targets(&self) -> impl Iterator<Item = &MilvusTarget> {
        std::iter::once(&self.milvus).chain(self.targets.iter())
    }

    /// Every secret value in the configuration, for redaction checks.
    pub fn secrets(&self) -> Vec<&str> {
        let headers = self.dependencies.iter().flat_map(|d| match &d.kind {
            DependencyKind::Http(h) => h.headers.iter().map(|(_, v)| v.expose()).collect(),
            DependencyKind::Tcp { .. } => Vec::new(),
        });
        self.all_targets()
            .flat_map(|t| t.credentials.secrets())
            .chain(headers)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

impl MilvusTarget {
    fn from_raw(raw: RawMilvus, key: &str, default_name: &str) -> Result<Self, ConfigError> {
        let name = raw
            .name
            .clone()
            .unwrap_or_else(|| default_name.to_string())
            .trim()
            .to_string();
        if name.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                "must not be empty",
            ));
        }
        let address = normalize_address(&raw.address)
            .map_err(|p| ConfigError::invalid(format!("{key}.address"), p))?;
        bounded(
            &format!("{key}.timeout"),
            raw.timeout.0,
            Duration::from_millis(1),
            MAX_TIMEOUT,
        )?;
        if !(1..=1024).contains(&raw.max_concurrency) {
            return Err(ConfigError::invalid(
                format!("{key}.max_concurrency"),
                format!("{} is outside 1-1024", raw.max_concurrency),
            ));
        }
        let read_secret = |field: &str, path: &Path| -> Result<Secret, ConfigError> {
            let text = read_bounded_text(path).map_err(|e| {
                ConfigError::invalid(
                    format!("{key}.{field}"),
                    format!("cannot read {}: {}", path.display(), io_reason(&e)),
                )
            })?;
            Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
        };
        let password = match (&raw.password, &raw.password_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    format!("{key}.password_file"),
                    "set either password or password_file, not both",
                ))
            }
            (Some(p), None) => Some(p.clone()),
            (None, Some(path)) => Some(read_secret("password_file", path)?),
            (None, None) => None,
        };
        let token = match (&raw.token, &raw.token_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    format!("{key}.token_file"),
                    "set either token or token_file, not both",
                ))
            }
            (Some(t), None) => Some(t.clone()),
            (None, Some(path)) => Some(read_secret("token_file", path)?),
            (None, None) => None,
        };
        let username = raw.username.filter(|u| !u.is_empty());
        let credentials = match (username, password, token) {
            (_, _, Some(t)) if !t.is_empty() => Credentials::Token(t),
            (Some(u), p, _) => Credentials::UserPassword {
                username: u,
                password: p.unwrap_or_default(),
            },
            (None, Some(p), _) if !p.is_empty() => {
                return Err(ConfigError::invalid(
                    format!("{key}.username"),
                    "a password is set but no username",
                ))
            }
            _ => Credentials::None,
        };
        let mut databases = Vec::new();
        for (i, db) in raw.databases.iter().enumerate() {
            let db = db.trim();
            if db.is_empty() || db.parse::<tonic::metadata::AsciiMetadataValue>().is_err() {
                return Err(ConfigError::invalid(
                    format!("{key}.databases[{i}]"),
                    format!("{db:?} is not a database name"),
                ));
            }
            if !databases.iter().any(|d| d == db) {
                databases.push(db.to_string());
            }
        }
        let tls = TlsConfig::from_raw(raw.tls, &address, key)?;
        let metrics_address = match raw.metrics_address.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => Some(
                normalize_http_base(a)
                    .map_err(|p| ConfigError::invalid(format!("{key}.metrics_address"), p))?,
            ),
        };
        Ok(MilvusTarget {
            metrics_address,
            replicas: raw.replicas,
            name,
            address,
            credentials,
            databases,
            timeout: raw.timeout.0,
            max_concurrency: raw.max_concurrency as usize,
            tls,
        })
    }
}

impl TlsConfig {
    fn from_raw(raw: RawTls, address: &str, key: &str) -> Result<Option<Self>, ConfigError> {
        let read = |field: &str, path: &Path| {
            read_bounded(path).map_err(|e| {
                ConfigError::invalid(
                    format!("{key}.tls.{field}"),
                    format!("cannot read {}: {}", path.display(), io_reason(&e)),
                )
            })
        };
        let wants_tls = address.starts_with("https://")
            || raw.ca_file.is_some()
            || raw.cert_file.is_some()
            || raw.key_file.is_some()
            || raw.server_name.is_some();
        if !wants_tls {
            return Ok(None);
        }
        if !address.starts_with("https://") {
            return Err(ConfigError::invalid(
                format!("{key}.address"),
                "tls settings need an https:// address",
            ));
        }
        let ca_pem = raw
            .ca_file
            .as_deref()
            .map(|p| read("ca_file", p))
            .transpose()?;
        let identity_pem = match (&raw.cert_file, &raw.key_file) {
            (Some(c), Some(k)) => Some((read("cert_file", c)?, read("key_file", k)?)),
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    format!("{key}.tls.key_file"),
                    "cert_file is set, key_file is missing",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    format!("{key}.tls.cert_file"),
                    "key_file is set, cert_file is missing",
                ))
            }
            (None, None) => None,
        };
        Ok(Some(TlsConfig {
            ca_pem,
            identity_pem,
            server_name: raw.server_name,
        }))
    }
}

impl ProbeConfig {
    fn from_raw(raw: RawProbe, i: usize) -> Result<Self, ConfigError> {
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

impl DependencyConfig {
    fn from_raw(
        raw: RawDependency,
        i: usize,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let key = |k: &str| format!("dependencies[{i}].{k}");
        let name = raw
            .name
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::invalid(
                key("name"),
                "needs a name of letters, digits, '_' or '-'",
            ));
        }
        bounded(
            &key("timeout"),
            raw.timeout.0,
            Duration::from_millis(1),
            MAX_TIMEOUT,
        )?;
        let kind = match (raw.kind.as_deref().map(str::trim), &raw.url, &raw.address) {
            (Some("http"), Some(url), None) | (None, Some(url), None) => {
                let url = url::Url::parse(url.trim())
                    .map_err(|e| ConfigError::invalid(key("url"), format!("not a URL ({e})")))?;
                if url.scheme() != "http" && url.scheme() != "https" {
                    return Err(ConfigError::invalid(
                        key("url"),
                        "must be http:// or https://",
                    ));
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(ConfigError::invalid(
                        key("url"),
                        "credentials do not belong in the URL; use headers",
                    ));
                }
                let method = raw.method.trim().to_ascii_uppercase();
                if !["GET", "HEAD", "POST", "OPTIONS"].contains(&method.as_str()) {
                    return Err(ConfigError::invalid(
                        key("method"),
                        format!("{method:?} is not GET, HEAD, POST or OPTIONS"),
                    ));
                }
                if let Some(bad) = raw.expect_status.iter().find(|s| !(100..=599).contains(*s)) {
                    return Err(ConfigError::invalid(
                        key("expect_status"),
                        format!("{bad} is not an HTTP status"),
                    ));
                }
                let expect_body = match (raw.expect_body, raw.expect_body_regex) {
                    (Some(_), Some(_)) => {
                        return Err(ConfigError::invalid(
                            key("expect_body_regex"),
                            "set either expect_body or expect_body_regex",
                        ))
                    }
                    (Some(s), None) => Some(BodyMatch::Substring(s)),
                    (None, Some(r)) => {
                        Some(BodyMatch::Regex(regex::Regex::new(&r).map_err(|e| {
                            ConfigError::invalid(key("expect_body_regex"), one_line(&e.to_string()))
                        })?))
                    }
                    (None, None) => None,
                };
                let mut headers = Vec::new();
                for (h, v) in raw.headers {
                    let hk = key(&format!("headers.{h}"));
                    if h.parse::<reqwest::header::HeaderName>().is_err() {
                        return Err(ConfigError::invalid(hk, "is not a valid header name"));
                    }
                    let value = match v {
                        RawHeaderValue::Inline(s) => s,
                        RawHeaderValue::From(from) => {
                            let base = match (&from.env, &from.file) {
                                (Some(var), None) => env(var).ok_or_else(|| {
                                    ConfigError::invalid(
                                        hk.clone(),
                                        format!("environment variable {var} is not set"),
                                    )
                                })?,
                                (None, Some(path)) => read_bounded_text(path)
                                    .map_err(|e| {
                                        ConfigError::invalid(
                                            hk.clone(),
                                            format!(
                                                "cannot read {}: {}",
                                                path.display(),
                                                io_reason(&e)
                                            ),
                                        )
                                    })?
                                    .trim_end_matches(['\n', '\r'])
                                    .to_string(),
                                _ => {
                                    return Err(ConfigError::invalid(
                                        hk,
                                        "give exactly one of env or file",
                                    ))
                                }
                            };
                            Secret::new(format!("{}{base}", from.prefix))
                        }
                    };
                    if value
                        .expose()
                        .parse::<reqwest::header::HeaderValue>()
                        .is_err()
                    {
                        return Err(ConfigError::invalid(hk, "is not a valid header value"));
                    }
                    headers.push((h, value));
                }
                let ca_pem = match &raw.tls.ca_file {
                    None => None,
                    Some(p) => Some(read_bounded(p).map_err(|e| {
                        ConfigError::invalid(
                            key("tls.ca_file"),
                            format!("cannot read {}: {}", p.display(), io_reason(&e)),
                        )
                    })?),
                };
                DependencyKind::Http(Box::new(HttpDependency {
                    url,
                    method,
                    expect_status: raw.expect_status,
                    expect_body,
                    headers,
                    ca_pem,
                    insecure_skip_verify: raw.tls.insecure_skip_verify,
                }))
            }
            (Some("tcp"), None, Some(address)) | (None, None, Some(address)) => {
                let address = address.trim().to_string();
                match address.rsplit_once(':') {
                    Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
                    _ => {
                        return Err(ConfigError::invalid(
                            key("address"),
                            format!("{address:?} is not host:port"),
                        ))
                    }
                }
                DependencyKind::Tcp { address }
            }
            (Some(k), _, _) if k != "http" && k != "tcp" => {
                return Err(ConfigError::invalid(
                    key("kind"),
                    format!("{k:?} is not http or tcp"),
                ))
            }
            _ => {
                return Err(ConfigError::invalid(
                    key("kind"),
                    "an http dependency needs url, a tcp one needs address (and not both)",
                ))
            }
        };
        Ok(DependencyConfig {
            name,
            timeout: raw.timeout.0,
            required: raw.required,
            kind,
        })
    }
}

/// `http://host:port` for a plain HTTP base address (Milvus's metrics port).
fn normalize_http_base(input: &str) -> Result<String, String> {
    let with_scheme = if input.contains("://") {
        input.to_string()
    } else {
        format!("http://{input}")
    };
    let url = url::Url::parse(&with_scheme)
        .map_err(|e| format!("{input:?} is not an address like http://host:9091 ({e})"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err("use http:// or https://".into());
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("{input:?} has no host"))?;
    let port = url.port_or_known_default().unwrap_or(9091);
    let port = if url.port().is_none() && !with_scheme.contains(&format!("{host}:{port}")) {
        9091
    } else {
        port
    };
    // A path is kept: the metrics port may sit behind a proxy under a prefix.
    let path = url.path().trim_end_matches('/');
    Ok(format!("{}://{}:{}{}", url.scheme(), host, port, path))
}

/// Accepts `host:port`, `http://host[:port]`, `https://host[:port]`; the port defaults to 19530.
fn normalize_address(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let url = url::Url::parse(&with_scheme)
        .map_err(|e| format!("{input:?} is not an address like http://host:19530 ({e})"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "scheme {:?} is not supported (use http:// or https://)",
            url.scheme()
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("{input:?} has no host"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials do not belong in the address; use username/password".into());
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(format!(
            "{input:?} has a path; give only scheme://host:port"
        ));
    }
    // `url` forgets a port equal to the scheme's default (https://x:443); keep it if written.
    let port = match (url.port(), url.port_or_known_default()) {
        (Some(p), _) => p,
        (None, Some(d)) if with_scheme.contains(&format!("{host}:{d}")) => d,
        _ => 19530,
    };
    Ok(format!("{}://{}:{}", url.scheme(), host, port))
}

/// Largest file the configuration reads (secrets, certificates, web config).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The `MILVUS_EXPORTER_SECTION__KEY` variables, as a configuration source that takes every
/// value as written. `config::Environment` guesses types (`007` became `7`, `TRUE` became
/// `true`, a 25-digit token became a float), which rewrote passwords, tokens and names on
/// their way to Milvus. Here every value is a string, and the typed fields (numbers,
/// booleans, durations) are parsed from that string by the deserializer, as for the file. The
/// keys that hold lists take a comma-separated value.
#[derive(Clone, Debug)]
struct VerbatimEnv {
    values: config::Map<String, config::Value>,
}

impl VerbatimEnv {
    /// Keys whose environment value is a comma-separated list.
    const LIST_KEYS: [&'static str; 4] = [
        "milvus.databases",
        "readiness.required_collections",
        "readiness.disabled_rules",
        "system.disk_paths",
    ];

    /// The config key a variable sets, if it is one of ours. Every key lives in a section, so
    /// a real override always has `__` after the prefix; variables without it are not ours:
    /// Kubernetes injects MILVUS_EXPORTER_PORT=tcp://… and MILVUS_EXPORTER_SERVICE_HOST into
    /// every pod when a Service has this name.
    fn key_of(var: &str) -> Option<String> {
        let rest = var.strip_prefix(ENV_PREFIX)?.strip_prefix('_')?;
        rest.contains("__")
            .then(|| rest.to_ascii_lowercase().replace("__", "."))
    }

    fn from_vars(env: &[(String, String)]) -> Self {
        let origin = "the environment".to_string();
        let mut values = config::Map::new();
        for (var, value) in env {
            let Some(key) = Self::key_of(var) else {
                continue;
            };
            let kind = if Self::LIST_KEYS.contains(&key.as_str()) {
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

/// The longest any timeout may be (Milvus, probes, dependencies, header reads, writes). Past it a
/// value is a typo (`y` for `s`) that would overflow deadlines deep inside the gRPC stack;
/// no health check should wait longer than this anyway.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// The longest `cache.ttl` and `cache.refresh_interval` may be: data a day old is not health.
pub const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// The longest `system.cpu_sample_interval` may be.
pub const MAX_CPU_SAMPLE_INTERVAL: Duration = Duration::from_secs(3600);

/// `d` if it lies within `min..=max`, else an error naming `key` and the range.
fn bounded(key: &str, d: Duration, min: Duration, max: Duration) -> Result<Duration, ConfigError> {
    let show = |d: Duration| humantime::format_duration(d).to_string();
    if d < min {
        let why = if min <= Duration::from_millis(1) {
            "must be greater than 0".to_string()
        } else {
            format!("must be at least {}", show(min))
        };
        return Err(ConfigError::invalid(key, why));
    }
    if d > max {
        return Err(ConfigError::invalid(
            key,
            format!("{} is longer than the limit of {}", show(d), show(max)),
        ));
    }
    Ok(d)
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`]. A FIFO would block start-up forever and
/// a device such as /dev/zero would exhaust memory; both are refused with a reason instead.
pub fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than 1 MiB",
        ));
    }
    Ok(buf)
}

fn read_bounded_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_bounded(path)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// The `config` crate's messages can span lines; the contract is one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `config` crate prints a key inside a list without its dot (`targets[0]timeout`);
/// errors must name the key as it is written (`targets[0].timeout`).
fn key_paths(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ']'
            && chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')
        {
            out.push('.');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load_toml(toml: &str, e: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).expect("write");
        Config::load_from(Some(&path), &env(e), &Overrides::default())
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let c = Config::load_from(None, &[], &Overrides::default()).expect("defaults load");
        assert_eq!(c.listen_address.to_string(), "0.0.0.0:9727");
        assert_eq!(c.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.max_connections, 1024);
        assert_eq!(c.write_timeout, Duration::from_secs(30));
        assert_eq!(c.max_requests, 40);
        assert_eq!(c.milvus.address, "http://localhost:19530");
        assert_eq!(c.milvus.timeout, Duration::from_secs(3));
        assert_eq!(c.milvus.max_concurrency, 16);
        assert_eq!(c.cache.ttl, Duration::from_secs(10));
        assert_eq!(c.cache.refresh_interval, Duration::from_secs(30));
        assert_eq!(c.readiness.memory_percent_max, 90.0);
        assert_eq!(c.readiness.disk_percent_max, 95.0);
        assert_eq!(c.system.disk_paths, vec![PathBuf::from("/")]);
        assert_eq!(c.milvus.name, "default");
    }

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let c = load_toml(
            "[milvus]\naddress = \"http://file:1\"\ntimeout = \"1s\"\n[cache]\nttl = \"5s\"\n",
            &[
                ("MILVUS_EXPORTER_CACHE__TTL", "2s"),
                ("MILVUS_EXPORTER_MILVUS__ADDRESS", "http://env:2"),
            ],
        )
        .expect("loads");
        assert_eq!(c.cache.ttl, Duration::from_secs(2), "env beats file");
        assert_eq!(c.milvus.address, "http://env:2");
        assert_eq!(
            c.milvus.timeout,
            Duration::from_secs(1),
            "file beats default"
        );

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[milvus]\naddress = \"http://file:1\"\n").expect("write");
        let c = Config::load_from(
            Some(&path),
            &env(&[("MILVUS_EXPORTER_MILVUS__ADDRESS", "http://env:2")]),
            &Overrides {
                milvus_address: Some("flag:3".into()),
                ..Default::default()
            },
        )
        .expect("loads");
        assert_eq!(c.milvus.address, "http://flag:3", "flag beats env");
    }

    #[test]
    fn env_lists_and_numbers_parse() {
        let c = Config::load_from(
            None,
            &env(&[
                (
                    "MILVUS_EXPORTER_READINESS__REQUIRED_COLLECTIONS",
                    "docs,db2.faq",
                ),
                ("MILVUS_EXPORTER_READINESS__MEMORY_PERCENT_MAX", "75"),
                ("MILVUS_EXPORTER_READINESS__DISABLED_RULES", "disk"),
            ]),
            &Overrides::default(),
        )
        .expect("loads");
        assert_eq!(c.readiness.memory_percent_max, 75.0);
        assert_eq!(
            c.readiness.required_collections,
            vec![
                CollectionRef {
                    db_name: "default".into(),
                    name: "docs".into()
                },
                CollectionRef {
                    db_name: "db2".into(),
                    name: "faq".into()
                }
            ]
        );
        assert_eq!(c.readiness.disabled_rules, vec!["disk".to_string()]);
    }

    #[test]
    fn web_limits_are_bounded() {
        for (toml, key) in [
            ("[web]\nwrite_timeout = \"0s\"\n", "web.write_timeout"),
            ("[web]\nwrite_timeout = \"11m\"\n", "web.write_timeout"),
            ("[web]\nmax_requests = -1\n", "web.max_requests"),
            ("[web]\nmax_requests = 1000001\n", "web.max_requests"),
            ("[web]\nmax_connections = 0\n", "web.max_connections"),
        ] {
            let err = load_toml(toml, &[]).expect_err(toml).to_string();
            assert!(err.contains(key), "{toml:?} gave {err:?}, wanted key {key}");
        }
        let c = load_toml("[web]\nwrite_timeout = \"10m\"\nmax_requests = 0\n", &[])
            .expect("the bounds themselves are allowed");
        assert_eq!(c.write_timeout, Duration::from_secs(600));
        assert_eq!(c.max_requests, 0);
    }

    #[test]
    fn the_shipped_sample_config_loads_and_states_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/milvus_exporter.toml");
        let sample = Config::load_from(Some(&path), &[], &Overrides::default())
            .expect("config/milvus_exporter.toml loads");
        let defaults = Config::load_from(None, &[], &Overrides::default()).expect("defaults");
        assert_eq!(sample.milvus, defaults.milvus);
        assert_eq!(sample.cache, defaults.cache);
        assert_eq!(sample.readiness, defaults.readiness);
        assert_eq!(sample.system, defaults.system);
        assert_eq!(sample.listen_address, defaults.listen_address);
        assert_eq!(sample.header_read_timeout, defaults.header_read_timeout);
        assert_eq!(sample.max_connections, defaults.max_connections);
        assert_eq!(sample.write_timeout, defaults.write_timeout);
        assert_eq!(sample.max_requests, defaults.max_requests);
        assert_eq!(sample.scrape_timeout_offset, defaults.scrape_timeout_offset);
    }

    #[test]
    fn secret_files_that_are_not_regular_files_are_refused_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("pw.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        // Reading a FIFO with no writer would block start-up forever.
        for path in [fifo.as_path(), Path::new("/dev/zero")] {
            let err = load_toml(
                &format!(
                    "[milvus]\nusername = \"root\"\npassword_file = \"{}\"\n",
                    path.display()
                ),
                &[],
            )
            .expect_err("refused")
            .to_string();
            assert!(
                err.contains("milvus.password_file") && err.contains("not a regular file"),
                "{err}"
            );
        }
    }

    #[test]
    fn kubernetes_service_variables_are_not_config() {
        let c = Config::load_from(
            None,
            &env(&[
                ("MILVUS_EXPORTER_PORT", "tcp://10.0.0.1:9727"),
                ("MILVUS_EXPORTER_SERVICE_HOST", "10.0.0.1"),
                ("MILVUS_EXPORTER_PORT_9727_TCP_ADDR", "10.0.0.1"),
            ]),
            &Overrides::default(),
        );
        assert!(c.is_ok(), "{:?}", c.err());
        let err = Config::load_from(
            None,
            &env(&[("MILVUS_EXPORTER_CACHE__TTLL", "1s")]),
            &Overrides::default(),
        )
        .expect_err("a misspelt key in a section is still an error");
        assert!(err.to_string().contains("ttll"), "{err}");
    }

    #[test]
    fn address_forms_normalise() {
        assert_eq!(
            normalize_address("localhost").unwrap(),
            "http://localhost:19530"
        );
        assert_eq!(
            normalize_address("10.0.0.1:1").unwrap(),
            "http://10.0.0.1:1"
        );
        assert_eq!(
            normalize_address("https://m.example:443").unwrap(),
            "https://m.example:443"
        );
        assert!(normalize_address("ftp://x:1").is_err());
        assert!(normalize_address("http://u:p@x:1").is_err());
        assert!(normalize_address("http://x:1/path").is_err());
        assert!(normalize_address("").is_err());
    }

    #[test]
    fn password_file_is_read_and_trimmed_and_never_debug_printed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret-pw\n").expect("write");
        let c = load_toml(
            &format!(
                "[milvus]\nusername = \"root\"\npassword_file = \"{}\"\n",
                pw.display()
            ),
            &[],
        )
        .expect("loads");
        assert_eq!(c.secrets(), vec!["s3cret-pw"]);
        assert!(!format!("{c:?}").contains("s3cret-pw"));
    }

    /// Each malformed input must name its key; the full table lives in tests/config_errors.rs.
    #[test]
    fn errors_name_the_key() {
        let cases: &[(&str, &str)] = &[
            ("[cache]\nttl = \"3x\"\n", "cache.ttl"),
            (
                "[readiness]\nmemory_percent_max = 120\n",
                "readiness.memory_percent_max",
            ),
            ("[milvus]\naddress = \"ftp://x\"\n", "milvus.address"),
            (
                "[milvus]\npassword_file = \"/nonexistent/pw\"\n",
                "milvus.password_file",
            ),
            ("[log]\nlevel = \"loud\"\n", "log.level"),
            ("[[targets]]\nname = \"\"\n", "targets[0].name"),
            (
                "[[targets]]\nname = \"a\"\n[[targets]]\nname = \"a\"\n",
                "targets[1].name",
            ),
            ("[cache]\nbogus = 1\n", "bogus"),
        ];
        for (toml, key) in cases {
            let err = load_toml(toml, &[]).expect_err(toml).to_string();
            assert!(err.contains(key), "{toml:?} gave {err:?}, wanted key {key}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }
}
