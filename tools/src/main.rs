//! `tinyvae`: one binary for the whole pipeline (see README.md).
//!
//! Every subcommand lives in its own module and returns `anyhow::Result`.
//! Errors are printed as one line (the whole cause chain, `{:#}`) on stderr;
//! bad input (a missing or malformed file, an impossible flag) exits with 2,
//! anything else that fails with 1.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bench;
mod bench_train;
mod demo;
mod export;
mod fit;
mod hexfile;
mod inspect;
mod latents;
mod listen;
mod qemu;
mod request;
mod sample;
mod score;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tinyvae_tools::{blobfile, fail, firmware, generate, hex, images, judging, link};

/// Train a VAE, export its int8 decoder, and generate images with it on the
/// host or on a Cortex-M in QEMU.
#[derive(Debug, Parser)]
#[command(name = "tinyvae", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands. Each one's help is the doc comment of its `Args`.
#[derive(Debug, Subcommand)]
enum Command {
    Demo(demo::Args),
    Train(train::Args),
    Export(export::Args),
    Sample(sample::Args),
    Score(score::Args),
    Latents(latents::Args),
    Inspect(inspect::Args),
    BenchTrain(bench_train::Args),
    Qemu(qemu::Args),
    Hex(hexfile::Args),
    Fit(fit::Args),
    Listen(listen::Args),
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Train(args) => train::run(args),
        Command::BenchTrain(args) => bench_train::run(args),
        Command::Qemu(args) => qemu::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Listen(args) => listen::run(args),
        Command::Hex(args) => hexfile::run(args),
        Command::Fit(args) => fit::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Export(args) => export::run(args),
        Command::Sample(args) => sample::run(args),
        Command::Score(args) => score::run(args),
        Command::Latents(args) => latents::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(fail::exit_code(&err))
        }
    }
}
