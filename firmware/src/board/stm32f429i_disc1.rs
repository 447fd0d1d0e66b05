//! STM32F429I-DISC1: the seed comes from the RNG peripheral and is logged
//! (so the host can replay it), the blob sits in flash sectors 8-11
//! (`probe-rs download --binary-format bin --base-address 0x08080000`),
//! images and logs go out over defmt-RTT. The green LED (PG13) blinks once
//! per image, through embedded-hal 1.0's `OutputPin` and `DelayNs`.

use defmt_rtt as _;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use panic_probe as _;
use rand_core::RngCore;
use stm32f4xx_hal::{
    gpio::{Output, PG13},
    pac,
    prelude::*,
    rcc::Config,
    rng::{Rng, RngExt},
    timer::SysDelay,
};

use crate::request::{Request, RequestProblem, Source};

pub const NAME: &str = "STM32F429I-DISC1 (Cortex-M4F)";
pub const SCRATCH: usize = 96 * 1024;
pub const PIXELS: usize = 16 * 1024;
/// Flash sectors 8-11 (RM0090 table 6), linked with nothing.
const BLOB_ADDRESS: usize = 0x0808_0000;
const BLOB_END: usize = 0x0810_0000;
/// Images per boot (a reset draws a new seed).
const COUNT: u32 = 8;

/// The memory the blob may occupy.
pub fn blob_region() -> &'static [u8] {
    // SAFETY: flash that exists on the STM32F429ZI, that the program does
    // not link (memory/stm32f429i-disc1.x) and never writes.
    unsafe { core::slice::from_raw_parts(BLOB_ADDRESS as *const u8, BLOB_END - BLOB_ADDRESS) }
}

/// The board's peripherals.
pub struct Board {
    rng: Rng,
    led: PG13<Output>,
    delay: SysDelay,
}

impl Board {
    pub fn init() -> Self {
        let (Some(dp), Some(cp)) = (pac::Peripherals::take(), cortex_m::Peripherals::take()) else {
            unreachable!("init runs once")
        };
        // 8 MHz crystal; the RNG needs the 48 MHz PLL output.
        let mut rcc = dp
            .RCC
            .freeze(Config::hse(8.MHz()).sysclk(168.MHz()).require_pll48clk());
        let rng = dp.RNG.constrain(&mut rcc);
        let led = dp.GPIOG.split(&mut rcc).pg13.into_push_pull_output();
        let delay = cp.SYST.delay(&rcc.clocks);
        Self { rng, led, delay }
    }

    /// Draws a fresh 64-bit seed from the TRNG; `main` logs it.
    pub fn request(&mut self) -> Result<Request, RequestProblem> {
        // rand_core 0.9, as `shared` uses; a clock or seed error of the
        // peripheral panics (panic-probe logs it over defmt).
        let seed = self.rng.next_u64();
        Ok(Request {
            seed,
            count: COUNT,
            draw: tinyvae_shared::Draw::Prior,
            source: Source::Trng,
        })
    }

    pub fn image_done(&mut self, _index: u32) {
        blink(&mut self.led, &mut self.delay);
    }

    /// Stops: a breakpoint ends `probe-rs run`, then the core sleeps.
    pub fn finish(self, code: i32) -> ! {
        defmt::info!("exit code {=i32}", code);
        cortex_m::asm::bkpt();
        loop {
            cortex_m::asm::wfi();
        }
    }
}

/// One visible blink, with any embedded-hal 1.0 pin and delay.
fn blink(led: &mut impl OutputPin, delay: &mut impl DelayNs) {
    let _ = led.set_high();
    delay.delay_ms(100);
    let _ = led.set_low();
}
