//! The binary's edge: parse flags, load config, run `serve`, `check` or `probe`, and turn every
//! error into one line and an exit code (2 for configuration, 1 for everything else).

use std::process::ExitCode;

use clap::Parser;
use milvus_exporter::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("milvus-exporter")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("milvus_exporter: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(cli::run(cli));
    // Background tasks (sampler, refresher, in-flight RPCs) must not hold the exit up.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    ExitCode::from(code)
}
