//! Hostile suite, second round (docs/hardening.md, "Bounds"): what a burst of reloads, a
//! lying Milvus, a slow reader, a flood of bad credentials or a stray path can make the
//! exporter do to the whole process, each class a module with its bound pinned. Hermetic:
//! fake Milvus on loopback, the in-process app and the real binary (whose memory is read
//! from /proc).

#[path = "../support/mod.rs"]
mod support;

mod bodies;
mod credentials;
mod inert;
mod listings;
mod low;
mod readers;
mod reloads;
