//! The free space a JFFS2 filesystem really has for file data: the one place that turns
//! what userspace can read (statfs and the MTD geometry) into bytes a write can use.
//!
//! What the kernel does (fs/jffs2, 6.1):
//! - `jffs2_calc_trigger_levels` (build.c) keeps `resv_blocks_write` erase blocks for
//!   garbage collection: 2 for deletions, plus `(flash/50 + blocks*100 + erase-1) / erase`;
//!   and `nospc_dirty_size = erase + flash/100`.
//! - `jffs2_statfs` (fs.c) reports `dirty + free - resv_blocks_write*erase` (0 if negative),
//!   in pages. So `df` already leaves the reserve out, but counts dirty space (obsolete
//!   nodes) as free, and counts raw flash, not file data.
//! - `jffs2_reserve_space` (nodemgmt.c) lets a normal write take a free block while at
//!   least `resv_blocks_write` stay free; below that it must garbage-collect, and gives
//!   ENOSPC when the dirty space is under `nospc_dirty_size` (nothing worth collecting) or
//!   when `(free + dirty + erasing + unchecked) / erase <= resv_blocks_write`.
//!
//! Userspace cannot tell dirty from free, so the answer is a range: at least
//! [`Jffs2Space::data_free`] bytes of incompressible file data fit whatever the dirty space
//! is; more than [`Jffs2Space::data_free_max`] never fit. Compressible data takes less.

use serde::Serialize;

/// A data node carries at most one page of a file.
pub const NODE_DATA_BYTES: u64 = 4096;
/// `jffs2_raw_inode`, the header of every data node.
pub const INODE_HEADER_BYTES: u64 = 68;
/// The erase block summary's record of one inode node (`jffs2_sum_inode_flash`).
pub const SUMMARY_INODE_RECORD_BYTES: u64 = 18;
/// Written once per erase block: the cleanmarker (12) and the summary node's header (32)
/// with the end marker (8).
pub const BLOCK_FIXED_BYTES: u64 = 12 + 32 + 8;
/// A write split at a block's end costs one more header and record, and 4-byte padding.
pub const BLOCK_SPLIT_BYTES: u64 = INODE_HEADER_BYTES + SUMMARY_INODE_RECORD_BYTES + 4;

/// An MTD device as JFFS2 sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Geometry {
    /// `c->flash_size`: the MTD device's size (`/sys/class/mtd/mtdN/size`).
    pub flash_bytes: u64,
    /// `c->sector_size`: the erase block size (`/sys/class/mtd/mtdN/erasesize`).
    pub erase_bytes: u64,
}

/// What statfs(2) says of the mounted filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Statfs {
    /// `f_bsize`/`f_frsize`: JFFS2 reports in pages.
    pub block_bytes: u64,
    /// `f_bavail` (equal to `f_bfree` on JFFS2).
    pub avail_blocks: u64,
}

/// The free space of one JFFS2 filesystem, every figure in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Jffs2Space {
    /// The erase blocks the kernel keeps for garbage collection (`resv_blocks_write`).
    pub reserve_bytes: u64,
    /// What `df` shows as available (the reserve already left out, dirty space counted).
    pub df_free: u64,
    /// Raw flash a write can surely use.
    pub raw_free: u64,
    /// Raw flash no write can use beyond.
    pub raw_free_max: u64,
    /// Incompressible file data that surely fits.
    pub data_free: u64,
    /// Incompressible file data beyond which a write fails with ENOSPC.
    pub data_free_max: u64,
}

impl Geometry {
    pub fn blocks(&self) -> u64 {
        self.flash_bytes / self.erase_bytes.max(1)
    }

    /// `c->resv_blocks_write`, as build.c computes it.
    pub fn reserve_blocks(&self) -> u64 {
        const DELETION_BLOCKS: u64 = 2;
        let erase = self.erase_bytes.max(1);
        let size = self.flash_bytes / 50 + self.blocks() * 100 + erase - 1;
        DELETION_BLOCKS + size / erase
    }

    /// `c->nospc_dirty_size`: less dirty space than this is not worth collecting.
    pub fn nospc_dirty_bytes(&self) -> u64 {
        self.erase_bytes + self.flash_bytes / 100
    }

    /// Incompressible file data that `raw` bytes of erased flash hold: whole pages in data
    /// nodes with their headers and summary records, and each erase block's fixed cost.
    pub fn data_in(&self, raw: u64) -> u64 {
        let erase = self.erase_bytes.max(1);
        let per_block = erase.saturating_sub(BLOCK_FIXED_BYTES + BLOCK_SPLIT_BYTES);
        let node = NODE_DATA_BYTES + INODE_HEADER_BYTES + SUMMARY_INODE_RECORD_BYTES;
        let usable = raw / erase * per_block
            + (raw % erase).saturating_sub(BLOCK_FIXED_BYTES + BLOCK_SPLIT_BYTES);
        usable * NODE_DATA_BYTES / node
    }
}

/// The free space of a JFFS2 filesystem on `geometry` whose statfs says `statfs`.
pub fn jffs2_space(geometry: Geometry, statfs: Statfs) -> Jffs2Space {
    let df_free = statfs.avail_blocks * statfs.block_bytes;
    // statfs rounds down to a page; the kernel's own figure can be a page more.
    let counted_max = df_free + statfs.block_bytes;
    // Worst case: dirty space just under nospc_dirty_size, which no collection frees.
    // (With more dirty space, collection stops at (resv+1) blocks: one block less.)
    let raw_free = df_free.saturating_sub(geometry.nospc_dirty_bytes().max(geometry.erase_bytes));
    // Best case: no dirty space; writes take free blocks while resv_blocks_write stay
    // free, so the last one taken is a reserve block: one block more than df says.
    let raw_free_max = counted_max + geometry.erase_bytes;
    Jffs2Space {
        reserve_bytes: geometry.reserve_blocks() * geometry.erase_bytes,
        df_free,
        raw_free,
        raw_free_max,
        data_free: geometry.data_in(raw_free),
        data_free_max: raw_free_max * NODE_DATA_BYTES / (NODE_DATA_BYTES + INODE_HEADER_BYTES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;

    #[test]
    fn reserve_follows_build_c_for_the_test_and_default_containers() {
        // 8 MiB of 64 KiB blocks: 2 + (167772 + 12800 + 65535) / 65536 = 2 + 3.
        let small = Geometry {
            flash_bytes: 8 * MIB,
            erase_bytes: 64 * KIB,
        };
        assert_eq!(small.reserve_blocks(), 5);
        assert_eq!(small.nospc_dirty_bytes(), 65536 + 83886);
        // 192 MiB: 2 + (4026531 + 307200 + 65535) / 65536 = 2 + 67.
        let debian = Geometry {
            flash_bytes: 192 * MIB,
            erase_bytes: 64 * KIB,
        };
        assert_eq!(debian.reserve_blocks(), 69);
    }

    #[test]
    fn range_brackets_what_df_says_and_data_is_less_than_raw() {
        let g = Geometry {
            flash_bytes: 8 * MIB,
            erase_bytes: 64 * KIB,
        };
        let s = jffs2_space(
            g,
            Statfs {
                block_bytes: 4096,
                avail_blocks: 1000,
            },
        );
        assert_eq!(s.df_free, 4_096_000);
        assert_eq!(s.raw_free, 4_096_000 - 149_422);
        assert_eq!(s.raw_free_max, 4_096_000 + 4096 + 65536);
        assert!(s.data_free < s.raw_free && s.data_free_max < s.raw_free_max);
        // About 2 % goes to node headers and summary records.
        assert!(s.data_free > s.raw_free / 100 * 97, "{s:?}");
        assert_eq!(s.reserve_bytes, 5 * 65536);
    }

    #[test]
    fn nothing_free_is_zero_not_an_underflow() {
        let g = Geometry {
            flash_bytes: 8 * MIB,
            erase_bytes: 64 * KIB,
        };
        let s = jffs2_space(
            g,
            Statfs {
                block_bytes: 4096,
                avail_blocks: 0,
            },
        );
        assert_eq!((s.df_free, s.raw_free, s.data_free), (0, 0, 0));
        assert_eq!(g.data_in(0), 0);
        assert_eq!(g.data_in(100), 0);
    }
}
