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
