//! tinyvae's no_std core: the one implementation of inference that the host
//! tools and the firmware both run, bit for bit.
//!
//! - [`fixedpoint`]: TFLite-Micro-exact requantization arithmetic.
//! - [`blob`]: the model blob (header + postcard body) and its types;
//!   `shared/BLOB-FORMAT.md` is the byte-level specification.
//! - [`classes`]: a model's class names, stored in the blob.
//! - [`boards`]: each machine's blob region and buffer sizes, and whether
//!   a model fits them.
//! - [`layout`]: how dense weights are stored, in the order the kernels
//!   read them.
//! - [`Model`]: a validated blob and its int8 decoder.
//! - [`sampler`]: the fixed-point Gaussian, `z = mu + sigma * e` and
//!   `z = mean + L e` from the fitted density; the random words' order.
//! - [`protocol`]: the host-board frames (`shared/PROTOCOL.md`).
//! - [`hash`]: FNV-1a, the `bench` firmware's image hash.
//! - [`splitmix`]: SplitMix64, the trainer's and the tests' randomness.
//! - `write` (feature `std`): encoding blobs and building tables on the host.
//! - `HostDecoder` (feature `std`): the same bytes as [`Model::decode`],
//!   faster, for the host tools.
//!
//! No allocation, no floating point on the inference path (f32 scales in the
//! blob are only read by host tools), no panics on any input bytes.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(missing_docs)]
// `unsafe` only in the assembly of `dsp`, `armv6m` and `requant` and in `host`'s call
// of its AVX2 kernel (each allows it, documented there).
#![deny(unsafe_code)]

// First: its `requantize_sum!` (the M4's assembly) serves `dsp`.
#[macro_use]
mod requant;
#[cfg(tinyvae_armv6m)]
mod armv6m;
pub mod blob;
pub mod boards;
pub mod classes;
#[cfg(tinyvae_dsp)]
mod dsp;
mod error;
pub mod fixedpoint;
mod geometry;
pub mod hash;
#[cfg(feature = "std")]
mod host;
mod layers;
pub mod layout;
mod model;
pub mod protocol;
pub mod sampler;
pub mod splitmix;
// The phase decomposition the chips' assembly kernels run.
#[cfg(any(test, tinyvae_dsp, tinyvae_armv6m))]
mod subpixel;
#[cfg(test)]
mod test_rng;
#[cfg(feature = "std")]
pub mod write;

pub use error::{Error, LayerProblem, ModelProblem};
#[cfg(feature = "std")]
pub use host::HostDecoder;
pub use layers::Kernels;
pub use model::Model;
pub use sampler::{Draw, Latent, seeded_rng};
