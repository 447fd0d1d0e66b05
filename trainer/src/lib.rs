//! Training, evaluation and int8 export of the tinyvae VAE.
//!
//! The modules, leaf first: each imports only modules above it in this list
//! (no import cycle).
//!
//! - [`rng`]: the host random stream (SplitMix64) and its draws.
//! - [`fsio`]: atomic file writes.
//! - [`progress`]: progress bars, hidden when stderr is not a terminal.
//! - [`ftz`]: flush-to-zero on training threads (the crate's only `unsafe`).
//! - [`heap`]: freed buffers kept in the heap for the next step.
//! - [`backend`]: the burn backends of this build and their thread pool.
//! - [`data`]: data sets: MNIST-format (IDX) files (reading, writing,
//!   download) and image folders of PNG and JPEG files.
//! - [`batch`]: host data to tensors in batches (burn `Batcher`s) and back.
//! - [`loss`]: the VAE's loss terms (BCE, KL, the fused BCE).
//! - [`matmul`]: matrix products through the `gemm` crate.
//! - `flex`: burn-flex tensors as host memory, for the operations below.
//! - [`linear`]: `x W + b` as one autodiff operation on flex.
//! - [`conv`]: the conv model's convolutions as patch matrices times
//!   weights.
//! - [`model`]: the VAEs, their forward passes and the reparameterisation.
//! - [`optim`]: the run's Adam (fused on the CPU).
//! - [`evaluation`]: the test NELBO and the per-epoch metrics.
//! - [`judge`]: a CNN trained on real images that scores generated ones
//!   (accuracy, confidence, spread, Frechet distance), cached per data set.
//! - [`pictures`]: PNG grids and the loss curve.
//! - [`config`]: what defines a run, and its learning-rate schedule.
//! - [`checkpoint`]: checkpoints and metrics on disk: save, load, resume.
//! - [`error`]: the error of a training run.
//! - [`training`]: the training loop.
//! - [`export`]: int8 quantization into a blob, and its fidelity report.

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod conv;
pub mod data;
pub mod error;
pub mod evaluation;
pub mod export;
#[cfg(feature = "flex")]
pub(crate) mod flex;
pub mod fsio;
#[allow(unsafe_code)]
pub mod ftz;
#[allow(unsafe_code)]
pub mod heap;
pub mod judge;
pub mod linear;
pub mod loss;
#[allow(unsafe_code)]
pub mod matmul;
pub mod model;
pub mod optim;
pub mod pictures;
pub mod progress;
pub mod rng;
#[cfg(test)]
mod testing;
pub mod training;
