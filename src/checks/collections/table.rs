//! The `collections` check's lines of the `check` table: one per collection, one per index.

use super::CollectionsFacts;
use crate::model::CheckResult;
use crate::render::inert::terminal as t;

pub(super) fn write(r: &CheckResult<CollectionsFacts>, out: &mut String) {
    use std::fmt::Write as _;
    let Some(c) = r.ok() else { return };
    let _ = writeln!(
        out,
        "\n  {:<12} {:<32} {:<9} {:>9} {:>12}",
        "DATABASE", "COLLECTION", "STATE", "PROGRESS", "ROWS"
    );
    for col in &c.collections {
        let _ = writeln!(
            out,
            "  {:<12} {:<32} {:<9} {:>8}% {:>12}{}",
            t(&col.db_name),
            t(&col.name),
            col.load_state.as_str(),
            col.loading_progress
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            col.rows
                .map(|r| r.to_string())
                .unwrap_or_else(|| "-".into()),
            col.error
                .as_ref()
                .map(|e| format!("  ({})", t(e)))
                .unwrap_or_default()
        );
        for i in &col.indexes {
            let _ = writeln!(
                out,
                "    index {} on {}: {} {}/{} rows, {} pending{}",
                t(&i.name),
                t(&i.field),
                i.state.as_str(),
                i.indexed_rows,
                i.total_rows,
                i.pending_rows,
                i.fail_reason
                    .as_ref()
                    .map(|r| format!(" ({})", t(r)))
                    .unwrap_or_default()
            );
        }
    }
    if c.skipped_filtered + c.skipped_limit > 0 {
        let _ = writeln!(
            out,
            "  skipped {} filtered, {} past milvus.max_collections",
            c.skipped_filtered, c.skipped_limit
        );
    }
    if let Some(age) = c.inventory_age {
        let _ = writeln!(out, "  inventory {:.0}s old", age.as_secs_f64());
    }
}
