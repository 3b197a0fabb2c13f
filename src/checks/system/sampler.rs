//! The host sampler: memory and CPU with `sysinfo`, disks with `statvfs(2)` of each configured
//! path, for the machine (or container) the exporter shares with Milvus.
//!
//! CPU usage needs two samples some time apart. The reference implementation slept a second
//! inside every request to get them; here a background task samples on its own timer and a
//! request only reads the last value. The first sample is taken when the sampler is built, and
//! if the timer has not produced a second by the first refresh, that refresh takes it (waiting
//! out the rest of sysinfo's minimum interval, 200 ms on Linux, inside its blocking task), so
//! the very first snapshot has a CPU figure.
//!
//! Each disk path is asked `statvfs` itself, whatever its filesystem (tmpfs, NFS, CIFS, autofs
//! included: sysinfo's mount list leaves those out, and a path on one was measured on the
//! filesystem above it). Each statvfs runs on a thread of its own under [`DISK_STAT_TIMEOUT`]:
//! a hung mount fails its own path, not the others nor the refresh, and a path whose last
//! statvfs has not returned is not asked again until it does, so a hung mount holds one
//! thread, not one per refresh. They are plain threads, not tokio's blocking pool, because a
//! thread stuck in an uninterruptible syscall would hold the runtime's shutdown.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sysinfo::{MemoryRefreshKind, System};

use super::{DiskFacts, SystemFacts};

/// How long one refresh waits for a path's statvfs. A local filesystem answers in
/// microseconds and a healthy NFS mount in milliseconds; past a second the mount is in trouble,
/// and the refresh must still finish within Milvus's timeout (3 s by default).
pub const DISK_STAT_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
#[error("cannot read host statistics on this platform: {0}")]
pub struct SamplerError(String);

/// One filesystem's figures, as statvfs gives them for a path on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskUsage {
    /// The mount the path is on, by `/proc/self/mountinfo`; empty when unknown.
    pub mount_point: String,
    pub total_bytes: u64,
    /// Available to unprivileged users (`f_bavail`), as `df` and node_exporter count it.
    pub free_bytes: u64,
}

/// Measures one path; blocking, may hang (a dead NFS server).
pub type DiskStat = dyn Fn(&Path) -> Result<DiskUsage, String> + Send + Sync;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The host's memory and CPU state, and when the CPU was last sampled.
struct Host {
    system: System,
    cpu_sampled_at: Instant,
}

pub struct SystemSampler {
    disk_paths: Vec<PathBuf>,
    host: Mutex<Host>,
    disks: DiskMeter,
    /// f64 bits of the last CPU figure; NaN until there are two samples.
    cpu_percent: AtomicU64,
}

impl SystemSampler {
    /// Fails only on a platform `sysinfo` does not support.
    pub fn new(disk_paths: Vec<PathBuf>) -> Result<Self, SamplerError> {
        Self::with_disk_stat(disk_paths, Arc::new(statvfs_usage), DISK_STAT_TIMEOUT)
    }

    /// As [`new`](Self::new), measuring disks with `stat` under `timeout` (for tests).
    pub fn with_disk_stat(
        disk_paths: Vec<PathBuf>,
        stat: Arc<DiskStat>,
        timeout: Duration,
    ) -> Result<Self, SamplerError> {
        let mut system = System::new().map_err(|e| SamplerError(e.to_string()))?;
        // The first CPU sample: the second, a little later, gives the first figure.
        system.refresh_cpu_usage();
        Ok(SystemSampler {
            disk_paths,
            host: Mutex::new(Host {
                system,
                cpu_sampled_at: Instant::now(),
            }),
            disks: DiskMeter::new(stat, timeout),
            cpu_percent: AtomicU64::new(f64::NAN.to_bits()),
        })
    }

    /// A CPU figure since the last sample, stored; `Err(wait)` when the last sample is less
    /// than sysinfo's minimum interval old (a figure over a shorter span is noise).
    fn sample_cpu(&self) -> Result<f64, Duration> {
        let mut host = lock(&self.host);
        let since = host.cpu_sampled_at.elapsed();
        if since < sysinfo::MINIMUM_CPU_UPDATE_INTERVAL {
            return Err(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL - since);
        }
        host.system.refresh_cpu_usage();
        host.cpu_sampled_at = Instant::now();
        let usage = (host.system.global_cpu_usage() as f64).clamp(0.0, 100.0);
        self.cpu_percent.store(usage.to_bits(), Ordering::Relaxed);
        Ok(usage)
    }

    /// Starts the CPU sampler. It holds only a weak reference, so it ends with the sampler.
    pub fn start_cpu_sampler(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(this) = weak.upgrade() else { return };
                // Too soon after the last sample (the one taken at construction, or one a
                // refresh took): wait out the minimum interval once, then sample.
                if let Err(wait) = this.sample_cpu() {
                    drop(this);
                    tokio::time::sleep(wait).await;
                    let Some(this) = weak.upgrade() else { return };
                    let _ = this.sample_cpu();
                }
            }
        })
    }

    /// The last CPU figure, or, before the timer has made one, one made now: blocking for at
    /// most sysinfo's minimum interval (twice, if the timer sampled in between).
    fn cpu_now(&self) -> f64 {
        for _ in 0..2 {
            let cpu = f64::from_bits(self.cpu_percent.load(Ordering::Relaxed));
            if !cpu.is_nan() {
                return cpu;
            }
            match self.sample_cpu() {
                Ok(cpu) => return cpu,
                Err(wait) => std::thread::sleep(wait),
            }
        }
        self.sample_cpu().unwrap_or(f64::NAN)
    }

    /// Memory now, disks now, CPU from the last sample. Blocking (statvfs on every path, and
    /// the first time perhaps a CPU sample), so callers run it off the async workers.
    pub fn facts(&self) -> SystemFacts {
        let (memory_percent, memory_available_bytes, memory_cgroup_limited) = {
            let mut host = lock(&self.host);
            let sys = &mut host.system;
            sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
            memory_of(
                sys.total_memory(),
                sys.available_memory(),
                sys.cgroup_limits().map(|c| (c.total_memory, c.free_memory)),
            )
        };
        let cpu = self.cpu_now();
        let disks = self.disks.measure(&self.disk_paths);
        SystemFacts {
            memory_percent,
            memory_available_bytes,
            memory_cgroup_limited,
            cpu_percent: (!cpu.is_nan()).then_some(cpu),
            disks,
        }
    }
}

/// statvfs of each path on a thread of its own, single-flight per path, under a timeout.
struct DiskMeter {
    stat: Arc<DiskStat>,
    timeout: Duration,
    /// Paths whose statvfs has not returned yet, and since when.
    in_flight: Arc<Mutex<HashMap<PathBuf, Instant>>>,
}

impl DiskMeter {
    fn new(stat: Arc<DiskStat>, timeout: Duration) -> Self {
        DiskMeter {
            stat,
            timeout,
            in_flight: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn measure(&self, paths: &[PathBuf]) -> Vec<DiskFacts> {
        let deadline = Instant::now() + self.timeout;
        let (tx, rx) = mpsc::channel();
        let mut results: Vec<Option<Result<DiskUsage, String>>> = vec![None; paths.len()];
        // A path listed twice is asked once.
        let mut first: HashMap<&PathBuf, usize> = HashMap::new();
        let mut waiting = 0usize;
        for (i, path) in paths.iter().enumerate() {
            if first.contains_key(path) {
                continue;
            }
            first.insert(path, i);
            {
                let mut in_flight = lock(&self.in_flight);
                if let Some(since) = in_flight.get(path) {
                    results[i] = Some(Err(format!(
                        "still waiting for statvfs({}) after {}s",
                        path.display(),
                        since.elapsed().as_secs()
                    )));
                    continue;
                }
                in_flight.insert(path.clone(), Instant::now());
            }
            let (stat, in_flight, tx, p) = (
                Arc::clone(&self.stat),
                Arc::clone(&self.in_flight),
                tx.clone(),
                path.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name("statvfs".into())
                .spawn(move || {
                    let usage = stat(&p);
                    lock(&in_flight).remove(&p);
                    let _ = tx.send((i, usage));
                });
            match spawned {
                Ok(_) => waiting += 1,
                Err(e) => {
                    lock(&self.in_flight).remove(path);
                    results[i] = Some(Err(format!(
                        "cannot start a thread for statvfs({}): {e}",
                        path.display()
                    )));
                }
            }
        }
        drop(tx);
        while waiting > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((i, usage)) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(usage);
                    }
                    waiting -= 1;
                }
                Err(_) => break,
            }
        }
        paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let at = first.get(path).copied().unwrap_or(i);
                let outcome = results.get(at).cloned().flatten().unwrap_or_else(|| {
                    Err(format!(
                        "statvfs({}) did not answer within {}",
                        path.display(),
                        humantime::format_duration(self.timeout)
                    ))
                });
                disk_facts(path, outcome)
            })
            .collect()
    }
}

/// The path's figures, as the snapshot carries them. Percent is `1 - available/size`, as
/// docs/metrics.md says and node_exporter-based alerts compute it.
fn disk_facts(path: &Path, outcome: Result<DiskUsage, String>) -> DiskFacts {
    let label = path.display().to_string();
    match outcome {
        Ok(u) => DiskFacts {
            path: label,
            mount_point: u.mount_point,
            percent: percent(u.total_bytes.saturating_sub(u.free_bytes), u.total_bytes),
            free_bytes: u.free_bytes,
            total_bytes: u.total_bytes,
            error: None,
        },
        Err(error) => DiskFacts {
            path: label,
            mount_point: String::new(),
            percent: 0.0,
            free_bytes: 0,
            total_bytes: 0,
            error: Some(error),
        },
    }
}

/// statvfs of the path itself, and the mount it is on for the `mount_point` field.
#[cfg(unix)]
fn statvfs_usage(path: &Path) -> Result<DiskUsage, String> {
    let st = rustix::fs::statvfs(path)
        .map_err(|e| format!("statvfs({}): {}", path.display(), std::io::Error::from(e)))?;
    let unit = if st.f_frsize > 0 {
        st.f_frsize
    } else {
        st.f_bsize
    };
    let mount_point = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| mount_point_of(&p))
        .unwrap_or_default();
    Ok(DiskUsage {
        mount_point,
        total_bytes: st.f_blocks.saturating_mul(unit),
        free_bytes: st
            .f_bavail
            .saturating_mul(unit)
            .min(st.f_blocks.saturating_mul(unit)),
    })
}

#[cfg(not(unix))]
fn statvfs_usage(path: &Path) -> Result<DiskUsage, String> {
    Err(format!(
        "statvfs({}): disk figures need a Unix host",
        path.display()
    ))
}

/// The longest mount point in `/proc/self/mountinfo` that holds `path` (the last of equals:
/// a later mount hides an earlier one at the same place). Names only: the figures come from
/// statvfs.
fn mount_point_of(path: &Path) -> Option<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    longest_mount(path, &table)
}

fn longest_mount(path: &Path, mountinfo: &str) -> Option<String> {
    let mut best: Option<PathBuf> = None;
    for line in mountinfo.lines() {
        let Some(raw) = line.split(' ').nth(4) else {
            continue;
        };
        let mp = PathBuf::from(unescape_octal(raw));
        if path.starts_with(&mp)
            && best
                .as_ref()
                .is_none_or(|b| mp.components().count() >= b.components().count())
        {
            best = Some(mp);
        }
    }
    best.map(|b| b.display().to_string())
}

/// mountinfo writes space, tab, newline and backslash in paths as `\NNN` (octal).
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(v) = s
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
    fn mount_point_is_the_longest_prefix_and_the_last_of_equals() {
        let table = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
                     30 22 0:5 / /dev/shm rw - tmpfs tmpfs rw\n\
                     31 22 0:6 / /mnt/with\\040space rw - nfs srv:/x rw\n";
        let m = |p: &str| longest_mount(Path::new(p), table);
        assert_eq!(m("/dev/shm/x").as_deref(), Some("/dev/shm"));
        assert_eq!(m("/dev/shmx").as_deref(), Some("/"));
        assert_eq!(m("/mnt/with space/d").as_deref(), Some("/mnt/with space"));
    }

    type Calls = Arc<Mutex<HashMap<PathBuf, u32>>>;

    /// A statvfs that hangs until released, counting its calls per path.
    fn hanging_on(hung: &'static str) -> (Arc<DiskStat>, Calls, mpsc::SyncSender<()>) {
        let calls = Arc::new(Mutex::new(HashMap::new()));
        let (release, gate) = mpsc::sync_channel::<()>(0);
        let gate = Mutex::new(gate);
        let counted = Arc::clone(&calls);
        let stat = move |p: &Path| {
            *lock(&counted).entry(p.to_path_buf()).or_insert(0) += 1;
            if p == Path::new(hung) {
                // Hung until the test releases it (or drops the sender), at most 30 s.
                let _ = lock(&gate).recv_timeout(Duration::from_secs(30));
            }
            Ok(DiskUsage {
                mount_point: "/".into(),
                total_bytes: 100,
                free_bytes: 25,
            })
        };
        (Arc::new(stat), calls, release)
    }

    #[test]
    fn a_hung_path_fails_alone_and_is_not_asked_again_while_hung() {
        let (stat, calls, release) = hanging_on("/hung");
        let paths: Vec<PathBuf> = ["/a", "/hung", "/b", "/a"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let s = SystemSampler::with_disk_stat(paths, stat, Duration::from_millis(200))
            .expect("supported platform");
        let started = Instant::now();
        let f = s.facts();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(f.disks.len(), 4);
        assert!(f.disks[0].error.is_none() && f.disks[2].error.is_none());
        assert_eq!(
            f.disks[3], f.disks[0],
            "a repeated path has the same figures"
        );
        assert!((f.disks[0].percent - 75.0).abs() < 1e-9);
        let e = f.disks[1].error.as_deref().unwrap_or_default();
        assert_eq!(e, "statvfs(/hung) did not answer within 200ms");
        for _ in 0..5 {
            let f = s.facts();
            let e = f.disks[1].error.as_deref().unwrap_or_default();
            assert!(
                e.starts_with("still waiting for statvfs(/hung) after "),
                "{e}"
            );
            assert!(f.disks[0].error.is_none() && f.disks[2].error.is_none());
        }
        {
            let calls = lock(&calls);
            assert_eq!(
                calls.get(Path::new("/hung")),
                Some(&1),
                "one thread for the hung path"
            );
            assert_eq!(
                calls.get(Path::new("/a")),
                Some(&6),
                "asked once per refresh"
            );
        }
        // Once it answers, it is asked again.
        let _ = release.send(());
        let deadline = Instant::now() + Duration::from_secs(5);
        while lock(&s.disks.in_flight).contains_key(Path::new("/hung")) {
            assert!(Instant::now() < deadline, "the hung statvfs never returned");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(release);
        let f = s.facts();
        assert!(f.disks[1].error.is_none(), "{:?}", f.disks[1].error);
    }

    #[test]
    fn the_first_facts_have_a_cpu_figure() {
        let s = SystemSampler::new(vec![PathBuf::from("/")]).expect("supported platform");
        let cpu = s.facts().cpu_percent;
        assert!(cpu.is_some_and(|c| (0.0..=100.0).contains(&c)), "{cpu:?}");
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
