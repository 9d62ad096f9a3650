//! What the kernel's mount scan reads of each erase block, so that the init can have it
//! read ahead (see `init/src/scanahead.rs`).
//!
//! The scan (`jffs2_scan_eraseblock` in fs/jffs2/scan.c, with summaries compiled in as
//! Debian's kernel has them, on flash without a write buffer such as block2mtd) reads a
//! block's last bytes for the summary marker, and its first bytes. A marker sends it to
//! the summary, from where the marker says it starts to the block's end. Without one it
//! looks at the first bytes: all 0xFF, or a cleanmarker and then 0xFF, is an empty block
//! and the scan stops there; anything else is scanned node by node to the block's end.
//!
//! A wrong answer here costs time, never data: the kernel reads what it needs either way.

use crate::endian::Endian;
use crate::node::summary::{MARKER_SIZE, SUMMARY_MAGIC};
use crate::node::{nodetype, Header};

/// How many first bytes of a block the scan looks at before it calls the block empty.
pub const EMPTY_SCAN_SIZE: usize = 1024;
/// After a cleanmarker, the scan trusts a block as empty when this many of its first
/// bytes are 0xFF (`EMPTY_SCAN_SIZE / 8`, the kernel's own shortcut).
pub const CLEANMARKER_EMPTY_SCAN: usize = EMPTY_SCAN_SIZE / 8;

/// What the scan reads of a block besides its first and last pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoreReads {
    /// Nothing: an empty block, or a summary within the last page.
    Nothing,
    /// The summary: `len` bytes from `start` (an offset within the block) to its end.
    Summary {
        /// Where the summary node starts within the block.
        start: u32,
        /// Its length, to the end of the block.
        len: u32,
    },
    /// The whole block: it holds nodes and no summary.
    WholeBlock,
}

/// What the scan of a block of `erase_size` bytes reads beyond `first` (its first bytes,
/// at least [`EMPTY_SCAN_SIZE`] when the block is that large) and `last` (its last bytes,
/// at least the marker's 8).
pub fn more_reads(first: &[u8], last: &[u8], erase_size: u32, endian: Endian) -> MoreReads {
    if last.len() >= MARKER_SIZE {
        let marker = last.len() - MARKER_SIZE;
        if endian.u32_at(last, marker + 4) == Some(SUMMARY_MAGIC) {
            return match endian.u32_at(last, marker) {
                Some(start) if start < erase_size => {
                    let len = erase_size - start;
                    if len as usize <= last.len() {
                        MoreReads::Nothing
                    } else {
                        MoreReads::Summary { start, len }
                    }
                }
                // A marker pointing nowhere: the kernel scans the block itself.
                _ => MoreReads::WholeBlock,
            };
        }
    }
    let head = &first[..first.len().min(EMPTY_SCAN_SIZE).min(erase_size as usize)];
    let all_ff = |b: &[u8]| b.iter().all(|&x| x == 0xFF);
    if all_ff(head) {
        return MoreReads::Nothing;
    }
    if let Some(h) = Header::parse(head, endian) {
        let after = (h.totlen as usize).min(head.len());
        let trusted = CLEANMARKER_EMPTY_SCAN.min(head.len());
        if h.crc_ok
            && h.nodetype == nodetype::CLEANMARKER
            && after <= trusted
            && all_ff(&head[after..trusted])
        {
            return MoreReads::Nothing;
        }
    }
    MoreReads::WholeBlock
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{cleanmarker, summary};

    const ERASE: u32 = 64 << 10;
    const PAGE: usize = 4096;

    fn block_with(head: &[u8]) -> Vec<u8> {
        let mut b = head.to_vec();
        b.resize(ERASE as usize, 0xFF);
        b
    }

    fn reads(block: &[u8]) -> MoreReads {
        let e = ERASE as usize;
        more_reads(&block[..PAGE], &block[e - PAGE..], ERASE, Endian::Little)
    }

    fn cleanmarker() -> Vec<u8> {
        let mut b = Vec::new();
        cleanmarker::encode(&mut b, Endian::Little, cleanmarker::CLEANMARKER_SIZE);
        b
    }

    fn with_summary(mut block: Vec<u8>, at: u32) -> Vec<u8> {
        block.resize(at as usize, 0xFF);
        let info = summary::SummaryInfo {
            sum_num: 0,
            cln_mkr: 12,
            padded: 0,
        };
        summary::encode(&mut block, Endian::Little, info, &[], at, ERASE);
        block
    }

    #[test]
    fn erased_and_cleanmarker_only_blocks_need_nothing_more() {
        assert_eq!(reads(&block_with(&[])), MoreReads::Nothing);
        assert_eq!(reads(&block_with(&cleanmarker())), MoreReads::Nothing);
    }

    #[test]
    fn a_block_with_nodes_and_no_summary_is_read_whole() {
        let mut head = cleanmarker();
        head.extend_from_slice(&[0x85, 0x19, 0x01, 0xE0, 0x44, 0, 0, 0]);
        assert_eq!(reads(&block_with(&head)), MoreReads::WholeBlock);
        // A cleanmarker with a bad CRC is no cleanmarker.
        let mut bad = cleanmarker();
        bad[8] ^= 1;
        assert_eq!(reads(&block_with(&bad)), MoreReads::WholeBlock);
    }

    #[test]
    fn a_summary_is_read_from_where_its_marker_says() {
        let near_end = ERASE - 100;
        assert_eq!(
            reads(&with_summary(cleanmarker(), near_end)),
            MoreReads::Nothing
        );
        let after_data = 300;
        assert_eq!(
            reads(&with_summary(cleanmarker(), after_data)),
            MoreReads::Summary {
                start: after_data,
                len: ERASE - after_data
            }
        );
        let mut pointing_nowhere = block_with(&cleanmarker());
        let e = ERASE as usize;
        pointing_nowhere[e - 8..e - 4].copy_from_slice(&ERASE.to_le_bytes());
        pointing_nowhere[e - 4..].copy_from_slice(&SUMMARY_MAGIC.to_le_bytes());
        assert_eq!(reads(&pointing_nowhere), MoreReads::WholeBlock);
    }
}
