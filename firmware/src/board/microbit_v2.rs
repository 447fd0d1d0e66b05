//! The BBC micro:bit v2 (nRF52833, Cortex-M4F: the DSP kernels apply, and
//! its 512 KB of flash hold the MLP blob too). The same protocol as the v1
//! over UARTE0 on the pins wired to the interface chip's USB serial port
//! (115200 baud, 8N1); seeds from the RNG peripheral, bias correction on.
//! Built in CI; not run anywhere yet (QEMU 7.2 has no nRF52).
//!
//! nrf52833-hal (through the `microbit-v2` board crate) does the work: its
//! `UarteTx`/`UarteRx` are embedded-io's `Write`/`Read`, its `Rng`
//! rand_core's `RngCore`.

use microbit_v2::hal::clocks::Clocks;
use microbit_v2::hal::pac::UARTE0;
pub use microbit_v2::hal::rng::Rng;
use microbit_v2::hal::uarte::{self, Baudrate, Parity, Uarte, UarteRx, UarteTx};
use static_cell::ConstStaticCell;

/// EasyDMA transfers from RAM: the transmit buffer (one DMA transfer per
/// 64 bytes) and the one-byte receive buffer.
static TX: ConstStaticCell<[u8; 64]> = ConstStaticCell::new([0; 64]);
static RX: ConstStaticCell<[u8; 1]> = ConstStaticCell::new([0; 1]);

/// UARTE0's two halves as one byte stream.
pub struct Transport {
    tx: UarteTx<UARTE0>,
    rx: UarteRx<UARTE0>,
}

impl embedded_io::ErrorType for Transport {
    type Error = uarte::Error;
}

impl embedded_io::Write for Transport {
    fn write(&mut self, bytes: &[u8]) -> Result<usize, uarte::Error> {
        self.tx.write(bytes)
    }

    fn flush(&mut self) -> Result<(), uarte::Error> {
        self.tx.flush()
    }
}

impl embedded_io::Read for Transport {
    fn read(&mut self, bytes: &mut [u8]) -> Result<usize, uarte::Error> {
        self.rx.read(bytes)
    }
}

impl embedded_io::ReadReady for Transport {
    fn read_ready(&mut self) -> Result<bool, uarte::Error> {
        self.rx.read_ready()
    }
}

/// Starts the clocks, installs the UART as the transport, and returns the
/// RNG peripheral.
pub fn start() -> Rng {
    let Some(board) = microbit_v2::Board::take() else {
        unreachable!("init runs once")
    };
    // The 32 MHz crystal: the UART's baud rate needs its accuracy.
    Clocks::new(board.CLOCK).enable_ext_hfosc();
    let uarte = Uarte::new(
        board.UARTE0,
        board.uart.into(),
        Parity::EXCLUDED,
        Baudrate::BAUD115200,
    );
    let Ok((tx, rx)) = uarte.split(TX.take(), RX.take()) else {
        unreachable!("the buffers are in RAM, where EasyDMA reads")
    };
    super::install(Transport { tx, rx });
    Rng::new(board.RNG)
}
