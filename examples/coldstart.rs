//! Cold start for `scripts/bench.sh`: from spawning the exporter to its first `200` on
//! `/healthz`, polled on loopback every 200 µs, many times; prints the median.
//!
//! ```text
//! coldstart --exe target/release/milvus_exporter --config exporter.toml [--runs 30]
//! ```
//! Each run gets a fresh loopback port (`--web.listen-address`), is polled for at most 5 s
//! and is then killed and reaped. Results are `RESULT key value` lines.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long)]
    exe: PathBuf,
    #[arg(long)]
    config: PathBuf,
    #[arg(long, default_value_t = 30)]
    runs: usize,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    l.local_addr().expect("local addr").port()
}

/// One GET /healthz; true on a 200.
fn healthz_ok(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    let mut got = 0;
    while got < 12 {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got += n,
        }
    }
    buf.starts_with(b"HTTP/1.1 200")
}

fn main() {
    let args = Args::parse();
    let mut times = Vec::new();
    for _ in 0..args.runs.max(1) {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let start = Instant::now();
        let mut child = Command::new(&args.exe)
            .arg("--config")
            .arg(&args.config)
            .arg("--web.listen-address")
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the exporter");
        let mut up = None;
        while start.elapsed() < Duration::from_secs(5) {
            if healthz_ok(addr) {
                up = Some(start.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill();
        let _ = child.wait();
        match up {
            Some(t) => times.push(t),
            None => eprintln!("coldstart: no 200 on /healthz within 5 s (port {port})"),
        }
    }
    assert!(!times.is_empty(), "coldstart: the exporter never answered");
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "coldstart: {} runs, min {:.1} ms, median {:.1} ms, max {:.1} ms",
        times.len(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
    println!(
        "RESULT coldstart_median_ms {:.2}",
        ms(times[times.len() / 2])
    );
    println!("RESULT coldstart_min_ms {:.2}", ms(times[0]));
    println!("RESULT coldstart_max_ms {:.2}", ms(times[times.len() - 1]));
    println!(
        "RESULT coldstart_failures {}",
        args.runs.max(1) - times.len()
    );
}
