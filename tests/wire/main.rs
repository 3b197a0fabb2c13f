//! The wire suite: how `/metrics` and `/probe` answers travel (content coding, and sharding
//! targets over several exporters). Hermetic: the fake Milvus and the in-process exporter;
//! the sharding test with a real Prometheus is in the live suite (`--features live`).

#[path = "../support/mod.rs"]
mod support;

mod files;
mod gzip;
#[cfg(feature = "live")]
mod sharding;
