//! Everything that decides an image's bytes, in one struct: geometry, byte order,
//! compression, owners and times. Same tree + same `Options` = same image.

use std::path::PathBuf;

use crate::compress::Compression;
use crate::endian::Endian;
use crate::node::cleanmarker::CLEANMARKER_SIZE;

/// mkfs.jffs2's default erase block size.
pub const DEFAULT_ERASE_SIZE: u32 = 64 << 10;
/// The kernel's page size on x86 and most ARM: data nodes never cross a page.
pub const DEFAULT_PAGE_SIZE: u32 = 4096;

/// How erase blocks past the data are written (padding up to `pad_to`).
///
/// The default follows `mkfs.jffs2 --pad`, which writes a cleanmarker into every padded
/// block. Bare 0xFF blocks (what the mkfs.jffs2 + sumtool + re-padding pipeline leaves)
/// mount as fast within noise (bench/jffs2-results.md), but the kernel queues each for
/// erase: after the first mount it writes a cleanmarker into every one of them (one page
/// per free block written to the card), and an unmount during that work logs
/// "Erase at 0x… failed immediately: errno -4". Seen in tests/tests/jffs2_kernel.rs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EmptyBlocks {
    /// Bare 0xFF. scan.c reads 256 bytes, sees no cleanmarker and queues the block for
    /// erase (BLK_STATE_ALLFF); the erase and the cleanmarker written after it follow.
    Erased,
    /// A cleanmarker, then 0xFF, as mkfs.jffs2 pads. scan.c checks 32 bytes after the
    /// cleanmarker and takes the block as free at once (BLK_STATE_CLEANMARKER): nothing
    /// is queued for erase and nothing is written to the card for it. Without cleanmarkers
    /// (`-n`) blocks stay bare 0xFF whatever this says.
    #[default]
    Cleanmarker,
}

/// How owners are recorded (mkfs.jffs2 `-U`/`-q`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Squash {
    /// All files owned by root:root.
    pub owners: bool,
    /// Group and other write permission removed (mkfs.jffs2 `-P`).
    pub perms: bool,
}

/// What the timestamps become.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Times {
    /// As in the source tree.
    #[default]
    Keep,
    /// No later than this (`SOURCE_DATE_EPOCH`).
    ClampTo(u32),
    /// All zero (mkfs.jffs2 `-f`).
    Zero,
}

impl Times {
    /// A source time (seconds since the epoch) as JFFS2 stores it: u32, clamped.
    pub fn apply(self, secs: i64) -> u32 {
        let t = secs.clamp(0, u32::MAX as i64) as u32;
        match self {
            Times::Keep => t,
            Times::ClampTo(max) => t.min(max),
            Times::Zero => 0,
        }
    }
}

/// Options of one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Erase block size in bytes: must equal block2mtd's `erasesize`.
    pub erase_size: u32,
    /// Data node granularity: the target kernel's page size.
    pub page_size: u32,
    /// Byte order (the target kernel's).
    pub endian: Endian,
    /// Cleanmarker size at the start of each block; None for `-n` (no cleanmarkers).
    pub cleanmarker: Option<u32>,
    /// Write an erase block summary at the end of every used block.
    pub summary: bool,
    /// Total image size: the image is padded to it with free erase blocks.
    pub pad_to: Option<u64>,
    /// How free blocks past the data are written.
    pub empty_blocks: EmptyBlocks,
    /// Page compression.
    pub compression: Compression,
    /// Owners and permissions squashed.
    pub squash: Squash,
    /// What the timestamps become.
    pub times: Times,
    /// mkfs.jffs2 device table (`-D`): devices, fifos, dirs and owners added to the tree.
    pub devtable: Option<PathBuf>,
    /// Store extended attributes (user., security., trusted.): only kernels with
    /// CONFIG_JFFS2_FS_XATTR mount such images.
    pub xattrs: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            erase_size: DEFAULT_ERASE_SIZE,
            page_size: DEFAULT_PAGE_SIZE,
            endian: Endian::Little,
            cleanmarker: Some(CLEANMARKER_SIZE),
            summary: true,
            pad_to: None,
            empty_blocks: EmptyBlocks::Cleanmarker,
            compression: Compression::default(),
            squash: Squash::default(),
            times: Times::Keep,
            devtable: None,
            xattrs: false,
            progress: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn times_are_clamped_into_u32() {
        assert_eq!(Times::Keep.apply(-5), 0);
        assert_eq!(Times::Keep.apply(1 << 40), u32::MAX);
        assert_eq!(Times::ClampTo(100).apply(150), 100);
        assert_eq!(Times::ClampTo(100).apply(50), 50);
        assert_eq!(Times::Zero.apply(50), 0);
    }
}
