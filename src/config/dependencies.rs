//! `[[dependencies]]`: the RAG service's other dependencies (embedding API, LLM gateway),
//! checked over HTTP or TCP, with header secrets from the environment or files.

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
    pub(super) method: String,
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
pub(super) struct RawDependencyTls {
    pub(super) ca_file: Option<PathBuf>,
    pub(super) insecure_skip_verify: bool,
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

impl DependencyConfig {
    pub(super) fn from_raw(
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
