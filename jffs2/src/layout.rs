//! Fills erase blocks with encoded nodes, in the order given: cleanmarker first, nodes
//! 4-byte aligned, none crossing a block, and room kept at each block end for the summary
//! node and its marker. Only one block is held in memory.

use std::io::Write;

use crate::endian::Endian;
use crate::error::{Error, Result};
use crate::node::summary::{self, Record, SummaryInfo};
use crate::node::{align, cleanmarker, NODE_ALIGN};
use crate::options::EmptyBlocks;

/// Empty blocks are written in chunks of about this size.
const PAD_CHUNK_BYTES: usize = 4 << 20;

/// Geometry and format of the blocks.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    /// Erase block size in bytes.
    pub erase_size: u32,
    /// Byte order of every field.
    pub endian: Endian,
    /// Cleanmarker size at the start of each block; None for none.
    pub cleanmarker: Option<u32>,
    /// Whether each used block ends with a summary.
    pub summary: bool,
    /// Blocks the image may hold (from `Options::pad_to`, or the 4 GiB limit).
    pub max_blocks: u64,
}

/// What the filler counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filled {
    /// Blocks holding nodes (including any that did not fit under `max_blocks`).
    pub blocks_used: u64,
    /// Blocks written, padding included.
    pub blocks_written: u64,
    /// Nodes laid out.
    pub nodes: u64,
    /// Bytes of summary nodes and markers.
    pub summary_bytes: u64,
}

/// Why a block is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    /// The next node does not fit.
    Full,
    /// The nodes ended.
    Last,
}

/// Lays encoded nodes out into erase blocks written to `W`, one block in memory at a time.
pub struct BlockFiller<W: Write> {
    out: W,
    geo: Geometry,
    block: Vec<u8>,
    records: Vec<u8>,
    sum_num: u32,
    has_nodes: bool,
    counts: Filled,
}

impl<W: Write> BlockFiller<W> {
    /// A filler writing blocks of `geo` to `out`; the first block is started.
    pub fn new(out: W, geo: Geometry) -> Self {
        let mut f = Self {
            out,
            geo,
            block: Vec::with_capacity(geo.erase_size as usize),
            records: Vec::new(),
            sum_num: 0,
            has_nodes: false,
            counts: Filled::default(),
        };
        f.start_block();
        f
    }

    fn start_block(&mut self) {
        self.block.clear();
        if let Some(size) = self.geo.cleanmarker {
            cleanmarker::encode(&mut self.block, self.geo.endian, size);
        }
    }

    /// Room a block needs after its last node: the summary with `records_len` bytes of records.
    fn tail(&self, records_len: usize) -> usize {
        if self.geo.summary {
            summary::summary_size(records_len)
        } else {
            0
        }
    }

    /// Appends one encoded node; `record` is its summary record with any offset.
    pub fn add(&mut self, node: &[u8], record: Option<Record>) -> Result<()> {
        let erase = self.geo.erase_size as usize;
        let rec_len = record.as_ref().map_or(0, Record::len);
        loop {
            let at = align(self.block.len());
            let end = at + node.len();
            let tail_at = if self.geo.summary { align(end) } else { end };
            if tail_at + self.tail(self.records.len() + rec_len) <= erase {
                self.block.resize(at, 0xFF);
                self.block.extend_from_slice(node);
                if let Some(mut r) = record {
                    r.set_offset(at as u32);
                    r.encode(self.geo.endian, &mut self.records);
                    self.sum_num += 1;
                }
                self.has_nodes = true;
                self.counts.nodes += 1;
                return Ok(());
            }
            if !self.has_nodes {
                return Err(Error::NodeTooLarge {
                    len: node.len(),
                    erase_size: self.geo.erase_size,
                });
            }
            self.finish_block(Close::Full)?;
        }
    }

    fn finish_block(&mut self, close: Close) -> Result<()> {
        let erase = self.geo.erase_size;
        // The last block gets no summary, as the kernel and sumtool leave a block they have
        // not filled: its free tail stays free, and the kernel writes its next nodes there.
        // (A summary marks the rest of its block used or dirty: the kernel's garbage
        // collection then picks the block early, which the wear bench showed as one more
        // write to the hottest sector.) The mount scans such a block whole; the init reads
        // it ahead, so that costs a request per 128 KiB.
        if self.geo.summary && close == Close::Full {
            // The kernel's mount reads a summary from where its marker says it starts to
            // the block's end. A block closes when its next node does not fit, which can
            // leave up to a node's size free; the summary goes at the very end and the gap
            // before it stays 0xFF (as mkfs.jffs2 and sumtool pad), so the mount reads the
            // summary alone and counts the gap as dirty. (A padding node would claim the
            // gap too, but its body is covered by no CRC: a check could not tell it was
            // damaged.)
            let at =
                (erase as usize - summary::summary_size(self.records.len())) & !(NODE_ALIGN - 1);
            debug_assert!(at >= align(self.block.len()));
            let info = SummaryInfo {
                sum_num: self.sum_num,
                cln_mkr: self.geo.cleanmarker.unwrap_or(0),
                padded: 0,
            };
            self.block.resize(at, 0xFF);
            summary::encode(
                &mut self.block,
                self.geo.endian,
                info,
                &self.records,
                at as u32,
                erase,
            );
            self.counts.summary_bytes += summary::summary_size(self.records.len()) as u64;
        } else {
            self.block.resize(erase as usize, 0xFF);
        }
        debug_assert_eq!(self.block.len(), erase as usize);
        self.counts.blocks_used += 1;
        // Past the limit, keep counting (to tell how much room the tree needs) but write nothing.
        if self.counts.blocks_written < self.geo.max_blocks {
            self.out.write_all(&self.block).map_err(Error::Output)?;
            self.counts.blocks_written += 1;
        }
        self.records.clear();
        self.sum_num = 0;
        self.has_nodes = false;
        self.start_block();
        Ok(())
    }

    /// Closes the last block and pads with empty blocks up to `total_blocks`.
    pub fn finish(mut self, total_blocks: u64, empty: EmptyBlocks) -> Result<(W, Filled)> {
        if self.has_nodes {
            self.finish_block(Close::Last)?;
        }
        let missing = total_blocks.saturating_sub(self.counts.blocks_written);
        if missing > 0 && self.counts.blocks_used <= self.geo.max_blocks {
            let mut one = Vec::with_capacity(self.geo.erase_size as usize);
            if let (Some(size), EmptyBlocks::Cleanmarker) = (self.geo.cleanmarker, empty) {
                cleanmarker::encode(&mut one, self.geo.endian, size);
            }
            one.resize(self.geo.erase_size as usize, 0xFF);
            let per_chunk = (PAD_CHUNK_BYTES / one.len()).max(1) as u64;
            let chunk = one.repeat(per_chunk.min(missing) as usize);
            let mut left = missing;
            while left > 0 {
                let n = left.min(per_chunk);
                self.out
                    .write_all(&chunk[..(n as usize) * one.len()])
                    .map_err(Error::Output)?;
                left -= n;
            }
            self.counts.blocks_written += missing;
        }
        self.out.flush().map_err(Error::Output)?;
        Ok((self.out, self.counts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::summary::{DIRENT_RECORD_BASE, MARKER_SIZE, SUMMARY_HEADER_SIZE};

    const ERASE: u32 = 256;

    fn geo(summary: bool) -> Geometry {
        Geometry {
            erase_size: ERASE,
            endian: Endian::Little,
            cleanmarker: Some(12),
            summary,
            max_blocks: 100,
        }
    }

    fn dirent_record() -> Record {
        Record::Dirent {
            totlen: 41,
            offset: 0,
            pino: 1,
            version: 1,
            ino: 2,
            dtype: 8,
            name: vec![b'a'],
        }
    }

    #[test]
    fn nodes_are_aligned_and_the_last_block_has_no_summary() {
        let mut f = BlockFiller::new(Vec::new(), geo(true));
        f.add(&[0xAA; 41], Some(dirent_record())).unwrap();
        f.add(&[0xBB; 10], Some(dirent_record())).unwrap();
        let (img, counts) = f.finish(2, EmptyBlocks::Cleanmarker).unwrap();
        assert_eq!(img.len(), 2 * ERASE as usize);
        assert_eq!(
            (counts.blocks_used, counts.blocks_written, counts.nodes),
            (1, 2, 2)
        );
        assert_eq!(&img[12..53], [0xAA; 41]);
        assert_eq!(&img[53..56], [0xFF; 3], "gap to the 4-byte boundary");
        assert_eq!(&img[56..66], [0xBB; 10]);
        // The block the nodes ended in keeps its free tail free, as the kernel leaves a
        // block it has not filled: no summary.
        assert!(img[66..ERASE as usize].iter().all(|&b| b == 0xFF));
        assert_eq!(counts.summary_bytes, 0);
        // The padding block: cleanmarker, then 0xFF.
        assert_eq!(&img[256..260], [0x85, 0x19, 0x03, 0x20]);
        assert!(img[268..].iter().all(|&b| b == 0xFF));
    }

    #[test]
    fn a_full_block_ends_with_its_summary() {
        // Three 40-byte nodes fill the 256-byte block with their summary (115 bytes); the
        // fourth moves on to the next block.
        let mut f = BlockFiller::new(Vec::new(), geo(true));
        for n in 0..4u8 {
            f.add(&[n; 40], Some(dirent_record())).unwrap();
        }
        let (img, counts) = f.finish(2, EmptyBlocks::Cleanmarker).unwrap();
        assert_eq!(counts.blocks_used, 2);
        let s = summary::parse(&img[..ERASE as usize], Endian::Little)
            .unwrap()
            .expect("a summary in the full block");
        let offsets: Vec<u32> = s.records.iter().map(Record::offset).collect();
        assert_eq!(offsets, [12, 52, 92]);
        let summary_bytes = SUMMARY_HEADER_SIZE + 3 * (DIRENT_RECORD_BASE + 1) + MARKER_SIZE;
        assert_eq!(counts.summary_bytes as usize, summary_bytes);
        // At the end of the block (4-byte aligned), so that the mount reads no more than
        // it; the gap after the last node stays 0xFF.
        let at = (ERASE as usize - summary_bytes) & !3;
        assert_eq!(s.offset as usize, at);
        assert_eq!(at, 140);
        assert!(img[132..at].iter().all(|&b| b == 0xFF));
        assert_eq!(&img[256 + 12..256 + 52], [3; 40]);
    }

    #[test]
    fn a_node_that_leaves_no_room_for_the_summary_moves_on() {
        // 12 + 150 (+2 gap) + 100 = 264 bytes do not fit a 256-byte block.
        let mut f = BlockFiller::new(Vec::new(), geo(true));
        f.add(&[1; 150], Some(dirent_record())).unwrap();
        f.add(&[2; 100], Some(dirent_record())).unwrap();
        let (img, counts) = f.finish(0, EmptyBlocks::Erased).unwrap();
        assert_eq!(counts.blocks_used, 2);
        assert_eq!(&img[256 + 12..256 + 112], [2; 100]);
        // Without summaries, only the node itself must fit.
        let mut f = BlockFiller::new(Vec::new(), geo(false));
        f.add(&[1; 150], None).unwrap();
        f.add(&[2; 92], None).unwrap();
        let (img, counts) = f.finish(0, EmptyBlocks::Erased).unwrap();
        assert_eq!((counts.blocks_used, img.len()), (1, 256));
    }

    #[test]
    fn oversized_node_is_an_error() {
        let mut f = BlockFiller::new(Vec::new(), geo(true));
        let e = f.add(&[0; 250], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a node of 250 bytes does not fit an erase block of 256 bytes"
        );
    }

    #[test]
    fn erased_padding_has_no_cleanmarker() {
        let mut f = BlockFiller::new(Vec::new(), geo(false));
        f.add(&[1; 4], None).unwrap();
        let (img, _) = f.finish(3, EmptyBlocks::Erased).unwrap();
        assert_eq!(img.len(), 3 * 256);
        assert!(img[256..].iter().all(|&b| b == 0xFF));
    }
}
