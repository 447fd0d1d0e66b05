//! [`elf_load_chunks`] and [`elf_sizes`] on small hand-made ELF files.

use super::*;
use crate::hex::{intel_hex, parse_intel_hex};

fn chunk(address: u32, bytes: Vec<u8>) -> Chunk {
    Chunk { address, bytes }
}

/// A little-endian ELF32 file: the 52-byte header, `phdrs` 32-byte
/// program headers right after it (p_offset values are relative to the
/// end of the program headers), then `payload`, then `shdrs` 40-byte
/// section headers (none: no section header table); the first `SHT_STRTAB`
/// among them holds the section names.
fn tiny_elf(phdrs: &[[u32; 8]], payload: &[u8], shdrs: &[[u32; 10]]) -> Vec<u8> {
    let data_start = 52 + 32 * phdrs.len() as u32;
    let shoff = if shdrs.is_empty() {
        0
    } else {
        data_start + payload.len() as u32
    };
    let mut elf = Vec::new();
    // e_ident: magic, ELFCLASS32, ELFDATA2LSB, EV_CURRENT, SYSV ABI, padding.
    elf.extend_from_slice(&[0x7F, b'E', b'L', b'F', 1, 1, 1, 0]);
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    elf.extend_from_slice(&40u16.to_le_bytes()); // e_machine: EM_ARM
    elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
    elf.extend_from_slice(&0x0000_0009u32.to_le_bytes()); // e_entry
    elf.extend_from_slice(&52u32.to_le_bytes()); // e_phoff
    elf.extend_from_slice(&shoff.to_le_bytes()); // e_shoff
    elf.extend_from_slice(&0x0500_0400u32.to_le_bytes()); // e_flags: EABI5, hard float
    elf.extend_from_slice(&52u16.to_le_bytes()); // e_ehsize
    elf.extend_from_slice(&32u16.to_le_bytes()); // e_phentsize
    elf.extend_from_slice(&(phdrs.len() as u16).to_le_bytes()); // e_phnum
    elf.extend_from_slice(&40u16.to_le_bytes()); // e_shentsize
    elf.extend_from_slice(&(shdrs.len() as u16).to_le_bytes()); // e_shnum
    let shstrndx = shdrs.iter().position(|h| h[1] == SHT_STRTAB).unwrap_or(0);
    elf.extend_from_slice(&(shstrndx as u16).to_le_bytes()); // e_shstrndx
    assert_eq!(elf.len(), 52);
    for phdr in phdrs {
        let mut phdr = *phdr;
        phdr[1] += data_start; // p_offset
        for word in phdr {
            elf.extend_from_slice(&word.to_le_bytes());
        }
    }
    elf.extend_from_slice(payload);
    for shdr in shdrs {
        for word in shdr {
            elf.extend_from_slice(&word.to_le_bytes());
        }
    }
    elf
}

const PT_NOTE: u32 = 4;
const SHT_STRTAB: u32 = 3;

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
    let elf = tiny_elf(&phdrs, &payload, &[]);
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

    let good = tiny_elf(&[[PT_LOAD, 0, 0, 0, 4, 4, 5, 4]], &[1, 2, 3, 4], &[]);
    let mut elf64 = good.clone();
    elf64[4] = 2; // ELFCLASS64
    let err = elf_load_chunks(&elf64).unwrap_err();
    assert!(err.to_string().contains("64-bit"), "{err}");
    let mut big_endian = good.clone();
    big_endian[5] = 2; // ELFDATA2MSB
    let err = elf_load_chunks(&big_endian).unwrap_err();
    assert!(err.to_string().contains("big-endian"), "{err}");

    // Segment bytes beyond the end of the file.
    let short = tiny_elf(&[[PT_LOAD, 0, 0, 0, 8, 8, 5, 4]], &[1, 2, 3, 4], &[]);
    let err = elf_load_chunks(&short).unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
    // A segment ending past 2^32.
    let wraps = tiny_elf(
        &[[PT_LOAD, 0, 0, 0xFFFF_FFFE, 4, 4, 5, 4]],
        &[1, 2, 3, 4],
        &[],
    );
    let err = elf_load_chunks(&wraps).unwrap_err();
    assert!(err.to_string().contains("2^32"), "{err}");
}

#[test]
fn elf_sizes_counts_flash_and_static_ram() {
    const SHT_PROGBITS: u32 = 1;
    const SHT_ARM_ATTRIBUTES: u32 = 0x7000_0003;
    const ALLOC: u32 = SHF_ALLOC;
    // [sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link,
    //  sh_info, sh_addralign, sh_entsize]; no bytes behind any of them.
    let shdrs = [
        [0; 10], // SHN_UNDEF
        // .vector_table and .text in flash.
        [0, SHT_PROGBITS, ALLOC, 0x0000_0000, 0, 0x400, 0, 0, 4, 0],
        [
            0,
            SHT_PROGBITS,
            ALLOC | 4,
            0x0000_0400,
            0,
            0x1234,
            0,
            0,
            4,
            0,
        ],
        // .data: in RAM, and its load image in flash.
        [0, SHT_PROGBITS, ALLOC | 1, 0x2000_0000, 0, 0x10, 0, 0, 4, 0],
        // .bss and .uninit: RAM only.
        [0, SHT_NOBITS, ALLOC | 1, 0x2000_0010, 0, 0x200, 0, 0, 4, 0],
        [0, SHT_NOBITS, ALLOC | 1, 0x2000_0210, 0, 0x30, 0, 0, 4, 0],
        // Not allocated (names, debug info, attributes), and empty: not counted.
        [0, SHT_STRTAB, 0, 0, 0, 0, 0, 0, 1, 0],
        [0, SHT_PROGBITS, 0, 0, 0, 0x9999, 0, 0, 1, 0],
        [0, SHT_ARM_ATTRIBUTES, 0, 0, 0, 0x40, 0, 0, 1, 0],
        [0, SHT_PROGBITS, ALLOC, 0x0000_2000, 0, 0, 0, 0, 4, 0],
    ];
    let elf = tiny_elf(&[], &[], &shdrs);
    let sizes = elf_sizes(&elf, Machine::Microbit.ram()).unwrap();
    assert_eq!(
        sizes,
        Sizes {
            flash: 0x400 + 0x1234 + 0x10,
            static_ram: 0x10 + 0x200 + 0x30,
        }
    );
    let err = elf_sizes(b"not an ELF file", Machine::Microbit.ram()).unwrap_err();
    assert!(err.to_string().contains("not an ELF"), "{err}");
}
