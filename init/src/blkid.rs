//! Identifies volumes and partitions from their first bytes, as blkid would: one module
//! per on-disk structure ([`fat`], [`ext`] for ext2/3/4, [`btrfs`], [`xfs`], [`f2fs`],
//! [`squashfs`]) giving the type, UUID and label, and [`partition`] for the partition
//! ids of an MBR or a GPT. Pure functions over byte slices; the offsets are named after
//! the on-disk structures (util-linux `libblkid/src/superblocks/*.c`, the kernel's headers).

pub mod btrfs;
mod crc;
pub mod ext;
pub mod f2fs;
pub(crate) mod fat;
pub mod partition;
pub mod squashfs;
pub mod xfs;

pub use fat::{fat_cluster_bytes, probe_fat};
pub use partition::{
    format_guid, gpt, gpt_header, gpt_partitions, is_gpt_protective, mbr_partitions, GptHeader,
    PartId,
};

/// The boot-sector signature 0x55 0xAA at bytes 510..512, shared by FAT and MBR.
const BOOT_SIGNATURE_OFFSET: usize = 510;
const BOOT_SIGNATURE: [u8; 2] = [0x55, 0xAA];
/// The sector size of MBR disks and of LBA 1 on 512-byte-sector GPT disks.
pub const SECTOR: usize = 512;
/// The first bytes of a volume, read once: enough for every superblock but btrfs' (FAT
/// at 0, ext and f2fs at 1 KiB with f2fs' checksum up to 4 KiB further, XFS' first sector
/// of up to 4 KiB, squashfs at 0).
pub const HEAD_BYTES: usize = 8 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsKind {
    Fat12or16,
    Fat32,
    Ext2,
    Ext3,
    Ext4,
    Btrfs,
    Xfs,
    F2fs,
    Squashfs,
}

impl FsKind {
    /// The filesystem type, as blkid's TYPE and the kernel's `mount -t` name it: a probed
    /// volume is mounted with this type first. ext2 and ext3 are types of their own even
    /// where the ext4 module serves them (its aliases `fs-ext2`, `fs-ext3` say so).
    pub fn fs_type(self) -> &'static str {
        match self {
            Self::Fat12or16 | Self::Fat32 => "vfat",
            Self::Ext2 => "ext2",
            Self::Ext3 => "ext3",
            Self::Ext4 => "ext4",
            Self::Btrfs => "btrfs",
            Self::Xfs => "xfs",
            Self::F2fs => "f2fs",
            Self::Squashfs => "squashfs",
        }
    }
}

/// What a filesystem says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsInfo {
    pub kind: FsKind,
    /// `1234-ABCD` for FAT, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` for the others; None
    /// where the format has none (squashfs).
    pub uuid: Option<String>,
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

/// Big-endian fields (XFS).
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn has_boot_signature(b: &[u8]) -> bool {
    b.get(BOOT_SIGNATURE_OFFSET..BOOT_SIGNATURE_OFFSET + 2) == Some(&BOOT_SIGNATURE[..])
}

/// A space- or NUL-padded label, None when blank.
fn text_field(raw: &[u8]) -> Option<String> {
    let raw = raw.split(|b| *b == 0).next().unwrap_or_default();
    let s = String::from_utf8_lossy(raw);
    let s = s.trim_end_matches(' ');
    (!s.is_empty()).then(|| s.to_string())
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` with the 16 bytes in stored order (ext, btrfs,
/// XFS, f2fs, as blkid prints them).
fn uuid_in_stored_order(u: &[u8]) -> String {
    let hex =
        |r: std::ops::Range<usize>| -> String { u[r].iter().map(|b| format!("{b:02x}")).collect() };
    format!(
        "{}-{}-{}-{}-{}",
        hex(0..4),
        hex(4..6),
        hex(6..8),
        hex(8..10),
        hex(10..16)
    )
}

/// Probes a volume through `read(offset, len)` (which may return fewer bytes at its end):
/// the probes with a strong magic in the first [`HEAD_BYTES`] first, then FAT (whose boot
/// sector has only a weak signature), then btrfs (the one superblock further in, read
/// only when nothing else matched, so a FAT card costs one read).
pub fn probe_volume(mut read: impl FnMut(u64, usize) -> Option<Vec<u8>>) -> Option<FsInfo> {
    let head = read(0, HEAD_BYTES)?;
    ext::probe(&head)
        .or_else(|| xfs::probe(&head))
        .or_else(|| f2fs::probe(&head))
        .or_else(|| squashfs::probe(&head))
        .or_else(|| probe_fat(&head))
        .or_else(|| btrfs::probe(&read(btrfs::SUPERBLOCK, btrfs::SUPERBLOCK_LEN)?))
}

/// Probes a volume held in memory (at least its first 68 KiB to find btrfs).
pub fn probe(volume: &[u8]) -> Option<FsInfo> {
    probe_volume(|offset, len| {
        let start = usize::try_from(offset).ok()?;
        let rest = volume.get(start..)?;
        Some(rest[..len.min(rest.len())].to_vec())
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod mkfs_tests;
