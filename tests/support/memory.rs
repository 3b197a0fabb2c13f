//! A process's memory as Linux reports it in `/proc/<pid>/status`: what the hostile tests
//! measure the real exporter binary by.
#![allow(dead_code)]

/// `field` (`VmRSS`, `VmHWM`) of process `pid`, in KiB; 0 where /proc does not say.
pub fn kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resident memory now, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    kib(pid, "VmRSS")
}

/// The most resident memory the process has had, in KiB.
pub fn hwm_kib(pid: u32) -> u64 {
    kib(pid, "VmHWM")
}

/// KiB as MiB, one decimal.
pub fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}
