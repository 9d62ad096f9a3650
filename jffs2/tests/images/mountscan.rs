//! What the kernel's mount scan reads of each block (`mountscan::more_reads`, which the
//! init reads ahead), on our images and on mkfs.jffs2's and sumtool's.

use std::fs;
use std::path::Path;

use flashroot_jffs2::mountscan::{more_reads, MoreReads};
use flashroot_jffs2::node::summary;
use flashroot_jffs2::Endian;
use flashroot_testsupport::jffs2::*;

const PAGE: usize = 4096;

/// `more_reads` of every block of `image`, beside the block itself.
fn blocks(image: &[u8], erase: u32) -> Vec<(&[u8], MoreReads)> {
    image
        .chunks(erase as usize)
        .map(|b| {
            let reads = more_reads(&b[..PAGE], &b[b.len() - PAGE..], erase, Endian::Little);
            (b, reads)
        })
        .collect()
}

fn holds_nodes(block: &[u8]) -> bool {
    // Past a cleanmarker (12 bytes), anything but 0xFF.
    block[12..].iter().any(|&b| b != 0xFF)
}

#[test]
fn our_images_are_read_by_their_summaries_which_end_their_blocks_and_the_last_block_whole() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    for erase in [16u32 << 10, 64 << 10, 512 << 10] {
        let img = t.path().join("img");
        let o = options_with_devtable(t.path(), erase, 64);
        let report = write_image(&src, &img, &o).unwrap();
        let padded = (report.blocks_used + 3).max(8);
        let o = options_with_devtable(t.path(), erase, padded);
        write_image(&src, &img, &o).unwrap();
        let image = fs::read(&img).unwrap();
        let all = blocks(&image, erase);
        assert_eq!(all.len() as u64, padded);
        for (i, (block, reads)) in all.iter().enumerate() {
            let sum = summary::parse(block, Endian::Little).unwrap();
            match (sum, reads) {
                // Free blocks: their first and last pages tell.
                (None, MoreReads::Nothing) => assert!(!holds_nodes(block), "block {i}"),
                // A summary longer than a page is read from its start, no more.
                (Some(s), MoreReads::Summary { start, len }) => {
                    assert_eq!((*start, *len), (s.offset, erase - s.offset), "block {i}");
                    assert!(*len as usize > PAGE);
                }
                (Some(s), MoreReads::Nothing) => {
                    assert!((erase - s.offset) as usize <= PAGE, "block {i}")
                }
                // The last used block has no summary (its free tail stays free): the
                // scan reads it whole.
                (None, MoreReads::WholeBlock) => {
                    assert_eq!(i as u64, report.blocks_used - 1, "{erase}-byte block {i}")
                }
                (s, r) => panic!("{erase}-byte block {i}: summary {s:?}, reads {r:?}"),
            }
        }
        // Every summary sits at its block's end, so the scan reads the summary alone,
        // also of the last used block, far from full.
        for (i, (block, _)) in all.iter().enumerate() {
            if let Some(s) = summary::parse(block, Endian::Little).unwrap() {
                let records: usize = s.records.iter().map(|r| r.len()).sum();
                let natural = summary::summary_size(records) as u32;
                assert!(
                    erase - s.offset - natural < 4,
                    "{erase}-byte block {i}: a summary of {natural} bytes starts at {}",
                    s.offset
                );
            }
        }
    }
}

#[test]
fn mtd_utils_images_are_read_whole_without_summaries_and_by_summary_with_them() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    let erase = 16u32 << 10;
    let pad = format!("--pad={}", 64 * erase);
    let (raw, summed) = mkfs_jffs2_and_sumtool(t.path(), &src, erase, &[pad]);
    let image = read_padded(&raw, erase);
    let (mut whole, mut free) = (0, 0);
    for (i, (block, reads)) in blocks(&image, erase).into_iter().enumerate() {
        if holds_nodes(block) {
            assert_eq!(reads, MoreReads::WholeBlock, "mkfs.jffs2 block {i}");
            whole += 1;
        } else {
            assert_eq!(reads, MoreReads::Nothing, "mkfs.jffs2 block {i}");
            free += 1;
        }
    }
    assert!(whole > 1 && free > 1, "{whole} used, {free} free");
    let image = read_padded(&summed, erase);
    let mut by_summary = 0;
    for (i, (block, reads)) in blocks(&image, erase).into_iter().enumerate() {
        match summary::parse(block, Endian::Little).unwrap() {
            Some(s) => {
                by_summary += 1;
                let len = erase - s.offset;
                let want = if len as usize > PAGE {
                    MoreReads::Summary {
                        start: s.offset,
                        len,
                    }
                } else {
                    MoreReads::Nothing
                };
                assert_eq!(reads, want, "sumtool block {i}");
            }
            // sumtool writes no summary in a block it did not fill.
            None if holds_nodes(block) => assert_eq!(reads, MoreReads::WholeBlock),
            None => assert_eq!(reads, MoreReads::Nothing, "sumtool block {i}"),
        }
    }
    assert!(by_summary > 1, "sumtool wrote {by_summary} summaries");
}

/// The image, padded with 0xFF to whole blocks.
fn read_padded(path: &Path, erase: u32) -> Vec<u8> {
    let mut bytes = fs::read(path).unwrap();
    bytes.resize(bytes.len().next_multiple_of(erase as usize), 0xFF);
    bytes
}
