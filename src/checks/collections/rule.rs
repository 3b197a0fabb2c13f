//! The `collections` rule: every `readiness.required_collections` entry exists, is loaded,
//! and has no failed index; and no loaded collection that matters (the required and probed
//! ones when some are configured, every loaded one when none are) has Milvus's
//! `query_service_available` false.

use super::{CollectionsFacts, IndexState};
use crate::checks::RuleInput;
use crate::model::{LoadState, RuleStatus};

pub(super) fn collections_rule(input: &RuleInput<'_>) -> RuleStatus {
    let config = input.config;
    let facts = match input
        .results
        .result::<CollectionsFacts>()
        .map(|r| &r.outcome)
    {
        Some(Ok(f)) => f,
        // The listing's own failure matters to this rule only for required collections; the
        // check's row says it either way.
        Some(Err(_)) if config.required_collections.is_empty() => return RuleStatus::Pass,
        Some(Err(e)) => {
            return RuleStatus::Fail(format!("cannot list collections: {e}"));
        }
        None => return RuleStatus::Excluded,
    };
    let mut problems = Vec::new();
    let named: Vec<(&str, &str)> = config
        .required_collections
        .iter()
        .map(|c| (c.db_name.as_str(), c.name.as_str()))
        .chain(
            config
                .probes
                .iter()
                .map(|p| (p.collection.db_name.as_str(), p.collection.name.as_str())),
        )
        .collect();
    let unserved: Vec<String> = facts
        .collections
        .iter()
        .filter(|c| c.load_state == LoadState::Loaded && c.query_service_available == Some(false))
        .filter(|c| named.is_empty() || named.contains(&(c.db_name.as_str(), c.name.as_str())))
        .map(|c| format!("{}.{}", c.db_name, c.name))
        .collect();
    if !unserved.is_empty() {
        let total = unserved.len();
        let mut shown: Vec<String> = unserved
            .into_iter()
            .take(crate::limits::MAX_NAMED_IN_REASON)
            .collect();
        if total > shown.len() {
            shown.push(format!("and {} more", total - shown.len()));
        }
        problems.push(format!(
            "Milvus says no replica can serve loaded collection(s) {} (query_service_available false)",
            shown.join(", ")
        ));
    }
    for wanted in &config.required_collections {
        let db_error = facts
            .databases
            .iter()
            .find(|d| d.name == wanted.db_name)
            .and_then(|d| d.collections_count.is_none().then_some(d.error.clone()));
        match (facts.find(&wanted.db_name, &wanted.name), db_error) {
            (_, Some(err)) => problems.push(format!(
                "required collection {wanted}: database {} could not be listed: {}",
                wanted.db_name,
                err.unwrap_or_default()
            )),
            (None, None) => problems.push(format!("required collection {wanted} does not exist")),
            (Some(c), None) => match c.load_state {
                LoadState::Loaded => {
                    // A failed index serves brute-force searches, or none.
                    for i in c.indexes.iter().filter(|i| i.state == IndexState::Failed) {
                        problems.push(format!(
                            "required collection {wanted}: index {} failed: {}",
                            i.name,
                            i.fail_reason.as_deref().unwrap_or("no reason given")
                        ));
                    }
                }
                LoadState::Loading => problems.push(format!(
                    "required collection {wanted} is still loading ({}%)",
                    c.loading_progress.unwrap_or(0)
                )),
                LoadState::Unknown => problems.push(format!(
                    "required collection {wanted}: load state unknown ({})",
                    c.error.as_deref().unwrap_or("no answer")
                )),
                other => problems.push(format!(
                    "required collection {wanted} is not loaded (state {})",
                    other.as_str()
                )),
            },
        }
    }
    if problems.is_empty() {
        RuleStatus::Pass
    } else {
        RuleStatus::Fail(problems.join("; "))
    }
}
