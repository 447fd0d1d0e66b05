//! `tinyvae hex`: a blob as the Intel HEX file a user flashes onto a board
//! at its blob address (`probe-rs download --binary-format hex`), or, with
//! `--with-firmware`, one HEX of firmware and blob for the micro:bit's USB
//! drive (drag and drop).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::ValueEnum;

use crate::blobfile::BlobFile;
use crate::fail::bad_input;
use crate::firmware::{self, Machine, elf_load_chunks};
use crate::hex::{Chunk, intel_hex};

/// Write a blob (and optionally the firmware) as Intel HEX for flashing a board.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The board the HEX is for: its blob address and region.
    #[arg(long, value_enum)]
    board: BoardArg,
    /// The model blob (`tinyvae export` writes one).
    #[arg(long)]
    blob: PathBuf,
    /// The HEX file to write.
    #[arg(long)]
    out: PathBuf,
    /// Put the board firmware in the same file (built from firmware/ unless
    /// --elf names it): one file that programs the whole board.
    #[arg(long)]
    with_firmware: bool,
    /// The board firmware ELF to include (with --with-firmware).
    #[arg(long, requires = "with_firmware")]
    elf: Option<PathBuf>,
}

/// The boards whose blob address `hex` knows.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum BoardArg {
    /// BBC micro:bit v1 (nRF51822).
    Microbit,
}

/// Runs `hex`.
pub fn run(args: Args) -> Result<()> {
    let machine = match args.board {
        BoardArg::Microbit => Machine::Microbit,
    };
    let blob = BlobFile::read(&args.blob)?;
    blob.check_fits(machine.layout())?;
    let mut chunks = vec![Chunk {
        address: machine.blob_address(),
        bytes: blob.bytes().to_vec(),
    }];
    if args.with_firmware {
        let elf = match &args.elf {
            Some(elf) => elf.clone(),
            None => firmware::build(machine)?,
        };
        let bytes = std::fs::read(&elf)
            .with_context(|| format!("cannot read the firmware {}", elf.display()))
            .map_err(bad_input)?;
        chunks.extend(
            elf_load_chunks(&bytes)
                .with_context(|| elf.display().to_string())
                .map_err(bad_input)?,
        );
    }
    let hex = intel_hex(&chunks)?;
    std::fs::write(&args.out, hex).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} bytes of blob at {:#010x}{})",
        args.out.display(),
        blob.bytes().len(),
        machine.blob_address(),
        if args.with_firmware {
            " and the firmware"
        } else {
            ""
        }
    );
    Ok(())
}
