//! The renderings: what each audience reads of one snapshot and its verdict. They read the
//! cache's views and iterate the checks' results ([`crate::checks::Facts`]); none names a
//! check, and none does I/O, so every endpoint and the `check` command tell the same story.
//!
//! - [`exposition`]: `/metrics` and `/probe` (OpenMetrics 1.0, Prometheus text 0.0.4), and
//!   [`gzip`], their compressed form;
//! - [`report`]: the `/readyz` and `/health` JSON, and `/readyz?verbose`;
//! - [`table`]: the `check` command's table;
//! - [`page`]: the status page at `/`;
//! - [`inert`]: text from Milvus or a peer made harmless for a terminal and for HTML.

pub mod exposition;
pub mod gzip;
pub mod inert;
pub mod page;
pub mod report;
pub mod table;
