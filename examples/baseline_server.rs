//! The throughput baseline for `scripts/bench.sh`: the smallest hyper 1 HTTP/1.1 server that
//! answers every request with a constant `OK`, on the same kind of tokio runtime the exporter
//! uses (multi-threaded, one worker per core). Whatever the exporter costs beyond this is its
//! router, its handlers and its cache.
//!
//! ```text
//! baseline_server [--listen 127.0.0.1:0] [--body-file PATH]
//! ```
//! `--body-file` answers with that file's bytes instead of `OK` (as `application/json`): the
//! same server sending a body the size of `/readyz`'s, to tell the cost of the bytes from the
//! cost of the exporter.
//! Prints `listening http://ADDR`, serves until killed.

use std::convert::Infallible;
use std::io::Write as _;

use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

async fn answer(
    body: bytes::Bytes,
    content_type: &'static str,
) -> Result<Response<Full<bytes::Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(body));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    Ok(resp)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut listen = String::from("127.0.0.1:0");
    let mut body = bytes::Bytes::from_static(b"OK");
    let mut content_type = "text/plain; charset=utf-8";
    let mut args = std::env::args().skip(1);
    // Anything else (such as the --bench that `cargo bench` passes) is ignored.
    while let Some(a) = args.next() {
        if a == "--listen" {
            listen = args.next().unwrap_or(listen);
        } else if a == "--body-file" {
            let path = args.next().unwrap_or_default();
            body = std::fs::read(&path)?.into();
            content_type = "application/json";
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                answer(body.clone(), content_type)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
