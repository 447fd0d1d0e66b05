//! What the host asks for: the request block.
//!
//! 20 bytes, little-endian, written by the host next to the blob (QEMU's
//! generic loader, see `tools/src/firmware.rs`):
//!
//! | offset | field | meaning                                   |
//! |--------|-------|-------------------------------------------|
//! | 0      | magic | `b"TVRQ"`                                 |
//! | 4      | count | images to generate (u32)                  |
//! | 8      | seed  | PCG32 seed (u64)                          |
//! | 16     | class | class prototype `k`, `0xFFFF_FFFF` = prior, `0xFFFF_FFFE` = interpolate between two prior draws |

use defmt::{Format, Formatter, write};
use tinyvae_shared::Draw;

/// First bytes of a request block.
pub const MAGIC: [u8; 4] = *b"TVRQ";
/// Bytes of a request block.
pub const LEN: usize = 20;
/// The class field asking for the prior.
const PRIOR: u32 = u32::MAX;
/// The class field asking for an interpolation between two prior draws.
const INTERPOLATE: u32 = u32::MAX - 1;

/// Where the seed came from.
#[derive(Clone, Copy)]
pub enum Source {
    /// The host's request block (QEMU).
    Host,
    /// The board's true random number generator (logged for replay).
    #[cfg_attr(not(feature = "stm32f429i-disc1"), allow(dead_code))]
    Trng,
}

/// One generation request.
#[derive(Clone, Copy)]
pub struct Request {
    pub seed: u64,
    pub count: u32,
    /// What to draw (the `class` field).
    pub draw: Draw,
    pub source: Source,
}

/// Why a request block was refused.
pub enum RequestProblem {
    /// The magic word is missing: nothing was loaded.
    Missing { address: u32, found: u32 },
    /// The class field is neither a u16 nor a marker.
    BadClass(u32),
}

impl Format for RequestProblem {
    fn format(&self, f: Formatter<'_>) {
        match self {
            Self::Missing { address, found } => write!(
                f,
                "no request block at {=u32:#010x} (found magic {=u32:#010x}, expected \"TVRQ\"): \
                 load one with -device loader,file=REQUEST,addr={=u32:#010x}",
                address, found, address
            ),
            Self::BadClass(class) => {
                write!(f, "request block: bad class field {=u32:#010x}", class)
            }
        }
    }
}

/// Parses a request block read from `address`.
#[cfg_attr(not(feature = "semihost"), allow(dead_code))]
pub fn parse(block: &[u8; LEN], address: u32) -> Result<Request, RequestProblem> {
    let word =
        |at: usize| u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
    if block[..4] != MAGIC {
        return Err(RequestProblem::Missing {
            address,
            found: word(0),
        });
    }
    let draw = match word(16) {
        PRIOR => Draw::Prior,
        INTERPOLATE => Draw::Interpolate,
        k => Draw::Class(u16::try_from(k).map_err(|_| RequestProblem::BadClass(k))?),
    };
    Ok(Request {
        count: word(4),
        seed: u64::from(word(8)) | (u64::from(word(12)) << 32),
        draw,
        source: Source::Host,
    })
}
