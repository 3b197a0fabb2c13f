//! What a check's result can say about itself, so the renderings can iterate results instead
//! of naming checks: its rows of `milvus_exporter_check_*{check}`, the rules named at run time
//! (a dependency's), its metric families, its JSON sections and its lines of the `check`
//! table. It lives with the checks because each check module implements it for its own facts,
//! and the checks sit below the renderings in the floor plan.
//!
//! Also here: the facts the checks publish for one another ([`Facts::share`], gathered by
//! [`Results::shared`]: the probe rule's hint about a collection's load state, the nodes'
//! memory the `memory` rule judges), the typed lookup of a result ([`Results::facts`]), and
//! the metric family writer ([`Family`]) whose label values stay borrowed from the facts.

use std::any::Any;
use std::fmt;
use std::time::Duration;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use serde_json::value::RawValue;

use super::shared::Shared;
use crate::config::ReadinessConfig;
use crate::model::{CheckResult, RuleStatus};

/// One row of `milvus_exporter_check_*{check}`, the `check` table and `/health`'s `checks`.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRow {
    pub name: &'static str,
    pub success: bool,
    pub duration: Duration,
    pub error: Option<String>,
}

impl CheckRow {
    /// The row of a check that either produced its facts or failed as a whole.
    pub fn of<T>(name: &'static str, r: &CheckResult<T>) -> Self {
        CheckRow {
            name,
            success: r.outcome.is_ok(),
            duration: r.duration,
            error: r.error().map(|e| e.to_string()),
        }
    }
}

/// One table of the status page (`/`), as a check gives it: headings and cells of plain text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    /// The table's HTML id (`collections`, `nodes`, …): fixed, never from Milvus.
    pub id: &'static str,
    pub title: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<Cell>>,
    /// Rows left out past the page's limit; the page says how many and links to `/health`.
    pub more: usize,
    /// One line under the title: why the table is empty, or what it leaves out.
    pub note: Option<String>,
}

/// One cell of a [`Panel`]: its text and how it reads at a glance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl Cell {
    pub fn plain(text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            tone: Tone::Plain,
        }
    }
    pub fn tone(text: impl Into<String>, tone: Tone) -> Self {
        Cell {
            text: text.into(),
            tone,
        }
    }
    /// `good` when `ok`, `bad` otherwise.
    pub fn judged(text: impl Into<String>, ok: bool) -> Self {
        Cell::tone(text, if ok { Tone::Good } else { Tone::Bad })
    }
    /// A figure that may be missing (`-`).
    pub fn maybe(value: Option<String>) -> Self {
        Cell::plain(value.unwrap_or_else(|| "-".to_string()))
    }
    /// A duration in milliseconds, as the page shows latencies.
    pub fn millis(d: Duration) -> Self {
        Cell::plain(format!("{:.1} ms", d.as_secs_f64() * 1000.0))
    }
}

/// How a cell reads: the page colours it (and says it in words where colour is not enough).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tone {
    #[default]
    Plain,
    Good,
    Warn,
    Bad,
}

/// Where a JSON section goes in `/readyz` and `/health`. The body is serialised once, here,
/// straight from the check's typed structs (so its fields keep their declared order), and
/// copied into the answer as it is: going through `serde_json::Value` instead made `/health`
/// six times slower at 10,000 collections.
#[derive(Clone, Debug)]
pub enum Section {
    /// A key of the `dependencies` object (`milvus`, `collections`, a RAG dependency's name).
    Dependency(String, Box<RawValue>),
    /// A top-level key after `dependencies` (`probes`, `resources`).
    Top(&'static str, Box<RawValue>),
}

impl Section {
    pub fn dependency(key: impl Into<String>, body: &impl serde::Serialize) -> Self {
        Section::Dependency(key.into(), json(body))
    }
    pub fn top(key: &'static str, body: &impl serde::Serialize) -> Self {
        Section::Top(key, json(body))
    }
}

/// A body that cannot become JSON (none here can: plain structs of strings and numbers) is
/// `null` rather than a missing key, so the shape stays.
fn json(body: &impl serde::Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(body).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// What every metric family of one answer shares.
#[derive(Clone, Copy, Debug)]
pub struct MetricsContext<'a> {
    /// Appended to every cached family's help text (" Cached: refreshed at most every 10s.").
    pub cached: &'a str,
    /// Host families belong to `/metrics`, not to `/probe`.
    pub include_host: bool,
    /// Every result of the refresh, for a family that joins another check's facts (binlog
    /// bytes come from the nodes' report, by collection id, for the collections kept).
    pub results: &'a Results,
}

/// Object-safe access to the concrete type behind a `dyn Facts`, and a clone of it; given to
/// every `Facts` type by the blanket impl, so a check module writes none of it.
pub trait AsAny: Any {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn clone_facts(&self) -> Box<dyn Facts>;
}

impl<T: Facts + Clone> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn clone_facts(&self) -> Box<dyn Facts> {
        Box::new(self.clone())
    }
}

/// One check's result as the rest of the house sees it. Every method has a default that says
/// nothing, so a check implements only what it has to say.
pub trait Facts: AsAny + Send + Sync + fmt::Debug {
    /// Its rows of `milvus_exporter_check_*{check}` (none for probes and dependencies, which
    /// have families of their own).
    fn checks(&self) -> Vec<CheckRow> {
        Vec::new()
    }
    /// Rules named at run time, evaluated after every built-in rule: one per dependency.
    fn named_rules(&self, _config: &ReadinessConfig) -> Vec<(String, RuleStatus)> {
        Vec::new()
    }
    /// Families written before the readiness families (`milvus_up`, `milvus_healthy`): the
    /// first lines a person reading `/metrics` looks for.
    fn headline(&self, _f: &mut Family<'_, '_>, _m: &MetricsContext<'_>) -> fmt::Result {
        Ok(())
    }
    /// Its metric families, written after the readiness families.
    fn families(&self, _f: &mut Family<'_, '_>, _m: &MetricsContext<'_>) -> fmt::Result {
        Ok(())
    }
    /// Roughly how many bytes its families take, so the rendering allocates once.
    fn size_hint(&self) -> usize {
        0
    }
    /// Its sections of `/readyz` and `/health`; `all` is every result of the refresh, for a
    /// section that shows another check's facts, `address` the target's Milvus address.
    fn sections(&self, _all: &Results, _address: &str) -> Vec<Section> {
        Vec::new()
    }
    /// Its lines of the `check` table, after the rules and the check rows.
    fn table(&self, _out: &mut String) {}
    /// Its tables of the status page, each at most `limit` rows long (the rows that matter
    /// most first); `all` is every result of the refresh. Text only: the page escapes every
    /// cell, so a check never writes markup.
    fn panels(&self, _all: &Results, _limit: usize) -> Vec<Panel> {
        Vec::new()
    }
    /// The facts it publishes for other checks' rules, families and sections, borrowed from
    /// itself (see [`Shared`]): a check never names another check's types.
    fn share<'a>(&'a self, _shared: &mut Shared<'a>) {}
}

impl Clone for Box<dyn Facts> {
    fn clone(&self) -> Self {
        self.as_ref().clone_facts()
    }
}

/// Every result of one refresh, in registry order, with a typed lookup.
#[derive(Clone, Debug, Default)]
pub struct Results(Vec<Box<dyn Facts>>);

impl Results {
    pub fn new(results: Vec<Box<dyn Facts>>) -> Self {
        Results(results)
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Facts> {
        self.0.iter().map(|f| f.as_ref())
    }

    pub fn push(&mut self, facts: Box<dyn Facts>) {
        self.0.push(facts);
    }

    /// The result of type `T`, if a check of this target produced one.
    pub fn get<T: Facts>(&self) -> Option<&T> {
        self.0.iter().find_map(|f| f.as_any().downcast_ref::<T>())
    }

    pub fn get_mut<T: Facts>(&mut self) -> Option<&mut T> {
        self.0
            .iter_mut()
            .find_map(|f| f.as_any_mut().downcast_mut::<T>())
    }

    /// Drops the result of type `T` (a fixture for a target without that check).
    pub fn remove<T: Facts>(&mut self) {
        self.0.retain(|f| !f.as_any().is::<T>());
    }

    /// The `CheckResult<T>` of the check that produces `T`.
    pub fn result<T: 'static>(&self) -> Option<&CheckResult<T>>
    where
        CheckResult<T>: Facts,
    {
        self.get::<CheckResult<T>>()
    }

    pub fn result_mut<T: 'static>(&mut self) -> Option<&mut CheckResult<T>>
    where
        CheckResult<T>: Facts,
    {
        self.get_mut::<CheckResult<T>>()
    }

    /// The facts `T`, when their check ran and succeeded.
    pub fn facts<T: 'static>(&self) -> Option<&T>
    where
        CheckResult<T>: Facts,
    {
        self.result::<T>().and_then(CheckResult::ok)
    }

    /// Each result's check rows, in registry order.
    pub fn checks(&self) -> Vec<CheckRow> {
        self.iter().flat_map(|f| f.checks()).collect()
    }

    /// What the results publish for one another ([`Facts::share`]), gathered from them as
    /// they are now.
    pub fn shared(&self) -> Shared<'_> {
        let mut shared = Shared::default();
        for f in self.iter() {
            f.share(&mut shared);
        }
        shared
    }
}

/// Rounds for JSON: people read these, and six decimals of a percentage is noise.
pub fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

pub fn bool01(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Writes one family: a descriptor, then each labelled sample.
pub struct Family<'a, 'b> {
    encoder: &'a mut DescriptorEncoder<'b>,
}

impl<'a, 'b> Family<'a, 'b> {
    pub fn new(encoder: &'a mut DescriptorEncoder<'b>) -> Self {
        Family { encoder }
    }

    /// One labelled family. A gauge family with no samples is left out entirely, so a
    /// missing fact is an absent series rather than a descriptor with nothing under it.
    /// Label values may be borrowed from the view (`&str`): at 10,000 collections, copying
    /// each into a `String` per sample was a fifth of the encoding time.
    fn labelled<L, S, V, M>(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        samples: impl IntoIterator<Item = (L, V)>,
        metric: impl Fn(V) -> M,
    ) -> fmt::Result
    where
        L: AsRef<[(&'static str, S)]>,
        S: EncodeLabelValue,
        M: EncodeMetric,
    {
        let mut samples = samples.into_iter().peekable();
        if samples.peek().is_none() && matches!(kind, MetricType::Gauge) {
            return Ok(());
        }
        let mut family = self.encoder.encode_descriptor(name, help, None, kind)?;
        for (labels, value) in samples {
            metric(value).encode(family.encode_family(&labels.as_ref())?)?;
        }
        Ok(())
    }

    /// A gauge family. Whole-number facts (states, counts) are given as `i64` and written as
    /// integers: no float formatting, and `rows` stays exact past 2^53.
    pub fn gauge<L, S, V>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (L, V)>,
    ) -> fmt::Result
    where
        L: AsRef<[(&'static str, S)]>,
        S: EncodeLabelValue,
        V: EncodeGaugeValue,
    {
        self.labelled(name, help, MetricType::Gauge, samples, ConstGauge::new)
    }

    pub fn counter<L, S>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (L, u64)>,
    ) -> fmt::Result
    where
        L: AsRef<[(&'static str, S)]>,
        S: EncodeLabelValue,
    {
        self.labelled(name, help, MetricType::Counter, samples, ConstCounter::new)
    }

    /// An unlabelled gauge, written `name value` rather than `name{} value`.
    pub fn gauge1(&mut self, name: &str, help: &str, value: Option<f64>) -> fmt::Result {
        let Some(value) = value else { return Ok(()) };
        let family = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(value).encode(family)
    }

    pub fn counter1(&mut self, name: &str, help: &str, value: u64) -> fmt::Result {
        let family = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        ConstCounter::new(value).encode(family)
    }
}

/// A label value that came from Milvus (a collection, database or component name, a version),
/// written at most [`MAX_LABEL_BYTES`](crate::limits::MAX_LABEL_BYTES) long, cut at a char
/// boundary and marked `…`. Borrowed, like every label value here: no copy per sample.
#[derive(Clone, Copy, Debug)]
pub struct Clipped<'a>(pub &'a str);

impl EncodeLabelValue for Clipped<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        use std::fmt::Write as _;
        match crate::limits::clip_bytes(self.0, crate::limits::MAX_LABEL_BYTES) {
            (whole, false) => encoder.write_str(whole),
            (head, true) => {
                encoder.write_str(head)?;
                encoder.write_str("…")
            }
        }
    }
}
