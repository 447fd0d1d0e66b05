//! The burn backends this build offers, and the threads they run on (with
//! flush-to-zero set: [`crate::ftz`]).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::ftz::flush_denormals;
use crate::heap::keep_freed_buffers;

#[cfg(not(any(
    feature = "flex",
    feature = "ndarray",
    feature = "wgpu",
    feature = "cuda"
)))]
compile_error!("enable at least one backend feature: flex, ndarray, wgpu or cuda");

/// A burn backend, chosen at run time among those compiled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn-flex: pure-Rust CPU backend (the default: faster than ndarray here).
    #[cfg(feature = "flex")]
    Flex,
    /// burn-ndarray: CPU backend, deprecated upstream.
    #[cfg(feature = "ndarray")]
    Ndarray,
    /// WebGPU / Vulkan / Metal through wgpu.
    #[cfg(feature = "wgpu")]
    Wgpu,
    /// CUDA (the `cuda` feature only builds online).
    #[cfg(feature = "cuda")]
    Cuda,
}

impl Backend {
    /// Every backend compiled into this build, the default first.
    pub const ALL: &[Backend] = &[
        #[cfg(feature = "flex")]
        Backend::Flex,
        #[cfg(feature = "ndarray")]
        Backend::Ndarray,
        #[cfg(feature = "wgpu")]
        Backend::Wgpu,
        #[cfg(feature = "cuda")]
        Backend::Cuda,
    ];

    /// The backend's name on the command line and in config.json.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => "flex",
            #[cfg(feature = "ndarray")]
            Backend::Ndarray => "ndarray",
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => "wgpu",
            #[cfg(feature = "cuda")]
            Backend::Cuda => "cuda",
        }
    }

    /// Its device, without autodiff.
    pub fn device(self) -> Device {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Device::flex(),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Backend::Ndarray => Device::ndarray(),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Device::cuda(0),
        }
    }

    /// Whether it computes on the CPU threads of the rayon pool.
    pub fn is_cpu(self) -> bool {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => true,
            #[cfg(feature = "ndarray")]
            Backend::Ndarray => true,
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => false,
            #[cfg(feature = "cuda")]
            Backend::Cuda => false,
        }
    }

    /// Whether a training step computes its reconstruction loss in one host
    /// pass (`loss::bce_with_logits_fused`) rather than as tensor
    /// operations. Only flex gains: its tensors read back with a plain copy,
    /// while ndarray's read-back goes element by element and cost more than
    /// the fusion saved (mlp epochs went from 3.1 to 5.5 s in `tinyvae
    /// bench-train` while ndarray used it), and the GPU backends would stall
    /// on every transfer.
    pub fn fuses_loss(self) -> bool {
        #[cfg(feature = "flex")]
        if self == Backend::Flex {
            return true;
        }
        false
    }
}

impl Default for Backend {
    fn default() -> Self {
        Backend::ALL[0]
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Backend::ALL
            .iter()
            .copied()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Backend::ALL.iter().map(|b| b.name()).collect();
                format!(
                    "unknown or not compiled-in backend `{s}` (this build has: {})",
                    names.join(", ")
                )
            })
    }
}

/// Runs `work` inside a rayon pool of `threads` threads (0: one per core)
/// whose workers, like the calling thread while `work` runs, flush denormal
/// floats to zero, with freed buffers kept for reuse ([`crate::heap`]).
/// The loop itself runs on a pool thread, so the parallel
/// kernels it calls do not have to wake sleeping workers for every operation.
pub fn run_in_pool<T: Send>(threads: usize, work: impl FnOnce() -> T + Send) -> T {
    keep_freed_buffers();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| flush_denormals())
        .build()
        .expect("cannot start the rayon thread pool");
    pool.install(|| {
        flush_denormals();
        work()
    })
}
