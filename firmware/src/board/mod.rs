//! Boards, one per feature, each a small file over the board-agnostic main
//! loop in `main.rs`. A board provides a `Transport` (an embedded-io byte
//! stream to the host) and a `Board` with `init` (which installs the
//! transport here, where `link.rs` and the panic handlers reach it through
//! [`with_transport`] and [`flush`]: the boards never call the protocol's
//! side), `next_command`, `seed` and `served`. The real boards share the
//! `Board` below and supply only `start` (clocks, UART, RNG); this module
//! also gives each machine's memory facts (`NAME`, the blob region, the
//! buffer sizes) from `tinyvae_shared::boards`.
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

/// This machine's memory facts (`tinyvae_shared::boards`): its buffers
/// below, its blob region, and whether a model fits them
/// (`Layout::check`).
#[cfg(feature = "qemu")]
pub const LAYOUT: Layout = boards::MPS2_AN386;
#[cfg(feature = "microbit")]
pub const LAYOUT: Layout = boards::MICROBIT;
#[cfg(feature = "microbit-v2")]
pub const LAYOUT: Layout = boards::MICROBIT_V2;
#[cfg(feature = "stm32f429i-disc1")]
pub const LAYOUT: Layout = boards::STM32F429I_DISC1;

use core::cell::RefCell;

use critical_section::Mutex;
use tinyvae_shared::boards::{self, Layout};

/// The board's transport once its `init` (or `start`) has installed it:
/// the one byte stream to the host, which the protocol's replies and the
/// defmt logger share (`link.rs` writes to it through [`with_transport`]).
static TRANSPORT: Mutex<RefCell<Option<Transport>>> = Mutex::new(RefCell::new(None));

/// Hands the board's transport to [`with_transport`]; each board calls it
/// once, when it starts.
fn install(transport: Transport) {
    critical_section::with(|cs| TRANSPORT.borrow(cs).replace(Some(transport)));
}

/// Runs `f` on the transport, unless there is none yet or it is busy (a
/// log line written from inside a send): those bytes are dropped.
pub fn with_transport<R>(f: impl FnOnce(&mut Transport) -> R) -> Option<R> {
    critical_section::with(|cs| {
        let mut transport = TRANSPORT.borrow(cs).try_borrow_mut().ok()?;
        transport.as_mut().map(f)
    })
}

/// Pushes out whatever the transport buffers.
pub fn flush() {
    with_transport(|transport| {
        let _ = embedded_io::Write::flush(transport);
    });
}

/// A received byte, if one is waiting.
#[cfg(not(feature = "semihost"))]
fn try_read() -> Option<u8> {
    use embedded_io::{Read, ReadReady};
    with_transport(|transport| {
        let mut byte = [0];
        match transport.read_ready() {
            Ok(true) => matches!(transport.read(&mut byte), Ok(1)).then_some(byte[0]),
            _ => None,
        }
    })
    .flatten()
}

/// The board's name.
pub const NAME: &str = LAYOUT.name;
/// Bytes of decoder scratch.
pub const SCRATCH: usize = LAYOUT.scratch;
/// Bytes of image buffer.
pub const PIXELS: usize = LAYOUT.pixels;

/// The memory the blob may occupy.
pub fn blob_region() -> &'static [u8] {
    // SAFETY: the region is memory that exists on this machine (see
    // `tinyvae_shared::boards`), that nothing in the program links or writes, and that
    // stays unchanged while the program runs (flash, or QEMU's PSRAM).
    unsafe { core::slice::from_raw_parts(LAYOUT.blob_start as *const u8, LAYOUT.blob_capacity()) }
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
            if let Some(byte) = try_read()
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
    flush();
    loop {
        cortex_m::asm::wfi();
    }
}
