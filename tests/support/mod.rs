#![allow(dead_code)]
pub mod binary;
pub mod exporter;
pub mod fake_milvus;
pub mod hardened;
pub mod lite;
pub mod standalone;
