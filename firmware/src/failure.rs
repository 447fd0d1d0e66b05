//! Why a command is refused: one clear defmt line for the log, and the
//! protocol's [`Refusal`] for the host. The board keeps serving after one.

use core::fmt::Write as _;

use defmt::{Format, Formatter, write};
use static_cell::StaticCell;
use tinyvae_shared::Error;
use tinyvae_shared::boards::{MAX_MISFIT_LINE, Misfit};
use tinyvae_shared::protocol::{FrameError, Problem, Refusal};

/// Everything that ends a command early.
#[derive(Clone, Copy)]
pub enum Failure {
    /// No valid blob in the board's blob region.
    Blob {
        /// Start of the region.
        address: u32,
        /// What the parser found.
        error: Error,
    },
    /// The blob holds a valid model that does not fit this board
    /// (`Layout::check`): the misfit's line, as `tinyvae fit` and `tinyvae
    /// hex` word it.
    TooBig(&'static str),
    /// A command frame arrived damaged or did not decode.
    Frame(FrameError),
    /// A request the board cannot serve (its words): a count or range out
    /// of bounds, or no seed on a machine without a random number generator.
    Request(&'static str),
    /// Sampling or decoding failed, or the model cannot serve the draw (a
    /// class it does not have, a fitted draw without a density).
    Generate(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Generate(error)
    }
}

impl Failure {
    /// A model that does not fit the board: its [`Misfit`] line, written
    /// once into a static buffer (there is no heap). Called at most once,
    /// when the firmware loads its blob; not inlined, so that its
    /// formatter's stack is not reserved where it does not run.
    #[inline(never)]
    pub fn too_big(misfit: Misfit) -> Self {
        static LINE: StaticCell<heapless::String<MAX_MISFIT_LINE>> = StaticCell::new();
        let line = LINE.init(heapless::String::new());
        // `boards::tests::misfit_lines_fit`: every misfit line fits.
        let _ = core::write!(line, "{misfit}");
        let line: &'static heapless::String<MAX_MISFIT_LINE> = line;
        Self::TooBig(line.as_str())
    }

    /// What the host is told.
    pub fn refusal(&self) -> Refusal<'static> {
        let (kind, detail) = match self {
            Self::Blob { error, .. } => (Problem::NoModel, describe(error)),
            Self::TooBig(line) => (Problem::TooBig, *line),
            Self::Frame(error) => (Problem::BadFrame, frame_problem(error)),
            Self::Request(words) => (Problem::BadRequest, *words),
            Self::Generate(error @ Error::NoSuchClass { .. }) => {
                (Problem::UnknownClass, describe(error))
            }
            Self::Generate(error @ Error::NoDensity) => (Problem::BadRequest, describe(error)),
            Self::Generate(error) => (Problem::Generate, describe(error)),
        };
        Refusal { kind, detail }
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
            Self::TooBig(line) => write!(f, "{=str}", line),
            Self::Frame(error) => write!(f, "bad command frame: {=str}", frame_problem(error)),
            Self::Request(words) => write!(f, "bad request: {=str}", words),
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
        Error::OutdatedVersion { .. } => {
            "blob format version is older than this firmware's: re-export the model with `tinyvae export`"
        }
        Error::UnsupportedVersion { .. } => {
            "blob format version is newer than this firmware's: flash a newer firmware"
        }
        Error::ReservedFlags(_) => "reserved header flags are set",
        Error::Malformed | Error::TrailingPayload(_) => "payload is not a valid model body",
        Error::NoLayers | Error::Layer { .. } | Error::Inconsistent(_) => "inconsistent model",
        Error::NoSuchClass { .. } => "the model has no such class",
        Error::NoDensity => "the blob has no fitted density for a fitted draw",
        _ => "invalid model",
    }
}

/// A damaged command frame in words.
fn frame_problem(error: &FrameError) -> &'static str {
    match error {
        FrameError::TooLong(_) => "command frame too long",
        FrameError::Stuffing => "bad COBS stuffing in a command frame",
        FrameError::TooShort(_) => "command frame too short for its checksum",
        FrameError::Checksum => "command frame checksum mismatch",
        FrameError::UnknownTag(_) | FrameError::Malformed => "not a command",
    }
}
