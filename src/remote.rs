//! `check --url`: the verdict and recent transitions of a *running* exporter, read from its
//! `/health?history=N`. The answer is a peer's: it is read under one deadline and at most
//! [`MAX_HEALTH_BODY`] bytes, only the fields shown are decoded, and every text from it is
//! made inert for the terminal ([`inert`]) before it is printed.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::limits::{read_body, BodyError};
use crate::render::inert::inert;

/// The most of a `/health` answer read. At 10,000 collections `/health` is about 4 MiB.
pub const MAX_HEALTH_BODY: usize = 32 * 1024 * 1024;
/// Entries printed at most, whatever the peer sends.
pub const MAX_SHOWN: usize = 1000;

/// How to reach the exporter: its URL, a deadline, basic auth, and TLS.
#[derive(Clone, Debug, Default)]
pub struct Remote {
    /// `http://HOST:PORT` or `https://HOST:PORT` (a path prefix is kept, a query is not).
    pub url: String,
    pub timeout: Duration,
    /// Transitions to ask for and show.
    pub history: usize,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The CA bundle that alone is trusted for the exporter's certificate (else the system's).
    pub ca_file: Option<PathBuf>,
    /// A client certificate and key (PEM), for an exporter that asks for one.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

/// Why the exporter's answer could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Usage(String),
    #[error("{url}: {why}")]
    Fetch { url: String, why: String },
}

#[derive(Deserialize)]
struct Health {
    status: String,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    checked_at: Option<f64>,
    #[serde(default)]
    history: Vec<HistoryEntry>,
}

#[derive(Deserialize)]
struct HistoryEntry {
    at: f64,
    status: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    last_at: Option<f64>,
}

/// What was read: the verdict and the lines to print.
pub struct Report {
    pub ready: bool,
    pub text: String,
}

fn read_file(path: &std::path::Path, what: &str) -> Result<Vec<u8>, RemoteError> {
    crate::config::read_bounded(path)
        .map_err(|e| RemoteError::Usage(format!("{what} {}: {e}", path.display())))
}

fn client(r: &Remote) -> Result<reqwest::Client, RemoteError> {
    let usage = |e: reqwest::Error| RemoteError::Usage(crate::checks::error_chain(&e));
    let mut b = reqwest::Client::builder()
        .tls_built_in_webpki_certs(false)
        .tls_built_in_native_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(r.timeout)
        .connect_timeout(r.timeout);
    if let Some(ca) = &r.ca_file {
        b = b.tls_built_in_root_certs(false);
        for cert in
            reqwest::Certificate::from_pem_bundle(&read_file(ca, "--ca-file")?).map_err(usage)?
        {
            b = b.add_root_certificate(cert);
        }
    }
    match (&r.cert_file, &r.key_file) {
        (Some(cert), Some(key)) => {
            let mut pem = read_file(cert, "--cert-file")?;
            pem.push(b'\n');
            pem.extend(read_file(key, "--key-file")?);
            b = b.identity(reqwest::Identity::from_pem(&pem).map_err(usage)?);
        }
        (None, None) => {}
        _ => {
            return Err(RemoteError::Usage(
                "--cert-file and --key-file go together".into(),
            ))
        }
    }
    if r.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(usage)
}

/// The `/health` URL of the exporter at `base`.
fn health_url(base: &str, history: usize) -> Result<url::Url, RemoteError> {
    let mut url = url::Url::parse(base)
        .map_err(|e| RemoteError::Usage(format!("--url {}: {e}", inert(base))))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(RemoteError::Usage(format!(
            "--url {}: give http://HOST:PORT or https://HOST:PORT",
            inert(base)
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RemoteError::Usage(
            "--url: put credentials in --username and --password-file, not the URL".into(),
        ));
    }
    let path = format!("{}/health", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(Some(&format!("history={history}")));
    url.set_fragment(None);
    Ok(url)
}

/// Reads the exporter's `/health` and renders its verdict and recent transitions.
pub async fn check(r: &Remote) -> Result<Report, RemoteError> {
    let url = health_url(&r.url, r.history)?;
    let shown = {
        let mut u = url.clone();
        u.set_query(None);
        u.to_string()
    };
    let fetch = |why: String| RemoteError::Fetch {
        url: shown.clone(),
        why,
    };
    let client = client(r)?;
    let deadline = tokio::time::Instant::now() + r.timeout;
    let mut req = client.get(url.clone());
    if let Some(user) = &r.username {
        req = req.basic_auth(user, r.password.as_deref());
    }
    let mut resp = req
        .send()
        .await
        .map_err(|e| fetch(crate::checks::error_chain(&e)))?;
    let status = resp.status();
    let body = read_body(&mut resp, MAX_HEALTH_BODY, deadline)
        .await
        .map_err(|e| match e {
            BodyError::Read(e) => fetch(crate::checks::error_chain(&e)),
            other => fetch(other.to_string()),
        })?;
    if !status.is_success() {
        let head = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(fetch(format!(
            "answered {}: {}",
            status.as_u16(),
            inert(head.trim_end())
        )));
    }
    let health: Health = serde_json::from_slice(&body)
        .map_err(|e| fetch(format!("not an exporter's /health answer: {e}")))?;
    Ok(render(&shown, &health, r.history, SystemTime::now()))
}

fn utc(unix: f64) -> String {
    if !(0.0..=1e11).contains(&unix) {
        return "?".to_string();
    }
    let t = UNIX_EPOCH + Duration::from_secs(unix as u64);
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

fn ago(unix: f64, now: SystemTime) -> String {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let secs = now - unix;
    if !(0.0..=1e10).contains(&secs) {
        return "?".to_string();
    }
    humantime::format_duration(Duration::from_secs(secs as u64)).to_string()
}

fn render(url: &str, h: &Health, wanted: usize, now: SystemTime) -> Report {
    use std::fmt::Write as _;
    let ready = h.status == "ready";
    let mut out = String::new();
    let checked = h
        .checked_at
        .map(|t| format!(" (checked {}, {} ago)", utc(t), ago(t, now)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Exporter {}  {}{checked}",
        inert(url),
        if ready { "READY" } else { "NOT READY" }
    );
    for r in h.reasons.iter().take(MAX_SHOWN) {
        let _ = writeln!(out, "  reason: {}", inert(r));
    }
    let entries: Vec<&HistoryEntry> = h.history.iter().take(wanted.min(MAX_SHOWN)).collect();
    if entries.is_empty() {
        let _ = writeln!(out, "\n  no transitions recorded");
        return Report { ready, text: out };
    }
    let _ = writeln!(out, "\n  recent transitions, newest first (UTC):");
    for e in entries {
        let what = match (e.event.as_str(), e.status.as_str()) {
            ("failed_refresh", _) => "failed refresh".to_string(),
            ("first", s) => format!("first: {}", s.replace('_', " ")),
            (_, s) => s.replace('_', " "),
        };
        let repeated = if e.count > 1 {
            format!(
                "  ({} refreshes, last {})",
                e.count,
                e.last_at.map(utc).unwrap_or_else(|| "?".into())
            )
        } else {
            String::new()
        };
        let rules = if e.rules.is_empty() {
            String::new()
        } else {
            format!("  [{}]", inert(&e.rules.join(", ")))
        };
        let line = format!("  {}  {:<16}{rules}{repeated}", utc(e.at), inert(&what));
        let _ = writeln!(out, "{}", line.trim_end());
        for r in e.reasons.iter().take(32) {
            let _ = writeln!(out, "      {}", inert(r));
        }
    }
    Report { ready, text: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_url_keeps_a_path_prefix_and_refuses_what_is_not_an_exporter_url() {
        let u = health_url("http://127.0.0.1:9727", 5).expect("valid");
        assert_eq!(u.as_str(), "http://127.0.0.1:9727/health?history=5");
        let u = health_url("https://mx.example/exporter/?x=1#f", 1).expect("valid");
        assert_eq!(u.as_str(), "https://mx.example/exporter/health?history=1");
        for bad in [
            "127.0.0.1:9727",
            "ftp://h:1",
            "http://u:p@h:1",
            "not a url\u{1b}[2J",
        ] {
            let e = health_url(bad, 1).expect_err(bad).to_string();
            assert!(!e.contains('\u{1b}'), "{e:?}");
        }
    }

    #[test]
    fn a_peers_texts_are_printed_inert_and_its_times_bounded() {
        let h: Health = serde_json::from_str(
            r#"{"status":"not_ready","reasons":["bad \u001b[2J\u001b]0;x\u0007 thing\nnext"],
               "checked_at":1e300,
               "history":[{"at":-5,"status":"not_ready\u001b[31m","event":"transition",
                 "rules":["milvus\u001b[0m"],"reasons":["r\u009b1m"],"count":3,"last_at":1800000000}]}"#,
        )
        .expect("decodes");
        let r = render("http://h:1/health", &h, 10, SystemTime::now());
        assert!(!r.ready);
        assert!(
            !r.text.chars().any(|c| c.is_control() && c != '\n'),
            "{:?}",
            r.text
        );
        assert!(r.text.contains("bad \\u{1b}[2J"), "{}", r.text);
        assert!(r.text.contains("thing\\nnext"), "{}", r.text);
        assert!(
            r.text
                .contains("(3 refreshes, last 2027-01-15 08:00:00 UTC)"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("  ?  "),
            "a time out of range is a question mark: {}",
            r.text
        );
    }
}
