//! What the RAG probes' results say: a readiness rule per probe, the metric families, the
//! `rag_probes` JSON section and the lines of the `check` table.

use std::time::Duration;

use serde::Serialize;

use super::{RagResult, RagResults, Stage};
use crate::checks::facts::{bool01, round, Facts, Family, MetricsContext, Results, Section};
use crate::config::ReadinessConfig;
use crate::model::RuleStatus;

/// One entry of `rag_probes` in `/readyz` and `/health`.
#[derive(Serialize)]
struct RagEntry<'a> {
    name: &'a str,
    collection: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    vector_field: Option<&'a str>,
    required: bool,
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_dimensions: Option<usize>,
    stages: Stages,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_stage: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Each stage's duration in seconds; a stage that did not run is left out.
#[derive(Serialize)]
struct Stages {
    #[serde(skip_serializing_if = "Option::is_none")]
    embed: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    search: Option<f64>,
    total: f64,
}

fn seconds(d: Duration) -> f64 {
    round(d.as_secs_f64(), 6)
}

impl RagResult {
    /// The stages that ran, with their durations, in `stage` label order.
    fn stages(&self) -> impl Iterator<Item = (Stage, Duration)> {
        [
            self.embed.map(|d| (Stage::Embed, d)),
            self.search.map(|d| (Stage::Search, d)),
            Some((Stage::Total, self.total)),
        ]
        .into_iter()
        .flatten()
    }
}

impl Facts for RagResults {
    /// One rule per probe, named after it; one that is not `required` never fails.
    fn named_rules(&self, _config: &ReadinessConfig) -> Vec<(String, RuleStatus)> {
        self.0
            .iter()
            .map(|r| {
                let status = match (r.required, r.reason()) {
                    (false, _) => RuleStatus::Excluded,
                    (true, None) => RuleStatus::Pass,
                    (true, Some(why)) => RuleStatus::Fail(why),
                };
                (r.name.clone(), status)
            })
            .collect()
    }

    fn families(&self, f: &mut Family<'_, '_>, m: &MetricsContext<'_>) -> std::fmt::Result {
        let cached = m.cached;
        f.gauge(
            "milvus_rag_probe_success",
            &format!(
                "1 when the RAG probe embedded its text, the dimension matched and the search \
                 answered, within its limits.{cached}"
            ),
            self.0
                .iter()
                .map(|r| ([("probe", r.name.as_str())], bool01(r.success()))),
        )?;
        f.gauge(
            "milvus_rag_probe_duration_seconds",
            &format!(
                "How long each stage of the RAG probe took (embed, search, total); a stage \
                 that did not run has no sample.{cached}"
            ),
            self.0.iter().flat_map(|r| {
                r.stages().map(move |(stage, d)| {
                    (
                        [("probe", r.name.as_str()), ("stage", stage.as_str())],
                        d.as_secs_f64(),
                    )
                })
            }),
        )?;
        f.gauge(
            "milvus_rag_embedding_dimensions",
            &format!("Length of the embedding the API returned to the RAG probe.{cached}"),
            self.0.iter().filter_map(|r| {
                r.dimensions
                    .map(|d| ([("probe", r.name.as_str())], d as i64))
            }),
        )
    }

    /// `rag_probes`, left out when there are none.
    fn sections(&self, _all: &Results, _address: &str) -> Vec<Section> {
        if self.0.is_empty() {
            return Vec::new();
        }
        let entries: Vec<RagEntry<'_>> = self
            .0
            .iter()
            .map(|r| RagEntry {
                name: &r.name,
                collection: r.collection.to_string(),
                vector_field: r.vector_field.as_deref(),
                required: r.required,
                success: r.success(),
                dimensions: r.dimensions,
                expected_dimensions: r.expected_dimensions,
                stages: Stages {
                    embed: r.embed.map(seconds),
                    search: r.search.map(seconds),
                    total: seconds(r.total),
                },
                failed_stage: r.outcome.as_ref().err().map(|e| e.stage().as_str()),
                error: r.outcome.as_ref().err().map(|e| e.to_string()),
            })
            .collect();
        vec![Section::top("rag_probes", &entries)]
    }

    fn panels(&self, _all: &Results, limit: usize) -> Vec<crate::checks::Panel> {
        use crate::checks::{Cell, Panel};
        if self.0.is_empty() {
            return Vec::new();
        }
        let ms = |d: Option<Duration>| d.map_or_else(|| Cell::plain("-"), Cell::millis);
        let rows = self.0.iter().take(limit).map(|r| {
            vec![
                Cell::plain(r.name.clone()),
                Cell::plain(r.collection.to_string()),
                Cell::maybe(r.dimensions.map(|d| d.to_string())),
                ms(r.embed),
                ms(r.search),
                Cell::millis(r.total),
                match &r.outcome {
                    Ok(()) => Cell::judged("ok", true),
                    Err(e) => Cell::judged(
                        format!("failed at {}: {e}", e.stage().as_str()),
                        !r.required,
                    ),
                },
            ]
        });
        vec![Panel {
            id: "rag",
            title: "RAG probes",
            columns: &[
                "Name",
                "Collection",
                "Dimensions",
                "Embed",
                "Search",
                "Total",
                "Result",
            ],
            rows: rows.collect(),
            more: self.0.len().saturating_sub(limit),
            note: None,
        }]
    }

    fn table(&self, out: &mut String) {
        use std::fmt::Write as _;
        if self.0.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\n  {:<20} {:<28} {:>6} {:>9} {:>9} {:>9}",
            "RAG PROBE", "COLLECTION", "DIMS", "EMBED ms", "SEARCH ms", "TOTAL ms"
        );
        let ms = |d: Option<Duration>| {
            d.map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "-".into())
        };
        use crate::render::inert::terminal as t;
        for r in &self.0 {
            let line = format!(
                "  {:<20} {:<28} {:>6} {:>9} {:>9} {:>9}  {}",
                t(&r.name),
                t(&r.collection.to_string()),
                r.dimensions
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                ms(r.embed),
                ms(r.search),
                ms(Some(r.total)),
                match &r.outcome {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("FAIL at {}: {}", e.stage().as_str(), t(&e.to_string())),
                }
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
}
