//! Runs the real `milvus_exporter` binary on a loopback port the kernel picks (port 0), reads
//! the bound address from its start-up log line, and collects its stderr for assertions.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_milvus_exporter");

pub struct Binary {
    pub addr: String,
    pub dir: tempfile::TempDir,
    child: Child,
    stderr: Arc<Mutex<String>>,
    exited: Option<ExitStatus>,
}

/// Writes `toml` to `<dir>/exporter.toml` and returns the path.
pub fn write_config(dir: &Path, toml: &str) -> PathBuf {
    let path = dir.join("exporter.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}

impl Binary {
    /// Starts `milvus_exporter --config <toml> --web.listen-address 127.0.0.1:0 ARGS` with only
    /// `env` (plus PATH) in its environment, and waits for its listener.
    pub fn start(toml: &str, args: &[&str], env: &[(&str, &str)]) -> Binary {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write_config(dir.path(), toml);
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&config)
            .args(["--web.listen-address", "127.0.0.1:0"])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        for (k, v) in super::host_neutral_env(Some(toml), env) {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn milvus_exporter");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr pipe");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut b = Binary {
            addr: String::new(),
            dir,
            child,
            stderr,
            exited: None,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(addr) = listen_addr(&b.stderr()) {
                b.addr = addr;
                return b;
            }
            if let Ok(Some(status)) = b.child.try_wait() {
                panic!(
                    "milvus_exporter exited with {status} before listening:\n{}",
                    b.stderr()
                );
            }
            if Instant::now() > deadline {
                panic!("milvus_exporter did not log its address:\n{}", b.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("exporter.toml")
    }

    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig} {}", self.pid());
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.exited {
                return Some(s);
            }
            if let Ok(Some(s)) = self.child.try_wait() {
                self.exited = Some(s);
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls stderr until it contains `needle` or `limit` passes.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.stderr().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `listen=127.0.0.1:PORT` (logfmt) or `"listen":"127.0.0.1:PORT"` (json) from the start line.
fn listen_addr(stderr: &str) -> Option<String> {
    let line = stderr
        .lines()
        .find(|l| l.contains("milvus_exporter started"))?;
    let rest = if let Some(i) = line.find("listen=") {
        &line[i + "listen=".len()..]
    } else {
        let i = line.find("\"listen\":\"")?;
        &line[i + "\"listen\":\"".len()..]
    };
    let addr: String = rest
        .trim_start_matches('"')
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    (!addr.is_empty()).then_some(addr)
}

/// `milvus_exporter` as a command for a test to build on, its environment the test's own plus
/// the host thresholds that `toml` (the configuration it will be given, if any) does not set.
pub fn command(toml: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, v) in super::host_neutral_env(toml, &[]) {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the binary to completion with a time limit: (exit code, stdout, stderr).
pub fn run(args: &[&str], env: &[(&str, &str)], limit: Duration) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    // The configuration file after `--config`, when there is one, says which host
    // thresholds the test set itself.
    let file = args
        .windows(2)
        .find(|w| w[0] == "--config")
        .and_then(|w| std::fs::read_to_string(w[1]).ok());
    for (k, v) in super::host_neutral_env(file.as_deref(), env) {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn milvus_exporter");
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "milvus_exporter {args:?} did not finish within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
