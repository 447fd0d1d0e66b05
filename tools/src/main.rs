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
mod hexfile;
mod inspect;
mod latents;
mod listen;
mod qemu;
mod request;
mod sample;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tinyvae_tools::{blobfile, fail, firmware, generate, hex, images, link};

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
    /// The main job: train, export, generate on the chip in QEMU, check, summarize.
    Demo(demo::Args),
    /// Train a VAE on MNIST-format IDX files (checkpoints, metrics, pictures).
    Train(train::Args),
    /// Quantize a trained decoder to the int8 blob, with a fidelity report.
    Export(export::Args),
    /// Generate images on the host from a seed: the bytes a chip must reproduce.
    Sample(sample::Args),
    /// Print the int8 latents the sampler draws for a seed, as CSV.
    Latents(latents::Args),
    /// Show what a model blob holds: header, layers, quantization, prototypes.
    Inspect(inspect::Args),
    /// Time training epochs: burn's CPU backends vs PyTorch, same recipe.
    BenchTrain(bench_train::Args),
    /// Run the firmware in QEMU, collect its images, check them against the host.
    Qemu(qemu::Args),
    /// Write a blob (and optionally the firmware) as Intel HEX for flashing a board.
    Hex(hexfile::Args),
    /// Generate images on a board over its serial port and check them against the host.
    Listen(listen::Args),
    /// Count executed instructions per image on the Cortex-M4F/M0 in QEMU, per layer and kernel.
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
        Command::Inspect(args) => inspect::run(args),
        Command::Export(args) => export::run(args),
        Command::Sample(args) => sample::run(args),
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
