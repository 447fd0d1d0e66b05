//! The BBC micro:bit v1 (nRF51822, Cortex-M0), as a user flashes it: no
//! semihosting. The protocol runs over UART0 on the pins the board wires to
//! its interface chip, whose USB serial port the host opens (115200 baud,
//! 8N1); seeds come from the RNG peripheral with its bias correction on.
//! QEMU 7.2's `-machine microbit` emulates the UART, the RNG and the clock
//! closely enough to run this very ELF (`tinyvae qemu --machine microbit`).
//!
//! The nrf51-hal driver (through the `microbit` board crate) does the work:
//! its `Uart` is embedded-io's `Read`/`Write`, its `Rng` rand_core's
//! `RngCore`.

use microbit_v1::hal::clocks::Clocks;
use microbit_v1::hal::pac;
pub use microbit_v1::hal::rng::Rng;
use microbit_v1::hal::uart::{Baudrate, Parity, Uart};

/// The byte stream to the host.
pub type Transport = Uart<pac::UART0>;

/// Starts the clocks, installs the UART as the transport, and returns the
/// RNG peripheral.
pub fn start() -> Rng {
    let Some(board) = microbit_v1::Board::take() else {
        unreachable!("init runs once")
    };
    // The 16 MHz crystal: the UART's baud rate needs its accuracy.
    Clocks::new(board.CLOCK).enable_ext_hfosc();
    let uart = Uart::new(
        board.UART0,
        board.uart.into(),
        Parity::EXCLUDED,
        Baudrate::BAUD115200,
    );
    prime_transmitter();
    super::install(uart);
    Rng::new(board.RNG)
}

/// The HAL starts the transmitter by writing a dummy byte to TXD before it
/// enables the UART. On the nRF51 that byte goes out and raises TXDRDY,
/// which every later write waits for; QEMU's model ignores writes to a
/// disabled UART, so TXDRDY would never rise and the first write would
/// wait forever. If TXDRDY is still low once the dummy byte has had time to
/// go (87 us at 115200 baud), send a 0x00: the protocol's frame delimiter,
/// harmless between frames.
fn prime_transmitter() {
    // SAFETY: UART0's register block, which the HAL's `Uart` owns; this
    // reads an event register and writes TXD once, before anything else
    // uses the UART.
    let uart = unsafe { &*pac::UART0::ptr() };
    for _ in 0..20_000 {
        if uart.events_txdrdy.read().bits() != 0 {
            return;
        }
    }
    // SAFETY: any byte is a valid TXD value.
    uart.txd.write(|w| unsafe { w.bits(0) });
}
