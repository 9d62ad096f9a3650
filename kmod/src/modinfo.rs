//! The `.modinfo` section of a kernel module: NUL-separated `key=value` strings
//! (`name=vfat`, `depends=fat`, `softdep=pre: crct10dif`, `alias=fs-vfat`). Read with a
//! small ELF section-table walk, for 32- and 64-bit objects of either byte order.

use crate::error::{Error, ErrorKind};
use crate::softdep::{self, SoftDeps};

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
/// Errors name no file: the caller knows which object it read.
pub fn section<'a>(elf: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, Error> {
    if elf.get(..4) != Some(ELF_MAGIC) {
        return Err(Error::new(ErrorKind::NotElf));
    }
    let layout = match elf.get(EI_CLASS) {
        Some(&ELFCLASS64) => &LAYOUT64,
        Some(&ELFCLASS32) => &LAYOUT32,
        other => {
            return Err(Error::new(ErrorKind::ElfClass {
                got: other.copied(),
            }))
        }
    };
    let e = match elf.get(EI_DATA) {
        Some(&ELFDATA2LSB) => Endian::Little,
        Some(&ELFDATA2MSB) => Endian::Big,
        other => {
            return Err(Error::new(ErrorKind::ElfDataEncoding {
                got: other.copied(),
            }))
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
        Error::new(ErrorKind::ElfTruncated {
            what: what.to_string(),
            len: elf.len(),
        })
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
    let header = |i: usize| -> Result<(u64, usize, usize), Error> {
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
            "name" => info.name = Some(crate::normalize_name(value)),
            "depends" => info.depends.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(crate::normalize_name),
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
///
/// ```
/// // A module object as the test-support crate makes them: only a .modinfo section.
/// let elf = flashroot_testsupport::modinfo::synthetic_elf(&[
///     ("name", "vfat"),
///     ("depends", "fat"),
///     ("alias", "fs-vfat"),
/// ]);
/// let info = flashroot_kmod::modinfo::read(&elf).unwrap();
/// assert_eq!(info.depends, ["fat"]);
/// assert_eq!(info.aliases, ["fs-vfat"]);
/// ```
pub fn read(elf: &[u8]) -> Result<ModInfo, Error> {
    match section(elf, MODINFO_SECTION)? {
        Some(bytes) => Ok(parse(bytes)),
        None => Ok(ModInfo::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashroot_testsupport::modinfo::synthetic_elf;

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
            read(b"hello").unwrap_err().to_string(),
            "not an ELF object (expected magic 7f 45 4c 46)"
        );
        let elf = synthetic_elf(&[("name", "x")]);
        let err = read(&elf[..elf.len() - 40]).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::ElfTruncated { len, .. } if len == elf.len() - 40),
            "{err}"
        );
        assert!(err.to_string().starts_with("truncated ELF object"), "{err}");
    }
}
