//! Flash images as Intel HEX: the bytes a flasher programs, written as (or
//! read back from) the I32HEX text that programmers and vendor tools accept.
//!
//! [`intel_hex`] turns [`Chunk`]s (a blob at its board address, a firmware
//! ELF's load segments from [`crate::firmware::elf_load_chunks`]) into that
//! text, and [`parse_intel_hex`] reads such text back (the tests use it to
//! check what `tinyvae hex` wrote).
//!
//! The record encoding uses the `ihex` crate; this module only decides which
//! bytes go where.

use anyhow::{Result, anyhow, bail, ensure};

/// The most data bytes [`intel_hex`] puts in one data record (the common
/// line length of Intel HEX files, what objcopy writes too).
const RECORD_DATA_MAX: usize = 16;

/// One past the highest 32-bit address: a chunk may end exactly here.
pub(crate) const ADDRESS_SPACE_END: u64 = 1 << 32;

/// A contiguous run of bytes to be programmed at `address`.
///
/// Named `Chunk` rather than `Image` because "image" in this project means a
/// generated picture (`tinyvae_shared::protocol::Image`). A chunk occupies
/// `address..address + bytes.len()`, which must not pass 2^32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The (physical, load) address of the first byte.
    pub address: u32,
    /// The bytes, in address order.
    pub bytes: Vec<u8>,
}

impl Chunk {
    /// One past the last byte's address, as u64 so that a chunk ending at
    /// 2^32 is representable; used for overlap checks and error messages.
    pub fn end(&self) -> u64 {
        u64::from(self.address) + self.bytes.len() as u64
    }
}

/// Intel HEX (I32HEX) text for `chunks`, one record per line (`\n`).
///
/// Chunks are written in address order whatever their order in the slice.
/// Data records carry at most 16 bytes and never cross a 64 KiB boundary; an
/// Extended Linear Address record precedes the first data record and every
/// data record whose upper 16 address bits differ from the previous one's
/// (also inside a chunk that crosses a 64 KiB boundary). An End Of File
/// record ends the text; no start-address record is written.
///
/// A chunk of 0 bytes is allowed and writes nothing (there is nothing to
/// program), so it does not come back from [`parse_intel_hex`]; it also
/// never overlaps anything.
///
/// Errors: a chunk whose end passes 2^32, or two non-empty chunks that
/// overlap (the message names both address ranges, end exclusive).
pub fn intel_hex(chunks: &[Chunk]) -> Result<String> {
    for chunk in chunks {
        ensure!(
            chunk.end() <= ADDRESS_SPACE_END,
            "chunk {:#010x}..{:#x} passes the end of the 32-bit address space",
            chunk.address,
            chunk.end()
        );
    }
    let mut sorted: Vec<&Chunk> = chunks.iter().filter(|c| !c.bytes.is_empty()).collect();
    sorted.sort_by_key(|c| c.address);
    check_overlaps(&sorted)?;

    let mut records = Vec::new();
    let mut upper: Option<u16> = None;
    for chunk in sorted {
        let mut rest = chunk.bytes.as_slice();
        let mut address = chunk.address;
        while !rest.is_empty() {
            let high = (address >> 16) as u16;
            let low = address as u16;
            if upper != Some(high) {
                records.push(ihex::Record::ExtendedLinearAddress(high));
                upper = Some(high);
            }
            // Stop at the 64 KiB boundary so that a record's offset never wraps.
            let to_boundary = 0x1_0000 - usize::from(low);
            let len = rest.len().min(RECORD_DATA_MAX).min(to_boundary);
            let (value, tail) = rest.split_at(len);
            records.push(ihex::Record::Data {
                offset: low,
                value: value.to_vec(),
            });
            rest = tail;
            // Wraps to 0 only after the last byte of a chunk ending at 2^32.
            address = address.wrapping_add(len as u32);
        }
    }
    records.push(ihex::Record::EndOfFile);
    ihex::create_object_file_representation(&records)
        .map_err(|err| anyhow!("cannot write Intel HEX: {err}"))
}

/// The memory contents described by the Intel HEX `text`: maximal contiguous
/// runs of data bytes, sorted by address (consecutive data records, and any
/// records that are adjacent in memory, merge into one [`Chunk`]).
///
/// Accepts I32HEX (Extended Linear Address records; the upper address bits
/// are 0 until the first one) and the 8-bit subset; empty lines and `\r\n`
/// line ends are fine. Start-address records (what objcopy writes for the
/// entry point) carry no memory contents and are ignored. Used by the tests,
/// and by the CLI test that checks what `tinyvae hex` wrote, so it is strict.
///
/// Errors, each naming the line: a malformed record (missing `:`, bad
/// characters or length, a checksum mismatch, an unknown type), an Extended
/// Segment Address record (I16HEX addressing is not supported), a data record
/// that crosses a 64 KiB boundary (its address would be ambiguous), a record
/// after the End Of File record; also, without a line, a missing End Of File
/// record (a truncated file) and data records that overlap (naming both
/// address ranges).
pub fn parse_intel_hex(text: &str) -> Result<Vec<Chunk>> {
    // `Reader` walks `text.lines()` skipping empty ones; walking the same
    // lines alongside gives each record its line number.
    let options = ihex::ReaderOptions {
        stop_after_first_error: true,
        stop_after_eof: false,
    };
    let lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(index, _)| index + 1);
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut upper: u32 = 0;
    let mut end_of_file = false;
    for (line, record) in lines.zip(ihex::Reader::new_with_options(text, options)) {
        let record = record.map_err(|err| anyhow!("Intel HEX line {line}: {err}"))?;
        ensure!(
            !end_of_file,
            "Intel HEX line {line}: record after the End Of File record"
        );
        match record {
            ihex::Record::Data { offset, value } => {
                ensure!(
                    usize::from(offset) + value.len() <= 0x1_0000,
                    "Intel HEX line {line}: data record of {} bytes at offset {offset:#06x} \
                     crosses a 64 KiB boundary",
                    value.len()
                );
                if !value.is_empty() {
                    chunks.push(Chunk {
                        address: upper | u32::from(offset),
                        bytes: value,
                    });
                }
            }
            ihex::Record::ExtendedLinearAddress(high) => upper = u32::from(high) << 16,
            ihex::Record::ExtendedSegmentAddress(_) => bail!(
                "Intel HEX line {line}: Extended Segment Address records (I16HEX) \
                 are not supported"
            ),
            ihex::Record::StartLinearAddress(_) | ihex::Record::StartSegmentAddress { .. } => {}
            ihex::Record::EndOfFile => end_of_file = true,
        }
    }
    ensure!(
        end_of_file,
        "Intel HEX: no End Of File record (truncated file?)"
    );

    chunks.sort_by_key(|c| c.address);
    let refs: Vec<&Chunk> = chunks.iter().collect();
    check_overlaps(&refs).map_err(|err| anyhow!("Intel HEX data: {err}"))?;
    let mut merged: Vec<Chunk> = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        match merged.last_mut() {
            Some(last) if last.end() == u64::from(chunk.address) => {
                last.bytes.extend_from_slice(&chunk.bytes)
            }
            _ => merged.push(chunk),
        }
    }
    Ok(merged)
}

/// Refuses overlapping chunks in `sorted` (sorted by address, none empty),
/// naming the later chunk's range and the range of the earlier chunk it
/// overlaps, both as `0x..........0x........` with the end exclusive.
fn check_overlaps(sorted: &[&Chunk]) -> Result<()> {
    // The earlier chunk reaching furthest: overlapping any earlier chunk
    // means overlapping this one.
    let mut furthest: Option<&Chunk> = None;
    for &chunk in sorted {
        if let Some(earlier) = furthest {
            ensure!(
                u64::from(chunk.address) >= earlier.end(),
                "{:#010x}..{:#010x} overlaps {:#010x}..{:#010x}",
                chunk.address,
                chunk.end(),
                earlier.address,
                earlier.end()
            );
        }
        if furthest.is_none_or(|earlier| chunk.end() > earlier.end()) {
            furthest = Some(chunk);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
