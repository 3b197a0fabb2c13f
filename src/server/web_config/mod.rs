//! `--web.config.file`: the Prometheus exporter-toolkit web configuration, complete.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt           # or `cert:` inline PEM; relative to this file
//!   key_file: server.key            # or `key:` inline PEM
//!   client_ca_file: ca.crt          # or `client_ca:` inline PEM
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_allowed_sans: [prometheus.monitoring.svc]
//!   min_version: TLS12              # TLS12 (default) or TLS13
//!   max_version: TLS13
//!   cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]   # TLS 1.2 only, as in Go
//!   curve_preferences: [X25519, CurveP256]
//!   prefer_server_cipher_suites: true
//! http_server_config:
//!   http2: true                     # over TLS; plain HTTP is always HTTP/1.1
//!   headers:
//!     X-Frame-Options: deny
//! rate_limit:
//!   interval: 100ms                 # one request per interval, 0 = no limit
//!   burst: 20
//! basic_auth_users:
//!   prometheus: $2y$10$...          # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//! unauthenticated_paths: [/healthz, /readyz]   # our extension; this is the default
//! ```
//!
//! The file is read by serde into the types of `file.rs` (unknown keys refused, each error
//! naming its key path), then checked with the toolkit's rules: `tls.rs` builds the rustls
//! configuration, `http.rs` the headers and the rate limit, `auth.rs` checks passwords.
//!
//! `unauthenticated_paths` lets the kubelet probe while `/metrics` needs a password. It only
//! exempts paths from basic auth: a TLS client-certificate requirement applies to the whole
//! connection, so with `RequireAndVerifyClientCert` the kubelet cannot probe over HTTPS at all
//! (use `VerifyClientCertIfGiven` plus basic auth, or a probe through `milvus_exporter probe`).
//! The rate limit never applies to `/healthz` and `/readyz` (see [`RATE_LIMIT_EXEMPT`]).

mod auth;
mod file;
mod http;
pub mod p521_kx;
mod san;
mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use tokio_rustls::rustls;

pub use auth::{BasicAuth, Outcome, VERIFIED_CACHE_MAX, VERIFIED_CACHE_TTL};
pub use http::RateLimit;

use crate::config::{io_reason, read_bounded};

/// Paths that answer without a password when basic auth is on, unless the file says otherwise.
pub const DEFAULT_UNAUTHENTICATED_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// Paths `rate_limit` never counts or refuses. The kubelet probes them every few seconds and
/// treats a 429 as a failure: a limit meant to keep scrapers and floods off `/metrics` must
/// not get a healthy pod restarted or taken out of its Service. Both are answered from
/// memory (neither waits on Milvus), so leaving them unlimited costs little, and the
/// connection limits bound them like any other request. A separate bucket would not do: a
/// flood of `/healthz` would empty it and starve the kubelet all the same.
pub const RATE_LIMIT_EXEMPT: [&str; 2] = ["/healthz", "/readyz"];

/// A web configuration problem, tied to the key that caused it.
#[derive(Debug, thiserror::Error)]
#[error("web config: {key}: {problem}")]
pub struct WebConfigError {
    pub key: String,
    pub problem: String,
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> WebConfigError {
    WebConfigError {
        key: key.into(),
        problem: one_line(&problem.into()),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// TLS, HTTP and authentication settings for the server. `Default` is plain HTTP, no auth,
/// no extra headers, no rate limit.
pub struct WebConfig {
    /// `None`: plain HTTP. Its ALPN list carries `h2` when `http_server_config.http2` is on.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `None`: no authentication.
    pub auth: Option<BasicAuth>,
    /// Exact request paths that skip basic auth.
    pub unauthenticated_paths: Vec<String>,
    /// Where this came from (for reloads and log lines).
    pub file: Option<PathBuf>,
    /// `http_server_config.headers`, set on every response the router answers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `http_server_config.http2` (default true); only ever used over TLS, as in the toolkit.
    pub http2: bool,
    /// `rate_limit`, when its interval is positive.
    pub rate_limit: Option<RateLimit>,
    /// Settings taken with a change (an entry rustls cannot speak left out, a setting the
    /// chosen policy ignores): logged once, when the server first uses this configuration.
    warnings: Vec<String>,
    warned: AtomicBool,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            tls: None,
            auth: None,
            unauthenticated_paths: DEFAULT_UNAUTHENTICATED_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            file: None,
            headers: Vec::new(),
            http2: true,
            rate_limit: None,
            warnings: Vec::new(),
            warned: AtomicBool::new(false),
        }
    }
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("basic_auth_users", &self.auth.as_ref().map(|a| a.users()))
            .field("unauthenticated_paths", &self.unauthenticated_paths)
            .field("headers", &self.headers.len())
            .field("http2", &self.http2)
            .field("rate_limit", &self.rate_limit)
            .field("file", &self.file)
            .finish()
    }
}

impl WebConfig {
    /// Reads and checks `path`; relative file names inside it are relative to its directory.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = read_bounded(path)
            .and_then(|b| {
                String::from_utf8(b).map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")
                })
            })
            .map_err(|e| {
                invalid(
                    "--web.config.file",
                    format!("cannot read {}: {}", path.display(), io_reason(&e)),
                )
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = WebConfig::from_yaml(&text, base)?;
        config.file = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses the YAML text; `base` resolves relative certificate paths.
    pub fn from_yaml(text: &str, base: &Path) -> Result<WebConfig, WebConfigError> {
        let raw = parse(text)?;
        let mut config = WebConfig::default();
        if let Some(http) = raw.http_server_config {
            config.http2 = http.http2.unwrap_or(true);
            config.headers = http::headers(http.headers.map(|m| m.0).unwrap_or_default())?;
        }
        if let Some(rl) = raw.rate_limit {
            let interval = rl.interval.map(|d| d.0).unwrap_or(0);
            config.rate_limit = RateLimit::new(interval, rl.burst.unwrap_or(0));
        }
        if let Some(users) = raw.basic_auth_users {
            let mut checked = BTreeMap::new();
            for (user, hash) in users.0 {
                let key = format!("basic_auth_users.{}", http::shown(&user));
                if user.is_empty() || user.contains(':') {
                    return Err(invalid(
                        key,
                        "a user name must be non-empty and contain no ':' (basic auth could never match it)",
                    ));
                }
                let hash = hash
                    .map(|h| h.expose().trim().to_string())
                    .unwrap_or_default();
                if !auth::is_bcrypt(&hash) {
                    return Err(invalid(
                        key,
                        "is not a bcrypt hash (make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n')",
                    ));
                }
                checked.insert(user, hash);
            }
            if !checked.is_empty() {
                config.auth = Some(BasicAuth::new(checked));
            }
        }
        if let Some(paths) = raw.unauthenticated_paths {
            config.unauthenticated_paths = Vec::with_capacity(paths.len());
            for (i, p) in paths.into_iter().enumerate() {
                let p = p.unwrap_or_default();
                if !p.starts_with('/')
                    || p.contains(['?', '#'])
                    || p.chars().any(char::is_whitespace)
                {
                    return Err(invalid(
                        format!("unauthenticated_paths[{i}]"),
                        format!("{:?} is not a request path like /healthz", http::shown(&p)),
                    ));
                }
                config.unauthenticated_paths.push(p);
            }
        }
        if let Some(raw_tls) = raw.tls_server_config.filter(tls::enabled) {
            let built = tls::build(raw_tls, base, config.http2)?;
            config.tls = Some(built.config);
            config.warnings = built.warnings;
        }
        Ok(config)
    }

    /// Whether a request for `path` must carry valid credentials.
    pub fn needs_auth(&self, path: &str) -> bool {
        self.auth.is_some() && !self.unauthenticated_paths.iter().any(|p| p == path)
    }

    /// Whether `rate_limit` refuses a request for `path` now (and if not, counts it).
    pub fn rate_limited(&self, path: &str) -> bool {
        match &self.rate_limit {
            Some(limit) if !RATE_LIMIT_EXEMPT.contains(&path) => !limit.allow(),
            _ => false,
        }
    }

    /// Settings that were taken with a change; see the field.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Logs [`Self::warnings`] the first time it is called for this configuration (at start
    /// and after each reload, logging is set up by the time the server runs).
    pub fn log_warnings_once(&self) {
        if !self.warnings.is_empty() && !self.warned.swap(true, Ordering::Relaxed) {
            for w in &self.warnings {
                tracing::warn!(file = ?self.file, "web config: {w}");
            }
        }
    }
}

/// YAML → [`file::RawFile`], each error naming the key path it is about.
fn parse(text: &str) -> Result<file::RawFile, WebConfigError> {
    // An empty file (or only comments, or `null`) is plain HTTP, as in the toolkit.
    let de = yaml_serde::Deserializer::from_str(text);
    let raw: Option<file::RawFile> = serde_path_to_error::deserialize(de).map_err(|e| {
        // A broken file is reported as such, not as whatever key the streaming read reached
        // before the break. (A key written twice is the typed read's to name.)
        if let Err(syntax) = yaml_serde::from_str::<yaml_serde::Value>(text) {
            let msg = syntax.to_string();
            if !msg.contains("duplicate entry") {
                return invalid("--web.config.file", format!("not valid YAML: {msg}"));
            }
        }
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // yaml_serde prefixes its own idea of the path; the key comes first here already.
        let msg = inner
            .strip_prefix(&format!("{path}: "))
            .unwrap_or(&inner)
            .to_string();
        let mut key = if path == "." {
            "--web.config.file".to_string()
        } else {
            path
        };
        // An unknown key's error is raised at its parent: name the key itself.
        if let Some(field) = msg
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
        {
            key = if key == "--web.config.file" {
                field.to_string()
            } else if key.ends_with(&format!(".{field}")) || key == field {
                key
            } else {
                format!("{key}.{field}")
            };
        }
        invalid(key, msg)
    })?;
    Ok(raw.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml: &str) -> String {
        WebConfig::from_yaml(yaml, Path::new("/nonexistent"))
            .expect_err(yaml)
            .to_string()
    }

    #[test]
    fn empty_file_is_plain_http_without_auth() {
        for yaml in ["", "# nothing\n", "null\n", "---\n"] {
            let c = WebConfig::from_yaml(yaml, Path::new(".")).expect("empty loads");
            assert!(c.tls.is_none() && c.auth.is_none() && c.rate_limit.is_none());
            assert!(!c.needs_auth("/metrics"));
        }
    }

    #[test]
    fn problems_name_their_key() {
        let cases = [
            ("bogus: 1\n", "bogus"),
            (
                "tls_server_config:\n  key_file: k\n",
                "tls_server_config.cert_file",
            ),
            (
                "tls_server_config:\n  cert_file: c\n",
                "tls_server_config.key_file",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS10\n",
                "tls_server_config.min_version",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS111\n",
                "tls_server_config.min_version",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Maybe\n",
                "tls_server_config.client_auth_type",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, NOPE]\n",
                "tls_server_config.cipher_suites[1]",
            ),
            ("tls_server_config:\n  nope: 1\n", "tls_server_config.nope"),
            ("http_server_config:\n  http3: true\n", "http_server_config.http3"),
            ("http_server_config:\n  http2: maybe\n", "http_server_config.http2"),
            ("rate_limit:\n  interval: 1d\n", "rate_limit.interval"),
            ("rate_limit:\n  burst: many\n", "rate_limit.burst"),
            (
                "basic_auth_users:\n  alice: plain\n",
                "basic_auth_users.alice",
            ),
            ("basic_auth_users: [a]\n", "basic_auth_users"),
            (
                "basic_auth_users:\n  a: x\n  a: y\n",
                "basic_auth_users",
            ),
            (
                "unauthenticated_paths: [healthz]\n",
                "unauthenticated_paths[0]",
            ),
            ("[1, 2]\n", "--web.config.file"),
            ("a: [\n", "--web.config.file"),
            ("tls_server_config: {}\ntls_server_config: {}\n", "--web.config.file"),
        ];
        for (yaml, key) in cases {
            let e = err(yaml);
            assert!(
                e.starts_with(&format!("web config: {key}: ")),
                "{yaml:?} gave {e:?}, wanted key {key}"
            );
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn plain_scalars_are_strings_as_in_go() {
        let c = WebConfig::from_yaml(
            "http_server_config:\n  headers:\n    X-XSS-Protection: 1\n",
            Path::new("."),
        )
        .expect("a number is a string");
        assert_eq!(c.headers[0].1, "1");
    }

    #[test]
    fn the_rate_limit_spares_the_probes() {
        let c = WebConfig::from_yaml("rate_limit:\n  interval: 1h\n  burst: 1\n", Path::new("."))
            .expect("valid");
        assert!(!c.rate_limited("/metrics"));
        assert!(c.rate_limited("/metrics"));
        assert!(c.rate_limited("/"));
        for _ in 0..100 {
            assert!(!c.rate_limited("/healthz") && !c.rate_limited("/readyz"));
        }
    }
}
