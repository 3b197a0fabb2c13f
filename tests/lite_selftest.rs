//! Self-test of the Milvus Lite harness in tests/support/lite.rs: real
//! server, seed, kill, restart on the same port and data dir, pause/resume.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::lite::MilvusLite;

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn list(lite: &MilvusLite) -> String {
    let out = lite.python(&["list", "--uri", &lite.url]);
    assert!(
        out.status.success(),
        "milvus_lite.py list failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_of(&out)
}

fn wait(lite: &MilvusLite, seconds: &str) -> std::process::Output {
    lite.python(&["wait", "--uri", &lite.url, "--timeout", seconds])
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

#[test]
fn seeded_collections_survive_kill_and_restart() {
    let mut lite = MilvusLite::start_seeded();
    let port = lite.port;
    let url = lite.url.clone();
    assert_eq!(url, format!("http://127.0.0.1:{port}"));

    let before = list(&lite);
    for line in [
        "default.docs: load_state=Loaded row_count=100",
        "default.faq: load_state=Loaded row_count=20",
        "default.archive: load_state=NotLoad row_count=5",
    ] {
        assert!(before.contains(line), "missing {line:?} in:\n{before}");
    }

    // Seeding again is idempotent (drop + recreate).
    lite.seed();
    assert_eq!(list(&lite), before);

    let old_pid = lite.pid();
    lite.kill();
    assert!(
        !pid_alive(old_pid),
        "pid {old_pid} still alive after kill()"
    );
    let down = wait(&lite, "2");
    assert!(
        !down.status.success(),
        "server still answers after kill(): {}",
        stdout_of(&down)
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "port {port} still accepts connections after kill()"
    );

    lite.restart();
    assert_eq!(lite.port, port, "restart must keep the port");
    assert_eq!(lite.url, url);
    assert_ne!(lite.pid(), old_pid);
    let after = list(&lite);
    // Collections and rows are persisted in the data dir; Milvus Lite does not
    // persist the load state, so every collection comes back NotLoad.
    for name in ["docs", "faq", "archive"] {
        assert!(
            after.contains(&format!("default.{name}: ")),
            "collection {name} lost across restart:\n{after}"
        );
    }
    assert!(
        after.contains("default.docs: load_state=NotLoad row_count=100"),
        "{after}"
    );
    assert!(
        after.contains("default.faq: load_state=NotLoad row_count=20"),
        "{after}"
    );
    assert!(
        after.contains("default.archive: load_state=NotLoad row_count=5"),
        "{after}"
    );

    // restart() on a running server kills it first.
    let pid2 = lite.pid();
    lite.restart();
    assert_ne!(lite.pid(), pid2);
    assert!(!pid_alive(pid2));
    assert!(wait(&lite, "10").status.success());

    // And it can be re-seeded afterwards.
    lite.seed();
    assert_eq!(list(&lite), before);

    let last_pid = lite.pid();
    drop(lite);
    assert!(!pid_alive(last_pid), "Drop did not kill pid {last_pid}");
}

#[test]
fn pause_and_resume() {
    let lite = MilvusLite::start();
    assert!(wait(&lite, "10").status.success());

    lite.pause();
    let state = std::fs::read_to_string(format!("/proc/{}/stat", lite.pid())).unwrap();
    assert!(
        state.contains(") T "),
        "expected stopped state, got {state}"
    );
    let t = Instant::now();
    let out = wait(&lite, "3");
    assert!(
        !out.status.success(),
        "paused server answered: {}",
        stdout_of(&out)
    );
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "wait was not bounded"
    );

    lite.resume();
    let out = wait(&lite, "20");
    assert!(
        out.status.success(),
        "server did not answer after resume: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(list(&lite).is_empty() || list(&lite).lines().all(|l| l.starts_with("default.")));
}

#[test]
fn two_servers_get_distinct_ports() {
    let a = MilvusLite::start();
    let b = MilvusLite::start();
    assert_ne!(a.port, b.port);
    assert_ne!(a.pid(), b.pid());
    assert!(a.log_path().exists());
    assert!(a.data_dir().exists());
}
