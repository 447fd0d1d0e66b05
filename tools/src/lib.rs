//! The library behind the `tinyvae` binary: what the CLI's subcommands and
//! the end-to-end tests (`tests/`) share, so both drive the firmware, replay
//! seeds and write images with the same code.
//!
//! - [`blobfile`]: reading a blob file, errors naming the file, and
//!   whether its model fits a board;
//! - [`cache`]: the user's cache directory (firmware sources, judges);
//! - [`fail`]: bad input vs. failure, and the exit codes;
//! - [`firmware`]: building the firmware, reading its ELF, running it in
//!   QEMU (the lab machines, and the micro:bit board firmware on an
//!   emulated UART), parsing the `bench` build's measurements;
//! - [`generate`]: the host's reference generation (the chip's bytes);
//! - [`hex`]: flash images to and from Intel HEX;
//! - [`images`]: raw and PNG-grid output;
//! - [`judging`]: the kinds of draw a blob's samples are scored on, and
//!   the judge of a data set from the user's cache;
//! - [`link`]: the host's side of the board protocol, over any serial port;
//! - [`shapes`]: a small labelled RGB data set drawn here, as an image
//!   folder.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod blobfile;
pub mod cache;
pub mod fail;
pub mod firmware;
pub mod generate;
pub mod hex;
pub mod images;
pub mod judging;
pub mod link;
pub mod shapes;
