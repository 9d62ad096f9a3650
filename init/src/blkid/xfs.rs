//! The XFS superblock, at the volume's first byte (big-endian, but the UUID and the
//! name are byte strings). Version 5 superblocks carry a CRC-32C over their sector.

use super::{be16, be32, be64, crc, text_field, u32_le, uuid_in_stored_order, FsInfo, FsKind};

pub const MAGIC_VALUE: &[u8; 4] = b"XFSB";
pub const BLOCK_SIZE: usize = 4;
pub const DATA_BLOCKS: usize = 8;
pub const UUID: usize = 32;
pub const AG_COUNT: usize = 88;
/// Low nibble: the superblock version (4 or 5).
pub const VERSION: usize = 100;
pub const SECTOR_SIZE: usize = 102;
/// The filesystem name: blkid's LABEL.
pub const NAME: usize = 108;
pub const NAME_LEN: usize = 12;
pub const BLOCK_LOG: usize = 120;
pub const SECTOR_LOG: usize = 121;
/// Stored little-endian, unlike the other fields: it is written by the CRC code.
pub const CRC: usize = 224;
pub const VERSION_MASK: u16 = 0x000F;
pub const VERSION_5: u16 = 5;
/// Sector and block sizes the kernel accepts.
pub const SECTOR_SIZES: std::ops::RangeInclusive<u16> = 512..=32768;
pub const BLOCK_SIZES: std::ops::RangeInclusive<u32> = 512..=65536;

/// An XFS superblock; `b` starts at the volume's first byte and holds at least its
/// first sector (up to the 8 KiB the caller reads: larger sectors are not recognised).
pub fn probe(b: &[u8]) -> Option<FsInfo> {
    if b.get(..MAGIC_VALUE.len())? != MAGIC_VALUE {
        return None;
    }
    // Sizes must agree with their logarithms, as blkid checks before trusting the magic.
    let sector = be16(b, SECTOR_SIZE)?;
    let block = be32(b, BLOCK_SIZE)?;
    let sane = SECTOR_SIZES.contains(&sector)
        && u32::from(sector) == 1u32.checked_shl(u32::from(*b.get(SECTOR_LOG)?))?
        && BLOCK_SIZES.contains(&block)
        && block == 1u32.checked_shl(u32::from(*b.get(BLOCK_LOG)?))?
        && be32(b, AG_COUNT)? > 0
        && be64(b, DATA_BLOCKS)? > 0;
    if !sane {
        return None;
    }
    if be16(b, VERSION)? & VERSION_MASK == VERSION_5 {
        // The CRC covers the whole sector with its own field counted as zero.
        let sector = b.get(..usize::from(sector))?;
        let mut c = crc::update(crc::CASTAGNOLI, !0, &sector[..CRC]);
        c = crc::update(crc::CASTAGNOLI, c, &[0; 4]);
        c = crc::update(crc::CASTAGNOLI, c, &sector[CRC + 4..]);
        if !c != u32_le(b, CRC)? {
            return None;
        }
    }
    Some(FsInfo {
        kind: FsKind::Xfs,
        uuid: Some(uuid_in_stored_order(b.get(UUID..UUID + 16)?)),
        label: text_field(b.get(NAME..NAME + NAME_LEN)?),
    })
}
