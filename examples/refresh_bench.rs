//! Refresh timing and RPC counting for `scripts/bench.sh`, through the library exactly as the
//! exporter refreshes: `Caches::from_config` then `TargetCache::refresh` (which runs
//! `Checker::collect`).
//!
//! ```text
//! refresh_bench lite  --uri http://127.0.0.1:PORT --expect 1000 [--rounds 5] [--concurrency 16] [--no-baseline]
//! refresh_bench fake  --collections 1000 [--concurrency 16] [--delay-ms 0] [--rounds 3]
//! refresh_bench render --collections 10000 [--rounds 15]
//! ```
//! `lite` times refreshes of a real Milvus (Lite) at `--concurrency` against the same library
//! at max_concurrency = 1 (one RPC at a time: the sequential baseline), rounds interleaved so
//! both see the same machine. `fake` runs the tests' fake Milvus in-process and counts the RPCs
//! of one refresh. `render` times what the first scrape after each refresh pays: rendering a
//! refreshed view's families (later scrapes of the same view copy the memo). Results are
//! `RESULT key value` lines.

#[path = "../tests/support/fake_milvus.rs"]
#[allow(dead_code)]
mod fake_milvus;

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use fake_milvus::{FakeCollection, FakeMilvus, FakeState, RPC_NAMES};
use milvus_exporter::cache::Caches;
use milvus_exporter::checks::collections::CollectionsFacts;
use milvus_exporter::checks::milvus::MilvusFacts;
use milvus_exporter::config::{Config, Overrides};
use milvus_exporter::render::exposition::{render_families, Format};

#[derive(Parser, Debug)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    Lite {
        #[arg(long)]
        uri: String,
        /// At least this many collections must be seen, with no errors.
        #[arg(long)]
        expect: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Only the refreshes at `--concurrency` (for profiling Milvus while it serves them).
        #[arg(long)]
        no_baseline: bool,
    },
    Fake {
        #[arg(long, default_value_t = 1000)]
        collections: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Delay on every RPC of the fake, ms; with it the timing compares concurrency 1.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Milvus's CPU spent on the exporter: refreshes every `--every-s` for `--window-s`, with
    /// the inventory on every refresh (`--inventory 0s`, the cost before the two cadences) or on its
    /// own cadence, counting the server process's CPU (`/proc/PID/stat`).
    Cost {
        #[arg(long)]
        uri: String,
        #[arg(long)]
        pid: u32,
        #[arg(long)]
        expect: usize,
        #[arg(long, default_value = "5m")]
        inventory: String,
        #[arg(long, default_value_t = 60)]
        window_s: u64,
        #[arg(long, default_value_t = 10)]
        every_s: u64,
        /// Clock ticks per second (`getconf CLK_TCK`).
        #[arg(long, default_value_t = 100)]
        hz: u64,
    },
    Render {
        #[arg(long, default_value_t = 10_000)]
        collections: usize,
        #[arg(long, default_value_t = 15)]
        rounds: usize,
    },
}

/// The exporter's own refresh path for a target at `address`: configuration parsed from TOML
/// (as `--config` would), caches built with `Caches::from_config`, `TargetCache::refresh`.
fn caches(address: &str, max_concurrency: usize) -> Caches {
    caches_with(address, max_concurrency, "0s")
}

/// `inventory_interval = "0s"` asks the per-collection facts with every refresh (the cost of
/// a refresh before the two cadences); a long interval leaves the health refresh alone.
fn caches_with(address: &str, max_concurrency: usize, inventory_interval: &str) -> Caches {
    let toml = format!(
        "[milvus]\naddress = \"{address}\"\ntimeout = \"120s\"\nmax_concurrency = {max_concurrency}\n\
         [cache]\ninventory_interval = \"{inventory_interval}\"\n"
    );
    let dir = std::env::temp_dir().join(format!("refresh-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("bench.toml");
    std::fs::write(&path, toml).expect("write config");
    let config = Config::load_from(Some(&path), &[], &Overrides::default()).expect("config");
    let _ = std::fs::remove_dir_all(&dir);
    Caches::from_config(&config).expect("caches")
}

/// One refresh, checked: Milvus answered and at least `expect` collections came back whole.
async fn refresh(c: &Caches, expect: usize) -> Duration {
    let start = Instant::now();
    let view = c.main.refresh().await.expect("the refresh task finished");
    let took = start.elapsed();
    let s = &view.snapshot;
    if let Some(Err(e)) = s.result::<MilvusFacts>().map(|m| &m.outcome) {
        panic!("refresh: Milvus did not answer: {e}");
    }
    match s.result::<CollectionsFacts>().map(|c| &c.outcome) {
        None => panic!("refresh: no collections check"),
        Some(Err(e)) => panic!("refresh: collections failed: {e}"),
        Some(Ok(f)) => {
            let problems = f.problems();
            assert!(
                problems.is_empty(),
                "refresh: {} problems, first: {}",
                problems.len(),
                problems[0]
            );
            assert!(
                f.collections.len() >= expect,
                "refresh: saw {} collections, expected at least {expect}",
                f.collections.len()
            );
        }
    }
    took
}

/// User plus system CPU of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The command name may hold spaces: the fields after it are counted from its ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn compare(address: &str, expect: usize, rounds: usize, concurrency: usize, label: &str) {
    let fast = caches(address, concurrency);
    let slow = caches(address, 1);
    // Warm-up: connections dialled, Milvus's own caches warm.
    refresh(&fast, expect).await;
    refresh(&slow, expect).await;
    let (mut tf, mut ts) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        tf.push(refresh(&fast, expect).await);
        ts.push(refresh(&slow, expect).await);
    }
    let (f, s) = (median(tf.clone()), median(ts.clone()));
    eprintln!(
        "{label}: concurrency {concurrency}: {:?} ms; concurrency 1: {:?} ms",
        tf.iter().map(|d| ms(*d).round()).collect::<Vec<_>>(),
        ts.iter().map(|d| ms(*d).round()).collect::<Vec<_>>()
    );
    println!("RESULT {label}_refresh_ms_c{concurrency} {:.1}", ms(f));
    println!("RESULT {label}_refresh_ms_c1 {:.1}", ms(s));
    println!("RESULT {label}_speedup {:.2}", ms(s) / ms(f));
}

#[tokio::main]
async fn main() {
    match Args::parse().mode {
        Mode::Lite {
            uri,
            expect,
            rounds,
            concurrency,
            no_baseline: false,
        } => compare(&uri, expect, rounds, concurrency, "lite").await,
        Mode::Lite {
            uri,
            expect,
            rounds,
            concurrency,
            no_baseline: true,
        } => {
            let fast = caches(&uri, concurrency);
            refresh(&fast, expect).await;
            let mut took = Vec::new();
            for _ in 0..rounds.max(1) {
                took.push(refresh(&fast, expect).await);
            }
            println!(
                "RESULT lite_refresh_ms_c{concurrency} {:.1}",
                ms(median(took))
            );
        }
        Mode::Cost {
            uri,
            pid,
            expect,
            inventory,
            window_s,
            every_s,
            hz,
        } => {
            let ms_of = |ticks: u64| ticks as f64 * 1000.0 / hz as f64;
            let c = caches_with(&uri, 16, &inventory);
            // The first refresh joins the first inventory pass: its cost is the pass's.
            let t = cpu_ticks(pid);
            refresh(&c, expect).await;
            let first = ms_of(cpu_ticks(pid) - t);
            let window = Duration::from_secs(window_s.max(1));
            let every = Duration::from_secs(every_s.max(1));
            let start = tokio::time::Instant::now();
            let t0 = cpu_ticks(pid);
            let mut n = 0u32;
            while start.elapsed() < window {
                refresh(&c, expect).await;
                n += 1;
                tokio::time::sleep_until(start + every * n).await;
            }
            let spent = ms_of(cpu_ticks(pid) - t0);
            let per_minute = spent * 60.0 / window.as_secs_f64();
            eprintln!(
                "cost: inventory {inventory}: {n} refreshes in {window_s} s, Milvus CPU {spent:.0} ms ({per_minute:.0} ms/min); first refresh (with the first pass) {first:.0} ms"
            );
            println!("RESULT cost_cpu_ms_per_min {per_minute:.1}");
            println!("RESULT cost_first_refresh_cpu_ms {first:.1}");
        }
        Mode::Render {
            collections,
            rounds,
        } => {
            let cols: Vec<FakeCollection> = (0..collections)
                .map(|i| FakeCollection::loaded("default", &format!("c_{i:05}"), i as u64 * 7919))
                .collect();
            let fake = FakeMilvus::start(FakeState::new().with(|b| b.collections = cols)).await;
            let c = caches(&fake.url(), 16);
            refresh(&c, collections).await;
            let view = c.main.peek().expect("a refreshed view");
            let ttl = c.main.ttl();
            for (format, key) in [
                (Format::Text004, "text004"),
                (Format::OpenMetrics, "openmetrics"),
            ] {
                let mut took = Vec::new();
                let mut bytes = 0;
                for _ in 0..rounds.max(1) {
                    let start = Instant::now();
                    bytes = render_families(&view, ttl, true, format).len();
                    took.push(start.elapsed());
                }
                eprintln!(
                    "render: {collections} collections, {key}: {bytes} bytes, median of {rounds}"
                );
                println!("RESULT render_ms_{key} {:.2}", ms(median(took)));
            }
        }
        Mode::Fake {
            collections,
            concurrency,
            delay_ms,
            rounds,
        } => {
            let cols: Vec<FakeCollection> = (0..collections)
                .map(|i| FakeCollection::loaded("default", &format!("c_{i:05}"), i as u64))
                .collect();
            let state = FakeState::new().with(|b| {
                b.collections = cols;
                b.names_only = false;
            });
            let fake = FakeMilvus::start(state.clone()).await;
            // The health cadence: the first refresh joins the first inventory pass; the
            // ones after it ask only what does not grow with the collections.
            let c = caches_with(&fake.url(), concurrency, "1h");
            state.reset_calls();
            refresh(&c, collections).await;
            let first = state.total_calls();
            state.reset_calls();
            let took = refresh(&c, collections).await;
            let total = state.total_calls();
            println!("RESULT fake_rpcs_first_refresh {first}");
            println!("RESULT fake_rpcs_inventory {}", first as i64 - total as i64);
            let per: Vec<String> = RPC_NAMES
                .iter()
                .filter(|r| state.calls(r) > 0)
                .map(|r| format!("{r}={}", state.calls(r)))
                .collect();
            eprintln!("fake: one health refresh of {collections} collections: {total} RPCs ({}), max in flight {}, {:.1} ms; the first refresh (with the inventory pass) {first} RPCs", per.join(" "), state.max_in_flight(), ms(took));
            println!("RESULT fake_rpcs_per_refresh {total}");
            println!("RESULT fake_max_in_flight {}", state.max_in_flight());
            println!(
                "RESULT fake_refresh_ms_c{concurrency}_n{collections} {:.1}",
                ms(took)
            );
            if delay_ms > 0 {
                state.update(|b| b.delay = Duration::from_millis(delay_ms));
                // The inventory's concurrency: every refresh with its pass inline.
                compare(&fake.url(), collections, rounds, concurrency, "fake_delay").await;
                // The health refresh against the refresh that also asks every collection.
                let health = caches_with(&fake.url(), concurrency, "1h");
                let full = caches_with(&fake.url(), concurrency, "0s");
                refresh(&health, collections).await;
                refresh(&full, collections).await;
                let (mut th, mut tf) = (Vec::new(), Vec::new());
                for _ in 0..rounds.max(1) {
                    th.push(refresh(&health, collections).await);
                    tf.push(refresh(&full, collections).await);
                }
                let (h, f) = (median(th), median(tf));
                println!("RESULT fake_delay_health_ms {:.1}", ms(h));
                println!("RESULT fake_delay_full_ms {:.1}", ms(f));
            }
            fake.stop().await;
        }
    }
}
