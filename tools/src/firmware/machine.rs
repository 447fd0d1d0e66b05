//! The QEMU machines the firmware runs on: which target and board feature
//! build it, how QEMU emulates it. Every memory fact (where the blob goes,
//! how big the buffers are, where RAM is) is read from
//! `tinyvae_shared::boards`, the table the firmware is built with, so the
//! host and the chip cannot disagree about an address or about what fits
//! (`Layout::check`).

use std::ops::Range;

use tinyvae_shared::boards::{self, Layout};

/// A QEMU machine the firmware runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// `mps2-an386`: Cortex-M4F, blob in PSRAM.
    Mps2An386,
    /// `microbit`: nRF51 Cortex-M0, blob in flash above the code.
    Microbit,
}

impl Machine {
    /// Rust target triple the firmware is built for.
    pub fn target(self) -> &'static str {
        match self {
            Machine::Mps2An386 => "thumbv7em-none-eabihf",
            Machine::Microbit => "thumbv6m-none-eabi",
        }
    }

    /// The firmware's board feature: which board module it is built with.
    pub fn feature(self) -> &'static str {
        match self {
            Machine::Mps2An386 => "qemu",
            Machine::Microbit => "microbit",
        }
    }

    /// The machine's memory facts, the ones the firmware is built with.
    pub fn layout(self) -> &'static Layout {
        match self {
            Machine::Mps2An386 => &boards::MPS2_AN386,
            Machine::Microbit => &boards::MICROBIT,
        }
    }

    /// Where the blob goes.
    pub fn blob_address(self) -> u32 {
        self.layout().blob_start
    }

    /// The machine's RAM: static RAM is what the ELF puts there.
    pub fn ram(self) -> Range<u64> {
        let layout = self.layout();
        let start = u64::from(layout.ram_start);
        start..start + u64::from(layout.ram_len)
    }

    /// `qemu-system-arm`'s arguments that select this machine (and CPU).
    pub(crate) fn qemu_args(self) -> &'static [&'static str] {
        match self {
            Machine::Mps2An386 => &["-cpu", "cortex-m4", "-machine", "mps2-an386"],
            Machine::Microbit => &["-machine", "microbit"],
        }
    }
}
