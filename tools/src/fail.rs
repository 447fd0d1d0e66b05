//! Classifying errors into exit codes.
//!
//! Code that detects bad input (a file that is missing, truncated or of the
//! wrong kind, a flag out of range) wraps the error with [`bad_input`]; `main`
//! then exits with [`BAD_INPUT`] instead of 1.

use std::fmt;

/// Exit code for bad input, as the README's "The `tinyvae` command" fixes it.
pub const BAD_INPUT: u8 = 2;

/// Marks an error as caused by the user's input rather than by tinyvae.
#[derive(Debug)]
pub struct BadInput(pub anyhow::Error);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:#}` keeps the whole cause chain on one line.
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for BadInput {}

/// Wraps `err` so that `main` exits with [`BAD_INPUT`].
pub fn bad_input(err: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(BadInput(err.into()))
}

/// The process exit code for `err`: [`BAD_INPUT`] when any error in its chain
/// is a [`BadInput`], 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|cause| cause.is::<BadInput>()) {
        BAD_INPUT
    } else {
        1
    }
}
