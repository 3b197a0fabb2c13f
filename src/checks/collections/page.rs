//! The `collections` check's table of the status page: one row per collection, the ones with
//! a problem first, at most the page's limit (the rest are in `/health`).

use super::{CollectionFacts, CollectionsFacts, IndexState};
use crate::checks::{Cell, Panel, Results, Tone};
use crate::model::{CheckResult, LoadState};

const COLUMNS: &[&str] = &[
    "Database",
    "Collection",
    "State",
    "Loaded",
    "Rows",
    "Index",
    "Probe latency",
];

/// Lower first: an error, a failed index, a load under way, then the rest as listed.
fn rank(c: &CollectionFacts) -> u8 {
    if c.error.is_some() || c.indexes.iter().any(|i| i.state == IndexState::Failed) {
        0
    } else if c.load_state == LoadState::Loading
        || c.indexes.iter().any(|i| i.state != IndexState::Finished)
    {
        1
    } else {
        2
    }
}

fn index_cell(c: &CollectionFacts) -> Cell {
    if c.indexes.is_empty() {
        return Cell::plain("-");
    }
    let text = c
        .indexes
        .iter()
        .map(|i| {
            let pct = if i.total_rows > 0 {
                (i.indexed_rows.max(0) as f64 * 100.0 / i.total_rows as f64).min(100.0)
            } else if i.state == IndexState::Finished {
                100.0
            } else {
                0.0
            };
            format!("{} {:.0}% {}", i.name, pct, i.state.as_str())
        })
        .collect::<Vec<_>>()
        .join(", ");
    let tone = if c.indexes.iter().any(|i| i.state == IndexState::Failed) {
        Tone::Bad
    } else if c.indexes.iter().all(|i| i.state == IndexState::Finished) {
        Tone::Good
    } else {
        Tone::Warn
    };
    Cell::tone(text, tone)
}

pub(super) fn panels(r: &CheckResult<CollectionsFacts>, all: &Results, limit: usize) -> Vec<Panel> {
    let mut panel = Panel {
        id: "collections",
        title: "Collections",
        columns: COLUMNS,
        ..Panel::default()
    };
    let c = match &r.outcome {
        Ok(c) => c,
        Err(e) => {
            panel.note = Some(format!("not listed: {e}"));
            return vec![panel];
        }
    };
    let shared = all.shared();
    let latency = |col: &CollectionFacts| {
        shared
            .probe_latency
            .iter()
            .find(|(db, name, _)| *db == col.db_name && *name == col.name)
            .map(|(_, _, d)| Cell::millis(*d))
            .unwrap_or_else(|| Cell::plain("-"))
    };
    let mut order: Vec<&CollectionFacts> = c.collections.iter().collect();
    order.sort_by_key(|col| rank(col));
    for col in order.iter().take(limit) {
        let state = match col.load_state {
            LoadState::Loaded => Tone::Good,
            LoadState::Loading => Tone::Warn,
            _ => Tone::Plain,
        };
        let state = Cell::tone(
            match &col.error {
                Some(e) => format!("{} ({e})", col.load_state.as_str()),
                None => col.load_state.as_str().to_string(),
            },
            if col.error.is_some() {
                Tone::Bad
            } else {
                state
            },
        );
        panel.rows.push(vec![
            Cell::plain(col.db_name.clone()),
            Cell::plain(col.name.clone()),
            state,
            Cell::maybe(col.loading_progress.map(|p| format!("{p}%"))),
            Cell::maybe(col.rows.map(|r| r.to_string())),
            index_cell(col),
            latency(col),
        ]);
    }
    panel.more = order.len().saturating_sub(limit);
    let skipped = c.skipped_filtered + c.skipped_limit;
    if skipped > 0 {
        panel.note = Some(format!(
            "{} left out by milvus.collections filters, {} past milvus.max_collections",
            c.skipped_filtered, c.skipped_limit
        ));
    }
    vec![panel]
}
