//! STM32F429I-DISC1 (STM32F429ZI, Cortex-M4F): the protocol over USART1
//! (PA9 TX, PA10 RX), which the board's ST-LINK/V2-B offers as its USB
//! virtual COM port (115200 baud, 8N1); seeds from the RNG peripheral
//! (clocked from the 48 MHz PLL output). The blob sits in flash sectors
//! 8-11. Built in CI; not run anywhere yet (no board here, and QEMU 7.2
//! emulates no STM32F4 board with a working RNG).
//!
//! stm32f4xx-hal does the work: its serial driver speaks embedded-io 0.6
//! (writing) and embedded-hal-nb (reading), adapted below to the
//! embedded-io 0.7 traits the firmware's transport uses; its `Rng` is
//! rand_core's `RngCore`.

use embedded_hal_nb::serial::Read as _;
use embedded_io_06::Write as _;
pub use stm32f4xx_hal::rng::Rng;
use stm32f4xx_hal::{
    pac,
    prelude::*,
    rcc::Config,
    rng::RngExt,
    serial::{self, Serial},
};

/// USART1, with one byte of look-ahead so that "is a byte waiting?" can be
/// asked of a driver whose reads consume.
pub struct Transport {
    serial: Serial<pac::USART1>,
    waiting: Option<u8>,
}

impl embedded_io::ErrorType for Transport {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Write for Transport {
    fn write(&mut self, bytes: &[u8]) -> Result<usize, Self::Error> {
        self.serial
            .write_all(bytes)
            .map_err(|_| embedded_io::ErrorKind::Other)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        embedded_io_06::Write::flush(&mut self.serial).map_err(|_| embedded_io::ErrorKind::Other)
    }
}

impl embedded_io::ReadReady for Transport {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        if self.waiting.is_none() {
            match self.serial.read() {
                Ok(byte) => self.waiting = Some(byte),
                Err(nb::Error::WouldBlock) => {}
                // Overrun or framing error: the byte is lost; the frame's
                // CRC tells the host.
                Err(nb::Error::Other(_)) => {}
            }
        }
        Ok(self.waiting.is_some())
    }
}

impl embedded_io::Read for Transport {
    fn read(&mut self, bytes: &mut [u8]) -> Result<usize, Self::Error> {
        while !embedded_io::ReadReady::read_ready(self)? {}
        match (bytes.first_mut(), self.waiting.take()) {
            (Some(slot), Some(byte)) => {
                *slot = byte;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// Starts the clocks, installs the UART as the transport, and returns the
/// RNG peripheral.
pub fn start() -> Rng {
    let Some(dp) = pac::Peripherals::take() else {
        unreachable!("init runs once")
    };
    // 8 MHz crystal; the RNG needs the 48 MHz PLL output.
    let mut rcc = dp
        .RCC
        .freeze(Config::hse(8.MHz()).sysclk(168.MHz()).require_pll48clk());
    let rng = dp.RNG.constrain(&mut rcc);
    let gpioa = dp.GPIOA.split(&mut rcc);
    let Ok(serial) = Serial::new(
        dp.USART1,
        (gpioa.pa9, gpioa.pa10),
        serial::Config::default().baudrate(115_200.bps()),
        &mut rcc,
    ) else {
        unreachable!("115200 baud is reachable from 84 MHz")
    };
    super::install(Transport {
        serial,
        waiting: None,
    });
    rng
}
