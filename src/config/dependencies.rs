//! `[[dependencies]]`: the RAG service's other dependencies (embedding API, LLM gateway),
//! checked over HTTP or TCP, with header secrets from the environment or files, and an
//! optional request body (an embeddings API is checked with a POST of a JSON body).
//!
//! The header and TLS keys are parsed here for `[[rag_probes]]`' embedding endpoint too
//! ([`headers_from_raw`], [`RawDependencyTls::ca_pem`]), so both read secrets the same way.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDependency {
    pub(super) name: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) url: Option<String>,
    pub(super) address: Option<String>,
    pub(super) timeout: HumanDuration,
    pub(super) required: bool,
    /// `None` is GET, or POST when a body is set.
    pub(super) method: Option<String>,
    pub(super) body: Option<String>,
    pub(super) body_file: Option<PathBuf>,
    pub(super) content_type: Option<String>,
    pub(super) expect_status: Vec<u16>,
    pub(super) expect_body: Option<String>,
    pub(super) expect_body_regex: Option<String>,
    pub(super) headers: std::collections::BTreeMap<String, RawHeaderValue>,
    pub(super) tls: RawDependencyTls,
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
            method: None,
            body: None,
            body_file: None,
            content_type: None,
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
pub(super) struct RawDependencyTls {
    pub(super) ca_file: Option<PathBuf>,
    pub(super) insecure_skip_verify: bool,
}

impl RawDependencyTls {
    /// The extra CA bundle, read bounded; `key` is the `tls` table's own key path.
    pub(super) fn ca_pem(&self, key: &str) -> Result<Option<Vec<u8>>, ConfigError> {
        match &self.ca_file {
            None => Ok(None),
            Some(p) => read_bounded(p).map(Some).map_err(|e| {
                ConfigError::invalid(
                    format!("{key}.ca_file"),
                    format!("cannot read {}: {}", p.display(), io_reason(&e)),
                )
            }),
        }
    }
}

/// A header value written inline, or taken from an environment variable or a file (for
/// bearer tokens that must not sit in a ConfigMap).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawHeaderValue {
    Inline(Secret),
    From(RawHeaderFrom),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeaderFrom {
    pub(super) env: Option<String>,
    pub(super) file: Option<PathBuf>,
    #[serde(default)]
    pub(super) prefix: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DependencyConfig {
    pub name: String,
    pub timeout: Duration,
    pub required: bool,
    pub kind: DependencyKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DependencyKind {
    Http(Box<HttpDependency>),
    Tcp { address: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct HttpDependency {
    pub url: url::Url,
    pub method: String,
    /// Sent with the request (POST only), with its content type.
    pub body: Option<RequestBody>,
    /// Empty means any 2xx.
    pub expect_status: Vec<u16>,
    pub expect_body: Option<BodyMatch>,
    pub headers: Vec<(String, Secret)>,
    pub ca_pem: Option<Vec<u8>>,
    pub insecure_skip_verify: bool,
}

/// A request body read once at load (from `body`, or `body_file` bounded at
/// [`MAX_FILE_BYTES`]): a file can hold a token, so `Debug` shows only its size.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestBody {
    pub bytes: Vec<u8>,
    /// `None` when a configured `Content-Type` header says it instead.
    pub content_type: Option<String>,
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RequestBody({} bytes, {:?})",
            self.bytes.len(),
            self.content_type
        )
    }
}

/// The content type a body gets when none is configured: what an embeddings API takes.
pub const DEFAULT_BODY_CONTENT_TYPE: &str = "application/json";

#[derive(Clone, Debug)]
pub enum BodyMatch {
    Substring(String),
    Regex(regex::Regex),
}

/// Two matches are the same when they say the same (a regex by its source), so a reload can
/// tell an unchanged dependency.
impl PartialEq for BodyMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (BodyMatch::Substring(a), BodyMatch::Substring(b)) => a == b,
            (BodyMatch::Regex(a), BodyMatch::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl DependencyConfig {
    pub(super) fn from_raw(
        raw: RawDependency,
        i: usize,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let key = |k: &str| format!("dependencies[{i}].{k}");
        let name = rule_name(raw.name.as_deref(), &key("name"))?;
        bounded(
            &key("timeout"),
            raw.timeout.0,
            Duration::from_millis(1),
            MAX_TIMEOUT,
        )?;
        let kind = match (raw.kind.as_deref().map(str::trim), &raw.url, &raw.address) {
            (Some("http"), Some(url), None) | (None, Some(url), None) => {
                let url = http_url(url, &key("url"))?;
                let has_body = raw.body.is_some() || raw.body_file.is_some();
                let method = match &raw.method {
                    Some(m) => m.trim().to_ascii_uppercase(),
                    None if has_body => "POST".to_string(),
                    None => "GET".to_string(),
                };
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
                let headers = headers_from_raw(raw.headers, &key("headers"), env)?;
                let body = request_body(
                    raw.body,
                    raw.body_file,
                    raw.content_type,
                    &method,
                    &headers,
                    &key,
                )?;
                let ca_pem = raw.tls.ca_pem(&key("tls"))?;
                DependencyKind::Http(Box::new(HttpDependency {
                    url,
                    method,
                    body,
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

/// A name that is also a readiness rule's and a metric label's: letters, digits, `_`, `-`.
pub(super) fn rule_name(raw: Option<&str>, key: &str) -> Result<String, ConfigError> {
    let name = raw.map(str::trim).unwrap_or_default().to_string();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ConfigError::invalid(
            key,
            "needs a name of letters, digits, '_' or '-'",
        ));
    }
    Ok(name)
}

/// An `http://` or `https://` URL without credentials in it (they belong in headers, which
/// are never shown; a URL is).
pub(super) fn http_url(raw: &str, key: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| ConfigError::invalid(key, format!("not a URL ({e})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ConfigError::invalid(key, "must be http:// or https://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::invalid(
            key,
            "credentials do not belong in the URL; use headers",
        ));
    }
    Ok(url)
}

/// The configured headers, each name and value checked, secrets read from the environment
/// or a bounded file (less one trailing newline) and kept as [`Secret`]s; `key` is the
/// `headers` table's key path, so an error names `….headers.Authorization`.
pub(super) fn headers_from_raw(
    raw: std::collections::BTreeMap<String, RawHeaderValue>,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Secret)>, ConfigError> {
    let mut headers = Vec::new();
    for (h, v) in raw {
        let hk = format!("{key}.{h}");
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
                                format!("cannot read {}: {}", path.display(), io_reason(&e)),
                            )
                        })?
                        .trim_end_matches(['\n', '\r'])
                        .to_string(),
                    _ => return Err(ConfigError::invalid(hk, "give exactly one of env or file")),
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
    Ok(headers)
}

/// `body` or `body_file` (not both), sent only with POST, and its content type: the
/// configured one, else a `Content-Type` header's, else [`DEFAULT_BODY_CONTENT_TYPE`].
fn request_body(
    body: Option<String>,
    body_file: Option<PathBuf>,
    content_type: Option<String>,
    method: &str,
    headers: &[(String, Secret)],
    key: &dyn Fn(&str) -> String,
) -> Result<Option<RequestBody>, ConfigError> {
    let bytes = match (body, body_file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                key("body_file"),
                "set either body or body_file, not both",
            ))
        }
        (Some(b), None) => {
            if b.len() as u64 > MAX_FILE_BYTES {
                return Err(ConfigError::invalid(key("body"), "is larger than 1 MiB"));
            }
            b.into_bytes()
        }
        (None, Some(path)) => read_bounded(&path).map_err(|e| {
            ConfigError::invalid(
                key("body_file"),
                format!("cannot read {}: {}", path.display(), io_reason(&e)),
            )
        })?,
        (None, None) => {
            if content_type.is_some() {
                return Err(ConfigError::invalid(
                    key("content_type"),
                    "is the type of a body: set body or body_file too",
                ));
            }
            return Ok(None);
        }
    };
    if method != "POST" {
        return Err(ConfigError::invalid(
            key("method"),
            format!("{method} sends no body: a body needs method = \"POST\" (or no method)"),
        ));
    }
    let in_headers = headers
        .iter()
        .any(|(h, _)| h.eq_ignore_ascii_case("content-type"));
    let content_type = match content_type.map(|c| c.trim().to_string()) {
        Some(_) if in_headers => {
            return Err(ConfigError::invalid(
                key("content_type"),
                "is also set as a Content-Type header: keep one",
            ))
        }
        Some(c) if c.is_empty() || c.parse::<reqwest::header::HeaderValue>().is_err() => {
            return Err(ConfigError::invalid(
                key("content_type"),
                format!("{c:?} is not a valid header value"),
            ))
        }
        Some(c) => Some(c),
        None if in_headers => None,
        None => Some(DEFAULT_BODY_CONTENT_TYPE.to_string()),
    };
    Ok(Some(RequestBody {
        bytes,
        content_type,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).expect("write");
        Config::load_from(Some(&path), &[], &Overrides::default())
    }

    fn http(c: &Config) -> &HttpDependency {
        match &c.dependencies[0].kind {
            DependencyKind::Http(h) => h,
            DependencyKind::Tcp { .. } => panic!("not http"),
        }
    }

    const DEP: &str =
        "[[dependencies]]\nname = \"embed\"\nurl = \"http://127.0.0.1:1/v1/embeddings\"\n";

    #[test]
    fn a_body_makes_a_json_post_unless_told_otherwise() {
        let c = load(&format!(
            "{DEP}body = '{{\"model\":\"m\",\"input\":[\"test\"]}}'\n"
        ))
        .expect("loads");
        let h = http(&c);
        assert_eq!(h.method, "POST");
        let body = h.body.as_ref().expect("a body");
        assert_eq!(body.bytes, br#"{"model":"m","input":["test"]}"#);
        assert_eq!(
            body.content_type.as_deref(),
            Some(DEFAULT_BODY_CONTENT_TYPE)
        );

        let c = load(&format!(
            "{DEP}method = \"post\"\nbody = \"a=1\"\ncontent_type = \"application/x-www-form-urlencoded\"\n"
        ))
        .expect("loads");
        assert_eq!(
            http(&c)
                .body
                .as_ref()
                .and_then(|b| b.content_type.as_deref()),
            Some("application/x-www-form-urlencoded")
        );
        // A Content-Type header says it instead of the default.
        let c = load(&format!(
            "{DEP}body = \"x\"\nheaders = {{ Content-Type = \"text/plain\" }}\n"
        ))
        .expect("loads");
        assert_eq!(
            http(&c).body.as_ref().map(|b| b.content_type.clone()),
            Some(None)
        );
        // No body: GET, as before.
        let c = load(DEP).expect("loads");
        assert_eq!(http(&c).method, "GET");
        assert!(http(&c).body.is_none());
    }

    #[test]
    fn a_body_file_is_read_bounded_and_never_debug_printed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("body.json");
        std::fs::write(&file, "{\"api_key\":\"in-body-SECRET\"}").expect("write");
        let c = load(&format!("{DEP}body_file = \"{}\"\n", file.display())).expect("loads");
        assert_eq!(
            http(&c).body.as_ref().map(|b| b.bytes.len()),
            Some("{\"api_key\":\"in-body-SECRET\"}".len())
        );
        assert!(!format!("{c:?}").contains("in-body-SECRET"));

        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; (MAX_FILE_BYTES + 1) as usize]).expect("write");
        for path in [
            big.as_path(),
            Path::new("/dev/zero"),
            Path::new("/nonexistent/b"),
        ] {
            let err = load(&format!("{DEP}body_file = \"{}\"\n", path.display()))
                .expect_err("refused")
                .to_string();
            assert!(err.contains("dependencies[0].body_file"), "{err}");
        }
        let inline = format!(
            "{DEP}body = \"{}\"\n",
            "x".repeat((MAX_FILE_BYTES + 1) as usize)
        );
        let err = load(&inline).expect_err("too large").to_string();
        assert!(err.contains("dependencies[0].body:"), "{err}");
    }

    #[test]
    fn body_settings_that_contradict_each_other_name_the_key() {
        for (extra, key) in [
            ("body = \"a\"\nbody_file = \"/etc/hostname\"\n", "dependencies[0].body_file"),
            ("method = \"GET\"\nbody = \"a\"\n", "dependencies[0].method"),
            ("method = \"HEAD\"\nbody = \"a\"\n", "dependencies[0].method"),
            ("content_type = \"application/json\"\n", "dependencies[0].content_type"),
            ("body = \"a\"\ncontent_type = \"a\\nb\"\n", "dependencies[0].content_type"),
            ("body = \"a\"\ncontent_type = \"\"\n", "dependencies[0].content_type"),
            (
                "body = \"a\"\ncontent_type = \"text/plain\"\nheaders = { content-type = \"text/plain\" }\n",
                "dependencies[0].content_type",
            ),
        ] {
            let err = load(&format!("{DEP}{extra}")).expect_err(extra).to_string();
            assert!(err.contains(key), "{extra:?} gave {err:?}, wanted {key}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }
}
