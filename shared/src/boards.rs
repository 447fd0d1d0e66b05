//! Each machine's memory facts, in one place: the firmware takes its blob
//! region and buffer sizes from here (`firmware/src/board/mod.rs`), the
//! host tools where to load a blob and what fits (`tools/src/firmware.rs`,
//! `tinyvae hex`). The linker scripts (`firmware/memory/*.x`) give the same
//! flash and RAM; `tests/tests/shapes.rs` checks that they agree.

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
}

impl Layout {
    /// Bytes a blob may take.
    pub const fn blob_capacity(&self) -> usize {
        (self.blob_end - self.blob_start) as usize
    }
}

/// QEMU `mps2-an386` (Cortex-M4F), the lab machine. From QEMU 7.2's
/// `hw/arm/mps2.c`: PSRAM (16 MiB at `0x2100_0000`, linked with nothing)
/// holds the command frame and then the blob; SRAM is 4 MiB.
pub const MPS2_AN386: Layout = Layout {
    name: "qemu mps2-an386 (Cortex-M4F)",
    blob_start: 0x2100_1000,
    blob_end: 0x2200_0000,
    command: Some(0x2100_0000),
    scratch: 256 * 1024,
    pixels: 64 * 1024,
    ram_start: 0x2000_0000,
    ram_len: 4 * 1024 * 1024,
};

/// BBC micro:bit v1 (nRF51822, Cortex-M0): 256 KiB flash, 16 KiB RAM. The
/// code takes the first 128 KiB; the page at `0x0002_0000` holds the
/// `bench` lab build's command frame, the blob the rest of flash.
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
};

/// BBC micro:bit v2 (nRF52833, Cortex-M4F): 512 KiB flash, 128 KiB RAM;
/// the code takes the first 128 KiB, the blob the rest.
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
};

/// STM32F429I-DISC1 (STM32F429ZI, Cortex-M4F): flash sectors 8-11 hold
/// the blob (ST's RM0090, table 6), 192 KiB of contiguous SRAM.
pub const STM32F429I_DISC1: Layout = Layout {
    name: "STM32F429I-DISC1 (Cortex-M4F)",
    blob_start: 0x0808_0000,
    blob_end: 0x0810_0000,
    command: None,
    scratch: 96 * 1024,
    pixels: 16 * 1024,
    ram_start: 0x2000_0000,
    ram_len: 192 * 1024,
};
