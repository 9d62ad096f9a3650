//! What a written image holds: returned by the writer, checked by tests, printed by the CLI.

use std::fmt;

/// Erase blocks the kernel keeps back for deletions (`resv_blocks_deletion`, build.c).
const RESERVE_FOR_DELETION: u64 = 2;
/// build.c reserves 2 % of the flash ...
const RESERVE_FLASH_DIVISOR: u64 = 50;
/// ... plus 100 bytes per erase block for writes.
const RESERVE_BYTES_PER_BLOCK: u64 = 100;

/// The kernel's `resv_blocks_write` for a flash of `blocks` erase blocks of `erase_size`:
/// with fewer free blocks than this, every write fails with ENOSPC (jffs2_reserve_space).
pub fn write_reserve_blocks(blocks: u64, erase_size: u32) -> u64 {
    let erase = erase_size as u64;
    let size = blocks * erase / RESERVE_FLASH_DIVISOR + blocks * RESERVE_BYTES_PER_BLOCK;
    RESERVE_FOR_DELETION + size.div_ceil(erase)
}

/// Facts about one written image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Erase block size in bytes.
    pub erase_size: u32,
    /// Erase blocks in the image (used + free).
    pub blocks_total: u64,
    /// Erase blocks holding nodes.
    pub blocks_used: u64,
    /// Erase blocks holding only a cleanmarker or 0xFF.
    pub blocks_free: u64,
    /// The kernel's write reserve for this geometry (see [`write_reserve_blocks`]).
    pub reserve_blocks: u64,
    /// Image size in bytes.
    pub image_bytes: u64,
    /// Inodes written (the root included).
    pub inodes: u64,
    /// Nodes written (inode and dirent nodes; not cleanmarkers or summaries).
    pub nodes: u64,
    /// File bytes stored in data nodes, before compression (holes excluded).
    pub data_bytes: u64,
    /// The same data as stored, after compression.
    pub stored_bytes: u64,
    /// Bytes of file holes written as ZERO nodes.
    pub hole_bytes: u64,
    /// Bytes of summary nodes (header, records and marker; not the 0xFF before the marker).
    pub summary_bytes: u64,
}

impl Report {
    /// Stored / original data size (1.0 = no gain).
    pub fn compression_ratio(&self) -> f64 {
        if self.data_bytes == 0 {
            1.0
        } else {
            self.stored_bytes as f64 / self.data_bytes as f64
        }
    }

    /// Whether the mounted image leaves the kernel enough free blocks to accept writes.
    pub fn writable(&self) -> bool {
        self.blocks_free >= self.reserve_blocks
    }

    /// The warning to show when the image would mount but refuse every write.
    pub fn reserve_warning(&self) -> Option<String> {
        (!self.writable()).then(|| {
            format!(
                "only {} free erase blocks, but the kernel keeps {} in reserve: the image will mount, \
                 but every write will fail with ENOSPC (pad to at least {} bytes for writes)",
                self.blocks_free,
                self.reserve_blocks,
                (self.blocks_used + self.reserve_blocks) * self.erase_size as u64
            )
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} bytes: {} erase blocks of {} bytes, {} used, {} free (kernel write reserve {})",
            self.image_bytes,
            self.blocks_total,
            self.erase_size,
            self.blocks_used,
            self.blocks_free,
            self.reserve_blocks
        )?;
        writeln!(
            f,
            "{} inodes, {} nodes; data {} -> {} bytes (ratio {:.3}), {} bytes of holes",
            self.inodes,
            self.nodes,
            self.data_bytes,
            self.stored_bytes,
            self.compression_ratio(),
            self.hole_bytes
        )?;
        write!(f, "summary: {} bytes", self.summary_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_matches_build_c() {
        // 256 MiB of 64 KiB blocks: 2 + ceil((5368709 + 409600) / 65536) = 2 + 89.
        assert_eq!(write_reserve_blocks(4096, 64 << 10), 91);
        // 5 blocks of 64 KiB: 2 + ceil((6553 + 500) / 65536) = 3.
        assert_eq!(write_reserve_blocks(5, 64 << 10), 3);
    }

    #[test]
    fn warning_only_below_the_reserve() {
        let mut r = Report {
            erase_size: 65536,
            blocks_total: 10,
            blocks_used: 8,
            blocks_free: 2,
            reserve_blocks: 3,
            ..Default::default()
        };
        let w = r.reserve_warning().unwrap();
        assert!(
            w.contains("only 2 free erase blocks") && w.contains("720896"),
            "{w}"
        );
        r.blocks_free = 3;
        assert_eq!(r.reserve_warning(), None);
    }
}
