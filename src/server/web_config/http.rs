//! `http_server_config` (response headers, HTTP/2) and `rate_limit`, with the toolkit's rules.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue};

use super::{invalid, WebConfigError};

/// The headers the toolkit lets a web config set, and the values each accepts (`None`: any).
/// Kept to the toolkit's list on purpose: the same file must mean the same thing to every
/// Prometheus exporter, and `Content-Type` or `Server` are not the web config's to change.
const ALLOWED_HEADERS: [(&str, Option<&[&str]>); 5] = [
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

/// Checks `http_server_config.headers` and turns them into ready header pairs. Names match
/// exactly as the toolkit matches them (`x-frame-options` is refused), restricted values too
/// (`DENY` is refused). A blank value leaves the header unset, as the toolkit documents.
pub(super) fn headers(
    raw: Vec<(String, Option<String>)>,
) -> Result<Vec<(HeaderName, HeaderValue)>, WebConfigError> {
    let mut out = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        let key = format!("http_server_config.headers.{}", shown(&name));
        let Some((canonical, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == name) else {
            return Err(invalid(
                key,
                format!(
                    "this header can not be configured (allowed: {})",
                    ALLOWED_HEADERS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let value = value.unwrap_or_default();
        if let Some(allowed) = allowed {
            if !allowed.contains(&value.as_str()) {
                return Err(invalid(
                    key,
                    format!(
                        "invalid value {:?}; expected one of: {}",
                        shown(&value),
                        allowed.join(", ")
                    ),
                ));
            }
        }
        if value.is_empty() {
            continue;
        }
        // Go's server writes a CR or LF in a header value as a space; anything else a header
        // cannot carry (NUL and the like) is refused rather than sent broken.
        let cleaned = value.replace(['\r', '\n'], " ");
        let value = HeaderValue::from_str(&cleaned).map_err(|_| {
            invalid(
                key.clone(),
                "contains control characters a header value cannot carry",
            )
        })?;
        out.push((HeaderName::from_static(lower(canonical)), value));
    }
    Ok(out)
}

/// `HeaderName::from_static` wants lower case.
fn lower(name: &str) -> &'static str {
    match name {
        "Strict-Transport-Security" => "strict-transport-security",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-Frame-Options" => "x-frame-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "content-security-policy",
    }
}

/// A string from the file, cut and escaped for an error line.
pub(super) fn shown(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_default).collect()
}

/// `rate_limit`: a token bucket with the semantics of Go's `rate.Limiter`, which the toolkit
/// uses. It starts full with `burst` tokens and gains one every `interval`; a request takes
/// one or is refused. `burst: 0` (or less) with a positive interval refuses every request,
/// as in the toolkit.
pub struct RateLimit {
    interval: Duration,
    burst: u64,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("interval", &self.interval)
            .field("burst", &self.burst)
            .finish()
    }
}

impl RateLimit {
    /// `None` when the interval is zero or negative: the toolkit builds no limiter for 0, and
    /// Go's `rate.Every` turns a negative interval into an infinite rate.
    pub(super) fn new(interval_nanos: i64, burst: i64) -> Option<RateLimit> {
        let nanos = u64::try_from(interval_nanos).ok().filter(|n| *n > 0)?;
        let burst = u64::try_from(burst).unwrap_or(0);
        Some(RateLimit {
            interval: Duration::from_nanos(nanos),
            burst,
            bucket: Mutex::new(Bucket {
                tokens: burst as f64,
                last: Instant::now(),
            }),
        })
    }

    /// The configured interval and burst.
    pub fn settings(&self) -> (Duration, u64) {
        (self.interval, self.burst)
    }

    /// Takes a token if there is one.
    pub fn allow(&self) -> bool {
        let now = Instant::now();
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let gained =
            now.saturating_duration_since(b.last).as_secs_f64() / self.interval.as_secs_f64();
        b.last = now;
        b.tokens = (b.tokens + gained).min(self.burst as f64);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A duration as the toolkit's YAML library reads one into Go's `time.Duration`: a plain
/// integer is nanoseconds (so `interval: 5` is 5 ns, as there), anything else goes through
/// Go's `time.ParseDuration` (`1s`, `1.5m`, `1h30m`, `-1s`; units ns, us, µs, ms, s, m, h).
/// In nanoseconds; out of Go's range (about 292 years) is an error, as in Go.
pub(super) fn go_duration(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "invalid duration {:?} (write e.g. \"1s\" or \"500ms\")",
            shown(text)
        )
    };
    if let Ok(n) = text.parse::<i64>() {
        return Ok(n);
    }
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let per: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        // Digits beyond what can matter are cut, so a 10,000-digit number cannot overflow.
        let int: u128 = if int_part.is_empty() {
            0
        } else if int_part.trim_start_matches('0').len() > 20 {
            return Err(bad());
        } else {
            int_part.parse().map_err(|_| bad())?
        };
        let mut value = int.checked_mul(per).ok_or_else(bad)?;
        let mut scale = per;
        for d in frac_part.bytes().take(30) {
            scale /= 10;
            if scale == 0 {
                break;
            }
            value += u128::from(d - b'0') * scale;
        }
        total = total.checked_add(value).ok_or_else(bad)?;
        if total > i64::MAX as u128 + 1 {
            return Err(bad());
        }
        rest = after;
    }
    let signed = if negative {
        0i128 - total as i128
    } else {
        total as i128
    };
    i64::try_from(signed).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_reads_them() {
        let cases: [(&str, Option<i64>); 16] = [
            ("0", Some(0)),
            ("5", Some(5)),
            ("1s", Some(1_000_000_000)),
            ("1.5s", Some(1_500_000_000)),
            ("1h30m", Some(5_400_000_000_000)),
            ("-1s", Some(-1_000_000_000)),
            ("300ms", Some(300_000_000)),
            ("2us", Some(2_000)),
            ("2\u{b5}s", Some(2_000)),
            (".5s", Some(500_000_000)),
            ("1d", None),
            ("s", None),
            ("", None),
            ("1.5", None),
            ("3000000h", None),
            ("99999999999999999999999999999999s", None),
        ];
        for (text, want) in cases {
            assert_eq!(go_duration(text).ok(), want, "{text:?}");
        }
    }

    #[test]
    fn the_bucket_starts_full_and_refuses_past_the_burst() {
        let r = RateLimit::new(3_600_000_000_000, 2).expect("a limit");
        assert!(r.allow() && r.allow());
        assert!(!r.allow(), "the third request within the hour");
        let none = RateLimit::new(1_000_000_000, 0).expect("a limit");
        assert!(!none.allow(), "burst 0 refuses everything, as in Go");
        assert!(RateLimit::new(0, 5).is_none(), "interval 0: no limit");
        assert!(
            RateLimit::new(-1, 5).is_none(),
            "negative: no limit, as Go's rate.Every"
        );
        // The extremes neither overflow nor panic.
        let wide = RateLimit::new(1, i64::MAX).expect("a limit");
        assert!((0..1000).all(|_| wide.allow()));
        let slow = RateLimit::new(i64::MAX, 1).expect("a limit");
        assert!(slow.allow() && !slow.allow());
        let negative_burst = RateLimit::new(1, -5).expect("a limit");
        assert!(
            !negative_burst.allow(),
            "a negative burst admits nothing, as in Go"
        );
    }

    #[test]
    fn headers_follow_the_toolkit_list() {
        let ok = headers(vec![
            ("X-Frame-Options".into(), Some("deny".into())),
            ("X-XSS-Protection".into(), Some("1".into())),
            ("Content-Security-Policy".into(), Some(String::new())),
        ])
        .expect("valid");
        assert_eq!(ok.len(), 2, "a blank value leaves the header unset");
        for (name, value) in [
            ("X-Frame-Options", "DENY"),
            ("X-Frame-Options", ""),
            ("X-Content-Type-Options", "sniff"),
            ("Content-Type", "foo"),
            ("x-frame-options", "deny"),
            ("X-XSS-Protection", "a\u{0}b"),
        ] {
            let e = headers(vec![(name.into(), Some(value.into()))])
                .expect_err(name)
                .to_string();
            assert!(
                e.starts_with(&format!("web config: http_server_config.headers.{name}: ")),
                "{e}"
            );
        }
    }
}
