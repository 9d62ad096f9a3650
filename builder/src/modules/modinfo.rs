//! The `.modinfo` section of a kernel module: NUL-separated `key=value` strings
//! (`name=vfat`, `depends=fat`, `softdep=pre: crct10dif`, `alias=fs-vfat`). Read with a
//! small ELF section-table walk, for 32- and 64-bit objects of either byte order.

use super::softdep::{self, SoftDeps};

/// ELF identification: `\x7fELF`.
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
/// `e_ident[EI_CLASS]`: 1 = 32-bit, 2 = 64-bit.
const EI_CLASS: usize = 4;
const ELFCLASS32: u8 = 1;
const ELFCLASS64: u8 = 2;
/// `e_ident[EI_DATA]`: 1 = little-endian, 2 = big-endian.
const EI_DATA: usize = 5;
const ELFDATA2LSB: u8 = 1;
const ELFDATA2MSB: u8 = 2;
/// The section that holds module information.
pub const MODINFO_SECTION: &str = ".modinfo";

/// Byte order of one object file, chosen once from `e_ident`.
#[derive(Clone, Copy, Debug)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> Option<u64> {
        let a: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(match self {
            Self::Little => u16::from_le_bytes(a),
            Self::Big => u16::from_be_bytes(a),
        } as u64)
    }
    fn u32(self, b: &[u8], at: usize) -> Option<u64> {
        let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(match self {
            Self::Little => u32::from_le_bytes(a),
            Self::Big => u32::from_be_bytes(a),
        } as u64)
    }
    fn u64(self, b: &[u8], at: usize) -> Option<u64> {
        let a: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
        Some(match self {
            Self::Little => u64::from_le_bytes(a),
            Self::Big => u64::from_be_bytes(a),
        })
    }
}

/// Offsets of the ELF header and section header fields that differ between classes.
struct Layout {
    /// `e_shoff`, `e_shentsize`, `e_shnum`, `e_shstrndx`.
    shoff: usize,
    shentsize: usize,
    shnum: usize,
    shstrndx: usize,
    /// Within a section header: `sh_offset` and `sh_size`; `sh_name` is at 0 in both.
    sh_offset: usize,
    sh_size: usize,
    /// Width of `e_shoff`, `sh_offset` and `sh_size`.
    wide: bool,
}

const LAYOUT64: Layout = Layout {
    shoff: 0x28,
    shentsize: 0x3A,
    shnum: 0x3C,
    shstrndx: 0x3E,
    sh_offset: 0x18,
    sh_size: 0x20,
    wide: true,
};
const LAYOUT32: Layout = Layout {
    shoff: 0x20,
    shentsize: 0x2E,
    shnum: 0x30,
    shstrndx: 0x32,
    sh_offset: 0x10,
    sh_size: 0x14,
    wide: false,
};

/// Returns the bytes of section `name`, `Ok(None)` when the object has none.
pub fn section<'a>(elf: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, String> {
    if elf.get(..4) != Some(ELF_MAGIC) {
        return Err("not an ELF object (expected magic 7f 45 4c 46)".into());
    }
    let layout = match elf.get(EI_CLASS) {
        Some(&ELFCLASS64) => &LAYOUT64,
        Some(&ELFCLASS32) => &LAYOUT32,
        other => return Err(format!("ELF class: expected 1 or 2 but got {other:?}")),
    };
    let e = match elf.get(EI_DATA) {
        Some(&ELFDATA2LSB) => Endian::Little,
        Some(&ELFDATA2MSB) => Endian::Big,
        other => {
            return Err(format!(
                "ELF data encoding: expected 1 or 2 but got {other:?}"
            ))
        }
    };
    let word = |at: usize| {
        if layout.wide {
            e.u64(elf, at)
        } else {
            e.u32(elf, at)
        }
    };
    let truncated = |what: &str| {
        format!(
            "truncated ELF object: {what} is past the end ({} bytes)",
            elf.len()
        )
    };
    let shoff = word(layout.shoff).ok_or_else(|| truncated("the ELF header"))? as usize;
    let shentsize = e
        .u16(elf, layout.shentsize)
        .ok_or_else(|| truncated("the ELF header"))? as usize;
    let shnum = e
        .u16(elf, layout.shnum)
        .ok_or_else(|| truncated("the ELF header"))? as usize;
    let shstrndx = e
        .u16(elf, layout.shstrndx)
        .ok_or_else(|| truncated("the ELF header"))? as usize;
    let header = |i: usize| -> Result<(u64, usize, usize), String> {
        let base = shoff + i * shentsize;
        let name = e
            .u32(elf, base)
            .ok_or_else(|| truncated(&format!("section header {i}")))?;
        let off = word(base + layout.sh_offset)
            .ok_or_else(|| truncated(&format!("section header {i}")))?;
        let size =
            word(base + layout.sh_size).ok_or_else(|| truncated(&format!("section header {i}")))?;
        Ok((name, off as usize, size as usize))
    };
    let data = |off: usize, size: usize| elf.get(off..off.checked_add(size)?);
    let (_, str_off, str_size) = header(shstrndx)?;
    let strtab = data(str_off, str_size).ok_or_else(|| truncated("the section name table"))?;
    for i in 0..shnum {
        let (name_off, off, size) = header(i)?;
        let Some(rest) = strtab.get(name_off as usize..) else {
            continue;
        };
        let section_name = rest.split(|&b| b == 0).next().unwrap_or_default();
        if section_name == name.as_bytes() {
            return data(off, size)
                .map(Some)
                .ok_or_else(|| truncated(&format!("section {name} ({size} bytes at {off})")));
        }
    }
    Ok(None)
}

/// What `.modinfo` says about resolution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModInfo {
    /// `name=` (normalized), absent in old modules.
    pub name: Option<String>,
    /// `depends=`: comma-separated module names (normalized).
    pub depends: Vec<String>,
    /// `softdep=` fields, merged.
    pub softdeps: SoftDeps,
    /// `alias=` patterns.
    pub aliases: Vec<String>,
}

/// Parses the `.modinfo` section bytes.
pub fn parse(section: &[u8]) -> ModInfo {
    let mut info = ModInfo::default();
    for field in section.split(|&b| b == 0).filter(|f| !f.is_empty()) {
        let field = String::from_utf8_lossy(field);
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        match key {
            "name" => info.name = Some(super::normalize_name(value)),
            "depends" => info.depends.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(super::normalize_name),
            ),
            "softdep" => info.softdeps.merge(&softdep::parse_spec(value)),
            "alias" => info.aliases.push(value.to_string()),
            _ => {}
        }
    }
    info
}

/// Reads the `.modinfo` of an (uncompressed) module object; a module without one is
/// treated as having no dependencies.
pub fn read(elf: &[u8]) -> Result<ModInfo, String> {
    match section(elf, MODINFO_SECTION)? {
        Some(bytes) => Ok(parse(bytes)),
        None => Ok(ModInfo::default()),
    }
}

/// A minimal 64-bit little-endian ELF object whose only content is a `.modinfo` section
/// with `fields` as `key=value` strings. For tests and fixture module trees.
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
    elf[..4].copy_from_slice(ELF_MAGIC);
    elf[EI_CLASS] = ELFCLASS64;
    elf[EI_DATA] = ELFDATA2LSB;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields() {
        let info = parse(b"license=GPL\0depends=fat,nls-base\0softdep=pre: crct10dif\0alias=fs-vfat\0alias=fs-msdos\0name=vfat\0");
        assert_eq!(info.name.as_deref(), Some("vfat"));
        assert_eq!(info.depends, ["fat", "nls_base"]);
        assert_eq!(info.softdeps.pre, ["crct10dif"]);
        assert_eq!(info.aliases, ["fs-vfat", "fs-msdos"]);
        assert_eq!(parse(b"depends=\0").depends, Vec::<String>::new());
    }

    #[test]
    fn reads_the_section_of_a_synthetic_object() {
        let elf = synthetic_elf(&[
            ("name", "crc_t10dif"),
            ("softdep", "pre: crct10dif"),
            ("depends", ""),
        ]);
        let info = read(&elf).unwrap();
        assert_eq!(info.name.as_deref(), Some("crc_t10dif"));
        assert_eq!(info.softdeps.pre, ["crct10dif"]);
        assert_eq!(section(&elf, ".text").unwrap(), None);
    }

    #[test]
    fn refuses_non_elf_and_truncated_objects() {
        assert_eq!(
            read(b"hello").unwrap_err(),
            "not an ELF object (expected magic 7f 45 4c 46)"
        );
        let elf = synthetic_elf(&[("name", "x")]);
        let err = read(&elf[..elf.len() - 40]).unwrap_err();
        assert!(err.starts_with("truncated ELF object"), "{err}");
    }
}
