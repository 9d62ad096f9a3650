//! The FAT boot sector: BIOS parameter block (all little-endian) and extended boot
//! record. The layout fields are also read by [`crate::fatchain`].

use super::{has_boot_signature, text_field, u16_le, u32_le, FsInfo, FsKind};

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

/// A FAT boot sector: FAT32 when the 16-bit FAT size and root entry count are zero.
pub fn probe_fat(b: &[u8]) -> Option<FsInfo> {
    if !has_boot_signature(b) {
        return None;
    }
    let bytes_per_sector = u16_le(b, BYTES_PER_SECTOR)?;
    if !bytes_per_sector.is_power_of_two() || !(512..=4096).contains(&bytes_per_sector) {
        return None;
    }
    let is_fat32 = u16_le(b, FAT_SIZE_16)? == 0 && u16_le(b, ROOT_ENTRIES)? == 0;
    let (kind, ebr) = if is_fat32 {
        (FsKind::Fat32, EBR_FAT32)
    } else {
        (FsKind::Fat12or16, EBR_FAT16)
    };
    let signature = *b.get(ebr + EBR_SIGNATURE)?;
    if signature != SIGNATURE_FULL && signature != SIGNATURE_ID_ONLY {
        return None;
    }
    let id = u32_le(b, ebr + EBR_VOLUME_ID)?;
    let mut label = None;
    if signature == SIGNATURE_FULL {
        let fs_type = b.get(ebr + EBR_FS_TYPE..ebr + EBR_FS_TYPE + FS_TYPE_LEN)?;
        if !fs_type.starts_with(b"FAT") {
            return None;
        }
        label = text_field(b.get(ebr + EBR_LABEL..ebr + EBR_LABEL + LABEL_LEN)?)
            .filter(|l| l != NO_LABEL);
    }
    Some(FsInfo {
        kind,
        uuid: Some(format!("{:04X}-{:04X}", id >> 16, id & 0xFFFF)),
        label,
    })
}

/// The cluster size in bytes of a FAT boot sector (the unit in which a FAT file's bytes
/// are contiguous on the volume); None when `b` is not one.
pub fn fat_cluster_bytes(b: &[u8]) -> Option<u32> {
    probe_fat(b)?;
    let sectors = *b.get(SECTORS_PER_CLUSTER)?;
    let bytes = u32::from(u16_le(b, BYTES_PER_SECTOR)?) * u32::from(sectors);
    (sectors.is_power_of_two()).then_some(bytes)
}
