//! Classifying errors into exit codes.
//!
//! Code that detects bad input (a file that is missing, truncated or of the
//! wrong kind, a flag out of range) wraps the error with [`bad_input`]; `main`
//! then exits with [`BAD_INPUT`] instead of 1. An error wrapped with
//! [`exit_with`] exits with the code it carries (`tinyvae qemu` passes the
//! firmware's own exit code on).

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

/// An error that ends the process with its own exit code rather than 1 or
/// [`BAD_INPUT`].
#[derive(Debug)]
pub struct ExitWith {
    /// The process's exit code.
    pub code: u8,
    /// What went wrong.
    pub error: anyhow::Error,
}

impl fmt::Display for ExitWith {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for ExitWith {}

/// Wraps `err` so that `main` exits with `code` (as the operating system
/// truncates it: the low eight bits, as `std::process::exit` would).
pub fn exit_with(code: i32, err: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(ExitWith {
        code: code as u8,
        error: err.into(),
    })
}

/// The process exit code for `err`: the code of the first [`ExitWith`] in
/// its chain; else [`BAD_INPUT`] when any error in its chain is a
/// [`BadInput`]; else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(exit) = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<ExitWith>())
    {
        exit.code
    } else if err.chain().any(|cause| cause.is::<BadInput>()) {
        BAD_INPUT
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&anyhow::anyhow!("failed")), 1);
        let bad = bad_input(anyhow::anyhow!("no such file"));
        assert_eq!(exit_code(&bad), BAD_INPUT);
        assert_eq!(exit_code(&bad.context("reading the blob")), BAD_INPUT);
        let exit = exit_with(3, anyhow::anyhow!("the firmware stopped"));
        assert_eq!(exit.to_string(), "the firmware stopped");
        assert_eq!(exit_code(&exit), 3);
        // As `std::process::exit` would: the low eight bits.
        assert_eq!(exit_code(&exit_with(-1, anyhow::anyhow!("killed"))), 255);
        assert_eq!(exit_code(&exit_with(2, bad_input(anyhow::anyhow!("x")))), 2);
    }
}
