//! The btrfs superblock, 64 KiB into the volume (little-endian); the volume's UUID is
//! the filesystem's `fsid`, shared by all its devices.

use super::{crc, text_field, u16_le, u32_le, uuid_in_stored_order, FsInfo, FsKind};

/// Byte offset of the primary superblock: the one blkid and the kernel read first.
pub const SUPERBLOCK: u64 = 64 << 10;
/// Its size, over which the checksum runs.
pub const SUPERBLOCK_LEN: usize = 4096;
/// The checksum field: 32 bytes, of which CRC-32C uses the first 4.
pub const CSUM_LEN: usize = 32;
pub const FSID: usize = 32;
pub const MAGIC: usize = 64;
pub const MAGIC_VALUE: &[u8; 8] = b"_BHRfS_M";
pub const SECTOR_SIZE: usize = 144;
pub const CSUM_TYPE: usize = 196;
/// `csum_type` 0; the others (xxhash, sha256, blake2) are taken on the magic alone.
pub const CSUM_TYPE_CRC32C: u16 = 0;
pub const LABEL: usize = 299;
pub const LABEL_LEN: usize = 256;

/// A btrfs superblock; `sb` starts at [`SUPERBLOCK`].
pub fn probe(sb: &[u8]) -> Option<FsInfo> {
    let sb = sb.get(..SUPERBLOCK_LEN)?;
    if sb.get(MAGIC..MAGIC + MAGIC_VALUE.len())? != MAGIC_VALUE {
        return None;
    }
    if u16_le(sb, CSUM_TYPE)? == CSUM_TYPE_CRC32C && crc::crc32c(&sb[CSUM_LEN..]) != u32_le(sb, 0)?
    {
        return None;
    }
    // A zero sector size is a torn or foreign superblock (blkid's test).
    if u32_le(sb, SECTOR_SIZE)? == 0 {
        return None;
    }
    Some(FsInfo {
        kind: FsKind::Btrfs,
        uuid: Some(uuid_in_stored_order(sb.get(FSID..FSID + 16)?)),
        label: text_field(sb.get(LABEL..LABEL + LABEL_LEN)?),
    })
}
