//! Boards, one per feature. Each provides `NAME`, the buffer capacities
//! `SCRATCH` and `PIXELS`, `blob_region()` and a `Board` with `init`,
//! `request`, `image_done` and `finish`.

#[cfg(feature = "semihost")]
mod qemu;
#[cfg(feature = "semihost")]
pub use qemu::*;

#[cfg(feature = "stm32f429i-disc1")]
mod stm32f429i_disc1;
#[cfg(feature = "stm32f429i-disc1")]
pub use stm32f429i_disc1::*;
