//! The QEMU lab machines: `mps2-an386` (feature `qemu`, Cortex-M4F) and,
//! for instruction counts (`bench`), `microbit` (Cortex-M0). The host loads
//! one command frame (the protocol's, delimiter included) and the blob with
//! QEMU's generic loader (`-device loader,file=...,addr=...`) into memory
//! the firmware does not link; the replies go out over semihosting and the
//! exit code is QEMU's. A real board's build has no semihosting (see
//! `microbit.rs`): a semihosting call with no debugger attached faults.

use cortex_m_rt::{ExceptionFrame, exception};
use tinyvae_shared::protocol::{Command, CommandReader, FrameError, MAX_COMMAND_FRAME};

use crate::failure::Failure;

/// Where the host's loader puts the command frame.
const REQUEST_ADDRESS: usize = match super::LAYOUT.command {
    Some(address) => address as usize,
    None => panic!("a lab machine reads its command from memory"),
};

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
/// Semihosting's standard output, buffered: one semihosting call per
/// buffer, not per byte.
pub struct Transport {
    stdout: Option<semihosting::io::Stdout>,
    buffer: heapless::Vec<u8, 256>,
}

impl embedded_io::ErrorType for Transport {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Transport {
    fn write(&mut self, bytes: &[u8]) -> Result<usize, Self::Error> {
        let room = self.buffer.capacity() - self.buffer.len();
        let taken = &bytes[..bytes.len().min(room)];
        let _ = self.buffer.extend_from_slice(taken);
        if self.buffer.is_full() {
            embedded_io::Write::flush(self)?;
        }
        Ok(taken.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        use semihosting::io::Write as _;
        if let Some(stdout) = &mut self.stdout {
            let _ = stdout.write_all(&self.buffer);
        }
        self.buffer.clear();
        Ok(())
    }
}

/// A QEMU lab machine: one command per run.
pub struct Board {
    /// Whether the loaded command succeeded, once it has been served.
    outcome: Option<bool>,
}

impl Board {
    pub fn init() -> Self {
        super::install(Transport {
            stdout: semihosting::io::stdout().ok(),
            buffer: heapless::Vec::new(),
        });
        Self { outcome: None }
    }

    /// The command frame the host loaded; after it has been served, ends
    /// the run (QEMU exits with 0 if it succeeded, 1 if not).
    pub fn next_command(&mut self) -> Result<Command, FrameError> {
        if let Some(ok) = self.outcome {
            self.finish(if ok { 0 } else { 1 });
        }
        // SAFETY: as for the blob region: existing, unlinked, unchanging memory.
        let block = unsafe { &*(REQUEST_ADDRESS as *const [u8; MAX_COMMAND_FRAME + 1]) };
        let mut reader = CommandReader::new();
        match block.iter().find_map(|&byte| reader.push(byte)) {
            Some(command) => command,
            None => {
                defmt::error!(
                    "no request block at {=u32:#010x}: load a command frame there with \
                     -device loader,file=REQUEST,addr={=u32:#010x}",
                    REQUEST_ADDRESS as u32,
                    REQUEST_ADDRESS as u32
                );
                self.finish(1)
            }
        }
    }

    /// The lab machines draw no seeds: the host sends one.
    pub fn seed(&mut self) -> Result<u64, Failure> {
        Err(Failure::Request(
            "this QEMU lab machine has no random number generator: send a seed",
        ))
    }

    /// Records how the command went.
    pub fn served(&mut self, ok: bool) {
        self.outcome = Some(ok);
    }

    /// Ends the run; QEMU exits with `code`.
    fn finish(&mut self, code: i32) -> ! {
        super::flush();
        semihosting::process::exit(code)
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    super::flush();
    semihosting::process::exit(101)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!("hard fault at pc {=u32:#010x}", frame.pc());
    super::flush();
    semihosting::process::exit(102)
}
