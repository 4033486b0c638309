//! The `spanflow` binary: parses the command line, sets up logging and calls `cli::run`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use spanflow::cli::{self, Cli, UsageError};

// The default runtime (a worker per core). One worker was tried on 2026-12-04: 1,000
// discovered instances took 4.6 → 4.2 % of a core, but 1,000 written Tempo targets, whose
// polls also read status endpoints, kept 72 MB RSS instead of 50 (the start-up burst of
// status reads piled up behind one thread) and /metrics answered in up to 69 ms instead of
// 9 ms (docs/benchmarks.md).
#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(&cli.log);
    match cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spanflow: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
