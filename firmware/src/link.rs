//! The protocol's side of the byte stream to the host: reply frames, and
//! the [`Port`] the defmt logger (`logger.rs`) writes its records through.
//! The stream itself is the board's transport (a UART, or semihosting in the
//! QEMU lab), which `board` owns: this module only writes to it.

use core::convert::Infallible;

use embedded_io::Write;
use tinyvae_shared::protocol::Reply;

use crate::board::with_transport;

/// A handle on the transport, for frames written piecewise.
pub struct Port;

impl embedded_io::ErrorType for Port {
    type Error = Infallible;
}

impl Write for Port {
    fn write(&mut self, bytes: &[u8]) -> Result<usize, Infallible> {
        with_transport(|transport| {
            let _ = transport.write_all(bytes);
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        crate::board::flush();
        Ok(())
    }
}

/// Sends one reply frame to the host.
pub fn send(reply: &Reply<'_>) {
    let Ok(()) = reply.send(&mut Port);
}
