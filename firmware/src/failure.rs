//! Why a run stops, as one clear defmt line.

use defmt::{Format, Formatter, write};
use tinyvae_shared::Error;

use crate::request::RequestProblem;

/// Everything that ends a run early.
pub enum Failure {
    /// No valid blob in the board's blob region.
    Blob {
        /// Start of the region.
        address: u32,
        /// What the parser found.
        error: Error,
    },
    /// The model needs more memory than this build reserved.
    TooBig {
        scratch: u32,
        scratch_capacity: u32,
        image: u32,
        image_capacity: u32,
    },
    /// No valid request block.
    Request(RequestProblem),
    /// Sampling or decoding failed (e.g. a class the blob has no prototype for).
    Generate(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Generate(error)
    }
}

impl From<RequestProblem> for Failure {
    fn from(problem: RequestProblem) -> Self {
        Self::Request(problem)
    }
}

impl Format for Failure {
    fn format(&self, f: Formatter<'_>) {
        match self {
            Self::Blob { address, error } => write!(
                f,
                "no valid model blob at {=u32:#010x}: {=str} ({})",
                address,
                describe(error),
                error
            ),
            Self::TooBig {
                scratch,
                scratch_capacity,
                image,
                image_capacity,
            } => write!(
                f,
                "model too big for this build: needs {=u32} B scratch and {=u32} B per image, \
                 the firmware has {=u32} B and {=u32} B",
                scratch, image, scratch_capacity, image_capacity
            ),
            Self::Request(problem) => write!(f, "{}", problem),
            Self::Generate(error) => {
                write!(f, "generation failed: {=str} ({})", describe(error), error)
            }
        }
    }
}

/// The parser's error in words (defmt's derived `Format` only names the
/// variant; the `Display` text lives on the host).
fn describe(error: &Error) -> &'static str {
    match error {
        Error::BadMagic => "bad magic, nothing or no tinyvae blob loaded there",
        Error::Checksum { .. } => "payload checksum mismatch, the blob is corrupt",
        Error::Truncated { .. } => "blob is truncated",
        Error::UnsupportedVersion { .. } => "unsupported blob format version",
        Error::ReservedFlags(_) => "reserved header flags are set",
        Error::Malformed | Error::TrailingPayload(_) => "payload is not a valid model body",
        Error::NoLayers | Error::Layer { .. } | Error::Inconsistent(_) => "inconsistent model",
        Error::NoSuchClass { .. } => "the blob has no prototype for that class",
        _ => "invalid model",
    }
}
