//! Building the firmware, running it in QEMU and talking to it.
//!
//! `tinyvae qemu`, `bench`, `hex` and `demo` use it and the end-to-end
//! tests in `tests/` call the same functions, so both speak the firmware's
//! protocol the same way. One job per file:
//! - `machine.rs`: the QEMU machines ([`Machine`]), their targets and
//!   board features; their memory facts come from `tinyvae_shared::boards`;
//! - `build.rs`: `cargo build` of firmware/ ([`build()`], [`build_bench`],
//!   [`build_with`]), and which firmware/ ([`firmware_dir`]);
//! - `sources.rs`: the firmware's sources built into `tinyvae`, unpacked
//!   for an installed `tinyvae` ([`unpack_sources`]);
//! - `elf.rs`: what a firmware ELF takes ([`Sizes`]) and programs
//!   ([`elf_load_chunks`]), read with the `object` crate;
//! - `qemu.rs`: QEMU as a child process (command line, start, kill on drop);
//! - `monitor.rs`: QEMU's monitor on a unix socket, one command through it;
//! - `lab.rs`: the lab machines ([`run()`]: `mps2-an386`, and the `bench`
//!   builds): the command frame and the blob loaded by QEMU's generic
//!   loader, the reply frames read from semihosting's stdout when QEMU
//!   exits;
//! - `emulator.rs`: the micro:bit board firmware unchanged ([`Microbit`],
//!   [`emulate_microbit`]): the blob flashed as Intel HEX, the protocol
//!   over the emulated UART on a pty, exactly as `tinyvae listen` talks to
//!   a real board, and a reset through QEMU's monitor;
//! - `bench.rs`: the `bench` firmware's instruction counts ([`bench()`],
//!   [`Bench`]).

mod bench;
mod build;
mod elf;
mod emulator;
mod lab;
mod machine;
mod monitor;
mod qemu;
mod sources;

pub use bench::{Bench, BenchImage, FloatDiff, KernelMean, ProtocolCost, bench};
pub use build::{build, build_bench, build_with, checkout_firmware_dir, firmware_dir};
pub use elf::{Sizes, elf_load_chunks, elf_sizes};
pub use emulator::{Emulator, Flash, Microbit, emulate_microbit};
pub use lab::{Run, log_line, log_text, run};
pub use machine::Machine;
pub use sources::{
    FIRMWARE_DIR_VAR, PackedFile, cache_dir, packed_files, unpack_sources, unpacked_name,
};
