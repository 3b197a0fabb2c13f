//! milvus_exporter: one cache of facts about a Milvus server and its host, told to Prometheus
//! (`/metrics`), to Kubernetes (`/healthz`, `/readyz`) and to people (`/health`, `/`, `check`).
//!
//! The data flows one way: [`model`] (shared words) → [`config`] → [`checks`] → [`snapshot`] →
//! [`readiness`] → [`history`] → [`cache`]
//! → [`render`] ([`exposition`](render::exposition) | [`report`](render::report) |
//! [`table`](render::table) | [`page`](render::page)) → [`server`] → [`app`] (build, serve,
//! reload, shut down; the binary and every test use it) → [`cli`] (and [`remote`], what
//! `check --url` reads of a running exporter).

pub mod app;
pub mod cache;
pub mod checks;
pub mod cli;
pub mod config;
pub mod history;
pub mod limits;
pub mod model;
pub mod readiness;
pub mod remote;
pub mod render;
pub mod server;
pub mod snapshot;
