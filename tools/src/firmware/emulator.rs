//! The micro:bit board firmware running in QEMU `-machine microbit`,
//! unchanged: its blob flashed from an Intel HEX file, the protocol over
//! the emulated UART on a pty, exactly as `tinyvae listen` talks to a real
//! board.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};

use super::Machine;
use super::elf::read_defmt_table;
use super::qemu::{Qemu, ScratchDir, loader};
use crate::hex::{Chunk, intel_hex};
use crate::link::{Board, Decoder};

/// The micro:bit board firmware running in QEMU `-machine microbit`,
/// unchanged: its blob flashed from an Intel HEX file, its UART on a pty
/// that [`Board`] talks to, as to a real board. QEMU is killed when
/// this is dropped.
pub struct Emulator {
    /// The session with the emulated board.
    pub board: Board<Box<dyn serialport::SerialPort>>,
    /// The pty QEMU put the UART on.
    pub port: String,
    _qemu: Qemu,
    _scratch: ScratchDir,
}

/// Boots `elf` (the `microbit` board build) in QEMU with `blob` flashed at
/// the board's blob address (none: an empty blob region) and connects to
/// its UART. `timeout` bounds the boot and every silence of the board.
pub fn emulate_microbit(elf: &Path, blob: Option<&[u8]>, timeout: Duration) -> Result<Emulator> {
    let table = read_defmt_table(elf)?;
    let scratch = ScratchDir::new()?;
    let mut command = Qemu::command(Machine::Microbit, "pty");
    if let Some(blob) = blob {
        let hex = intel_hex(&[Chunk {
            address: Machine::Microbit.blob_address(),
            bytes: blob.to_vec(),
        }])?;
        let path = scratch.write("blob.hex", hex.as_bytes())?;
        command.arg("-device").arg(loader(&path, None));
    }
    let mut qemu = Qemu::start(&mut command, elf, Stdio::null())?;
    let port = qemu.pty(timeout)?;
    let serial = serialport::new(&port, 115_200)
        .timeout(Duration::from_millis(50))
        .open()
        .with_context(|| format!("opening QEMU's pty {port}"))?;
    let board = Board::connect(serial, Decoder::new(Some(table)), timeout, &port)?;
    Ok(Emulator {
        board,
        port,
        _qemu: qemu,
        _scratch: scratch,
    })
}
