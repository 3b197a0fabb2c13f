//! Value types every section uses, and the checks on them: secrets that never print,
//! human durations with upper bounds, files read with a size limit, errors on one line.

use super::*;

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

/// Largest file the configuration reads (secrets, certificates, web config).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The longest any timeout may be (Milvus, probes, dependencies, header reads, writes). Past it a
/// value is a typo (`y` for `s`) that would overflow deadlines deep inside the gRPC stack;
/// no health check should wait longer than this anyway.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// The shortest `cache.ttl`: shorter is a refresh per request in all but name.
pub const MIN_TTL: Duration = Duration::from_millis(100);
/// The shortest background `cache.refresh_interval` other than `0s` (on demand only).
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest `web.header_read_timeout` and `web.write_timeout`: under it a real client on
/// a real network (or a TLS handshake) cannot make it.
pub const MIN_CLIENT_TIMEOUT: Duration = Duration::from_millis(100);
/// The longest `cache.ttl` and `cache.refresh_interval` may be: data a day old is not health.
pub const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// The longest `system.cpu_sample_interval` may be.
pub const MAX_CPU_SAMPLE_INTERVAL: Duration = Duration::from_secs(3600);

/// `d` if it lies within `min..=max`, else an error naming `key` and the range.
pub(super) fn bounded(
    key: &str,
    d: Duration,
    min: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
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

pub(super) fn read_bounded_text(path: &Path) -> std::io::Result<String> {
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

/// `s` quoted for an error message, cut after 64 characters: a value may be a megabyte long,
/// and an error is one line a person reads.
pub(super) fn shown(s: &str) -> String {
    const MAX_CHARS: usize = 64;
    match s.char_indices().nth(MAX_CHARS) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &s[..cut], s.len()),
    }
}

/// The `config` crate's messages can span lines; the contract is one line.
pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `config` crate prints a key inside a list without its dot (`targets[0]timeout`);
/// errors must name the key as it is written (`targets[0].timeout`).
pub(super) fn key_paths(s: &str) -> String {
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
