//! The QEMU machines: `mps2-an386` (feature `qemu`, Cortex-M4F) and
//! `microbit` (feature `microbit`, Cortex-M0). The host loads the request
//! block and the blob with QEMU's generic loader
//! (`-device loader,file=...,addr=...`) into memory the firmware does not
//! link; defmt goes out over semihosting and the exit code is QEMU's.

use cortex_m_rt::{ExceptionFrame, exception};
use defmt_semihosting as _;

use crate::request::{self, Request, RequestProblem};

#[cfg(feature = "qemu")]
mod layout {
    pub const NAME: &str = "qemu mps2-an386 (Cortex-M4F)";
    /// PSRAM (hw/arm/mps2.c), linked with nothing.
    pub const REQUEST_ADDRESS: usize = 0x2100_0000;
    pub const BLOB_ADDRESS: usize = 0x2100_1000;
    pub const BLOB_END: usize = 0x2200_0000;
    pub const SCRATCH: usize = 256 * 1024;
    pub const PIXELS: usize = 64 * 1024;
}

#[cfg(feature = "microbit")]
mod layout {
    pub const NAME: &str = "qemu microbit (nRF51, Cortex-M0)";
    /// Flash above the code (memory/microbit.x).
    pub const REQUEST_ADDRESS: usize = 0x0002_0000;
    pub const BLOB_ADDRESS: usize = 0x0002_0400;
    pub const BLOB_END: usize = 0x0004_0000;
    /// 16 KiB of RAM: the conv decoder's largest layer input plus output
    /// (7x7x32 + 14x14x40 = 9,408 B; `tests/tests/shapes.rs` checks it).
    pub const SCRATCH: usize = 9728;
    pub const PIXELS: usize = 1024;
}

use layout::{BLOB_ADDRESS, BLOB_END, REQUEST_ADDRESS};

/// A free-running 32-bit counter of virtual time, for `bench`. Under
/// `qemu-system-arm -icount shift=0` one executed instruction is one
/// nanosecond of virtual time, so ticks x `PS_PER_TICK` / 1000 is the
/// number of instructions executed, the same on every run.
#[cfg(feature = "bench")]
pub struct Clock(());

/// CMSDK APB TIMER0 of the MPS2 (hw/arm/mps2.c: 0x4000_0000, clocked at
/// SYSCLK 25 MHz: 40 ns, i.e. 40 instructions, per tick). It counts down.
#[cfg(all(feature = "bench", feature = "qemu"))]
mod clock {
    const BASE: usize = 0x4000_0000;
    const CTRL: *mut u32 = BASE as *mut u32;
    const VALUE: *mut u32 = (BASE + 0x4) as *mut u32;
    const RELOAD: *mut u32 = (BASE + 0x8) as *mut u32;
    pub const PS_PER_TICK: u32 = 40_000;

    pub fn start() {
        // SAFETY: the timer's registers (CMSDK APB timer, hw/timer/cmsdk-apb-timer.c);
        // nothing else uses the timer.
        unsafe {
            RELOAD.write_volatile(u32::MAX);
            VALUE.write_volatile(u32::MAX);
            CTRL.write_volatile(1);
        }
    }

    /// Ticks since `start`.
    pub fn now() -> u32 {
        // SAFETY: a read of the running timer's value register.
        u32::MAX - unsafe { VALUE.read_volatile() }
    }
}

/// nRF51 TIMER0 (hw/arm/nrf51_soc.c: 0x4000_8000; hw/timer/nrf51_timer.c:
/// 16 MHz with prescaler 0: 62.5 ns per tick), 32-bit timer mode, read by
/// the CAPTURE[0] task into CC[0].
#[cfg(all(feature = "bench", feature = "microbit"))]
mod clock {
    const BASE: usize = 0x4000_8000;
    const TASKS_START: *mut u32 = BASE as *mut u32;
    const TASKS_CLEAR: *mut u32 = (BASE + 0x00C) as *mut u32;
    const TASKS_CAPTURE0: *mut u32 = (BASE + 0x040) as *mut u32;
    const MODE: *mut u32 = (BASE + 0x504) as *mut u32;
    const BITMODE: *mut u32 = (BASE + 0x508) as *mut u32;
    const PRESCALER: *mut u32 = (BASE + 0x510) as *mut u32;
    const CC0: *mut u32 = (BASE + 0x540) as *mut u32;
    pub const PS_PER_TICK: u32 = 62_500;

    pub fn start() {
        // SAFETY: the timer's registers; nothing else uses TIMER0.
        unsafe {
            MODE.write_volatile(0);
            BITMODE.write_volatile(3);
            PRESCALER.write_volatile(0);
            TASKS_CLEAR.write_volatile(1);
            TASKS_START.write_volatile(1);
        }
    }

    /// Ticks since `start`.
    pub fn now() -> u32 {
        // SAFETY: the capture task and the capture register of the running timer.
        unsafe {
            TASKS_CAPTURE0.write_volatile(1);
            CC0.read_volatile()
        }
    }
}

#[cfg(feature = "bench")]
impl Clock {
    /// Picoseconds of virtual time per tick (instructions x 1000 at shift=0).
    pub const PS_PER_TICK: u32 = clock::PS_PER_TICK;

    /// Starts the counter at zero.
    pub fn start() -> Self {
        clock::start();
        Self(())
    }

    /// Ticks since [`Clock::start`].
    #[inline(always)]
    pub fn now(&self) -> u32 {
        clock::now()
    }
}
pub use layout::{NAME, PIXELS, SCRATCH};

/// The memory the blob may occupy.
pub fn blob_region() -> &'static [u8] {
    // SAFETY: the region is memory that exists on this machine (see
    // memory/*.x), that nothing in the program links or writes, and that
    // stays unchanged while the program runs.
    unsafe { core::slice::from_raw_parts(BLOB_ADDRESS as *const u8, BLOB_END - BLOB_ADDRESS) }
}

/// A QEMU machine.
pub struct Board;

impl Board {
    pub fn init() -> Self {
        Self
    }

    /// Reads the host's request block.
    pub fn request(&mut self) -> Result<Request, RequestProblem> {
        // SAFETY: as for the blob region: existing, unlinked, unchanging memory.
        let block = unsafe { &*(REQUEST_ADDRESS as *const [u8; request::LEN]) };
        request::parse(block, REQUEST_ADDRESS as u32)
    }

    #[cfg_attr(feature = "bench", allow(dead_code))]
    pub fn image_done(&mut self, _index: u32) {}

    /// Ends the run; QEMU exits with `code`.
    pub fn finish(self, code: i32) -> ! {
        semihosting::process::exit(code)
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    semihosting::process::exit(101)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!("hard fault at pc {=u32:#010x}", frame.pc());
    semihosting::process::exit(102)
}
