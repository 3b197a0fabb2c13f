//! Hostile suite, round two (docs/hardening.md, "Bounds"): each module is one class of attack
//! against the landed exporter, with the bound that now holds. Hermetic: fake Milvus and
//! loopback clients only.

#[path = "../support/mod.rs"]
mod support;

mod bodies;
mod credentials;
mod inert;
mod readers;
