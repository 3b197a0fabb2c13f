//! Real Milvus standalone 2.3.5 (PyPI `milvus`, run by `scripts/standalone.sh`) for the slow
//! end-to-end suite.
//!
//! Milvus standalone listens on FIXED ports (19530 gRPC, 9091 /healthz and /metrics, 2379 etcd
//! and more), so two instances cannot run at once. Rules for tests that use it:
//!
//! * they all live in ONE test binary, `tests/standalone_e2e.rs` (cargo runs test binaries one
//!   after the other, but the tests inside a binary in parallel threads);
//! * every test takes the process-wide lock first and holds it until its `Standalone` is
//!   dropped:
//!
//! ```ignore
//! let _guard = support::standalone::lock();
//! let milvus = Standalone::start(false);
//! // ... milvus.url(), milvus.metrics_url() ...
//! // `milvus` is dropped (stopped) before `_guard` (declared first, dropped last)
//! ```
//!
//! Never skips: if the venv cannot be installed or Milvus does not come up within the script's
//! bound (120 s), `start` panics with the script's output and the log location.
//!
//! The venv is `$VENV_STANDALONE` if set, else `<repo>/.venv-standalone` (created by the script
//! on first use, milvus==2.3.5). Logs: `<repo>/.run/standalone.log` and
//! `<repo>/.run/standalone-data/logs/`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

const URL: &str = "http://127.0.0.1:19530";
const METRICS_URL: &str = "http://127.0.0.1:9091";

/// Username and password of the root user when started with `auth = true`.
pub const ROOT_USER: &str = "root";
pub const ROOT_PASSWORD: &str = "Milvus";

static LOCK: Mutex<()> = Mutex::new(());

/// Serialises the tests that use Milvus standalone (fixed ports). A test that panicked while
/// holding the lock poisons it; the next test still gets it (its own `start` restarts Milvus).
pub fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct Standalone {
    auth: bool,
    running: bool,
}

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    repo_dir().join("scripts").join("standalone.sh")
}

fn run_script(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .current_dir(repo_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash {} {args:?}: {e}", script().display()))
}

fn output_text(out: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Standalone {
    /// Starts Milvus standalone 2.3.5 (authentication on when `auth`: root / Milvus) with a
    /// fresh state and waits until /healthz is OK and gRPC answers. Take [`lock`] first.
    pub fn start(auth: bool) -> Standalone {
        // A leftover from a test run that was killed before its Drop ran: the script stops only
        // the process group it recorded itself, never a foreign process on the ports.
        let _ = run_script(&["stop"]);
        let mut args = vec!["start"];
        if auth {
            args.push("--auth");
        }
        let t0 = Instant::now();
        let out = run_script(&args);
        if !out.status.success() {
            panic!(
                "\n\n==== Milvus standalone 2.3.5 did not start ====\n\
                 Command: bash {} {}\n{}\n\
                 Logs: {}/.run/standalone.log and {}/.run/standalone-data/logs/\n\
                 These tests never skip.\n",
                script().display(),
                args.join(" "),
                output_text(&out),
                repo_dir().display(),
                repo_dir().display(),
            );
        }
        eprintln!(
            "standalone: started (auth {}) in {:.1} s",
            if auth { "on" } else { "off" },
            t0.elapsed().as_secs_f64()
        );
        Standalone {
            auth,
            running: true,
        }
    }

    /// gRPC address: `http://127.0.0.1:19530`.
    pub fn url(&self) -> &str {
        URL
    }

    /// Milvus' own HTTP server (/healthz, /metrics): `http://127.0.0.1:9091`.
    pub fn metrics_url(&self) -> &str {
        METRICS_URL
    }

    pub fn auth(&self) -> bool {
        self.auth
    }

    /// SIGKILLs the process group and waits until the ports are free; panics if that fails.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let out = run_script(&["stop"]);
        if !out.status.success() {
            panic!("scripts/standalone.sh stop failed\n{}", output_text(&out));
        }
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let out = run_script(&["stop"]);
        if !out.status.success() {
            // No panic in Drop (it may run while unwinding): say it loudly instead.
            eprintln!(
                "\n==== scripts/standalone.sh stop failed ====\n{}",
                output_text(&out)
            );
        }
    }
}
