//! Cross-crate and end-to-end tests of tinyvae live in `tests/tests/`; this
//! library holds what they share: [`fixtures`], the model blobs they run;
//! [`microbit`], the board firmware and the check of its images against
//! the host; and [`relay`], a serial relay that damages the bytes between
//! a host and a board.
//! They drive QEMU, decode defmt and replay seeds through `tinyvae-tools`,
//! exactly as the CLI does.

pub mod fixtures;
pub mod microbit;
pub mod relay;
