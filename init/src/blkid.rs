//! Identifies volumes and partitions from their first bytes, as blkid would: the FAT
//! volume label and serial (FAT12/16 and FAT32 boot sectors), the ext2/3/4 UUID and
//! label, and partition ids from an MBR (`SSSSSSSS-PP`) or a GPT (the partition GUID).
//! Pure functions over byte slices; the offsets are named after the on-disk structures.

/// The boot-sector signature 0x55 0xAA at bytes 510..512, shared by FAT and MBR.
const BOOT_SIGNATURE_OFFSET: usize = 510;
const BOOT_SIGNATURE: [u8; 2] = [0x55, 0xAA];
/// The sector size of MBR disks and of LBA 1 on 512-byte-sector GPT disks.
pub const SECTOR: usize = 512;

/// FAT BIOS parameter block (all little-endian); the layout fields are also read by
/// [`crate::fatchain`].
pub(crate) mod fat {
    pub const BYTES_PER_SECTOR: usize = 11;
    pub const SECTORS_PER_CLUSTER: usize = 13;
    pub const RESERVED_SECTORS: usize = 14;
    pub const NUMBER_OF_FATS: usize = 16;
    pub const ROOT_ENTRIES: usize = 17;
    pub const TOTAL_SECTORS_16: usize = 19;
    pub const FAT_SIZE_16: usize = 22;
    pub const TOTAL_SECTORS_32: usize = 32;
    /// FAT32 only, where FAT_SIZE_16 is 0.
    pub const FAT_SIZE_32: usize = 36;
    /// Extended boot record of FAT12/16 starts at 36, that of FAT32 at 64; inside it the
    /// fields sit at the same relative offsets.
    pub const EBR_FAT16: usize = 36;
    pub const EBR_FAT32: usize = 64;
    pub const EBR_SIGNATURE: usize = 2;
    pub const EBR_VOLUME_ID: usize = 3;
    pub const EBR_LABEL: usize = 7;
    pub const EBR_FS_TYPE: usize = 18;
    pub const LABEL_LEN: usize = 11;
    pub const FS_TYPE_LEN: usize = 8;
    /// 0x29: volume id, label and type follow; 0x28: only the volume id.
    pub const SIGNATURE_FULL: u8 = 0x29;
    pub const SIGNATURE_ID_ONLY: u8 = 0x28;
    /// What mkfs.fat writes when no label is given.
    pub const NO_LABEL: &str = "NO NAME";
}

/// ext2/3/4 superblock, 1024 bytes into the volume.
mod ext {
    pub const SUPERBLOCK: usize = 1024;
    pub const MAGIC: usize = 56;
    pub const MAGIC_VALUE: u16 = 0xEF53;
    pub const UUID: usize = 104;
    pub const LABEL: usize = 120;
    pub const LABEL_LEN: usize = 16;
}

/// Master boot record.
mod mbr {
    pub const DISK_SIGNATURE: usize = 440;
    pub const PARTITION_TABLE: usize = 446;
    pub const ENTRY_SIZE: usize = 16;
    pub const ENTRIES: usize = 4;
    pub const ENTRY_TYPE: usize = 4;
    /// The protective entry of a GPT disk.
    pub const TYPE_GPT_PROTECTIVE: u8 = 0xEE;
    pub const TYPE_EMPTY: u8 = 0;
}

/// GUID partition table header (at LBA 1) and entries.
pub mod gpt {
    pub const SIGNATURE: &[u8; 8] = b"EFI PART";
    pub const ENTRIES_LBA: usize = 72;
    pub const ENTRY_COUNT: usize = 80;
    pub const ENTRY_SIZE: usize = 84;
    pub const ENTRY_TYPE_GUID: usize = 0;
    pub const ENTRY_UNIQUE_GUID: usize = 16;
    pub const GUID_LEN: usize = 16;
    /// The smallest entry the spec allows; anything smaller is garbage.
    pub const MIN_ENTRY_SIZE: u32 = 128;
    /// More would be a corrupt header (the spec's usual count is 128).
    pub const MAX_ENTRIES: u32 = 4096;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsKind {
    Fat12or16,
    Fat32,
    Ext,
}

/// The kernel's name for the filesystem (ext2 and ext3 volumes mount as ext4 too).
pub fn kernel_fs_type(kind: FsKind) -> &'static str {
    match kind {
        FsKind::Fat12or16 | FsKind::Fat32 => "vfat",
        FsKind::Ext => "ext4",
    }
}

/// What a filesystem says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsInfo {
    pub kind: FsKind,
    /// `1234-ABCD` for FAT, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` for ext.
    pub uuid: String,
    pub label: Option<String>,
}

/// Little-endian fields of on-disk structures, None past the end of `b`.
pub(crate) fn u16_le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_le(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn has_boot_signature(b: &[u8]) -> bool {
    b.get(BOOT_SIGNATURE_OFFSET..BOOT_SIGNATURE_OFFSET + 2) == Some(&BOOT_SIGNATURE[..])
}

/// A space-padded label, None when blank.
fn text_field(raw: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(raw);
    let s = s.trim_end_matches([' ', '\0']);
    (!s.is_empty()).then(|| s.to_string())
}

/// Probes the first bytes of a volume (at least 2 KiB for ext) for any known filesystem.
pub fn probe(buf: &[u8]) -> Option<FsInfo> {
    probe_fat(buf).or_else(|| probe_ext(buf))
}

/// The cluster size in bytes of a FAT boot sector (the unit in which a FAT file's bytes
/// are contiguous on the volume); None when `b` is not one.
pub fn fat_cluster_bytes(b: &[u8]) -> Option<u32> {
    probe_fat(b)?;
    let sectors = *b.get(fat::SECTORS_PER_CLUSTER)?;
    let bytes = u32::from(u16_le(b, fat::BYTES_PER_SECTOR)?) * u32::from(sectors);
    (sectors.is_power_of_two()).then_some(bytes)
}

/// A FAT boot sector: FAT32 when the 16-bit FAT size and root entry count are zero.
pub fn probe_fat(b: &[u8]) -> Option<FsInfo> {
    if !has_boot_signature(b) {
        return None;
    }
    let bytes_per_sector = u16_le(b, fat::BYTES_PER_SECTOR)?;
    if !bytes_per_sector.is_power_of_two() || !(512..=4096).contains(&bytes_per_sector) {
        return None;
    }
    let is_fat32 = u16_le(b, fat::FAT_SIZE_16)? == 0 && u16_le(b, fat::ROOT_ENTRIES)? == 0;
    let (kind, ebr) = if is_fat32 {
        (FsKind::Fat32, fat::EBR_FAT32)
    } else {
        (FsKind::Fat12or16, fat::EBR_FAT16)
    };
    let signature = *b.get(ebr + fat::EBR_SIGNATURE)?;
    if signature != fat::SIGNATURE_FULL && signature != fat::SIGNATURE_ID_ONLY {
        return None;
    }
    let id = u32_le(b, ebr + fat::EBR_VOLUME_ID)?;
    let mut label = None;
    if signature == fat::SIGNATURE_FULL {
        let fs_type = b.get(ebr + fat::EBR_FS_TYPE..ebr + fat::EBR_FS_TYPE + fat::FS_TYPE_LEN)?;
        if !fs_type.starts_with(b"FAT") {
            return None;
        }
        label = text_field(b.get(ebr + fat::EBR_LABEL..ebr + fat::EBR_LABEL + fat::LABEL_LEN)?)
            .filter(|l| l != fat::NO_LABEL);
    }
    Some(FsInfo {
        kind,
        uuid: format!("{:04X}-{:04X}", id >> 16, id & 0xFFFF),
        label,
    })
}

/// An ext2/3/4 superblock.
pub fn probe_ext(b: &[u8]) -> Option<FsInfo> {
    let sb = b.get(ext::SUPERBLOCK..)?;
    if u16_le(sb, ext::MAGIC)? != ext::MAGIC_VALUE {
        return None;
    }
    let uuid: [u8; 16] = sb.get(ext::UUID..ext::UUID + 16)?.try_into().ok()?;
    Some(FsInfo {
        kind: FsKind::Ext,
        uuid: format_uuid_big_endian(&uuid),
        label: text_field(sb.get(ext::LABEL..ext::LABEL + ext::LABEL_LEN)?),
    })
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` with the bytes in stored order (ext, blkid).
fn format_uuid_big_endian(u: &[u8; 16]) -> String {
    let hex: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        hex[0..4].concat(),
        hex[4..6].concat(),
        hex[6..8].concat(),
        hex[8..10].concat(),
        hex[10..16].concat()
    )
}

/// A GPT GUID: the first three fields are stored little-endian.
pub fn format_guid(g: &[u8; 16]) -> String {
    let mut u = *g;
    u[0..4].reverse();
    u[4..6].reverse();
    u[6..8].reverse();
    format_uuid_big_endian(&u)
}

/// A partition's number (1-based, as in `sda1`) and its PARTUUID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartId {
    pub number: u32,
    pub partuuid: String,
}

/// The partition table in sector 0, if it is a plain MBR (not a GPT's protective one):
/// PARTUUIDs are `<disk signature>-<number>` in lowercase hex, as the kernel and blkid write them.
pub fn mbr_partitions(sector0: &[u8]) -> Option<Vec<PartId>> {
    if !has_boot_signature(sector0) || is_gpt_protective(sector0) {
        return None;
    }
    let signature = u32_le(sector0, mbr::DISK_SIGNATURE)?;
    let mut out = Vec::new();
    for i in 0..mbr::ENTRIES {
        let entry = mbr::PARTITION_TABLE + i * mbr::ENTRY_SIZE;
        if *sector0.get(entry + mbr::ENTRY_TYPE)? != mbr::TYPE_EMPTY {
            let number = i as u32 + 1;
            out.push(PartId {
                number,
                partuuid: format!("{signature:08x}-{number:02x}"),
            });
        }
    }
    Some(out)
}

pub fn is_gpt_protective(sector0: &[u8]) -> bool {
    (0..mbr::ENTRIES).any(|i| {
        sector0.get(mbr::PARTITION_TABLE + i * mbr::ENTRY_SIZE + mbr::ENTRY_TYPE)
            == Some(&mbr::TYPE_GPT_PROTECTIVE)
    })
}

/// Where a GPT's entries are: LBA, count and size of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GptHeader {
    pub entries_lba: u64,
    pub entry_count: u32,
    pub entry_size: u32,
}

/// Reads the header at LBA 1.
pub fn gpt_header(lba1: &[u8]) -> Option<GptHeader> {
    if lba1.get(..gpt::SIGNATURE.len())? != gpt::SIGNATURE {
        return None;
    }
    let h = GptHeader {
        entries_lba: u64_le(lba1, gpt::ENTRIES_LBA)?,
        entry_count: u32_le(lba1, gpt::ENTRY_COUNT)?,
        entry_size: u32_le(lba1, gpt::ENTRY_SIZE)?,
    };
    (h.entry_size >= gpt::MIN_ENTRY_SIZE && h.entry_count <= gpt::MAX_ENTRIES).then_some(h)
}

/// The used entries (non-zero type GUID) and their unique GUIDs.
pub fn gpt_partitions(header: &GptHeader, entries: &[u8]) -> Vec<PartId> {
    let size = header.entry_size as usize;
    let mut out = Vec::new();
    for i in 0..header.entry_count as usize {
        let Some(entry) = entries.get(i * size..(i + 1) * size) else {
            break;
        };
        let type_guid = &entry[gpt::ENTRY_TYPE_GUID..gpt::ENTRY_TYPE_GUID + gpt::GUID_LEN];
        if type_guid.iter().all(|b| *b == 0) {
            continue;
        }
        let mut guid = [0u8; 16];
        guid.copy_from_slice(
            &entry[gpt::ENTRY_UNIQUE_GUID..gpt::ENTRY_UNIQUE_GUID + gpt::GUID_LEN],
        );
        out.push(PartId {
            number: i as u32 + 1,
            partuuid: format_guid(&guid),
        });
    }
    out
}

#[cfg(test)]
mod tests;
