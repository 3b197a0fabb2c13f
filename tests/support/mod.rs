#![allow(dead_code)]
pub mod binary;
// RAG probes: an OpenAI-compatible embeddings API.
pub mod embeddings;
pub mod exporter;
pub mod fake_milvus;
pub mod hardened;
pub mod lite;
// A process's resident memory, for the hostile tests' bounds.
pub mod memory;
pub mod standalone;

/// The readiness thresholds that read the machine the tests run on, not Milvus: with them at
/// their defaults a test of Milvus fails on a full CI disk (CI's was 97.5% full once, and
/// every live test that expected a ready Milvus failed on the `disk` rule). A test that does
/// not set one runs with it at 100 % (the environment layer), so it reads only what it is
/// about; a test that sets one in its TOML or environment gets exactly what it wrote.
const HOST_THRESHOLDS: [(&str, &str); 2] = [
    (
        "disk_percent_max",
        "MILVUS_EXPORTER_READINESS__DISK_PERCENT_MAX",
    ),
    (
        "memory_percent_max",
        "MILVUS_EXPORTER_READINESS__MEMORY_PERCENT_MAX",
    ),
];

/// The environment variables [`HOST_THRESHOLDS`] adds for a test whose configuration is
/// `toml` (when known) and whose own environment is `env`.
pub fn host_neutral_env(toml: Option<&str>, env: &[(&str, &str)]) -> Vec<(String, String)> {
    HOST_THRESHOLDS
        .iter()
        .filter(|(key, var)| {
            !toml.is_some_and(|t| t.contains(key)) && !env.iter().any(|(k, _)| k == var)
        })
        .map(|(_, var)| (var.to_string(), "100".to_string()))
        .collect()
}
