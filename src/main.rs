//! The `spanflow` binary: parses the command line, sets up logging and calls `cli::run`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use spanflow::cli::{self, Cli, UsageError};

// One worker thread: spanflow waits on sockets and timers almost all the time, and a second
// worker only added cross-thread wake-ups — at 1,000 instances one worker took 4.6 → 4.2 %
// of a core and 45 → 40 MB RSS (scripts/bench-poll.sh 120 1000 dns; docs/benchmarks.md).
// The derive (≈0.2 ms) and a /metrics encoding (≈2 ms) are the longest stretches it runs.
#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
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
