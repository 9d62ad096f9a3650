//! Kernel module fixtures: module objects made in memory, so tests need no real kernel.

/// A minimal 64-bit little-endian ELF object whose only content is a `.modinfo` section
/// with `fields` as `key=value` strings: a kernel module as far as module resolution
/// reads one. For tests and fixture module trees.
pub fn synthetic_elf(fields: &[(&str, &str)]) -> Vec<u8> {
    const EHDR: usize = 64;
    const SHDR: usize = 64;
    let mut modinfo = Vec::new();
    for (k, v) in fields {
        modinfo.extend_from_slice(format!("{k}={v}\0").as_bytes());
    }
    let shstrtab = b"\0.modinfo\0.shstrtab\0";
    let modinfo_off = EHDR;
    let shstrtab_off = modinfo_off + modinfo.len();
    let shoff = (shstrtab_off + shstrtab.len()).next_multiple_of(8);
    let mut elf = vec![0u8; shoff + 3 * SHDR];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2; // EI_CLASS = ELFCLASS64
    elf[5] = 1; // EI_DATA = ELFDATA2LSB
    elf[6] = 1; // EI_VERSION
    elf[0x10..0x12].copy_from_slice(&1u16.to_le_bytes()); // e_type = ET_REL
    elf[0x12..0x14].copy_from_slice(&62u16.to_le_bytes()); // e_machine = x86-64
    elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
    elf[0x34..0x36].copy_from_slice(&(EHDR as u16).to_le_bytes());
    elf[0x3A..0x3C].copy_from_slice(&(SHDR as u16).to_le_bytes());
    elf[0x3C..0x3E].copy_from_slice(&3u16.to_le_bytes());
    elf[0x3E..0x40].copy_from_slice(&2u16.to_le_bytes());
    elf[modinfo_off..shstrtab_off].copy_from_slice(&modinfo);
    elf[shstrtab_off..shstrtab_off + shstrtab.len()].copy_from_slice(shstrtab);
    // (sh_name, sh_type, offset, size): PROGBITS = 1, STRTAB = 3.
    for (i, (name, kind, off, size)) in [
        (1u32, 1u32, modinfo_off, modinfo.len()),
        (10, 3, shstrtab_off, shstrtab.len()),
    ]
    .into_iter()
    .enumerate()
    {
        let base = shoff + (i + 1) * SHDR;
        elf[base..base + 4].copy_from_slice(&name.to_le_bytes());
        elf[base + 4..base + 8].copy_from_slice(&kind.to_le_bytes());
        elf[base + 0x18..base + 0x20].copy_from_slice(&(off as u64).to_le_bytes());
        elf[base + 0x20..base + 0x28].copy_from_slice(&(size as u64).to_le_bytes());
    }
    elf
}
