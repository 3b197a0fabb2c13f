//! `--web.config.file`: TLS and basic authentication in the Prometheus exporter-toolkit format.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt           # relative paths are relative to this file
//!   key_file: server.key
//!   client_ca_file: ca.crt          # needed by the two *Verify* policies
//!   client_auth_type: RequireAndVerifyClientCert
//!   min_version: TLS12              # TLS12 (default) or TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$...          # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//! unauthenticated_paths: [/healthz, /readyz]   # our extension; this is the default
//! ```
//!
//! `unauthenticated_paths` lets the kubelet probe while `/metrics` needs a password. It only
//! exempts paths from basic auth: a TLS client-certificate requirement applies to the whole
//! connection, so with `RequireAndVerifyClientCert` the kubelet cannot probe over HTTPS at all
//! (use `VerifyClientCertIfGiven` plus basic auth, or a probe through `milvus_exporter probe`).
//!
//! Every problem is one [`WebConfigError`] naming the key, like the main configuration.

use crate::config::{io_reason, read_bounded};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::HeaderValue;
use base64::Engine;
use tokio::sync::Semaphore;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use yaml_serde::Value;

/// Paths that answer without a password when basic auth is on, unless the file says otherwise.
pub const DEFAULT_UNAUTHENTICATED_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// Successful (user, password) checks remembered, so a scrape does not pay bcrypt every time.
const VERIFIED_CACHE_MAX: usize = 1024;

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

/// TLS and authentication for the HTTP server. `Default` is plain HTTP without auth.
#[derive(Default)]
pub struct WebConfig {
    /// `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `None`: no authentication.
    pub auth: Option<BasicAuth>,
    /// Exact request paths that skip basic auth.
    pub unauthenticated_paths: Vec<String>,
    /// Where this came from (for reloads and log lines).
    pub file: Option<PathBuf>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field(
                "basic_auth_users",
                &self.auth.as_ref().map(|a| a.users.len()),
            )
            .field("unauthenticated_paths", &self.unauthenticated_paths)
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
        let value: Value = yaml_serde::from_str(text)
            .map_err(|e| invalid("--web.config.file", format!("not valid YAML: {e}")))?;
        let top = match value {
            Value::Null => return Ok(WebConfig::new_plain()),
            Value::Mapping(m) => m,
            other => {
                return Err(invalid(
                    "--web.config.file",
                    format!("expected a mapping at the top, found {}", kind(&other)),
                ))
            }
        };
        let mut tls = None;
        let mut users: Option<BTreeMap<String, String>> = None;
        let mut open: Option<Vec<String>> = None;
        for (k, v) in &top {
            let key = key_name(k, "")?;
            match key.as_str() {
                "tls_server_config" => tls = parse_tls(v, base)?,
                "basic_auth_users" => users = Some(parse_users(v)?),
                "unauthenticated_paths" => open = Some(parse_paths(v)?),
                "http_server_config" | "rate_limit" => {
                    return Err(invalid(
                        key,
                        "is an exporter-toolkit setting milvus_exporter does not support",
                    ))
                }
                _ => {
                    return Err(invalid(
                        key,
                        "unknown key (known: tls_server_config, basic_auth_users, unauthenticated_paths)",
                    ))
                }
            }
        }
        let auth = match users {
            Some(u) if !u.is_empty() => Some(BasicAuth::new(u)),
            _ => None,
        };
        Ok(WebConfig {
            tls,
            auth,
            unauthenticated_paths: open.unwrap_or_else(|| {
                DEFAULT_UNAUTHENTICATED_PATHS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
            file: None,
        })
    }

    fn new_plain() -> WebConfig {
        WebConfig {
            unauthenticated_paths: DEFAULT_UNAUTHENTICATED_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ..WebConfig::default()
        }
    }

    /// Whether a request for `path` must carry valid credentials.
    pub fn needs_auth(&self, path: &str) -> bool {
        self.auth.is_some() && !self.unauthenticated_paths.iter().any(|p| p == path)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn key_name(k: &Value, prefix: &str) -> Result<String, WebConfigError> {
    match k {
        Value::String(s) => Ok(format!("{prefix}{s}")),
        other => Err(invalid(
            if prefix.is_empty() {
                "--web.config.file".to_string()
            } else {
                prefix.trim_end_matches('.').to_string()
            },
            format!("keys must be strings, found {}", kind(other)),
        )),
    }
}

fn string(v: &Value, key: &str) -> Result<Option<String>, WebConfigError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(invalid(
            key,
            format!("must be a string, found {}", kind(other)),
        )),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

fn parse_tls(v: &Value, base: &Path) -> Result<Option<Arc<rustls::ServerConfig>>, WebConfigError> {
    let map = match v {
        Value::Null => return Ok(None),
        Value::Mapping(m) => m,
        other => {
            return Err(invalid(
                "tls_server_config",
                format!("must be a mapping, found {}", kind(other)),
            ))
        }
    };
    let mut cert_file = None;
    let mut key_file = None;
    let mut ca_file = None;
    let mut auth_type = None;
    let mut min_version = None;
    let mut max_version = None;
    for (k, v) in map {
        let key = key_name(k, "tls_server_config.")?;
        let slot = match key.as_str() {
            "tls_server_config.cert_file" => &mut cert_file,
            "tls_server_config.key_file" => &mut key_file,
            "tls_server_config.client_ca_file" => &mut ca_file,
            "tls_server_config.client_auth_type" => &mut auth_type,
            "tls_server_config.min_version" => &mut min_version,
            "tls_server_config.max_version" => &mut max_version,
            "tls_server_config.cert"
            | "tls_server_config.key"
            | "tls_server_config.client_ca"
            | "tls_server_config.cipher_suites"
            | "tls_server_config.curve_preferences"
            | "tls_server_config.prefer_server_cipher_suites"
            | "tls_server_config.client_allowed_sans" => {
                return Err(invalid(
                    key,
                    "is an exporter-toolkit setting milvus_exporter does not support",
                ))
            }
            _ => {
                return Err(invalid(
                    key,
                    "unknown key (known: cert_file, key_file, client_ca_file, client_auth_type, min_version, max_version)",
                ))
            }
        };
        *slot = string(v, &key)?.filter(|s| !s.trim().is_empty());
    }
    let resolve = |p: &str| {
        let p = PathBuf::from(p.trim());
        if p.is_absolute() {
            p
        } else {
            base.join(p)
        }
    };
    let cert_path = resolve(&cert_file.ok_or_else(|| {
        invalid(
            "tls_server_config.cert_file",
            "is required when tls_server_config is set",
        )
    })?);
    let key_path = resolve(&key_file.ok_or_else(|| {
        invalid(
            "tls_server_config.key_file",
            "is required when tls_server_config is set",
        )
    })?);
    let client_auth = match auth_type.as_deref().map(str::trim) {
        None | Some("NoClientCert") => ClientAuth::NoClientCert,
        Some("RequestClientCert") => ClientAuth::RequestClientCert,
        Some("RequireAnyClientCert") => ClientAuth::RequireAnyClientCert,
        Some("VerifyClientCertIfGiven") => ClientAuth::VerifyClientCertIfGiven,
        Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerifyClientCert,
        Some(other) => {
            return Err(invalid(
                "tls_server_config.client_auth_type",
                format!(
                    "unknown value {other:?} (use NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
                ),
            ))
        }
    };
    let version = |key: &str, v: Option<String>, default: u8| -> Result<u8, WebConfigError> {
        match v.as_deref().map(str::trim) {
            None => Ok(default),
            Some("TLS12") => Ok(12),
            Some("TLS13") => Ok(13),
            Some(other) => Err(invalid(
                key,
                format!("unsupported value {other:?} (use TLS12 or TLS13)"),
            )),
        }
    };
    let min = version("tls_server_config.min_version", min_version, 12)?;
    let max = version("tls_server_config.max_version", max_version, 13)?;
    if min > max {
        return Err(invalid(
            "tls_server_config.max_version",
            "is lower than min_version",
        ));
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, p)| p)
            .collect();

    let chain = read_certs(&cert_path, "tls_server_config.cert_file")?;
    if chain.is_empty() {
        return Err(invalid(
            "tls_server_config.cert_file",
            format!("no certificate found in {}", cert_path.display()),
        ));
    }
    let key_pem = read_bounded(&key_path).map_err(|e| {
        invalid(
            "tls_server_config.key_file",
            format!("cannot read {}: {}", key_path.display(), io_reason(&e)),
        )
    })?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        invalid(
            "tls_server_config.key_file",
            format!("no private key in {}: {e}", key_path.display()),
        )
    })?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match &ca_file {
        None => None,
        Some(p) => {
            let path = resolve(p);
            let certs = read_certs(&path, "tls_server_config.client_ca_file")?;
            let mut store = rustls::RootCertStore::empty();
            for c in certs {
                store.add(c).map_err(|e| {
                    invalid(
                        "tls_server_config.client_ca_file",
                        format!("{}: {e}", path.display()),
                    )
                })?;
            }
            if store.is_empty() {
                return Err(invalid(
                    "tls_server_config.client_ca_file",
                    format!("no certificate found in {}", path.display()),
                ));
            }
            Some(Arc::new(store))
        }
    };
    let verifier: Arc<dyn ClientCertVerifier> = match (client_auth, roots) {
        (ClientAuth::NoClientCert, Some(_)) => {
            return Err(invalid(
                "tls_server_config.client_auth_type",
                "client_ca_file is set but client_auth_type is NoClientCert; choose a policy that uses it",
            ))
        }
        (ClientAuth::NoClientCert, None) => WebPkiClientVerifier::no_client_auth(),
        (ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert, None) => {
            return Err(invalid(
                "tls_server_config.client_ca_file",
                "is required by this client_auth_type",
            ))
        }
        (ClientAuth::VerifyClientCertIfGiven, Some(roots)) => {
            WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(&provider))
                .allow_unauthenticated()
                .build()
                .map_err(|e| invalid("tls_server_config.client_ca_file", e.to_string()))?
        }
        (ClientAuth::RequireAndVerifyClientCert, Some(roots)) => {
            WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(&provider))
                .build()
                .map_err(|e| invalid("tls_server_config.client_ca_file", e.to_string()))?
        }
        (ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert, Some(_)) => {
            return Err(invalid(
                "tls_server_config.client_auth_type",
                "this policy does not verify certificates, so client_ca_file would be ignored; use VerifyClientCertIfGiven or RequireAndVerifyClientCert",
            ))
        }
        (ClientAuth::RequestClientCert, None) => Arc::new(AnyClientCert {
            provider: Arc::clone(&provider),
            mandatory: false,
        }),
        (ClientAuth::RequireAnyClientCert, None) => Arc::new(AnyClientCert {
            provider: Arc::clone(&provider),
            mandatory: true,
        }),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| invalid("tls_server_config.min_version", e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| {
            invalid(
                "tls_server_config.key_file",
                format!("does not match cert_file: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// `RequestClientCert`/`RequireAnyClientCert`: a client certificate is asked for (and, with
/// `mandatory`, required) but not checked against a CA; the handshake signature still is.
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<CryptoProvider>,
    mandatory: bool,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn parse_users(v: &Value) -> Result<BTreeMap<String, String>, WebConfigError> {
    let map = match v {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Mapping(m) => m,
        other => {
            return Err(invalid(
                "basic_auth_users",
                format!(
                    "must be a mapping of user: bcrypt hash, found {}",
                    kind(other)
                ),
            ))
        }
    };
    let mut users = BTreeMap::new();
    for (k, v) in map {
        let user = match k {
            Value::String(s) => s.clone(),
            other => {
                return Err(invalid(
                    "basic_auth_users",
                    format!("user names must be strings, found {}", kind(other)),
                ))
            }
        };
        let shown: String = user
            .chars()
            .take(64)
            .flat_map(char::escape_default)
            .collect();
        let key = format!("basic_auth_users.{shown}");
        if user.is_empty() || user.contains(':') {
            return Err(invalid(
                key,
                "a user name must be non-empty and contain no ':'",
            ));
        }
        let hash = string(v, &key)?.unwrap_or_default();
        let hash = hash.trim().to_string();
        match hash.parse::<bcrypt::HashParts>() {
            Ok(parts) if (4..=31).contains(&parts.get_cost()) => {}
            _ => {
                return Err(invalid(
                    key,
                    "is not a bcrypt hash (make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n')",
                ))
            }
        }
        users.insert(user, hash);
    }
    Ok(users)
}

fn parse_paths(v: &Value) -> Result<Vec<String>, WebConfigError> {
    let seq = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Sequence(s) => s,
        other => {
            return Err(invalid(
                "unauthenticated_paths",
                format!("must be a list of paths, found {}", kind(other)),
            ))
        }
    };
    let mut out = Vec::new();
    for (i, p) in seq.iter().enumerate() {
        let key = format!("unauthenticated_paths[{i}]");
        let p = string(p, &key)?.unwrap_or_default();
        if !p.starts_with('/') || p.contains(['?', '#']) || p.chars().any(char::is_whitespace) {
            return Err(invalid(
                key,
                format!("{p:?} is not a request path like /healthz"),
            ));
        }
        out.push(p);
    }
    Ok(out)
}

fn read_certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let pem = read_bounded(path).map_err(|e| {
        invalid(
            key,
            format!("cannot read {}: {}", path.display(), io_reason(&e)),
        )
    })?;
    CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            invalid(
                key,
                format!("no PEM certificates in {}: {e}", path.display()),
            )
        })
}

/// HTTP basic authentication against bcrypt hashes.
///
/// bcrypt is slow on purpose (tens of milliseconds at cost 10), so checks run on the blocking
/// pool, at most a few at a time, and a successful (user, password) pair is remembered as an
/// HMAC under a key made at start, never as the password itself. Failures are not remembered:
/// each costs the caller one queued bcrypt, and none can hold up the async workers that answer
/// `/healthz`.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    key: ring::hmac::Key,
    verified: Mutex<HashSet<Vec<u8>>>,
    limiter: Arc<Semaphore>,
}

impl BasicAuth {
    fn new(users: BTreeMap<String, String>) -> BasicAuth {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            // No system randomness: fall back to a per-process key from the clock and address
            // space. Weaker, but the cache holds only tags of passwords that were correct.
            let seed = format!(
                "{:?}{:p}",
                std::time::SystemTime::now(),
                &rng as *const ring::rand::SystemRandom
            );
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, seed.as_bytes())
        });
        let permits = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 4);
        BasicAuth {
            users,
            key,
            verified: Mutex::new(HashSet::new()),
            limiter: Arc::new(Semaphore::new(permits)),
        }
    }

    /// Number of configured users.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Whether the `Authorization` header carries a configured user's password.
    pub async fn check(&self, header: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = header.and_then(parse_basic) else {
            return false;
        };
        let tag = {
            let mut ctx = ring::hmac::Context::with_key(&self.key);
            ctx.update(user.as_bytes());
            ctx.update(&[0]);
            ctx.update(&password);
            ctx.sign().as_ref().to_vec()
        };
        if self.lock().contains(&tag) {
            return true;
        }
        // Unknown users pay for a bcrypt too, so timing does not tell which users exist.
        let hash = self.users.get(&user).cloned();
        let known = hash.is_some();
        let Ok(permit) = Arc::clone(&self.limiter).acquire_owned().await else {
            return false;
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let hash = match hash {
                Some(h) => h,
                None => dummy_hash().to_string(),
            };
            bcrypt::verify(&password, &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let ok = outcome && known;
        if ok {
            let mut cache = self.lock();
            if cache.len() >= VERIFIED_CACHE_MAX {
                cache.clear();
            }
            cache.insert(tag);
        }
        ok
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Vec<u8>>> {
        match self.verified.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// A bcrypt hash of nothing anyone knows, checked for unknown users.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| bcrypt::hash("milvus_exporter: no such user", 10).unwrap_or_default())
}

/// `Basic base64(user:password)` → (user, password bytes).
fn parse_basic(value: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let text = value.to_str().ok()?.trim();
    let (scheme, rest) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
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
        let c = WebConfig::from_yaml("", Path::new(".")).expect("empty loads");
        assert!(c.tls.is_none() && c.auth.is_none());
        assert!(!c.needs_auth("/metrics"));
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
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Maybe\n",
                "tls_server_config.client_auth_type",
            ),
            ("tls_server_config:\n  nope: 1\n", "tls_server_config.nope"),
            (
                "basic_auth_users:\n  alice: plain\n",
                "basic_auth_users.alice",
            ),
            ("basic_auth_users: [a]\n", "basic_auth_users"),
            (
                "unauthenticated_paths: [healthz]\n",
                "unauthenticated_paths[0]",
            ),
            ("[1, 2]\n", "--web.config.file"),
            ("a: [\n", "--web.config.file"),
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
    fn basic_header_parses() {
        let v = HeaderValue::from_static("Basic YWxpY2U6cDpzcw==");
        assert_eq!(
            parse_basic(&v),
            Some(("alice".to_string(), b"p:ss".to_vec()))
        );
        assert!(parse_basic(&HeaderValue::from_static("Bearer x")).is_none());
        assert!(parse_basic(&HeaderValue::from_static("Basic !!!")).is_none());
    }
}
