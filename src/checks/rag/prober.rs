//! One RAG probe's run: embed, then search, under the probe's timeout and the refresh's
//! deadline, then `max_latency`.

use std::time::Duration;

use tokio::time::Instant;

use super::scrub::Scrubber;
use super::{RagError, RagResult};
use crate::checks::grpc::MilvusClient;
use crate::checks::vector::SchemaCache;
use crate::config::RagProbeConfig;

pub(super) struct RagProber {
    pub(super) config: RagProbeConfig,
    pub(super) http: reqwest::Client,
    pub(super) scrub: Scrubber,
}

impl RagProber {
    pub(super) async fn run(
        &self,
        i: usize,
        client: &MilvusClient,
        schemas: &SchemaCache<usize>,
        refresh_at: Instant,
    ) -> RagResult {
        let p = &self.config;
        let started = Instant::now();
        let at = (started + p.timeout).min(refresh_at);
        // The allowance, in whole milliseconds: "timed out after 3s", not "after 2.999981s".
        let budget =
            Duration::from_millis(at.saturating_duration_since(started).as_millis() as u64);
        let mut result = RagResult {
            name: p.name.clone(),
            collection: p.collection.clone(),
            required: p.required,
            vector_field: None,
            dimensions: None,
            expected_dimensions: None,
            embed: None,
            search: None,
            total: Duration::ZERO,
            outcome: Ok(()),
        };
        let embedded = self.embed(at, budget).await;
        result.embed = Some(started.elapsed());
        result.outcome = match embedded {
            Err(e) => Err(e),
            Ok(vector) => {
                result.dimensions = Some(vector.len());
                let search_started = Instant::now();
                let searched = self
                    .search(i, client, schemas, &vector, at, &mut result)
                    .await;
                result.search = Some(search_started.elapsed());
                if searched.is_err() {
                    // A changed schema shows up as a failed search: describe again next time.
                    schemas.forget(&i);
                }
                searched
            }
        };
        result.total = started.elapsed();
        if let (Ok(()), Some(max)) = (&result.outcome, p.max_latency) {
            if result.total > max {
                result.outcome = Err(RagError::TooSlow {
                    took: result.total,
                    max,
                });
            }
        }
        result
    }
}
