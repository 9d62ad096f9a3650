//! The f2fs superblock, 1024 bytes into the volume (little-endian); its label is
//! UTF-16LE.

use super::{crc, u16_le, u32_le, uuid_in_stored_order, FsInfo, FsKind};

/// Byte offset of the first of the two superblock copies.
pub const SUPERBLOCK: usize = 1024;
pub const MAGIC_VALUE: u32 = 0xF2F5_2010;
pub const MAJOR_VERSION: usize = 4;
pub const MINOR_VERSION: usize = 6;
/// Where the superblock's CRC sits, inside it; 0 when it has none (the default of
/// mkfs.f2fs without `-O sb_checksum`).
pub const CHECKSUM_OFFSET: usize = 32;
pub const UUID: usize = 108;
pub const VOLUME_NAME: usize = 124;
/// In UTF-16 code units.
pub const VOLUME_NAME_UNITS: usize = 512;
/// The checksum must lie inside the superblock's 4 KiB block.
pub const BLOCK: usize = 4096;

/// An f2fs superblock; `b` starts at the volume's first byte.
pub fn probe(b: &[u8]) -> Option<FsInfo> {
    let sb = b.get(SUPERBLOCK..)?;
    if u32_le(sb, 0)? != MAGIC_VALUE {
        return None;
    }
    // Version 1.0 had another layout: blkid names its type and nothing more.
    if (u16_le(sb, MAJOR_VERSION)?, u16_le(sb, MINOR_VERSION)?) == (1, 0) {
        return Some(FsInfo {
            kind: FsKind::F2fs,
            uuid: None,
            label: None,
        });
    }
    let csum_at = u32_le(sb, CHECKSUM_OFFSET)? as usize;
    if csum_at != 0 {
        // f2fs seeds the CRC with its magic and does not invert it.
        let ok = csum_at.is_multiple_of(4)
            && csum_at + 4 <= BLOCK
            && crc::update(crc::IEEE, MAGIC_VALUE, sb.get(..csum_at)?) == u32_le(sb, csum_at)?;
        if !ok {
            return None;
        }
    }
    let units: Vec<u16> = (0..VOLUME_NAME_UNITS)
        .map_while(|i| u16_le(sb, VOLUME_NAME + 2 * i).filter(|u| *u != 0))
        .collect();
    let label = String::from_utf16_lossy(&units);
    Some(FsInfo {
        kind: FsKind::F2fs,
        uuid: Some(uuid_in_stored_order(sb.get(UUID..UUID + 16)?)),
        label: (!label.is_empty()).then_some(label),
    })
}
