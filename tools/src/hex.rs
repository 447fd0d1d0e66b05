//! Flash images: the bytes a flasher programs, taken from a firmware ELF and
//! written as (or read back from) Intel HEX.
//!
//! A firmware ELF describes memory in program headers; a flasher programs the
//! file bytes of every `PT_LOAD` segment at its *load* (physical) address.
//! [`elf_load_chunks`] extracts exactly those [`Chunk`]s, [`intel_hex`] turns
//! them into the I32HEX text that programmers and vendor tools accept, and
//! [`parse_intel_hex`] reads such text back (the tests use it to check what
//! `tinyvae hex` wrote).
//!
//! The ELF parsing uses the `object` crate and the record encoding the `ihex`
//! crate; this module only decides which bytes go where.

use anyhow::{Result, anyhow, bail, ensure};
use object::elf::{FileHeader32, PT_LOAD};
use object::read::elf::{ElfFile32, FileHeader, ProgramHeader};
use object::{Endianness, FileKind, LittleEndian};

/// The most data bytes [`intel_hex`] puts in one data record (the common
/// line length of Intel HEX files, what objcopy writes too).
const RECORD_DATA_MAX: usize = 16;

/// One past the highest 32-bit address: a chunk may end exactly here.
const ADDRESS_SPACE_END: u64 = 1 << 32;

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

/// The bytes a flasher programs from the firmware ELF `elf`: one [`Chunk`]
/// per `PT_LOAD` program header with a non-zero `p_filesz`, in program-header
/// order, holding the segment's `p_filesz` file bytes at its *physical*
/// address `p_paddr`.
///
/// The physical address is the load address (LMA): `.data`'s initial values
/// are linked to run in RAM (`p_vaddr`) but stored in flash (`p_paddr`), and
/// the startup code copies them over, so flash must hold them at the LMA.
/// Segments with no file bytes (`.bss`, stack) have nothing to program and
/// are skipped, as are non-`PT_LOAD` headers. The memory tail of a segment
/// (`p_memsz` beyond `p_filesz`) is zeroed at run time, not programmed.
///
/// Errors: input that is not an ELF file, an ELF64 or big-endian ELF32 file
/// (tinyvae's firmware is a little-endian ELF32 Cortex-M image), a malformed
/// header, a segment whose bytes lie outside the file, whose `p_filesz`
/// exceeds its `p_memsz`, or whose end passes 2^32. Any machine is accepted.
pub fn elf_load_chunks(elf: &[u8]) -> Result<Vec<Chunk>> {
    match FileKind::parse(elf) {
        Ok(FileKind::Elf32) => {}
        Ok(FileKind::Elf64) => bail!("64-bit ELF file; expected a 32-bit (Cortex-M) ELF"),
        _ => bail!("not an ELF file (no \\x7fELF magic)"),
    }
    let header = FileHeader32::<Endianness>::parse(elf)
        .map_err(|err| anyhow!("unsupported ELF32 header: {err}"))?;
    ensure!(
        header.is_little_endian(),
        "big-endian ELF32 file; expected a little-endian (Cortex-M) ELF"
    );
    let file = ElfFile32::<LittleEndian>::parse(elf)
        .map_err(|err| anyhow!("malformed ELF32 file: {err}"))?;
    let endian = file.endian();

    let mut chunks = Vec::new();
    for (index, segment) in file.elf_program_headers().iter().enumerate() {
        let filesz = segment.p_filesz(endian);
        if segment.p_type(endian) != PT_LOAD || filesz == 0 {
            continue;
        }
        let paddr = segment.p_paddr(endian);
        let memsz = segment.p_memsz(endian);
        ensure!(
            filesz <= memsz,
            "ELF program header {index}: p_filesz {filesz:#x} exceeds p_memsz {memsz:#x}"
        );
        let end = u64::from(paddr) + u64::from(filesz);
        ensure!(
            end <= ADDRESS_SPACE_END,
            "ELF program header {index}: {paddr:#010x} + {filesz:#x} bytes passes 2^32"
        );
        let bytes = segment.data(endian, file.data()).map_err(|()| {
            anyhow!(
                "ELF program header {index}: file bytes {:#x}..{:#x} lie outside the {}-byte file",
                segment.p_offset(endian),
                u64::from(segment.p_offset(endian)) + u64::from(filesz),
                elf.len()
            )
        })?;
        chunks.push(Chunk {
            address: paddr,
            bytes: bytes.to_vec(),
        });
    }
    Ok(chunks)
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
mod tests {
    use super::*;

    /// `len` pseudo-random bytes (xorshift32, fixed seed): reproducible
    /// data that catches a shifted or reordered byte.
    fn pseudo_random(len: usize, mut state: u32) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect()
    }

    fn chunk(address: u32, bytes: Vec<u8>) -> Chunk {
        Chunk { address, bytes }
    }

    #[test]
    fn round_trip_of_several_chunks() {
        let crossing = chunk(0x0000_FFF0, pseudo_random(40, 1)); // ..0x0001_0018
        let random = chunk(0x0002_0400, pseudo_random(1000, 2));
        let top = chunk(0xFFFF_FFF0, pseudo_random(16, 3)); // ends exactly at 2^32
        let single = chunk(0x0800_0000, vec![0x5A]);
        let empty = chunk(0x0003_0000, Vec::new());
        // Out of address order on purpose; the empty chunk writes nothing.
        let input = [
            random.clone(),
            top.clone(),
            empty,
            crossing.clone(),
            single.clone(),
        ];
        let text = intel_hex(&input).unwrap();

        for line in text.lines() {
            let record = ihex::Record::from_record_string(line).unwrap();
            if let ihex::Record::Data { offset, value } = record {
                assert!(value.len() <= RECORD_DATA_MAX, "{line}");
                assert!(usize::from(offset) + value.len() <= 0x1_0000, "{line}");
            }
        }
        // The crossing chunk switches the upper bits mid-chunk.
        assert!(text.contains(":020000040000FA\n"), "{text}");
        assert!(text.contains(":020000040001F9\n"), "{text}");
        assert!(text.ends_with(":00000001FF\n"), "{text}");

        let back = parse_intel_hex(&text).unwrap();
        assert_eq!(back, vec![crossing, random, single, top]);
    }

    #[test]
    fn exact_text_of_four_bytes_at_0x0002_0400() {
        let text = intel_hex(&[chunk(0x0002_0400, vec![0xDE, 0xAD, 0xBE, 0xEF])]).unwrap();
        // Checksum = two's complement of the byte sum of count, offset, type, data:
        // ELA:  02+00+00+04+00+02             = 0x08  -> 0x100-0x08 = F8
        // Data: 04+04+00+00+DE+AD+BE+EF       = 0x340 -> 0x100-0x40 = C0
        // EOF:  00+00+00+01                   = 0x01  -> 0x100-0x01 = FF
        assert_eq!(text, ":020000040002F8\n:04040000DEADBEEFC0\n:00000001FF\n");
    }

    #[test]
    fn exact_text_of_a_chunk_crossing_64_kib() {
        let text = intel_hex(&[chunk(0x0000_FFFF, vec![0xAA, 0xBB])]).unwrap();
        // ELA 0000: 02+04                  = 0x06  -> FA
        // Data:     01+FF+FF+00+AA         = 0x2A9 -> 0x100-0xA9 = 57
        // ELA 0001: 02+04+01               = 0x07  -> F9
        // Data:     01+00+00+00+BB         = 0xBC  -> 0x100-0xBC = 44
        assert_eq!(
            text,
            ":020000040000FA\n:01FFFF00AA57\n:020000040001F9\n:01000000BB44\n:00000001FF\n"
        );
    }

    #[test]
    fn overlap_refused_naming_both_ranges() {
        let err = intel_hex(&[
            chunk(0x0002_0400, vec![0; 0xC00]),
            chunk(0x0000_0000, vec![0; 0x2_0800]),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "0x00020400..0x00021000 overlaps 0x00000000..0x00020800"
        );
        // A chunk inside an earlier, longer one, after a short one in between.
        let err = intel_hex(&[
            chunk(0x100, vec![0; 0x100]),
            chunk(0x120, vec![0; 4]),
            chunk(0x180, vec![0; 4]),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "0x00000120..0x00000124 overlaps 0x00000100..0x00000200"
        );
        // Adjacent is fine.
        intel_hex(&[chunk(0x100, vec![1; 0x10]), chunk(0x110, vec![2; 0x10])]).unwrap();
    }

    #[test]
    fn chunk_past_2_pow_32_refused() {
        let err = intel_hex(&[chunk(0xFFFF_FFF0, vec![0; 17])]).unwrap_err();
        assert!(err.to_string().contains("passes the end"), "{err}");
    }

    #[test]
    fn corrupted_checksum_refused() {
        let text = intel_hex(&[chunk(0x0002_0400, vec![0xDE, 0xAD, 0xBE, 0xEF])]).unwrap();
        let bad = text.replace(":04040000DEADBEEFC0", ":04040000DEADBEEFC1");
        assert_ne!(bad, text);
        let err = parse_intel_hex(&bad).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("checksum"), "{err}");
    }

    #[test]
    fn parse_refuses_truncation_and_data_after_end() {
        let text = intel_hex(&[chunk(0x10, vec![1, 2, 3])]).unwrap();
        let truncated = text.replace(":00000001FF\n", "");
        let err = parse_intel_hex(&truncated).unwrap_err().to_string();
        assert!(err.contains("End Of File"), "{err}");
        let extra = format!("{text}:0100000000FF\n");
        let err = parse_intel_hex(&extra).unwrap_err().to_string();
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("after the End Of File"), "{err}");
        // 4 bytes at 0x0000, then 2 bytes at 0x0002.
        let overlapping = ":0400000001020304F2\n:020002000909EA\n:00000001FF\n";
        let err = parse_intel_hex(overlapping).unwrap_err().to_string();
        assert_eq!(
            err,
            "Intel HEX data: 0x00000002..0x00000004 overlaps 0x00000000..0x00000004"
        );
    }

    #[test]
    fn parse_merges_records_and_ignores_start_address() {
        // Two adjacent records, a gap, CRLF line ends, an empty line and
        // objcopy's Start Linear Address record (05).
        let text = ":020000040800F2\r\n:020000000102FB\r\n\r\n:020002000304F5\r\n\
                    :0100100005EA\r\n:0400000508000101ED\r\n:00000001FF\r\n";
        let chunks = parse_intel_hex(text).unwrap();
        assert_eq!(
            chunks,
            vec![
                chunk(0x0800_0000, vec![1, 2, 3, 4]),
                chunk(0x0800_0010, vec![5])
            ]
        );
    }

    /// A little-endian ELF32 file: the 52-byte header, `phdrs` 32-byte
    /// program headers right after it (p_offset values are relative to the
    /// end of the program headers), then `payload`. No section headers.
    fn tiny_elf(phdrs: &[[u32; 8]], payload: &[u8]) -> Vec<u8> {
        let mut elf = Vec::new();
        // e_ident: magic, ELFCLASS32, ELFDATA2LSB, EV_CURRENT, SYSV ABI, padding.
        elf.extend_from_slice(&[0x7F, b'E', b'L', b'F', 1, 1, 1, 0]);
        elf.extend_from_slice(&[0; 8]);
        elf.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
        elf.extend_from_slice(&40u16.to_le_bytes()); // e_machine: EM_ARM
        elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
        elf.extend_from_slice(&0x0000_0009u32.to_le_bytes()); // e_entry
        elf.extend_from_slice(&52u32.to_le_bytes()); // e_phoff
        elf.extend_from_slice(&0u32.to_le_bytes()); // e_shoff: none
        elf.extend_from_slice(&0x0500_0400u32.to_le_bytes()); // e_flags: EABI5, hard float
        elf.extend_from_slice(&52u16.to_le_bytes()); // e_ehsize
        elf.extend_from_slice(&32u16.to_le_bytes()); // e_phentsize
        elf.extend_from_slice(&(phdrs.len() as u16).to_le_bytes()); // e_phnum
        elf.extend_from_slice(&40u16.to_le_bytes()); // e_shentsize
        elf.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
        elf.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
        assert_eq!(elf.len(), 52);
        let data_start = 52 + 32 * phdrs.len() as u32;
        for phdr in phdrs {
            let mut phdr = *phdr;
            phdr[1] += data_start; // p_offset
            for word in phdr {
                elf.extend_from_slice(&word.to_le_bytes());
            }
        }
        elf.extend_from_slice(payload);
        elf
    }

    const PT_NOTE: u32 = 4;

    #[test]
    fn elf_load_chunks_uses_physical_addresses() {
        let text = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        let data = [0xA1, 0xA2, 0xA3, 0xA4];
        let note = [0xEE; 4];
        let payload = [&text[..], &data[..], &note[..]].concat();
        // [p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align]
        let phdrs = [
            // .text: runs where it is stored.
            [PT_LOAD, 0, 0x0000_0000, 0x0000_0000, 8, 8, 5, 4],
            // .data: runs in RAM (vaddr), stored in flash after .text (paddr).
            [PT_LOAD, 8, 0x2000_0000, 0x0000_0008, 4, 4, 6, 4],
            // .bss: no file bytes, nothing to program.
            [PT_LOAD, 12, 0x2000_0004, 0x2000_0004, 0, 0x100, 6, 4],
            // Not PT_LOAD: skipped even with file bytes.
            [PT_NOTE, 12, 0x3000_0000, 0x3000_0000, 4, 4, 4, 4],
        ];
        let elf = tiny_elf(&phdrs, &payload);
        let expected = vec![
            chunk(0x0000_0000, text.to_vec()),
            chunk(0x0000_0008, data.to_vec()),
        ];
        assert_eq!(elf_load_chunks(&elf).unwrap(), expected);

        // The same file at an odd address in memory parses just as well.
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&elf);
        assert_eq!(elf_load_chunks(&shifted[1..]).unwrap(), expected);

        // And it makes a HEX file with .data right after .text.
        let back = parse_intel_hex(&intel_hex(&expected).unwrap()).unwrap();
        assert_eq!(back, vec![chunk(0, [&text[..], &data[..]].concat())]);
    }

    #[test]
    fn elf_load_chunks_refuses_bad_input() {
        let err = elf_load_chunks(b"hello, world: not an ELF").unwrap_err();
        assert!(err.to_string().contains("not an ELF"), "{err}");
        let err = elf_load_chunks(&[]).unwrap_err();
        assert!(err.to_string().contains("not an ELF"), "{err}");

        let good = tiny_elf(&[[PT_LOAD, 0, 0, 0, 4, 4, 5, 4]], &[1, 2, 3, 4]);
        let mut elf64 = good.clone();
        elf64[4] = 2; // ELFCLASS64
        let err = elf_load_chunks(&elf64).unwrap_err();
        assert!(err.to_string().contains("64-bit"), "{err}");
        let mut big_endian = good.clone();
        big_endian[5] = 2; // ELFDATA2MSB
        let err = elf_load_chunks(&big_endian).unwrap_err();
        assert!(err.to_string().contains("big-endian"), "{err}");

        // Segment bytes beyond the end of the file.
        let short = tiny_elf(&[[PT_LOAD, 0, 0, 0, 8, 8, 5, 4]], &[1, 2, 3, 4]);
        let err = elf_load_chunks(&short).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        // A segment ending past 2^32.
        let wraps = tiny_elf(&[[PT_LOAD, 0, 0, 0xFFFF_FFFE, 4, 4, 5, 4]], &[1, 2, 3, 4]);
        let err = elf_load_chunks(&wraps).unwrap_err();
        assert!(err.to_string().contains("2^32"), "{err}");
    }
}
