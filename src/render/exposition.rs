//! Snapshot → Prometheus exposition, in OpenMetrics 1.0 (what Prometheus asks for) or the
//! Prometheus text format 0.0.4 (what everything else, promtool included, expects).
//!
//! The metrics are written by a `prometheus-client` [`Collector`] that reads one immutable
//! view, so a series for a dropped collection disappears with the next snapshot instead of
//! living on in a registry. `prometheus-client` writes OpenMetrics only; [`to_text_004`]
//! rewrites its few OpenMetrics-only constructs (counter family names, `# EOF`, `# UNIT`)
//! into real 0.0.4 rather than serving OpenMetrics under a text/plain header.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use bytes::Bytes;

use crate::cache::{Rendering, View};
use crate::checks::facts::{bool01, Family, MetricsContext};
use crate::readiness::RuleStatus;

pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Facts about this build, fixed at compile time.
pub struct BuildInfo {
    pub version: &'static str,
    pub revision: &'static str,
    pub rustc: &'static str,
}

pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    revision: env!("BUILD_GIT_REVISION"),
    rustc: env!("BUILD_RUSTC_VERSION"),
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text004,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Text004 => TEXT_CONTENT_TYPE,
        }
    }

    /// [`content_type`](Self::content_type) as a header value made once, not per answer.
    pub fn content_type_header(self) -> axum::http::HeaderValue {
        match self {
            Format::OpenMetrics => axum::http::HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
            Format::Text004 => axum::http::HeaderValue::from_static(TEXT_CONTENT_TYPE),
        }
    }

    /// OpenMetrics when the Accept header prefers it (as Prometheus's does), text otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text004;
        };
        let mut best_om = 0.0f32;
        let mut best_text = 0.0f32;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0f32;
            for p in parts {
                if let Some(v) = p.strip_prefix("q=") {
                    q = v.parse().unwrap_or(0.0);
                }
            }
            match media.as_str() {
                "application/openmetrics-text" => best_om = best_om.max(q),
                "text/plain" | "*/*" | "text/*" => best_text = best_text.max(q),
                _ => {}
            }
        }
        if best_om > 0.0 && best_om >= best_text {
            Format::OpenMetrics
        } else {
            Format::Text004
        }
    }
}

/// The content coding of an answer (RFC 9110 §8.4.1): chosen by the server from the request's
/// `Accept-Encoding` (src/server/encoding.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
}

impl Coding {
    /// The `Content-Encoding` value, or `None` for identity (which is never sent as a value).
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
        }
    }
}

/// One `/metrics` or `/probe` answer.
#[derive(Debug)]
pub struct Exposition {
    pub view: Arc<View>,
    /// Seconds since the snapshot was taken, measured when the request arrived.
    pub age_seconds: f64,
    /// The ttl and the host switch belong to the cache the view came from, so they are the
    /// same for every answer made from one view; that is what lets the rest be memoised.
    pub ttl: Duration,
    /// Host gauges and build info belong to `/metrics`, not to `/probe`.
    pub include_host: bool,
    /// The discovered targets live and evicted, on `/metrics` only (per request, in the tail).
    pub fleet: Option<crate::cache::fleet::FleetCounts>,
}

impl Exposition {
    /// Every family but the age comes from the view's memo, rendered by the first request
    /// for that snapshot and format; the age, the one per-request value, is the tail.
    pub fn render(self, format: Format) -> Answer {
        self.render_coded(format, Coding::Identity)
    }

    /// [`render`](Self::render) in `coding`. For gzip the families are compressed once per
    /// view and format (memoised beside the plain body) and the tail closes that member per
    /// answer ([`super::gzip`]), so the families are never compressed or copied per request.
    pub fn render_coded(self, format: Format, coding: Coding) -> Answer {
        let what = match format {
            Format::OpenMetrics => Rendering::MetricsOpenMetrics,
            Format::Text004 => Rendering::MetricsText004,
        };
        let (ttl, include_host) = (self.ttl, self.include_host);
        let render = |v: &Arc<View>| render_families(v, ttl, include_host, format);
        let mut tail = String::with_capacity(256);
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Age(self.age_seconds)));
        if let Some(counts) = self.fleet {
            registry.register_collector(Box::new(FleetFamilies(counts)));
        }
        // A gauge is written the same way in both formats, so no 0.0.4 rewrite is needed.
        if prometheus_client::encoding::text::encode_registry(&mut tail, &registry).is_err() {
            // Writing to a String cannot fail; keep the answer well-formed regardless.
            tail.clear();
        }
        // The fleet's counters are named with `_total` in 0.0.4 (the age gauge is the same).
        if format == Format::Text004 && self.fleet.is_some() {
            tail = to_text_004(&tail);
        }
        if format == Format::OpenMetrics {
            tail.push_str("# EOF\n");
        }
        match coding {
            Coding::Identity => Answer {
                families: self.view.rendered(what, render),
                tail: Bytes::from(tail),
            },
            Coding::Gzip => {
                let open = self.view.gzipped(what, render, |plain| {
                    super::gzip::open(plain, super::gzip::LEVEL)
                });
                Answer {
                    tail: super::gzip::close(&open, tail.as_bytes()),
                    families: open.head,
                }
            }
        }
    }
}

/// A `/metrics` answer in two parts: the memoised families, shared by every answer made from
/// the same snapshot, and this answer's tail (in gzip: the open member and what closes it). They are sent one after the other, so the
/// families (2.3 MiB at 10,000 collections) are never copied per request; a profile of the
/// copy-per-answer version had a quarter of the CPU of serving in that `memmove`.
#[derive(Clone, Debug)]
pub struct Answer {
    pub families: Bytes,
    pub tail: Bytes,
}

impl Answer {
    /// The whole answer in one string, for tests and benchmarks.
    pub fn to_text(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.families).into_owned();
        out.push_str(&String::from_utf8_lossy(&self.tail));
        out
    }
}

/// Every family of an answer except the age (and OpenMetrics's `# EOF`), uncached: what
/// [`Exposition::render`] memoises, public for the benchmarks.
pub fn render_families(
    view: &Arc<View>,
    ttl: Duration,
    include_host: bool,
    format: Format,
) -> String {
    let families = Families {
        view: Arc::clone(view),
        ttl,
        include_host,
    };
    // The fixed families, plus what each check expects its own to take.
    let sized: usize = view.snapshot.results.iter().map(|r| r.size_hint()).sum();
    let mut out = String::with_capacity(8192 + sized);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(families));
    if prometheus_client::encoding::text::encode_registry(&mut out, &registry).is_err() {
        // Writing to a String cannot fail; an empty set of families is still well-formed.
        out.clear();
    }
    match format {
        Format::OpenMetrics => out,
        Format::Text004 => to_text_004(&out),
    }
}

/// The families of one view, as a `prometheus-client` collector.
#[derive(Debug)]
struct Families {
    view: Arc<View>,
    ttl: Duration,
    include_host: bool,
}

/// The one per-request family.
#[derive(Debug)]
struct Age(f64);

impl Collector for Age {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        Family::new(&mut encoder).gauge1(
            "milvus_exporter_cache_age_seconds",
            "Age of the data in this answer, seconds.",
            Some(self.0),
        )
    }
}

/// The discovered targets, counted when the answer is made.
#[derive(Debug)]
struct FleetFamilies(crate::cache::fleet::FleetCounts);

impl Collector for FleetFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut f = Family::new(&mut encoder);
        f.gauge(
            "milvus_exporter_probe_targets",
            "Discovered /probe targets (address and module) held now, each with its cache and gRPC channel; at most fleet.max_targets.",
            [([("state", "live")], self.0.live as f64)],
        )?;
        f.counter1(
            "milvus_exporter_probe_targets_evicted",
            "Discovered /probe targets dropped after fleet.idle_timeout without a probe.",
            self.0.evicted,
        )?;
        f.counter1(
            "milvus_exporter_probe_targets_refused_full",
            "New discovered /probe targets answered 503 because fleet.max_targets were live.",
            self.0.refused_full,
        )
    }
}

/// Every check's families in registry order, with the verdict's after the checks' headlines
/// and the exporter's own (per-check success, duration and errors; refreshes; build) last.
impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.view.snapshot;
        let verdict = &self.view.verdict;
        let cached = format!(
            " Cached: refreshed at most every {}.",
            humantime::format_duration(self.ttl)
        );
        let m = MetricsContext {
            cached: &cached,
            include_host: self.include_host,
            results: &s.results,
        };
        let mut f = Family::new(&mut encoder);

        for r in s.results.iter() {
            r.headline(&mut f, &m)?;
        }
        f.gauge1(
            "milvus_readiness",
            &format!("1 ready, 0 not: the /readyz verdict.{cached}"),
            Some(bool01(verdict.ready)),
        )?;
        f.gauge(
            "milvus_readiness_check",
            &format!("1 when the readiness rule passes, 0 when it fails; disabled rules have no series.{cached}"),
            verdict.rules.iter().filter_map(|r| match r.status {
                RuleStatus::Pass => Some(([("check", r.name.as_str())], 1.0)),
                RuleStatus::Fail(_) => Some(([("check", r.name.as_str())], 0.0)),
                RuleStatus::Excluded => None,
            }),
        )?;
        f.counter1(
            "milvus_readiness_transitions",
            "Changes of the /readyz verdict (ready or not, the failing rules, or a reason's cause) since the exporter started.",
            self.view.history.transitions,
        )?;
        f.gauge1(
            "milvus_readiness_last_transition_timestamp_seconds",
            "When the /readyz verdict last changed (or was first taken), Unix seconds.",
            self.view
                .history
                .last_transition
                .map(crate::render::report::unix),
        )?;
        for r in s.results.iter() {
            r.families(&mut f, &m)?;
        }

        let checks = s.checks();
        f.gauge(
            "milvus_exporter_check_success",
            &format!("1 when the check succeeded in the last refresh.{cached}"),
            checks
                .iter()
                .map(|c| ([("check", c.name)], bool01(c.success))),
        )?;
        f.gauge(
            "milvus_exporter_check_duration_seconds",
            &format!("How long the check took in the last refresh.{cached}"),
            checks
                .iter()
                .map(|c| ([("check", c.name)], c.duration.as_secs_f64())),
        )?;
        f.counter(
            "milvus_exporter_check_errors",
            "Refreshes in which the check failed.",
            s.counters.errors.iter().map(|(n, v)| ([("check", *n)], *v)),
        )?;
        f.counter1(
            "milvus_exporter_refreshes",
            "Refreshes run since the exporter started.",
            s.counters.refreshes,
        )?;
        if self.include_host {
            f.gauge(
                "milvus_exporter_build_info",
                "Build of the exporter, always 1.",
                [(
                    [
                        ("version", BUILD.version),
                        ("revision", BUILD.revision),
                        ("rustc", BUILD.rustc),
                    ],
                    1.0,
                )],
            )?;
        }
        Ok(())
    }
}

/// Rewrites prometheus-client's OpenMetrics text as Prometheus text format 0.0.4: counter
/// families are named with their `_total` suffix, `info`/`unknown` types become
/// `gauge`/`untyped`, and `# EOF` and `# UNIT` lines go.
///
/// One pass: runs of sample lines (nearly all of a large body) are copied in bulk, and only
/// comment lines are looked at. A `# HELP` line is held until the line after it, because
/// only the `# TYPE` line that follows it (prometheus-client always writes them in that
/// order) tells whether the family is a counter.
pub fn to_text_004(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len() + 256);
    let mut help: Option<&str> = None;
    let mut run_start = 0;
    let mut pos = 0;
    for line in openmetrics.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        if !line.starts_with('#') {
            if let Some(h) = help.take() {
                out.push_str(h);
            }
            continue;
        }
        out.push_str(&openmetrics[run_start..start]);
        run_start = pos;
        comment_004(&mut out, &mut help, line);
    }
    out.push_str(&openmetrics[run_start..]);
    if let Some(h) = help {
        out.push_str(h);
    }
    out
}

/// One OpenMetrics comment line (with its newline) in 0.0.4.
fn comment_004<'a>(out: &mut String, help: &mut Option<&'a str>, line: &'a str) {
    let body = line.trim_end_matches('\n');
    if let Some(h) = help.take() {
        let typed = body
            .strip_prefix("# TYPE ")
            .and_then(|r| r.rsplit_once(' '));
        let described = h
            .trim_end_matches('\n')
            .strip_prefix("# HELP ")
            .and_then(|r| r.split_once(' '));
        match (typed, described) {
            (Some((name, "counter")), Some((n, text))) if n == name => {
                let _ = writeln!(out, "# HELP {name}_total {text}");
            }
            _ => out.push_str(h),
        }
    }
    if body == "# EOF" || body.starts_with("# UNIT ") {
        return;
    }
    if body.starts_with("# HELP ") {
        *help = Some(line);
        return;
    }
    match body
        .strip_prefix("# TYPE ")
        .and_then(|r| r.rsplit_once(' '))
    {
        Some((name, "counter")) => {
            let _ = writeln!(out, "# TYPE {name}_total counter");
        }
        Some((name, "info")) => {
            let _ = writeln!(out, "# TYPE {name}_info gauge");
        }
        Some((name, "unknown")) => {
            let _ = writeln!(out, "# TYPE {name} untyped");
        }
        _ => out.push_str(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::{evaluate, Scope};

    fn view() -> Arc<View> {
        let snapshot = crate::readiness::tests::healthy();
        let verdict = evaluate(&snapshot, &crate::readiness::tests::cfg(), Scope::Main);
        Arc::new(View::new(snapshot, verdict))
    }

    fn answer(view: &Arc<View>, age_seconds: f64, format: Format) -> String {
        Exposition {
            view: Arc::clone(view),
            age_seconds,
            ttl: Duration::from_secs(10),
            include_host: true,
            fleet: None,
        }
        .render(format)
        .to_text()
    }

    #[test]
    fn memoised_answer_is_the_families_plus_this_requests_age() {
        let v = view();
        let ttl = Duration::from_secs(10);
        let age = "# HELP milvus_exporter_cache_age_seconds Age of the data in this answer, seconds.\n# TYPE milvus_exporter_cache_age_seconds gauge\nmilvus_exporter_cache_age_seconds";
        let om = render_families(&v, ttl, true, Format::OpenMetrics);
        assert!(
            om.contains("milvus_collection_rows{db_name=\"default\",collection_name=\"docs\"} ")
        );
        assert!(!om.contains("# EOF") && !om.contains("cache_age"));
        // Whole-number facts are integers, measured ones floats.
        assert!(om.contains(
            "milvus_collection_loaded{db_name=\"default\",collection_name=\"docs\"} 1\n"
        ));
        assert!(om.contains(
            "milvus_collection_loaded{db_name=\"default\",collection_name=\"archive\"} 0\n"
        ));
        assert!(om.contains("milvus_up 1.0\n"));
        assert_eq!(
            answer(&v, 1.5, Format::OpenMetrics),
            format!("{om}{age} 1.5\n# EOF\n")
        );
        // The second answer comes from the memo (rendering again would panic) with its own age.
        v.rendered(Rendering::MetricsOpenMetrics, |_| panic!("rendered twice"));
        assert_eq!(
            answer(&v, 2.25, Format::OpenMetrics),
            format!("{om}{age} 2.25\n# EOF\n")
        );
        let text = render_families(&v, ttl, true, Format::Text004);
        assert_eq!(text, to_text_004(&om));
        assert_eq!(
            answer(&v, 0.5, Format::Text004),
            format!("{text}{age} 0.5\n")
        );
        assert!(text.contains("# TYPE milvus_exporter_refreshes_total counter\n"));
    }

    #[test]
    fn gzip_answers_of_one_view_share_one_compression_and_decode_to_the_plain_answer() {
        use std::io::Read as _;
        let v = view();
        let coded = |age: f64, format: Format, coding: Coding| {
            Exposition {
                view: Arc::clone(&v),
                age_seconds: age,
                ttl: Duration::from_secs(10),
                include_host: true,
                fleet: None,
            }
            .render_coded(format, coding)
        };
        for format in [Format::OpenMetrics, Format::Text004] {
            let plain = coded(1.5, format, Coding::Identity).to_text();
            let first = coded(1.5, format, Coding::Gzip);
            // A thousand scrapes of one snapshot: the compressed families are the same bytes
            // (one allocation, shared), never compressed again.
            for i in 0..1000 {
                let again = coded(f64::from(i), format, Coding::Gzip);
                assert_eq!(again.families.as_ptr(), first.families.as_ptr());
            }
            let what = match format {
                Format::OpenMetrics => Rendering::MetricsOpenMetrics,
                Format::Text004 => Rendering::MetricsText004,
            };
            v.gzipped(
                what,
                |_| panic!("rendered twice"),
                |_| panic!("compressed twice"),
            );
            let mut wire = first.families.to_vec();
            wire.extend_from_slice(&first.tail);
            let mut decoded = String::new();
            flate2::read::GzDecoder::new(wire.as_slice())
                .read_to_string(&mut decoded)
                .expect("one gzip member");
            assert_eq!(decoded, plain);
            assert!(wire.len() < plain.len());
        }
    }

    #[test]
    fn label_values_from_milvus_are_clipped_at_a_char_boundary() {
        let mut snapshot = crate::readiness::tests::healthy();
        if let Ok(c) = &mut crate::readiness::tests::collections(&mut snapshot).outcome {
            c.collections[0].name = format!("{}é", "n".repeat(255));
        }
        let verdict = evaluate(&snapshot, &crate::readiness::tests::cfg(), Scope::Main);
        let v = Arc::new(View::new(snapshot, verdict));
        let om = render_families(&v, Duration::from_secs(10), true, Format::OpenMetrics);
        let clipped = format!("collection_name=\"{}…\"", "n".repeat(255));
        assert!(om.contains(&clipped), "{om}");
    }

    #[test]
    fn negotiation_follows_prometheus_accept_header() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Text004);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text004);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text004);
        assert_eq!(
            Format::negotiate(Some("text/plain;q=1, application/openmetrics-text;q=0.5")),
            Format::Text004
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Format::Text004
        );
    }

    #[test]
    fn text_004_renames_counter_families_and_drops_eof() {
        let om = "# HELP x_errors Errors.\n# TYPE x_errors counter\nx_errors_total{check=\"a\"} 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1.0\n# UNIT g seconds\n# EOF\n";
        let text = to_text_004(om);
        assert_eq!(
            text,
            "# HELP x_errors_total Errors.\n# TYPE x_errors_total counter\nx_errors_total{check=\"a\"} 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1.0\n"
        );
    }

    #[test]
    fn text_004_keeps_a_help_line_whatever_follows_it() {
        // HELP followed by a sample, by another HELP, by the end, and by EOF.
        let om = "# HELP a A.\na 1\n# HELP b B.\n# HELP c C.\n# TYPE c unknown\nc 2\n# HELP d D.\n# EOF\n# HELP e E.";
        assert_eq!(
            to_text_004(om),
            "# HELP a A.\na 1\n# HELP b B.\n# HELP c C.\n# TYPE c untyped\nc 2\n# HELP d D.\n# HELP e E."
        );
        let info = "# HELP i I.\n# TYPE i info\ni_info{v=\"1\"} 1\n";
        assert_eq!(
            to_text_004(info),
            "# HELP i I.\n# TYPE i_info gauge\ni_info{v=\"1\"} 1\n"
        );
    }
}
