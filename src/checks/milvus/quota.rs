//! Quota truth from the quota center's own metrics page. Milvus 2.3 also reports the states in
//! CheckHealth's `quota_states`; from 2.4.0 CheckHealth never fills them, and the only place
//! they live is `milvus_rootcoord_quota_states{name, quota_states}` in the registry of the
//! process running rootcoord (a 2.3-2.5 cluster's rootcoord pod, a 2.6 cluster's mixcoord pod,
//! the single `:9091` of a standalone).
//!
//! Its label values are causes, not states: `MemoryQuotaExhausted`, `DiskQuotaExhausted` and
//! `TimeTickLongDelay`, all three of which the quota center turns into DenyToWrite
//! (`internal/rootcoord/quota_center.go`). `name` is the scope: `cluster`, `db_<name>` or
//! `collection_<name>`. Each tick (3 s) resets the family first, so a cleared state removes its
//! series, and with no state left the family is absent.
//!
//! Telling "no state" from "not the quota center's page" (a cluster proxy's `:9091` has no
//! such family either): the quota center's registry always carries
//! `milvus_rootcoord_force_deny_writing_counter` from 2.4.0, and 2.3 writes the family with all
//! three causes at 0 or 1. A page with neither is not the quota center's, and quota is then
//! unknown, never "fine".
//!
//! The page grows with collections (Milvus exports series per collection), so it is streamed,
//! never held: each line is looked at and dropped unless it belongs to the two families above,
//! lines past [`MAX_LINE`] are skipped unread, at most [`MAX_PAGE`] bytes are read, and reading
//! stops at the first family that sorts after `milvus_rootcoord_quota_states`, since Milvus's
//! Go registry writes families in name order. At most [`MAX_CAUSES`] (cause, scope) pairs are
//! kept; the rest are counted.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::super::{error_chain, CheckError};
use crate::limits;
use crate::model::QuotaState;

/// Bytes of the metrics page read at most. A 2.4 standalone with 10,000 collections writes
/// a few MiB; a page past this is not read to its end, and quota is then unknown.
pub const MAX_PAGE: usize = 64 * 1024 * 1024;
/// A line longer than this is skipped without being held: a quota series is under 200 bytes.
pub const MAX_LINE: usize = 64 * 1024;
/// (cause, scope) pairs kept: one per collection in trouble at most, and Milvus allows 65,536
/// collections; past this the rest are counted, and the states they map to are still seen.
pub const MAX_CAUSES: usize = 1_000;

const FAMILY: &str = "milvus_rootcoord_quota_states";
const COUNTER: &str = "milvus_rootcoord_force_deny_writing_counter";
const RPC: &str = "GET /metrics";

/// The state the quota center sets for a cause (the metric's `quota_states` value).
/// `ForceDeny` is never exported by the metric, but a future Milvus might: it denies writes.
pub fn cause_state(cause: &str) -> Option<QuotaState> {
    match cause {
        "MemoryQuotaExhausted" | "DiskQuotaExhausted" | "TimeTickLongDelay" | "ForceDeny" => {
            Some(QuotaState::DenyToWrite)
        }
        _ => None,
    }
}

/// One active cause and where it applies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct QuotaCause {
    /// `MemoryQuotaExhausted`, `DiskQuotaExhausted`, `TimeTickLongDelay`.
    pub cause: String,
    /// `cluster`, `db_<name>`, `collection_<name>`; empty on 2.3, whose metric has no scope.
    pub scope: String,
}

/// Where this refresh's quota states come from.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum QuotaSource {
    /// CheckHealth's `quota_states` (Milvus 2.3).
    CheckHealth,
    /// The quota center's metrics page.
    MetricsPage,
    /// Nothing says: a 2.4+ Milvus without a quota metrics address, or an address whose page is
    /// not the quota center's. The quota rule is excluded, and `/health` says why.
    #[default]
    NotConfigured,
    Unknown(String),
    /// The page was asked for and could not be read.
    Failed(String),
}

/// What was read of one metrics page.
#[derive(Debug, Default, PartialEq)]
pub struct PageRead {
    /// Active causes, sorted, at most [`MAX_CAUSES`].
    pub causes: Vec<QuotaCause>,
    /// Active pairs past [`MAX_CAUSES`].
    pub dropped: usize,
    /// The states every active cause maps to, including the dropped ones.
    pub states: Vec<QuotaState>,
    /// The page is the quota center's (it has the family or the companion counter).
    pub is_quota_center: bool,
    /// Bytes read.
    pub bytes: usize,
}

/// The metrics page of the process running the quota center.
pub struct QuotaPage {
    pub url: String,
    /// Named in `milvus.quota_metrics_address` (its failure fails the quota rule), rather
    /// than `milvus.metrics_address` borrowed (its failure leaves quota unknown).
    pub explicit: bool,
    client: reqwest::Client,
}

impl QuotaPage {
    pub fn new(base: &str, explicit: bool) -> Result<Self, String> {
        // No redirects, as for /healthz: the metrics port answers itself.
        let client = super::super::http_client::system_trust(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(QuotaPage {
            url: format!("{}/metrics", base.trim_end_matches('/')),
            explicit,
            client,
        })
    }

    /// One GET, streamed, under `deadline`.
    pub async fn read(&self, deadline: Instant) -> Result<PageRead, CheckError> {
        let budget = deadline.saturating_duration_since(Instant::now());
        let timeout = |after: Duration| CheckError::Timeout { rpc: RPC, after };
        let send = self
            .client
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "text/plain; version=0.0.4")
            .timeout(budget.max(Duration::from_millis(1)))
            .send();
        let mut resp = tokio::time::timeout_at(deadline, send)
            .await
            .map_err(|_| timeout(budget))?
            .map_err(|e| self.http_error(budget, &e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(CheckError::Http {
                rpc: RPC,
                status: status.as_u16(),
                message: format!("{} answered {status}", self.url),
            });
        }
        let mut reader = Reader::default();
        loop {
            let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
                Err(_) => return Err(timeout(budget)),
                Ok(Err(e)) => return Err(self.http_error(budget, &e)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            if reader.read.bytes.saturating_add(chunk.len()) > MAX_PAGE {
                return Err(CheckError::Malformed {
                    rpc: RPC,
                    message: format!(
                        "{} is larger than {MAX_PAGE} bytes before the quota family ends",
                        self.url
                    ),
                });
            }
            if reader.feed(&chunk) == Flow::Done {
                // The rest of the page sorts after the quota family: dropping the response
                // closes the connection rather than downloading it.
                return Ok(reader.finish());
            }
        }
        Ok(reader.finish())
    }

    fn http_error(&self, budget: Duration, e: &reqwest::Error) -> CheckError {
        if e.is_timeout() {
            CheckError::Timeout {
                rpc: RPC,
                after: budget,
            }
        } else {
            CheckError::Unreachable {
                rpc: RPC,
                address: self.url.clone(),
                message: error_chain(e),
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    More,
    Done,
}

/// A line splitter over the page's chunks that keeps at most one line, of at most
/// [`MAX_LINE`] bytes.
#[derive(Default)]
struct Reader {
    line: Vec<u8>,
    /// The current line is past [`MAX_LINE`]: skipped to its end.
    skipping: bool,
    read: PageRead,
    seen_family: bool,
    /// The active pairs kept, at most [`MAX_CAUSES`].
    pairs: std::collections::BTreeSet<QuotaCause>,
    /// The states of the pairs past them.
    extra_states: std::collections::BTreeSet<QuotaState>,
}

impl Reader {
    fn feed(&mut self, mut chunk: &[u8]) -> Flow {
        self.read.bytes += chunk.len();
        while !chunk.is_empty() {
            let (part, rest, ended) = match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => (&chunk[..i], &chunk[i + 1..], true),
                None => (chunk, &chunk[chunk.len()..], false),
            };
            chunk = rest;
            if !self.skipping {
                if self.line.len() + part.len() > MAX_LINE {
                    self.skipping = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(part);
                }
            }
            if ended {
                let line = std::mem::take(&mut self.line);
                let skipped = std::mem::replace(&mut self.skipping, false);
                if !skipped && self.line_done(&line) == Flow::Done {
                    return Flow::Done;
                }
            }
        }
        Flow::More
    }

    fn finish(mut self) -> PageRead {
        if !self.skipping && !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line);
        }
        let mut states: std::collections::BTreeSet<QuotaState> = self
            .pairs
            .iter()
            .filter_map(|p| cause_state(&p.cause))
            .collect();
        states.extend(self.extra_states);
        self.read.states = states.into_iter().collect();
        self.read.causes = self.pairs.into_iter().collect();
        self.read
    }

    fn line_done(&mut self, line: &[u8]) -> Flow {
        let Ok(line) = std::str::from_utf8(line) else {
            return Flow::More;
        };
        let line = line.trim_end_matches('\r');
        let name = metric_name(line);
        let Some(name) = name else {
            return Flow::More;
        };
        if name == COUNTER {
            self.read.is_quota_center = true;
        } else if name == FAMILY {
            self.read.is_quota_center = true;
            self.seen_family = true;
            if !line.starts_with('#') {
                self.sample(line);
            }
        } else if name > FAMILY && (self.seen_family || self.read.is_quota_center) {
            return Flow::Done;
        }
        Flow::More
    }

    /// `milvus_rootcoord_quota_states{name="cluster",quota_states="DiskQuotaExhausted"} 1`.
    fn sample(&mut self, line: &str) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            return;
        };
        // An exposition may end a sample with a timestamp: `series value ts`.
        let (series, value) = match series.rsplit_once(' ') {
            Some((s, v)) if series.ends_with('}') || !series.contains('{') => (s, v),
            _ => (series, value),
        };
        let active = value.trim().parse::<f64>().is_ok_and(|v| v >= 0.5);
        if !active {
            return;
        }
        let labels = series
            .split_once('{')
            .map(|(_, l)| l.trim_end().trim_end_matches('}'))
            .unwrap_or("");
        let (mut cause, mut scope) = (None, String::new());
        for (k, v) in parse_labels(labels) {
            match k {
                "quota_states" => cause = Some(v),
                "name" => scope = v,
                _ => {}
            }
        }
        if let Some(cause) = cause {
            let clip = |s: String| limits::clip_label(&s).into_owned();
            let pair = QuotaCause {
                cause: clip(cause),
                scope: clip(scope),
            };
            // Past the kept count only the states matter: counted, and their state kept.
            if self.pairs.len() < MAX_CAUSES || self.pairs.contains(&pair) {
                self.pairs.insert(pair);
            } else {
                self.read.dropped += 1;
                self.extra_states.extend(cause_state(&pair.cause));
            }
        }
    }
}

/// The metric a line is about: a sample's name, or the name after `# HELP` / `# TYPE`.
fn metric_name(line: &str) -> Option<&str> {
    let rest = if let Some(comment) = line.strip_prefix('#') {
        let comment = comment.trim_start();
        comment
            .strip_prefix("HELP ")
            .or_else(|| comment.strip_prefix("TYPE "))?
            .trim_start()
    } else {
        line
    };
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// `a="x",b="y\"z"` as (key, unescaped value) pairs; a malformed rest is dropped.
fn parse_labels(s: &str) -> Vec<(&str, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim();
        let Some(after) = after.trim_start().strip_prefix('"') else {
            break;
        };
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => break,
                },
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                c => value.push(c),
            }
        }
        let Some(end) = end else { break };
        out.push((key, value));
        rest = after[end..].trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(page: &str) -> PageRead {
        let mut r = Reader::default();
        r.feed(page.as_bytes());
        r.finish()
    }

    fn fixture(path: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/milvus");
        std::fs::read_to_string(root.join(path)).expect("fixture")
    }

    #[test]
    fn the_24_page_maps_every_cause_to_deny_to_write_and_keeps_its_scope() {
        let r = read(&fixture("2.4/metrics_quota_states.prom"));
        assert!(r.is_quota_center);
        assert_eq!(r.states, vec![QuotaState::DenyToWrite]);
        let pairs: Vec<(&str, &str)> = r
            .causes
            .iter()
            .map(|c| (c.cause.as_str(), c.scope.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("DiskQuotaExhausted", "cluster"),
                ("MemoryQuotaExhausted", "collection_book"),
                ("TimeTickLongDelay", "collection_docs"),
            ]
        );
    }

    #[test]
    fn a_cleared_24_page_is_the_quota_centers_with_no_state() {
        let r = read(&fixture("2.4/metrics_quota_states_clear.prom"));
        assert!(
            r.is_quota_center,
            "the companion counter says whose page it is"
        );
        assert!(r.states.is_empty() && r.causes.is_empty());
    }

    #[test]
    fn the_23_page_has_no_scope_and_zeros_are_not_states() {
        let r = read(&fixture("2.3/metrics_quota_states.prom"));
        assert!(r.is_quota_center);
        assert_eq!(r.causes.len(), 1);
        assert_eq!(r.causes[0].cause, "MemoryQuotaExhausted");
        assert_eq!(r.causes[0].scope, "");
        let zeros = fixture("2.3/metrics_quota_states.prom").replace("} 1", "} 0");
        let r = read(&zeros);
        assert!(r.is_quota_center && r.states.is_empty());
    }

    #[test]
    fn a_page_without_the_family_or_its_counter_is_not_the_quota_centers() {
        let r = read("# HELP milvus_proxy_req_count x\nmilvus_proxy_req_count{a=\"b\"} 4\n");
        assert!(!r.is_quota_center);
    }

    #[test]
    fn reading_stops_past_the_family_and_long_or_broken_lines_are_skipped() {
        let mut page = String::new();
        page.push_str(&format!("milvus_a {}\n", "x".repeat(MAX_LINE * 3)));
        page.push_str("milvus_b{é} 1\n");
        page.push_str(&fixture("2.4/metrics_quota_states.prom"));
        page.push_str("milvus_streaming_x 1\n");
        let tail = "milvus_zzz{q=\"1\"} 1\n".repeat(1000);
        let mut r = Reader::default();
        // Fed in small chunks, as a socket gives them.
        let mut flow = Flow::More;
        let bytes = format!("{page}{tail}").into_bytes();
        for chunk in bytes.chunks(977) {
            flow = r.feed(chunk);
            if flow == Flow::Done {
                break;
            }
        }
        assert_eq!(
            flow,
            Flow::Done,
            "stops at the first family after the quota family"
        );
        assert!(r.read.bytes < bytes.len());
        assert!(r.line.len() <= MAX_LINE);
        let read = r.finish();
        assert_eq!(read.causes.len(), 3);
    }

    #[test]
    fn a_million_scopes_are_bounded_and_the_states_still_seen() {
        let mut page = String::from("# TYPE milvus_rootcoord_quota_states gauge\n");
        for i in 0..(MAX_CAUSES * 3) {
            page.push_str(&format!(
                "milvus_rootcoord_quota_states{{name=\"collection_c{i}\",quota_states=\"MemoryQuotaExhausted\"}} 1\n"
            ));
        }
        let r = read(&page);
        assert_eq!(r.causes.len(), MAX_CAUSES);
        assert_eq!(r.dropped, MAX_CAUSES * 2);
        assert_eq!(r.states, vec![QuotaState::DenyToWrite]);
    }

    #[test]
    fn labels_are_unescaped_and_timestamps_ignored() {
        let r = read(
            "milvus_rootcoord_quota_states{name=\"collection_a\\\"b\",quota_states=\"DiskQuotaExhausted\"} 1 1700000000000\n",
        );
        assert_eq!(r.causes[0].scope, "collection_a\"b");
        assert_eq!(parse_labels("a=\"x"), vec![]);
        assert_eq!(metric_name("# HELP foo_bar help"), Some("foo_bar"));
        assert_eq!(metric_name("# comment"), None);
    }
}
