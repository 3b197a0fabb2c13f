#![allow(dead_code)]
pub mod exporter;
pub mod fake_milvus;
pub mod lite;
pub mod standalone;
