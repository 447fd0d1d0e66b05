//! Reading a firmware ELF, with the `object` crate: how much flash and
//! static RAM it takes ([`elf_sizes`]), the bytes a flasher programs
//! ([`elf_load_chunks`]) and its defmt table (the log lines' text).

use std::ops::Range;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail, ensure};
use object::elf::{FileHeader32, PT_LOAD, SHF_ALLOC, SHT_NOBITS};
use object::read::elf::{ElfFile32, FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, FileKind, LittleEndian};

use super::Machine;
use crate::hex::{ADDRESS_SPACE_END, Chunk};
use crate::link;

/// Flash and static RAM of an ELF, from its section headers: flash is
/// every allocated section with contents outside RAM plus `.data`'s load
/// image; static RAM is every allocated section in RAM (`.data`, `.bss`,
/// `.uninit`, ...) except the stack, which cortex-m-rt does not put in a
/// section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Bytes programmed into flash.
    pub flash: u64,
    /// Bytes of RAM reserved before the stack.
    pub static_ram: u64,
}

impl Sizes {
    /// Reads the [`Sizes`] of the firmware ELF at `elf`, built for
    /// `machine` (whose RAM tells static RAM from flash).
    pub fn of_file(elf: &Path, machine: Machine) -> Result<Self> {
        let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
        elf_sizes(&bytes, machine.ram())
    }
}

/// Reads [`Sizes`] from a little-endian ELF32 file; `ram` is the RAM's
/// address range.
pub fn elf_sizes(elf: &[u8], ram: Range<u64>) -> Result<Sizes> {
    let file = parse(elf)?;
    let endian = file.endian();
    let (mut flash, mut static_ram) = (0, 0);
    for section in file.elf_section_table().iter() {
        let (kind, flags) = (section.sh_type(endian), section.sh_flags(endian));
        let (addr, size) = (
            u64::from(section.sh_addr(endian)),
            u64::from(section.sh_size(endian)),
        );
        if flags & SHF_ALLOC == 0 || size == 0 {
            continue;
        }
        if ram.contains(&addr) {
            static_ram += size;
            if kind != SHT_NOBITS {
                flash += size; // .data's load image
            }
        } else if kind != SHT_NOBITS {
            flash += size;
        }
    }
    Ok(Sizes { flash, static_ram })
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
    let file = parse(elf)?;
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

/// The defmt table of the firmware ELF at `elf`: what turns its log
/// records into text.
pub(crate) fn read_defmt_table(elf: &Path) -> Result<defmt_decoder::Table> {
    let bytes =
        std::fs::read(elf).with_context(|| format!("reading the firmware {}", elf.display()))?;
    link::defmt_table(&bytes, &elf.display().to_string())
}

/// `elf` as a little-endian ELF32 file (every Cortex-M firmware is one),
/// or an error that says what it is instead.
fn parse(elf: &[u8]) -> Result<ElfFile32<'_, LittleEndian>> {
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
    ElfFile32::<LittleEndian>::parse(elf).map_err(|err| anyhow!("malformed ELF32 file: {err}"))
}

#[cfg(test)]
mod tests;
