//! The byte stream to the host, shared by the protocol's replies and the
//! defmt logger (`logger.rs`): the board's transport (a UART, or
//! semihosting in the QEMU lab) behind a critical-section mutex.

use core::cell::RefCell;
use core::convert::Infallible;

use critical_section::Mutex;
use embedded_io::Write;
use tinyvae_shared::protocol::Reply;

use crate::board::Transport;

static LINK: Mutex<RefCell<Option<Transport>>> = Mutex::new(RefCell::new(None));

/// Hands the board's transport to [`send`] and the logger.
pub fn install(transport: Transport) {
    critical_section::with(|cs| LINK.borrow(cs).replace(Some(transport)));
}

/// Runs `f` on the transport, unless there is none yet or it is busy (a
/// log line written from inside a send): those bytes are dropped.
fn with<R>(f: impl FnOnce(&mut Transport) -> R) -> Option<R> {
    critical_section::with(|cs| {
        let mut link = LINK.borrow(cs).try_borrow_mut().ok()?;
        link.as_mut().map(f)
    })
}

/// A handle on the transport, for frames written piecewise.
pub struct Port;

impl embedded_io::ErrorType for Port {
    type Error = Infallible;
}

impl Write for Port {
    fn write(&mut self, bytes: &[u8]) -> Result<usize, Infallible> {
        with(|transport| {
            let _ = transport.write_all(bytes);
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        with(|transport| {
            let _ = transport.flush();
        });
        Ok(())
    }
}

/// Sends one reply frame to the host.
pub fn send(reply: &Reply<'_>) {
    let Ok(()) = reply.send(&mut Port);
}

/// A received byte, if one is waiting.
#[cfg(not(feature = "semihost"))]
pub fn try_read() -> Option<u8> {
    use embedded_io::{Read, ReadReady};
    with(|transport| {
        let mut byte = [0];
        match transport.read_ready() {
            Ok(true) => matches!(transport.read(&mut byte), Ok(1)).then_some(byte[0]),
            _ => None,
        }
    })
    .flatten()
}

/// Pushes out whatever the transport buffers.
pub fn flush() {
    let Ok(()) = Port.flush();
}
