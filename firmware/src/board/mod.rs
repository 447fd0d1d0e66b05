//! Boards, one per feature, each a small file over the board-agnostic main
//! loop in `main.rs`. A board provides a `Transport` (an embedded-io byte
//! stream to the host) and a `Board` with `init` (which installs the
//! transport), `next_command`, `seed` and `served`. The real boards share
//! the `Board` below and supply only `start` (clocks, UART, RNG); this
//! module also holds each machine's memory facts: `NAME`, the blob region
//! and the buffer sizes.
//!
//! - `lab`: the QEMU lab machines (semihosting; `qemu`, and `bench` builds);
//! - `microbit`: the BBC micro:bit v1 as a user flashes it (also what QEMU
//!   `-machine microbit` runs);
//! - `microbit_v2`, `stm32f429i_disc1`: the other real boards.

#[cfg(feature = "semihost")]
mod lab;
#[cfg(feature = "semihost")]
pub use lab::*;

// The micro:bit lab build uses no nRF51 driver, but its device crate must
// be linked: it provides the interrupt vectors cortex-m-rt expects.
#[cfg(all(feature = "microbit", feature = "semihost"))]
use microbit_v1 as _;

#[cfg(all(feature = "microbit", not(feature = "semihost")))]
mod microbit;
#[cfg(all(feature = "microbit", not(feature = "semihost")))]
pub use microbit::*;

#[cfg(feature = "microbit-v2")]
mod microbit_v2;
#[cfg(feature = "microbit-v2")]
pub use microbit_v2::*;

#[cfg(feature = "stm32f429i-disc1")]
mod stm32f429i_disc1;
#[cfg(feature = "stm32f429i-disc1")]
pub use stm32f429i_disc1::*;

pub use layout::{NAME, PIXELS, SCRATCH};

/// The memory the blob may occupy.
pub fn blob_region() -> &'static [u8] {
    use layout::{BLOB_ADDRESS, BLOB_END};
    // SAFETY: the region is memory that exists on this machine (see
    // memory/*.x), that nothing in the program links or writes, and that
    // stays unchanged while the program runs (flash, or QEMU's PSRAM).
    unsafe { core::slice::from_raw_parts(BLOB_ADDRESS as *const u8, BLOB_END - BLOB_ADDRESS) }
}

/// QEMU `mps2-an386` (memory/mps2-an386.x).
#[cfg(feature = "qemu")]
mod layout {
    pub const NAME: &str = "qemu mps2-an386 (Cortex-M4F)";
    /// PSRAM (hw/arm/mps2.c), linked with nothing: the command frame...
    #[cfg_attr(not(feature = "semihost"), allow(dead_code))]
    pub const REQUEST_ADDRESS: usize = 0x2100_0000;
    /// ... then the blob, to the end of PSRAM.
    pub const BLOB_ADDRESS: usize = 0x2100_1000;
    pub const BLOB_END: usize = 0x2200_0000;
    pub const SCRATCH: usize = 256 * 1024;
    pub const PIXELS: usize = 64 * 1024;
}

/// BBC micro:bit v1 (memory/microbit.x): flash above the code.
#[cfg(feature = "microbit")]
mod layout {
    pub const NAME: &str = "BBC micro:bit v1 (nRF51822, Cortex-M0)";
    /// The lab (`bench`) build's command frame, in the page below the blob.
    #[cfg_attr(not(feature = "semihost"), allow(dead_code))]
    pub const REQUEST_ADDRESS: usize = 0x0002_0000;
    /// The blob, to the end of the 256 KiB flash.
    pub const BLOB_ADDRESS: usize = 0x0002_0400;
    pub const BLOB_END: usize = 0x0004_0000;
    /// 16 KiB of RAM: the conv decoder's largest layer input plus output
    /// (7x7x32 + 14x14x40 = 9,408 B; `tests/tests/shapes.rs` checks it).
    pub const SCRATCH: usize = 9728;
    pub const PIXELS: usize = 1024;
}

/// BBC micro:bit v2 (memory/microbit-v2.x): flash above the code.
#[cfg(feature = "microbit-v2")]
mod layout {
    pub const NAME: &str = "BBC micro:bit v2 (nRF52833, Cortex-M4F)";
    /// The blob: the upper 384 KiB of the 512 KiB flash.
    pub const BLOB_ADDRESS: usize = 0x0002_0000;
    pub const BLOB_END: usize = 0x0008_0000;
    /// 128 KiB of RAM: room for the MLP decoder (400 + 784 B) and the conv
    /// decoders up to `--decoder-channels 64,128` (28.2 KB).
    pub const SCRATCH: usize = 48 * 1024;
    pub const PIXELS: usize = 4 * 1024;
}

/// STM32F429I-DISC1 (memory/stm32f429i-disc1.x): flash sectors 8-11
/// (RM0090 table 6), linked with nothing.
#[cfg(feature = "stm32f429i-disc1")]
mod layout {
    pub const NAME: &str = "STM32F429I-DISC1 (Cortex-M4F)";
    pub const BLOB_ADDRESS: usize = 0x0808_0000;
    pub const BLOB_END: usize = 0x0810_0000;
    pub const SCRATCH: usize = 96 * 1024;
    pub const PIXELS: usize = 16 * 1024;
}

/// A real board: it serves the commands that arrive on its transport for
/// as long as it is powered, and seeds requests from its RNG peripheral.
#[cfg(not(feature = "semihost"))]
pub struct Board {
    rng: Rng,
    commands: tinyvae_shared::protocol::CommandReader,
}

#[cfg(not(feature = "semihost"))]
impl Board {
    /// Starts the board's clocks, transport and RNG.
    pub fn init() -> Self {
        Self {
            rng: start(),
            commands: tinyvae_shared::protocol::CommandReader::new(),
        }
    }

    /// Waits for the host's next command frame.
    pub fn next_command(
        &mut self,
    ) -> Result<tinyvae_shared::protocol::Command, tinyvae_shared::protocol::FrameError> {
        loop {
            if let Some(byte) = crate::link::try_read()
                && let Some(command) = self.commands.push(byte)
            {
                return command;
            }
        }
    }

    /// A fresh seed from the RNG peripheral.
    pub fn seed(&mut self) -> Result<u64, crate::failure::Failure> {
        Ok(rand_core::RngCore::next_u64(&mut self.rng))
    }

    /// A real board keeps serving, whatever the outcome.
    pub fn served(&mut self, _ok: bool) {}
}

/// A real board's panic: say so on the line, then stop (a reset could
/// panic again at once, in a loop).
#[cfg(not(feature = "semihost"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    crate::link::flush();
    loop {
        cortex_m::asm::wfi();
    }
}
