//! The micro:bit board firmware running in QEMU `-machine microbit`,
//! unchanged: its flash loaded from Intel HEX, the protocol over the
//! emulated UART on a pty, exactly as `tinyvae listen` talks to a real
//! board; QEMU's monitor on a socket, to press the board's reset button.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::Machine;
use super::elf::read_defmt_table;
use super::monitor;
use super::qemu::{Qemu, ScratchDir, loader};
use crate::hex::{Chunk, intel_hex};
use crate::link::{Board, Decoder};

/// What is flashed beside the firmware when a [`Microbit`] boots.
#[derive(Debug, Clone, Copy)]
pub enum Flash<'a> {
    /// Nothing: the blob region is erased, as on a board never given a
    /// blob.
    Empty,
    /// A blob's bytes, at the board's blob address.
    Blob(&'a [u8]),
    /// An Intel HEX file (`tinyvae hex`'s output, what a user flashes),
    /// at the addresses it names.
    Hex(&'a Path),
}

/// The micro:bit board firmware booted in QEMU, its UART on a pty that a
/// host opens as a real board's USB serial port. QEMU is killed (and its
/// scratch files removed) when this is dropped.
pub struct Microbit {
    /// The pty QEMU put the UART on.
    pub port: String,
    /// QEMU's monitor socket, for [`Microbit::reset`].
    monitor: PathBuf,
    /// How long the monitor may take to answer.
    timeout: Duration,
    // Dropped in this order: QEMU killed before its files are removed.
    _qemu: Qemu,
    _scratch: ScratchDir,
}

impl Microbit {
    /// Boots `elf` (the `microbit` board build) in QEMU with `flash`
    /// loaded, until QEMU names its UART's pty, within `timeout` (which
    /// also bounds each later [`reset`]).
    ///
    /// [`reset`]: Microbit::reset
    pub fn boot(elf: &Path, flash: Flash<'_>, timeout: Duration) -> Result<Self> {
        let scratch = ScratchDir::new()?;
        let monitor = scratch.path("monitor.sock");
        let mut command = Qemu::command(Machine::Microbit, "pty", &monitor::option(&monitor));
        let hex = match flash {
            Flash::Empty => None,
            Flash::Blob(blob) => {
                let hex = intel_hex(&[Chunk {
                    address: Machine::Microbit.blob_address(),
                    bytes: blob.to_vec(),
                }])?;
                Some(scratch.write("blob.hex", hex.as_bytes())?)
            }
            Flash::Hex(path) => Some(path.to_owned()),
        };
        if let Some(hex) = hex {
            command.arg("-device").arg(loader(&hex, None));
        }
        let mut qemu = Qemu::start(&mut command, elf, Stdio::null())?;
        let port = qemu.pty(timeout)?;
        Ok(Self {
            port,
            monitor,
            timeout,
            _qemu: qemu,
            _scratch: scratch,
        })
    }

    /// Resets the board (QEMU's `system_reset`, as its reset button): the
    /// firmware boots again from its flash, which keeps what was loaded,
    /// and announces itself with a status frame; the pty stays the same.
    pub fn reset(&self) -> Result<()> {
        let output = monitor::send(&self.monitor, "system_reset", self.timeout)
            .context("resetting the micro:bit through QEMU's monitor")?;
        if !output.is_empty() {
            bail!("QEMU's monitor did not reset the micro:bit: {output}");
        }
        Ok(())
    }
}

/// The micro:bit board firmware in QEMU and a session with it over its
/// UART, as with a real board.
pub struct Emulator {
    /// The session with the emulated board.
    pub board: Board<Box<dyn serialport::SerialPort>>,
    /// The emulated board: its pty, its reset.
    pub microbit: Microbit,
}

/// Boots `elf` (the `microbit` board build) in QEMU with `blob` flashed at
/// the board's blob address (none: an empty blob region) and connects to
/// its UART. `timeout` bounds the boot and every silence of the board.
pub fn emulate_microbit(elf: &Path, blob: Option<&[u8]>, timeout: Duration) -> Result<Emulator> {
    let table = read_defmt_table(elf)?;
    let microbit = Microbit::boot(elf, blob.map_or(Flash::Empty, Flash::Blob), timeout)?;
    let board = Board::open(&microbit.port, 115_200, Decoder::new(Some(table)), timeout)?;
    Ok(Emulator { board, microbit })
}
