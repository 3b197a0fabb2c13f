//! Adversarial suite (docs/hardening.md, "Bounds"): each module feeds one class of hostile input its worst values
//! and pins a bounded, clear answer. Hermetic: fake Milvus and local servers only.

#[path = "../support/mod.rs"]
mod support;

mod inputs;
mod server;
mod trust;
