//! The `spanflow` binary: parses the command line, sets up logging and calls `cli::run`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use spanflow::cli::{self, Cli, UsageError};

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
