//! Adversarial cases: server.

use super::support;

#[allow(dead_code)]
fn _support_is_linked() -> usize {
    std::mem::size_of::<support::exporter::Exporter>()
}
