//! The throughput baseline for `scripts/bench.sh`: the smallest hyper 1 HTTP/1.1 server that
//! answers every request with a constant `OK`, on the same kind of tokio runtime the exporter
//! uses (multi-threaded, one worker per core). Whatever the exporter costs beyond this is its
//! router, its handlers and its cache.
//!
//! ```text
//! baseline_server [--listen 127.0.0.1:0]
//! ```
//! Prints `listening http://ADDR`, serves until killed.

use std::convert::Infallible;
use std::io::Write as _;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

async fn ok(_req: Request<hyper::body::Incoming>) -> Result<Response<String>, Infallible> {
    let mut resp = Response::new(String::from("OK"));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(resp)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut listen = String::from("127.0.0.1:0");
    let mut args = std::env::args().skip(1);
    // Anything else (such as the --bench that `cargo bench` passes) is ignored.
    while let Some(a) = args.next() {
        if a == "--listen" {
            listen = args.next().unwrap_or(listen);
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(ok))
                .await;
        });
    }
}
