//! Real Milvus Lite for integration tests.
//!
//! Starts `python -m milvus_lite server` from the repo venv (created by
//! `scripts/venv.sh`) on a free loopback port, in its own process group, with
//! a throw-away data dir. Never skips: if the venv is missing or the server
//! does not come up, it panics loudly with what was tried and where the log is.
//!
//! The venv is `$MILVUS_EXPORTER_VENV` if set, else `<repo>/.venv`.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long `start()` / `restart()` wait for the server to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `kill()` waits for the process group to vanish and the port to be free.
const GONE_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts with a fresh port when the server exits before answering (port race).
const START_ATTEMPTS: usize = 3;

pub struct MilvusLite {
    pub port: u16,
    pub url: String,
    data_dir: tempfile::TempDir,
    child: Child,
    log_path: PathBuf,
    /// false once the child was killed and reaped (so Drop does not signal a
    /// process group id that may have been reused).
    running: bool,
}

/// Repo root (the crate's manifest dir).
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv directory tests use.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("MILVUS_EXPORTER_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => repo_dir().join(".venv"),
    }
}

/// The venv's python.
pub fn venv_python() -> PathBuf {
    venv_dir().join("bin").join("python")
}

/// `scripts/milvus_lite.py`.
pub fn helper_script() -> PathBuf {
    repo_dir().join("scripts").join("milvus_lite.py")
}

/// Where data dirs and logs go: cargo's per-target scratch dir for
/// integration tests, so logs survive the test and `cargo clean` removes them.
fn scratch_dir() -> PathBuf {
    let base = match option_env!("CARGO_TARGET_TMPDIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir(),
    };
    let dir = base.join("milvus-lite");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create scratch dir {}: {e}", dir.display()));
    dir
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    l.local_addr().expect("local_addr of probe listener").port()
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn tcp_answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// `kill -SIG -- -PGID`; returns whether kill(1) succeeded.
fn signal_group(pgid: u32, sig: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn group_alive(pgid: u32) -> bool {
    signal_group(pgid, "0")
}

fn tail_of(path: &Path, max_bytes: u64) -> String {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) => return format!("<cannot read {}: {e}>", path.display()),
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > max_bytes {
        let _ = f.seek(SeekFrom::Start(len - max_bytes));
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn output_text(out: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn check_venv() -> PathBuf {
    let py = venv_python();
    if !py.exists() {
        panic!(
            "\n\n==== Milvus Lite venv missing ====\n\
             Tried python: {}\n\
             (MILVUS_EXPORTER_VENV={:?}; default is <repo>/.venv)\n\
             Integration tests need real Milvus Lite. Run:\n\n    scripts/venv.sh\n\n\
             (or scripts/test.sh, which does that and exports MILVUS_EXPORTER_VENV).\n\
             These tests never skip.\n",
            py.display(),
            std::env::var_os("MILVUS_EXPORTER_VENV"),
        );
    }
    let script = helper_script();
    if !script.exists() {
        panic!("helper script missing: {}", script.display());
    }
    py
}

/// Spawn the server process (own process group), appending to `log_path`.
fn spawn_server(py: &Path, data_dir: &Path, port: u16, log_path: &Path) -> Child {
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap_or_else(|e| panic!("cannot open Milvus Lite log {}: {e}", log_path.display()));
    let _ = writeln!(
        log,
        "==== milvus_exporter test harness: starting Milvus Lite on 127.0.0.1:{port}, data dir {} ====",
        data_dir.display()
    );
    let log_err = log.try_clone().expect("clone log file handle");
    Command::new(py)
        .args(["-m", "milvus_lite", "server", "--data-dir"])
        .arg(data_dir)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot spawn Milvus Lite `{} -m milvus_lite server` : {e}\n\
                 Run scripts/venv.sh. Log: {}",
                py.display(),
                log_path.display()
            )
        })
}

enum Ready {
    Yes,
    /// The server process exited before answering (e.g. port taken).
    Exited(String),
    /// Still running but did not answer in time.
    Timeout(String),
}

/// Poll TCP, then `milvus_lite.py wait`, bounded by `deadline`.
fn wait_ready(py: &Path, child: &mut Child, port: u16, url: &str, deadline: Instant) -> Ready {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Ready::Exited(format!("server process exited with {status}"));
        }
        if tcp_answers(port) {
            break;
        }
        if Instant::now() >= deadline {
            return Ready::Timeout(format!(
                "nothing accepted TCP connections on 127.0.0.1:{port}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .as_secs()
        .max(5);
    let out = Command::new(py)
        .arg(helper_script())
        .args([
            "wait",
            "--uri",
            url,
            "--timeout",
            &remaining.to_string(),
            "--quiet",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} {}: {e}",
                py.display(),
                helper_script().display()
            )
        });
    if let Ok(Some(status)) = child.try_wait() {
        return Ready::Exited(format!(
            "server process exited with {status}; `milvus_lite.py wait`: {}",
            output_text(&out)
        ));
    }
    if out.status.success() {
        Ready::Yes
    } else {
        Ready::Timeout(format!(
            "`milvus_lite.py wait` failed: {}",
            output_text(&out)
        ))
    }
}

fn kill_and_reap(child: &mut Child) {
    let pgid = child.id();
    signal_group(pgid, "KILL");
    // Fallback in case the group signal did not reach it.
    let _ = child.kill();
    let _ = child.wait();
}

impl MilvusLite {
    /// Starts real Milvus Lite from the repo venv on a free loopback port and
    /// waits until it answers. Panics (never skips) if the venv is missing or
    /// the server does not answer within 60 s.
    pub fn start() -> MilvusLite {
        let py = check_venv();
        let scratch = scratch_dir();
        let data_dir = tempfile::Builder::new()
            .prefix("data-")
            .tempdir_in(&scratch)
            .unwrap_or_else(|e| {
                panic!("cannot create temp data dir in {}: {e}", scratch.display())
            });
        let name = data_dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into());
        let log_path = scratch.join(format!("{name}.log"));

        let mut failures = Vec::new();
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let url = format!("http://127.0.0.1:{port}");
            let mut child = spawn_server(&py, data_dir.path(), port, &log_path);
            let deadline = Instant::now() + READY_TIMEOUT;
            match wait_ready(&py, &mut child, port, &url, deadline) {
                Ready::Yes => {
                    return MilvusLite {
                        port,
                        url,
                        data_dir,
                        child,
                        log_path,
                        running: true,
                    }
                }
                Ready::Exited(why) => {
                    kill_and_reap(&mut child);
                    failures.push(format!("attempt {attempt} (port {port}): {why}"));
                }
                Ready::Timeout(why) => {
                    kill_and_reap(&mut child);
                    failures.push(format!("attempt {attempt} (port {port}): {why}"));
                    break;
                }
            }
        }
        panic!(
            "\n\n==== Milvus Lite did not start ====\n\
             Tried: {} -m milvus_lite server --data-dir {} --host 127.0.0.1 --port <free port>\n\
             Waited up to {}s per attempt for it to answer.\n{}\n\
             Server log: {}\n--- last lines of the log ---\n{}\n\
             If the venv is broken, run scripts/venv.sh.\n",
            py.display(),
            data_dir.path().display(),
            READY_TIMEOUT.as_secs(),
            failures.join("\n"),
            log_path.display(),
            tail_of(&log_path, 4000),
        );
    }

    /// `start()` then `seed()` (profile `test`: docs, faq, archive).
    pub fn start_seeded() -> MilvusLite {
        let lite = MilvusLite::start();
        lite.seed();
        lite
    }

    /// Runs `milvus_lite.py seed --profile test`; panics with its output on failure.
    pub fn seed(&self) {
        let out = self.python(&["seed", "--uri", &self.url, "--profile", "test"]);
        if !out.status.success() {
            panic!(
                "\n\n==== seeding Milvus Lite at {} failed ====\n{}\nServer log: {}\n",
                self.url,
                output_text(&out),
                self.log_path.display()
            );
        }
    }

    /// Runs the venv python with `scripts/milvus_lite.py` and `args`.
    pub fn python(&self, args: &[&str]) -> Output {
        let py = venv_python();
        Command::new(&py)
            .arg(helper_script())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} {}: {e}\nRun scripts/venv.sh.",
                    py.display(),
                    helper_script().display()
                )
            })
    }

    /// SIGKILL the server's process group and wait until it is gone and the
    /// port is free again.
    pub fn kill(&mut self) {
        if !self.running {
            return;
        }
        let pgid = self.child.id();
        kill_and_reap(&mut self.child);
        self.running = false;
        let deadline = Instant::now() + GONE_TIMEOUT;
        while group_alive(pgid) {
            if Instant::now() >= deadline {
                panic!(
                    "Milvus Lite process group {pgid} still alive {}s after SIGKILL (log: {})",
                    GONE_TIMEOUT.as_secs(),
                    self.log_path.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start again on the SAME port and data dir (after killing the current
    /// process if it still runs) and wait until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + GONE_TIMEOUT;
        while !port_is_free(self.port) {
            if Instant::now() >= deadline {
                panic!(
                    "port 127.0.0.1:{} still in use {}s after Milvus Lite was killed; cannot restart (log: {})",
                    self.port,
                    GONE_TIMEOUT.as_secs(),
                    self.log_path.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let py = check_venv();
        self.child = spawn_server(&py, self.data_dir.path(), self.port, &self.log_path);
        self.running = true;
        let deadline = Instant::now() + READY_TIMEOUT;
        let why = match wait_ready(&py, &mut self.child, self.port, &self.url, deadline) {
            Ready::Yes => return,
            Ready::Exited(why) | Ready::Timeout(why) => why,
        };
        panic!(
            "\n\n==== Milvus Lite did not come back after restart ====\n\
             Tried: {} -m milvus_lite server --data-dir {} --host 127.0.0.1 --port {}\n\
             {why}\nServer log: {}\n--- last lines of the log ---\n{}\n\
             If the venv is broken, run scripts/venv.sh.\n",
            py.display(),
            self.data_dir.path().display(),
            self.port,
            self.log_path.display(),
            tail_of(&self.log_path, 4000),
        );
    }

    /// SIGSTOP the server's process group (it keeps its port but stops answering).
    pub fn pause(&self) {
        assert!(
            self.running && signal_group(self.child.id(), "STOP"),
            "could not SIGSTOP Milvus Lite process group {}",
            self.child.id()
        );
    }

    /// SIGCONT the server's process group.
    pub fn resume(&self) {
        assert!(
            self.running && signal_group(self.child.id(), "CONT"),
            "could not SIGCONT Milvus Lite process group {}",
            self.child.id()
        );
    }

    /// Pid (and process group id) of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Server log file (kept after the test).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Milvus Lite's data directory.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }
}

impl Drop for MilvusLite {
    fn drop(&mut self) {
        if self.running {
            kill_and_reap(&mut self.child);
            self.running = false;
        }
    }
}
