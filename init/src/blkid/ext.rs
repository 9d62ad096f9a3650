//! The ext2/3/4 superblock, 1024 bytes into the volume (little-endian). Which of the
//! three a volume is follows from its feature flags, as blkid decides it: a feature ext3
//! does not know (extents, 64bit, flex_bg, metadata_csum…) makes it ext4, else a journal
//! makes it ext3, else it is ext2.

use super::{crc, text_field, u16_le, u32_le, uuid_in_stored_order, FsInfo, FsKind};

/// Byte offset of the superblock in the volume.
pub const SUPERBLOCK: usize = 1024;
/// Its size; `s_checksum` is its last field.
pub const SUPERBLOCK_LEN: usize = 1024;
pub const LOG_BLOCK_SIZE: usize = 24;
pub const MAGIC: usize = 56;
pub const MAGIC_VALUE: u16 = 0xEF53;
pub const FEATURE_COMPAT: usize = 92;
pub const FEATURE_INCOMPAT: usize = 96;
pub const FEATURE_RO_COMPAT: usize = 100;
pub const UUID: usize = 104;
pub const LABEL: usize = 120;
pub const LABEL_LEN: usize = 16;
pub const CHECKSUM: usize = 1020;

pub const COMPAT_HAS_JOURNAL: u32 = 0x0004;
pub const INCOMPAT_FILETYPE: u32 = 0x0002;
/// The journal needs replaying; an ext3 feature.
pub const INCOMPAT_RECOVER: u32 = 0x0004;
/// An external journal device, not a filesystem (blkid's `jbd`).
pub const INCOMPAT_JOURNAL_DEV: u32 = 0x0008;
pub const INCOMPAT_META_BG: u32 = 0x0010;
pub const INCOMPAT_EXTENTS: u32 = 0x0040;
pub const INCOMPAT_64BIT: u32 = 0x0080;
pub const INCOMPAT_FLEX_BG: u32 = 0x0200;
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x0001;
pub const RO_COMPAT_LARGE_FILE: u32 = 0x0002;
pub const RO_COMPAT_BTREE_DIR: u32 = 0x0004;
pub const RO_COMPAT_HUGE_FILE: u32 = 0x0008;
/// The superblock carries a CRC-32C of its first 1020 bytes in `s_checksum`.
pub const RO_COMPAT_METADATA_CSUM: u32 = 0x0400;

/// The features an ext2 driver understands; anything else needs ext3 or ext4.
pub const EXT2_INCOMPAT: u32 = INCOMPAT_FILETYPE | INCOMPAT_META_BG;
pub const EXT2_RO_COMPAT: u32 = RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_BTREE_DIR;
/// The features an ext3 driver understands; anything else needs ext4.
pub const EXT3_INCOMPAT: u32 = EXT2_INCOMPAT | INCOMPAT_RECOVER;
pub const EXT3_RO_COMPAT: u32 = EXT2_RO_COMPAT;
/// Block sizes go up to 64 KiB (log 6); blkid rejects 256 and above as garbage.
pub const MAX_LOG_BLOCK_SIZE: u32 = 256;

/// An ext2/3/4 superblock; `b` starts at the volume's first byte.
pub fn probe(b: &[u8]) -> Option<FsInfo> {
    let sb = b.get(SUPERBLOCK..SUPERBLOCK + SUPERBLOCK_LEN)?;
    if u16_le(sb, MAGIC)? != MAGIC_VALUE {
        return None;
    }
    let compat = u32_le(sb, FEATURE_COMPAT)?;
    let incompat = u32_le(sb, FEATURE_INCOMPAT)?;
    let ro_compat = u32_le(sb, FEATURE_RO_COMPAT)?;
    // Without a checksum, a sane block size is the only check beyond the magic.
    let sane = if ro_compat & RO_COMPAT_METADATA_CSUM != 0 {
        crc::update(crc::CASTAGNOLI, !0, &sb[..CHECKSUM]) == u32_le(sb, CHECKSUM)?
    } else {
        u32_le(sb, LOG_BLOCK_SIZE)? < MAX_LOG_BLOCK_SIZE
    };
    if !sane || incompat & INCOMPAT_JOURNAL_DEV != 0 {
        return None;
    }
    let has_journal = compat & COMPAT_HAS_JOURNAL != 0;
    let kind = if incompat & !EXT3_INCOMPAT != 0 || ro_compat & !EXT3_RO_COMPAT != 0 {
        FsKind::Ext4
    } else if has_journal {
        FsKind::Ext3
    } else if incompat & !EXT2_INCOMPAT == 0 {
        FsKind::Ext2
    } else {
        // `recover` without a journal: neither ext2 nor ext3, and blkid names it nothing.
        return None;
    };
    Some(FsInfo {
        kind,
        uuid: Some(uuid_in_stored_order(sb.get(UUID..UUID + 16)?)),
        label: text_field(sb.get(LABEL..LABEL + LABEL_LEN)?),
    })
}
