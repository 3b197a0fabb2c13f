//! `[milvus]` and each `[[targets]]` entry: where a Milvus is, how to authenticate, TLS.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMilvus {
    pub(super) name: Option<String>,
    pub(super) address: Option<String>,
    /// `[[targets]]` only: the module whose readiness, probes, dependencies and RAG probes
    /// the target gets (`default`: the top-level sections).
    pub(super) module: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<Secret>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) token: Option<Secret>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) databases: Vec<String>,
    pub(super) timeout: HumanDuration,
    pub(super) max_concurrency: i64,
    pub(super) tls: RawTls,
    pub(super) metrics_address: Option<String>,
    pub(super) quota_metrics_address: Option<String>,
    pub(super) replicas: bool,
    pub(super) collections: RawCollections,
    pub(super) max_collections: i64,
    pub(super) max_listed_collections: i64,
}

/// `[milvus.collections]`: which collections get per-collection series.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCollections {
    pub(super) include: Vec<String>,
    pub(super) exclude: Vec<String>,
}

impl Default for RawMilvus {
    fn default() -> Self {
        RawMilvus {
            name: None,
            address: None,
            module: None,
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
            quota_metrics_address: None,
            replicas: false,
            collections: RawCollections::default(),
            max_collections: DEFAULT_MAX_COLLECTIONS as i64,
            max_listed_collections: DEFAULT_MAX_LISTED_COLLECTIONS as i64,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTls {
    pub(super) ca_file: Option<PathBuf>,
    pub(super) cert_file: Option<PathBuf>,
    pub(super) key_file: Option<PathBuf>,
    pub(super) server_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MilvusTarget {
    pub name: String,
    /// The module this target is probed with (`default` for the main target).
    pub module: String,
    /// Normalised `http://host:port` or `https://host:port`.
    pub address: String,
    pub credentials: Credentials,
    pub databases: Vec<String>,
    pub timeout: Duration,
    pub max_concurrency: usize,
    pub tls: Option<TlsConfig>,
    /// Milvus's metrics/health port (`http://host:9091`), for per-component health (and, on
    /// a standalone, the quota states).
    pub metrics_address: Option<String>,
    /// The metrics port of the process running rootcoord (2.6: mixcoord) in a cluster, where
    /// Milvus 2.4+ reports its quota states; `None` uses `metrics_address`.
    pub quota_metrics_address: Option<String>,
    /// Ask GetReplicas for each loaded collection (one more RPC per loaded collection).
    pub replicas: bool,
    /// Which collections get per-collection series (`milvus.collections.include/exclude`).
    pub filter: CollectionFilter,
    /// At most this many collections, the first in (database, name) order, get series.
    pub max_collections: usize,
    /// The most collection names one database's listing may hold: a ShowCollections reply
    /// naming more fails the `collections` check, counted before any name is decoded.
    pub max_listed_collections: usize,
    /// `cache.inventory_interval`, copied here because each target's collections check keeps
    /// its own inventory.
    pub inventory_interval: Duration,
}

impl MilvusTarget {
    /// Whether `other` connects to Milvus exactly as this does (address, credentials, TLS,
    /// timeout): then a reload may keep this target's gRPC channel.
    pub fn same_connection(&self, other: &MilvusTarget) -> bool {
        self.address == other.address
            && self.credentials == other.credentials
            && self.tls == other.tls
            && self.timeout == other.timeout
    }
}

/// The default `milvus.max_listed_collections`: Milvus's own default ceiling on collections
/// in a whole cluster (`quotaAndLimits.limits.maxCollectionNum`), so a real database never
/// lists more unless its operator raised that ceiling.
pub const DEFAULT_MAX_LISTED_COLLECTIONS: usize = 65_536;
/// The largest `milvus.max_listed_collections` accepted; the reply's byte bound (64 MiB) is
/// reached long before this many names of any real length.
pub const MAX_MAX_LISTED_COLLECTIONS: usize = 1_000_000;

/// Where the main target is when nothing says otherwise.
pub const DEFAULT_ADDRESS: &str = "http://localhost:19530";

/// The default `milvus.max_collections`: past it a database is too big to export one series
/// per collection without the operator saying so.
pub const DEFAULT_MAX_COLLECTIONS: usize = 10_000;
/// The largest `milvus.max_collections` accepted: ten series per collection at this count is
/// already more than one scrape should carry.
pub const MAX_MAX_COLLECTIONS: usize = 1_000_000;
/// Regex patterns per list, and the size each may compile to: a filter is a handful of
/// patterns, and a pathological one must fail at start-up, not grow the process.
const MAX_PATTERNS: usize = 256;
const MAX_PATTERN_BYTES: usize = 1 << 20;

/// `milvus.collections.include` and `exclude`: fully anchored regexes matched against
/// `db.collection`. An empty include list includes everything; exclude wins over include.
#[derive(Clone, Debug, Default)]
pub struct CollectionFilter {
    include: Vec<regex::Regex>,
    exclude: Vec<regex::Regex>,
}

impl PartialEq for CollectionFilter {
    fn eq(&self, other: &Self) -> bool {
        let src = |v: &[regex::Regex]| v.iter().map(|r| r.as_str().to_string()).collect::<Vec<_>>();
        src(&self.include) == src(&other.include) && src(&self.exclude) == src(&other.exclude)
    }
}

impl CollectionFilter {
    /// Whether `db.name` gets series.
    pub fn admits(&self, db: &str, name: &str) -> bool {
        if self.include.is_empty() && self.exclude.is_empty() {
            return true;
        }
        let full = format!("{db}.{name}");
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(&full)))
            && !self.exclude.iter().any(|r| r.is_match(&full))
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    fn from_raw(raw: &RawCollections, key: &str) -> Result<Self, ConfigError> {
        let compile = |list: &[String], field: &str| -> Result<Vec<regex::Regex>, ConfigError> {
            // A pattern written twice matches what it matches once: kept once, so the bound
            // counts patterns, not lines (errors still name the position as written).
            let mut seen = HashSet::new();
            let unique: Vec<(usize, &String)> = list
                .iter()
                .enumerate()
                .filter(|(_, p)| seen.insert(p.as_str()))
                .collect();
            if unique.len() > MAX_PATTERNS {
                return Err(ConfigError::invalid(
                    format!("{key}.collections.{field}"),
                    format!("{} patterns; at most {MAX_PATTERNS}", unique.len()),
                ));
            }
            unique
                .into_iter()
                .map(|(i, p)| {
                    let k = format!("{key}.collections.{field}[{i}]");
                    if p.is_empty() {
                        return Err(ConfigError::invalid(
                            k,
                            "an empty pattern matches nothing useful",
                        ));
                    }
                    // Anchored as Prometheus anchors its regexes: `docs` is `^(?:docs)$`, so a
                    // pattern means the whole `db.collection`, never a part of it.
                    regex::RegexBuilder::new(&format!("^(?:{p})$"))
                        .size_limit(MAX_PATTERN_BYTES)
                        .build()
                        .map_err(|e| ConfigError::invalid(k, one_line(&e.to_string())))
                })
                .collect()
        };
        Ok(CollectionFilter {
            include: compile(&raw.include, "include")?,
            exclude: compile(&raw.exclude, "exclude")?,
        })
    }
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

impl MilvusTarget {
    pub(super) fn from_raw(
        raw: RawMilvus,
        key: &str,
        default_name: &str,
    ) -> Result<Self, ConfigError> {
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
        let address = normalize_address(raw.address.as_deref().unwrap_or(DEFAULT_ADDRESS))
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
        // A database listed twice is listed once.
        let mut databases = Vec::new();
        let mut seen = HashSet::new();
        for (i, db) in raw.databases.iter().enumerate() {
            let db = db.trim();
            if db.is_empty() || db.parse::<tonic::metadata::AsciiMetadataValue>().is_err() {
                return Err(ConfigError::invalid(
                    format!("{key}.databases[{i}]"),
                    format!("{} is not a database name", shown(db)),
                ));
            }
            if seen.insert(db) {
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
        let quota_metrics_address = match raw.quota_metrics_address.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => Some(
                normalize_http_base(a)
                    .map_err(|p| ConfigError::invalid(format!("{key}.quota_metrics_address"), p))?,
            ),
        };
        let filter = CollectionFilter::from_raw(&raw.collections, key)?;
        if !(1..=MAX_MAX_COLLECTIONS as i64).contains(&raw.max_collections) {
            return Err(ConfigError::invalid(
                format!("{key}.max_collections"),
                format!("{} is outside 1-{MAX_MAX_COLLECTIONS}", raw.max_collections),
            ));
        }
        if !(1..=MAX_MAX_LISTED_COLLECTIONS as i64).contains(&raw.max_listed_collections) {
            return Err(ConfigError::invalid(
                format!("{key}.max_listed_collections"),
                format!(
                    "{} is outside 1-{MAX_MAX_LISTED_COLLECTIONS}",
                    raw.max_listed_collections
                ),
            ));
        }
        Ok(MilvusTarget {
            filter,
            max_collections: raw.max_collections as usize,
            max_listed_collections: raw.max_listed_collections as usize,
            // Set from `cache.inventory_interval` once that section is read.
            inventory_interval: Duration::from_secs(300),
            metrics_address,
            quota_metrics_address,
            replicas: raw.replicas,
            module: raw
                .module
                .clone()
                .unwrap_or_else(|| DEFAULT_MODULE.to_string()),
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
    pub(super) fn from_raw(
        raw: RawTls,
        address: &str,
        key: &str,
    ) -> Result<Option<Self>, ConfigError> {
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

/// `http://host:port` for a plain HTTP base address (Milvus's metrics port).
pub(super) fn normalize_http_base(input: &str) -> Result<String, String> {
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
pub(super) fn normalize_address(input: &str) -> Result<String, String> {
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
