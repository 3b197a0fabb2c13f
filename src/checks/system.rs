//! Host checks with `sysinfo`: memory, CPU and disk of the machine (or container) the exporter
//! shares with Milvus.
//!
//! CPU usage needs two samples some time apart. The reference implementation slept a second
//! inside every request to get them; here a background task samples on its own timer and a
//! request only reads the last value.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sysinfo::{Disks, MemoryRefreshKind, System};

use crate::snapshot::{DiskFacts, SystemFacts};

#[derive(Debug, thiserror::Error)]
#[error("cannot read host statistics on this platform: {0}")]
pub struct SamplerError(String);

pub struct SystemSampler {
    disk_paths: Vec<PathBuf>,
    system: Mutex<System>,
    disks: Mutex<Disks>,
    /// f64 bits of the last CPU sample; NaN until there are two samples.
    cpu_percent: AtomicU64,
}

impl SystemSampler {
    /// Fails only on a platform `sysinfo` does not support.
    pub fn new(disk_paths: Vec<PathBuf>) -> Result<Self, SamplerError> {
        Ok(SystemSampler {
            disk_paths,
            system: Mutex::new(System::new().map_err(|e| SamplerError(e.to_string()))?),
            disks: Mutex::new(Disks::new().map_err(|e| SamplerError(e.to_string()))?),
            cpu_percent: AtomicU64::new(f64::NAN.to_bits()),
        })
    }

    /// Starts the CPU sampler. It holds only a weak reference, so it ends with the sampler.
    pub fn start_cpu_sampler(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut primed = false;
            loop {
                ticker.tick().await;
                let Some(this) = weak.upgrade() else { return };
                let usage = {
                    let mut sys = match this.system.lock() {
                        Ok(s) => s,
                        Err(p) => p.into_inner(),
                    };
                    sys.refresh_cpu_usage();
                    sys.global_cpu_usage() as f64
                };
                if primed {
                    this.cpu_percent
                        .store(usage.clamp(0.0, 100.0).to_bits(), Ordering::Relaxed);
                } else {
                    // The second sample comes soon after the first, so a figure exists within a
                    // quarter second of start rather than one interval later.
                    primed = true;
                    drop(this);
                    tokio::time::sleep(
                        sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.max(Duration::from_millis(250)),
                    )
                    .await;
                    ticker.reset_immediately();
                }
            }
        })
    }

    /// Memory and disks now, CPU from the last sample. Blocking (statfs on every path), so
    /// callers run it off the async workers: a hung network mount must not stall requests.
    pub fn facts(&self) -> SystemFacts {
        let (memory_percent, memory_available_bytes, memory_cgroup_limited) = {
            let mut sys = match self.system.lock() {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
            sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
            memory_of(
                sys.total_memory(),
                sys.available_memory(),
                sys.cgroup_limits().map(|c| (c.total_memory, c.free_memory)),
            )
        };
        let cpu = f64::from_bits(self.cpu_percent.load(Ordering::Relaxed));
        let disks = {
            let mut disks = match self.disks.lock() {
                Ok(d) => d,
                Err(p) => p.into_inner(),
            };
            disks.refresh(true);
            let mounts: Vec<(PathBuf, u64, u64)> = disks
                .iter()
                .map(|d| {
                    (
                        d.mount_point().to_path_buf(),
                        d.total_space(),
                        d.available_space(),
                    )
                })
                .collect();
            self.disk_paths
                .iter()
                .map(|p| disk_for(p, &mounts))
                .collect()
        };
        SystemFacts {
            memory_percent,
            memory_available_bytes,
            memory_cgroup_limited,
            cpu_percent: (!cpu.is_nan()).then_some(cpu),
            disks,
        }
    }
}

/// Memory used %, available bytes, and whether a cgroup limit was the base. Inside a
/// container with a memory limit, the limit is what the OOM killer enforces, so it wins over
/// the host's RAM whenever it is smaller.
fn memory_of(total: u64, available: u64, cgroup: Option<(u64, u64)>) -> (f64, u64, bool) {
    match cgroup {
        Some((limit, free)) if limit > 0 && limit < total => {
            let free = free.min(limit);
            (percent(limit - free, limit), free, true)
        }
        _ => {
            let available = available.min(total);
            (percent(total - available, total), available, false)
        }
    }
}

fn percent(used: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        used as f64 / total as f64 * 100.0
    }
}

/// A path belongs to the mount whose mount point is its longest prefix.
fn disk_for(path: &Path, mounts: &[(PathBuf, u64, u64)]) -> DiskFacts {
    let label = path.display().to_string();
    let resolved = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) => {
            return DiskFacts {
                path: label,
                mount_point: String::new(),
                percent: 0.0,
                free_bytes: 0,
                total_bytes: 0,
                error: Some(format!("cannot resolve {}: {e}", path.display())),
            }
        }
    };
    let best = mounts
        .iter()
        .filter(|(mp, _, _)| resolved.starts_with(mp))
        .max_by_key(|(mp, _, _)| mp.components().count());
    match best {
        Some((mp, total, avail)) => DiskFacts {
            path: label,
            mount_point: mp.display().to_string(),
            percent: percent(total.saturating_sub(*avail), *total),
            free_bytes: *avail,
            total_bytes: *total,
            error: None,
        },
        None => DiskFacts {
            path: label,
            mount_point: String::new(),
            percent: 0.0,
            free_bytes: 0,
            total_bytes: 0,
            error: Some(format!(
                "no mounted filesystem found for {}",
                path.display()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_limit_wins_when_smaller_than_ram() {
        let gib = 1 << 30;
        let (pct, avail, limited) = memory_of(16 * gib, 8 * gib, Some((2 * gib, gib / 2)));
        assert!(limited);
        assert_eq!(avail, gib / 2);
        assert!((pct - 75.0).abs() < 1e-9);
        let (pct, _, limited) = memory_of(16 * gib, 4 * gib, Some((u64::MAX, 0)));
        assert!(!limited, "an unlimited cgroup reports a huge limit");
        assert!((pct - 75.0).abs() < 1e-9);
    }

    #[test]
    fn path_maps_to_longest_mount_prefix() {
        let mounts = vec![
            (PathBuf::from("/"), 100, 50),
            (PathBuf::from("/tmp"), 10, 1),
        ];
        let d = disk_for(Path::new("/tmp"), &mounts);
        assert_eq!(d.mount_point, "/tmp");
        assert!((d.percent - 90.0).abs() < 1e-9);
        let d = disk_for(Path::new("/nonexistent-path-xyz"), &mounts);
        assert!(d.error.is_some());
    }

    #[test]
    fn the_real_root_disk_is_found() {
        let s = SystemSampler::new(vec![PathBuf::from("/")]).expect("supported platform");
        let f = s.facts();
        assert!(f.memory_percent > 0.0 && f.memory_percent <= 100.0);
        assert_eq!(f.disks.len(), 1);
        assert!(f.disks[0].error.is_none(), "{:?}", f.disks[0].error);
        assert!(f.disks[0].total_bytes > 0);
    }
}
