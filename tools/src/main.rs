//! `tinyvae`: one binary for the whole pipeline (see README.md).
//!
//! Every subcommand lives in its own module and returns `anyhow::Result`.
//! Errors are printed as one line (the whole cause chain, `{:#}`) on stderr;
//! bad input (a missing or malformed file, an impossible flag) exits with 2,
//! anything else that fails with 1.

mod blobfile;
mod fail;
mod inspect;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Train a VAE, export its int8 decoder, and generate images with it on the
/// host or on a Cortex-M in QEMU.
#[derive(Debug, Parser)]
#[command(name = "tinyvae", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what a model blob holds: header, layers, quantization, prototypes.
    Inspect(inspect::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Inspect(args) => inspect::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(fail::exit_code(&err))
        }
    }
}
