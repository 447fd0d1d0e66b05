//! The defmt global logger: each log frame travels to the host inside one
//! protocol `Log` record on the board's transport (`link.rs`), so logs and
//! images share one line and the host tells them apart by their frames.
//! The host decodes the records with the firmware ELF's defmt table.

use core::cell::RefCell;

use critical_section::Mutex;
use tinyvae_shared::protocol::{FrameWriter, Reply};

use crate::link::Port;

#[defmt::global_logger]
struct Logger;

/// The log frame being written, between `acquire` and `release`.
struct LogFrame {
    encoder: defmt::Encoder,
    frame: FrameWriter<Port>,
}

static FRAME: Mutex<RefCell<Option<LogFrame>>> = Mutex::new(RefCell::new(None));

/// Runs `f` on the open log frame, if any.
fn with_frame(f: impl FnOnce(&mut LogFrame)) {
    critical_section::with(|cs| {
        if let Some(frame) = FRAME.borrow_ref_mut(cs).as_mut() {
            f(frame);
        }
    });
}

// SAFETY: defmt's contract: `acquire` and `release` bracket each frame and
// `write` only comes between them. The firmware logs from one context (no
// interrupt handler logs), and a nested `acquire` is ignored.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        critical_section::with(|cs| {
            let mut slot = FRAME.borrow_ref_mut(cs);
            if slot.is_some() {
                return;
            }
            let Ok(mut frame) = Reply::log_frame(Port);
            let mut encoder = defmt::Encoder::new();
            encoder.start_frame(|bytes| {
                let Ok(()) = frame.write(bytes);
            });
            *slot = Some(LogFrame { encoder, frame });
        });
    }

    unsafe fn flush() {}

    unsafe fn release() {
        let open = critical_section::with(|cs| FRAME.borrow_ref_mut(cs).take());
        if let Some(LogFrame {
            mut encoder,
            mut frame,
        }) = open
        {
            encoder.end_frame(|bytes| {
                let Ok(()) = frame.write(bytes);
            });
            let Ok(()) = frame.finish();
        }
    }

    unsafe fn write(bytes: &[u8]) {
        with_frame(|LogFrame { encoder, frame }| {
            encoder.write(bytes, |bytes| {
                let Ok(()) = frame.write(bytes);
            });
        });
    }
}
