//! Each machine's memory map, in one place: the firmware's build script
//! writes its linker script's `MEMORY` block from here
//! (`firmware/build.rs`), the firmware takes its blob region and buffer
//! sizes from here (`firmware/src/board/mod.rs`), the host tools where to
//! load a blob (`tools/src/firmware`, `tinyvae hex`). Whether a model fits
//! a board is [`Layout::check`], the one test that `tinyvae fit`, `tinyvae
//! hex` and the firmware at boot all make, in the same words ([`Misfit`]).

use core::fmt;

use crate::Model;

/// Where things live on one machine, and how much room the firmware has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The board, as its firmware names itself.
    pub name: &'static str,
    /// First byte of the blob region, linked with nothing.
    pub blob_start: u32,
    /// One past the blob region's last byte.
    pub blob_end: u32,
    /// Where a QEMU lab build reads its command frame (the loader puts it
    /// there); `None` on boards that read commands from their UART only.
    pub command: Option<u32>,
    /// Bytes of decoder scratch the firmware reserves: the largest
    /// `Model::scratch_len` it runs.
    pub scratch: usize,
    /// Bytes of image buffer: the largest `Model::image_len` it runs.
    pub pixels: usize,
    /// First byte of RAM.
    pub ram_start: u32,
    /// Bytes of RAM.
    pub ram_len: u32,
    /// First byte of the memory the program is linked into (the linker
    /// script's `FLASH`: the chip's flash, or the RAM QEMU's `-kernel`
    /// loads the code into).
    pub flash_start: u32,
    /// Bytes of that memory.
    pub flash_len: u32,
    /// Bytes at [`Layout::flash_start`] the program may take: the rest of
    /// the memory, if any, is left to the blob (and the command page).
    pub code_len: u32,
}

impl Layout {
    /// Bytes a blob may take.
    pub const fn blob_capacity(&self) -> usize {
        (self.blob_end - self.blob_start) as usize
    }

    /// Whether `model` runs on this board: its blob (header included)
    /// within the blob region, its decoder's scratch
    /// (`Model::scratch_len`) within the firmware's, its image
    /// (`Model::image_len`) within the firmware's image buffer. The first
    /// that does not fit, in that order, is the [`Misfit`].
    pub fn check(&self, model: &Model<'_>) -> Result<(), Misfit> {
        let rooms = [
            (Room::Blob, model.header().blob_len(), self.blob_capacity()),
            (Room::Scratch, model.scratch_len(), self.scratch),
            (Room::Image, model.image_len(), self.pixels),
        ];
        match rooms.into_iter().find(|&(_, needs, has)| needs > has) {
            Some((what, needs, has)) => Err(Misfit {
                board: self.name,
                what,
                needs,
                has,
            }),
            None => Ok(()),
        }
    }

    /// Writes the linker script's `MEMORY` block for this board: the code
    /// region ([`Layout::code_len`] bytes at [`Layout::flash_start`]) as
    /// `FLASH`, and the RAM, as cortex-m-rt's `link.x` expects them in
    /// `memory.x`.
    pub fn write_memory_x(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        writeln!(
            out,
            "/* {}: from tinyvae_shared::boards, by firmware/build.rs. */",
            self.name
        )?;
        writeln!(out, "MEMORY\n{{")?;
        writeln!(
            out,
            "  FLASH : ORIGIN = {:#010x}, LENGTH = {}",
            self.flash_start, self.code_len
        )?;
        writeln!(
            out,
            "  RAM   : ORIGIN = {:#010x}, LENGTH = {}",
            self.ram_start, self.ram_len
        )?;
        writeln!(out, "}}")
    }
}

/// Why a model does not run on a board: the first room it overflows.
/// Its `Display` is one line, the same wherever a misfit is reported
/// (`tinyvae fit`, `tinyvae hex`, the board's `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Misfit {
    /// The board ([`Layout::name`]).
    pub board: &'static str,
    /// The room that is too small.
    pub what: Room,
    /// Bytes the model needs there.
    pub needs: usize,
    /// Bytes the board has there.
    pub has: usize,
}

/// The rooms of a board that a model must fit in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// The blob region ([`Layout::blob_capacity`]).
    Blob,
    /// The decoder's scratch ([`Layout::scratch`]).
    Scratch,
    /// The image buffer ([`Layout::pixels`]).
    Image,
}

impl Room {
    /// The room in words, as the table of `tinyvae fit` heads it.
    pub fn name(self) -> &'static str {
        match self {
            Room::Blob => "blob region",
            Room::Scratch => "scratch",
            Room::Image => "image buffer",
        }
    }
}

/// The longest [`Misfit`] line of any board (`misfit_lines_fit` checks
/// it): the firmware writes its line into a buffer of this many bytes.
pub const MAX_MISFIT_LINE: usize = 160;

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            board, needs, has, ..
        } = self;
        write!(f, "the model does not fit the {board}: ")?;
        match self.what {
            Room::Blob => write!(f, "its blob is {needs} bytes, the blob region {has}"),
            Room::Scratch => write!(
                f,
                "its decoder needs {needs} bytes of scratch, the firmware reserves {has}"
            ),
            Room::Image => write!(
                f,
                "its image is {needs} bytes, the firmware's image buffer {has}"
            ),
        }
    }
}

/// Every board the firmware builds for.
pub const ALL: [&Layout; 4] = [&MPS2_AN386, &MICROBIT, &MICROBIT_V2, &STM32F429I_DISC1];

/// QEMU `mps2-an386` (Arm MPS2 FPGA image AN386, Cortex-M4F), the lab
/// machine. From QEMU 7.2's `hw/arm/mps2.c`, `mps2_common_init()` (`info
/// mtree -f` in the QEMU monitor shows the same): "ssram1", 4 MiB at 0
/// where `-kernel` loads the vector table and code; "ssram23", 4 MiB of
/// SRAM at `0x2000_0000`; "psram", 16 MiB at `0x2100_0000`, linked with
/// nothing, where the host's generic loader puts the command frame and
/// then the blob, so new weights need no rebuild (never in SRAM: startup
/// zeroes `.bss`).
pub const MPS2_AN386: Layout = Layout {
    name: "qemu mps2-an386 (Cortex-M4F)",
    blob_start: 0x2100_1000,
    blob_end: MPS2_AN386_FLOAT_ARENA.start,
    command: Some(0x2100_0000),
    scratch: 256 * 1024,
    pixels: 64 * 1024,
    ram_start: 0x2000_0000,
    ram_len: 4 * 1024 * 1024,
    flash_start: 0,
    flash_len: 4 * 1024 * 1024,
    code_len: 4 * 1024 * 1024,
};

/// The upper half of the `mps2-an386`'s PSRAM, above its blob region and
/// linked with nothing: where the `bench` build's float32 baseline keeps
/// its dequantized weights and activations (`firmware/src/float.rs`).
pub const MPS2_AN386_FLOAT_ARENA: core::ops::Range<u32> = 0x2180_0000..0x2200_0000;

/// BBC micro:bit v1 (nRF51822, Cortex-M0): 256 KiB flash at 0, 16 KiB RAM
/// at `0x2000_0000`, 1 KiB flash pages (QEMU 7.2's `hw/arm/nrf51_soc.c`
/// and `include/hw/arm/nrf51.h`: `NRF51822_FLASH_SIZE`,
/// `NRF51822_SRAM_SIZE`, `NRF51_PAGE_SIZE`). The code takes the first 128
/// KiB; above it, unlinked, the page at `0x0002_0000` holds the `bench`
/// lab build's command frame and the blob the rest of flash (127 KiB).
pub const MICROBIT: Layout = Layout {
    name: "BBC micro:bit v1 (nRF51822, Cortex-M0)",
    blob_start: 0x0002_0400,
    blob_end: 0x0004_0000,
    command: Some(0x0002_0000),
    // The conv decoder's largest layer input plus output (7x7x32 +
    // 14x14x40 = 9,408 B; `tests/tests/shapes.rs` checks it).
    scratch: 9728,
    pixels: 1024,
    ram_start: 0x2000_0000,
    ram_len: 16 * 1024,
    flash_start: 0,
    flash_len: 256 * 1024,
    code_len: 128 * 1024,
};

/// BBC micro:bit v2 (nRF52833, Cortex-M4F): from Nordic's nRF52833
/// Product Specification v1.6, section 4.2.1 "Memory", 512 KiB flash at 0
/// (4 KiB pages) and 128 KiB RAM at `0x2000_0000`. The code takes the first
/// 128 KiB; the blob the rest (384 KiB), flashed on its own (`tinyvae
/// hex`), so new weights need no rebuild.
pub const MICROBIT_V2: Layout = Layout {
    name: "BBC micro:bit v2 (nRF52833, Cortex-M4F)",
    blob_start: 0x0002_0000,
    blob_end: 0x0008_0000,
    command: None,
    // The MLP decoder and the conv decoders up to `--decoder-channels
    // 64,128` (28.2 KB).
    scratch: 48 * 1024,
    pixels: 4 * 1024,
    ram_start: 0x2000_0000,
    ram_len: 128 * 1024,
    flash_start: 0,
    flash_len: 512 * 1024,
    code_len: 128 * 1024,
};

/// STM32F429I-DISC1 (STM32F429ZIT6, Cortex-M4F). From ST's RM0090, section
/// 3.3 "Embedded Flash memory" (2 MiB at `0x0800_0000`; bank 1 sectors 0-3
/// of 16 KiB, 4 of 64 KiB, 5-11 of 128 KiB) and section 2.3's memory map
/// (SRAM1-3: 192 KiB contiguous at `0x2000_0000`; the 64 KiB CCM RAM at
/// `0x1000_0000` is unused). The code takes sectors 0-7 (512 KiB); sectors
/// 8-11 (512 KiB at `0x0808_0000`) hold the blob, flashed on its own, so a
/// firmware flash leaves the weights alone.
pub const STM32F429I_DISC1: Layout = Layout {
    name: "STM32F429I-DISC1 (Cortex-M4F)",
    blob_start: 0x0808_0000,
    blob_end: 0x0810_0000,
    command: None,
    scratch: 96 * 1024,
    pixels: 16 * 1024,
    ram_start: 0x2000_0000,
    ram_len: 192 * 1024,
    flash_start: 0x0800_0000,
    flash_len: 2 * 1024 * 1024,
    code_len: 512 * 1024,
};

#[cfg(test)]
mod tests {
    use super::ALL;

    /// The regions of each board do not collide: the code fits its memory,
    /// the blob lies either in flash above the code or outside flash
    /// altogether, and never in RAM; the command page, where there is
    /// one, lies below the blob and above the code.
    #[test]
    fn regions_are_disjoint() {
        for layout in ALL {
            let name = layout.name;
            let flash = u64::from(layout.flash_start)
                ..u64::from(layout.flash_start) + u64::from(layout.flash_len);
            let code_end = u64::from(layout.flash_start) + u64::from(layout.code_len);
            let blob = u64::from(layout.blob_start)..u64::from(layout.blob_end);
            let ram = u64::from(layout.ram_start)
                ..u64::from(layout.ram_start) + u64::from(layout.ram_len);
            assert!(code_end <= flash.end, "{name}: code past its memory");
            assert!(blob.start < blob.end, "{name}: empty blob region");
            if flash.contains(&blob.start) {
                assert!(
                    blob.start >= code_end && blob.end <= flash.end,
                    "{name}: blob over the code or past flash"
                );
            } else {
                assert!(
                    blob.end <= flash.start || blob.start >= flash.end,
                    "{name}: blob straddles flash"
                );
            }
            assert!(
                blob.end <= ram.start || blob.start >= ram.end,
                "{name}: blob in RAM"
            );
            if let Some(command) = layout.command {
                let command = u64::from(command);
                assert!(
                    command < blob.start && (command >= code_end || !flash.contains(&command)),
                    "{name}: command page"
                );
            }
        }
    }

    /// The longest line a misfit can make on each board (every number at
    /// its widest) fits the firmware's buffer.
    #[test]
    fn misfit_lines_fit() {
        use super::{MAX_MISFIT_LINE, Misfit, Room};
        for layout in ALL {
            for what in [Room::Blob, Room::Scratch, Room::Image] {
                let line = Misfit {
                    board: layout.name,
                    what,
                    needs: u32::MAX as usize,
                    has: u32::MAX as usize,
                }
                .to_string();
                assert!(
                    line.len() <= MAX_MISFIT_LINE,
                    "{} bytes: {line}",
                    line.len()
                );
            }
        }
    }

    #[test]
    fn memory_x_names_both_regions() {
        let mut script = String::new();
        super::MICROBIT.write_memory_x(&mut script).unwrap();
        assert!(
            script.contains("FLASH : ORIGIN = 0x00000000, LENGTH = 131072"),
            "{script}"
        );
        assert!(
            script.contains("RAM   : ORIGIN = 0x20000000, LENGTH = 16384"),
            "{script}"
        );
    }
}
