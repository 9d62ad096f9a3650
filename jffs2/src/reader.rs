//! Reads an image back: a scan that checks every node the way the kernel would (header,
//! node and data CRCs, block bounds, cleanmarkers, every summary against the nodes it
//! describes) and names the offset of anything wrong; [`super::readback`] builds the
//! file system from the valid nodes. Never panics, whatever the bytes: a fuzz target holds it to that.
//!
//! ```
//! use flashroot_jffs2::{scan, tree::{Meta, Tree}, write_tree, Options};
//!
//! let opts = Options { pad_to: Some(5 << 16), ..Options::default() };
//! let mut image = Vec::new();
//! write_tree(&Tree::new(Meta::new(0o755))?, &mut image, &opts)?;
//! image[12 + 20] ^= 0x10; // the mode of the root's inode node, after the cleanmarker
//! let s = scan(&image, None)?;
//! assert_eq!(s.erase_size, 64 << 10);
//! assert_eq!(s.problems[0].to_string(), "at 0x0000000c: inode node (ino 1) CRC is wrong");
//! assert!(s.check().is_err());
//! # Ok::<(), flashroot_jffs2::Error>(())
//! ```

use std::ops::Range;

use crate::endian::Endian;
pub use crate::error::Problem;
use crate::error::{Error, Result};
use crate::node::dirent::{RawDirent, DIRENT_SIZE};
use crate::node::inode::{RawInode, INODE_SIZE};
use crate::node::summary::{self, ParsedSummary, Record};
use crate::node::xattr::{RawXattr, RawXref};
use crate::node::{align, nodetype, Header, HEADER_SIZE, NODE_ALIGN};
use crate::probe::{self, Identity};

/// The erase size assumed when nothing in the image tells (mkfs.jffs2's default).
pub const FALLBACK_ERASE: u32 = 64 << 10;
/// Node type bits that say how an unknown type must be treated.
const COMPAT_MASK: u16 = 0xC000;
/// An unknown node type with these bits must make the kernel refuse the image.
const FEATURE_INCOMPAT: u16 = 0xC000;

/// A node that passed its checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// An inode node and where its stored data is in the image.
    Inode(RawInode, Range<usize>),
    /// A directory entry.
    Dirent(RawDirent),
    /// An extended attribute datum.
    Xattr(RawXattr),
    /// A reference from an inode to an xattr datum.
    Xref(RawXref),
}

/// The result of scanning a whole image.
#[derive(Clone, Debug)]
pub struct Scan {
    /// Byte order (little-endian for an all-0xFF image).
    pub endian: Endian,
    /// The erase size the scan used: given, found, or [`FALLBACK_ERASE`].
    pub erase_size: u32,
    /// What [`probe::identify`] found: byte order, first node, erase size if anything
    /// tells. None: the image is all 0xFF.
    pub identity: Option<Identity>,
    /// Valid inode and dirent nodes with their offsets, in image order.
    pub nodes: Vec<(u64, Node)>,
    /// Everything wrong, by offset.
    pub problems: Vec<Problem>,
    /// Erase blocks scanned.
    pub blocks: u64,
    /// Blocks ending with a valid summary.
    pub blocks_with_summary: u64,
    /// Blocks with nothing but (optionally) a cleanmarker.
    pub blocks_empty: u64,
}

/// Scans `image`. `erase_size` None: found by [`probe::detect_erase_size`], else
/// [`FALLBACK_ERASE`]. An image of 0xFF alone is an empty file system (the kernel formats
/// it at mount). Err only when this is not a JFFS2 image at all.
pub fn scan(image: &[u8], erase_size: Option<u32>) -> Result<Scan> {
    let id = probe::identify(image)?;
    let endian = id.map_or(Endian::Little, |id| id.endian);
    let found = id.and_then(|id| id.erase_size);
    let erase_size = match erase_size {
        Some(e) if e == 0 || !(e as usize).is_multiple_of(NODE_ALIGN) => {
            return Err(Error::BadEraseSize { erase_size: e })
        }
        Some(e) => e,
        None => found.unwrap_or(FALLBACK_ERASE),
    };
    let mut s = Scan {
        endian,
        erase_size,
        identity: id,
        nodes: Vec::new(),
        problems: Vec::new(),
        blocks: 0,
        blocks_with_summary: 0,
        blocks_empty: 0,
    };
    if let Some(f) = found.filter(|&f| f != erase_size) {
        s.problems.push(Problem {
            offset: 0,
            message: format!(
                "the image was made with {} erase blocks, not {}",
                crate::error::format_size(f.into()),
                crate::error::format_size(erase_size.into())
            ),
        });
    }
    if !image.len().is_multiple_of(erase_size as usize) {
        s.problems.push(Problem {
            offset: image.len() as u64,
            message: format!(
                "image size {} is not a multiple of the erase size {erase_size}",
                image.len()
            ),
        });
    }
    for (i, block) in image.chunks(erase_size as usize).enumerate() {
        s.blocks += 1;
        BlockScan::new(&mut s, block, i as u64 * erase_size as u64).run();
    }
    Ok(s)
}

impl Scan {
    /// Ok when no problem was found; else [`Error::Damaged`] with the problems.
    pub fn check(&self) -> Result<()> {
        if self.problems.is_empty() {
            return Ok(());
        }
        Err(Error::Damaged {
            problems: self.problems.clone(),
        })
    }
}

/// The scan of one erase block.
struct BlockScan<'s, 'b> {
    s: &'s mut Scan,
    block: &'b [u8],
    /// Offset of the block in the image.
    base: u64,
    /// Where nodes end: the summary node, or the block end.
    limit: usize,
    sum: Option<ParsedSummary>,
    /// Summary records for the valid nodes found, with their offsets.
    found: Vec<(usize, Record)>,
    /// Size of the block's cleanmarker (0: none).
    cleanmarker: u32,
    /// Nothing but 0xFF and a cleanmarker so far.
    only_cleanmarker: bool,
}

impl<'s, 'b> BlockScan<'s, 'b> {
    fn new(s: &'s mut Scan, block: &'b [u8], base: u64) -> Self {
        let mut b = BlockScan {
            s,
            block,
            base,
            limit: block.len(),
            sum: None,
            found: Vec::new(),
            cleanmarker: 0,
            only_cleanmarker: true,
        };
        b.read_summary();
        b
    }

    fn problem(&mut self, at: usize, message: String) {
        self.s.problems.push(Problem {
            offset: self.base + at as u64,
            message,
        });
    }

    /// A summary at the block end limits the nodes to before it.
    fn read_summary(&mut self) {
        match summary::parse(self.block, self.s.endian) {
            Ok(Some(p)) => {
                self.limit = p.offset as usize;
                self.s.blocks_with_summary += 1;
                self.sum = Some(p);
            }
            Ok(None) => {}
            Err(e) => self.problem(self.block.len() - summary::MARKER_SIZE, e.detail()),
        }
    }

    fn run(mut self) {
        let mut pos = 0usize;
        while pos + NODE_ALIGN <= self.limit {
            pos = self.step(pos);
        }
        let (block, limit) = (self.block, self.limit);
        if pos < limit && block[pos..limit].iter().any(|&b| b != 0xFF) {
            self.problem(
                pos,
                "trailing bytes that are neither a node nor 0xFF".into(),
            );
        }
        if self.only_cleanmarker && self.sum.is_none() {
            self.s.blocks_empty += 1;
        }
        if let Some(sum) = self.sum.take() {
            self.check_summary(&sum);
        }
    }

    /// Looks at what starts at `pos`; returns where to look next.
    fn step(&mut self, pos: usize) -> usize {
        let (block, limit, endian) = (self.block, self.limit, self.s.endian);
        if block[pos..pos + NODE_ALIGN] == [0xFF; NODE_ALIGN] {
            return pos + NODE_ALIGN;
        }
        self.only_cleanmarker = false;
        let Some(h) = Header::parse(&block[pos..limit], endian) else {
            let end = garbage_end(block, pos, limit, endian);
            self.problem(
                pos,
                format!(
                    "{} bytes that are neither a node nor 0xFF, starting {:02x?}",
                    end - pos,
                    &block[pos..pos + NODE_ALIGN]
                ),
            );
            return end;
        };
        if !h.crc_ok {
            let message = format!("node header CRC is wrong (type {:#06x})", h.nodetype);
            self.problem(pos, message);
            return pos + NODE_ALIGN;
        }
        let totlen = h.totlen as usize;
        if totlen < HEADER_SIZE || totlen > limit - pos {
            let what = if self.sum.is_some() {
                "the summary"
            } else {
                "the erase block end"
            };
            let message = format!(
                "node of type {:#06x} claims {totlen} bytes, past {what}",
                h.nodetype
            );
            self.problem(pos, message);
            return pos + NODE_ALIGN;
        }
        self.node(h, pos);
        let next = align(pos + totlen).min(limit);
        if let Some(bad) = block[pos + totlen..next].iter().position(|&b| b != 0xFF) {
            self.problem(
                pos + totlen + bad,
                "non-0xFF byte in the alignment gap after a node".into(),
            );
        }
        next
    }

    /// Checks the node of header `h` at `pos` by its type and keeps it when valid.
    fn node(&mut self, h: Header, pos: usize) {
        let node = &self.block[pos..pos + h.totlen as usize];
        let checked = match h.nodetype {
            nodetype::INODE => self.inode(node, pos),
            nodetype::DIRENT => self.dirent(node),
            nodetype::XATTR => RawXattr::parse(node, self.s.endian).map(|x| {
                let rec = Record::Xattr {
                    xid: x.xid,
                    version: x.version,
                    offset: pos as u32,
                    totlen: h.totlen,
                };
                Some((rec, Node::Xattr(x)))
            }),
            nodetype::XREF => RawXref::parse(node, self.s.endian)
                .map(|x| Some((Record::Xref { offset: pos as u32 }, Node::Xref(x)))),
            nodetype::CLEANMARKER if pos != 0 => {
                Err(bad("cleanmarker not at the start of its erase block".into()))
            }
            nodetype::CLEANMARKER => {
                self.cleanmarker = h.totlen;
                self.only_cleanmarker = true;
                Ok(None)
            }
            // Reached only when the marker did not lead here (its problem is reported).
            nodetype::SUMMARY if self.sum.is_none() && pos + node.len() != self.block.len() => Err(
                bad("summary node does not run to the erase block end".into()),
            ),
            t if t & COMPAT_MASK == FEATURE_INCOMPAT => Err(bad(format!(
                "unknown node type {t:#06x} that the kernel must refuse"
            ))),
            // Padding, summaries, and types the kernel may ignore.
            _ => Ok(None),
        };
        match checked {
            Err(e) => self.problem(pos, e.detail()),
            Ok(None) => {}
            Ok(Some((mut rec, node))) => {
                rec.set_offset(pos as u32);
                self.found.push((pos, rec));
                self.s.nodes.push((self.base + pos as u64, node));
            }
        }
    }

    fn inode(&self, node: &[u8], pos: usize) -> Result<Option<(Record, Node)>> {
        let totlen = node.len();
        let p = match RawInode::parse(node, self.s.endian) {
            None => {
                return Err(bad(format!(
                    "inode node of {totlen} bytes is shorter than its fields say"
                )))
            }
            Some((p, _)) => p,
        };
        let ri = p.raw;
        if !p.node_crc_ok {
            return Err(bad(format!("inode node (ino {}) CRC is wrong", ri.ino)));
        }
        if !p.data_crc_ok {
            return Err(bad(format!(
                "inode node data CRC is wrong (ino {} version {})",
                ri.ino, ri.version
            )));
        }
        if INODE_SIZE + ri.csize as usize != totlen {
            return Err(bad(format!(
                "inode node totlen {totlen} but csize {} + {INODE_SIZE}",
                ri.csize
            )));
        }
        let start = self.base as usize + pos + INODE_SIZE;
        let rec = Record::Inode {
            ino: ri.ino,
            version: ri.version,
            offset: 0,
            totlen: totlen as u32,
        };
        let data = start..start + ri.csize as usize;
        Ok(Some((rec, Node::Inode(ri, data))))
    }

    fn dirent(&self, node: &[u8]) -> Result<Option<(Record, Node)>> {
        let totlen = node.len();
        let Some(p) = RawDirent::parse(node, self.s.endian) else {
            return Err(bad(format!(
                "dirent node of {totlen} bytes is shorter than its name"
            )));
        };
        let d = p.raw;
        if !p.node_crc_ok {
            return Err(bad("dirent node CRC is wrong".into()));
        }
        if !p.name_crc_ok {
            return Err(bad("dirent name CRC is wrong".into()));
        }
        if DIRENT_SIZE + d.name.len() != totlen {
            return Err(bad(format!(
                "dirent totlen {totlen} but nsize {} + {DIRENT_SIZE}",
                d.name.len()
            )));
        }
        if d.name.is_empty() || d.name.iter().any(|&b| b == 0 || b == b'/') {
            return Err(bad(format!(
                "dirent name {:?} is empty or holds '/' or NUL",
                String::from_utf8_lossy(&d.name)
            )));
        }
        let rec = Record::Dirent {
            totlen: totlen as u32,
            offset: 0,
            pino: d.pino,
            version: d.version,
            ino: d.ino,
            dtype: d.dtype,
            name: d.name.clone(),
        };
        Ok(Some((rec, Node::Dirent(d))))
    }

    /// The summary must list exactly the block's inode and dirent nodes, in offset order.
    fn check_summary(&mut self, sum: &ParsedSummary) {
        let at = sum.offset as usize;
        let base = self.base;
        if sum.info.cln_mkr != self.cleanmarker {
            let message = format!(
                "summary says the cleanmarker is {} bytes, the block has {}",
                sum.info.cln_mkr, self.cleanmarker
            );
            self.problem(at, message);
        }
        if sum
            .records
            .windows(2)
            .any(|w| w[0].offset() >= w[1].offset())
        {
            self.problem(at, "summary records are not sorted by offset".into());
        }
        for r in &sum.records {
            if !self.found.iter().any(|(_, f)| f == r) {
                let message = format!(
                    "summary record for offset {:#x} matches no valid node there: {r:?}",
                    base + r.offset() as u64
                );
                self.problem(at, message);
            }
        }
        let missing: Vec<usize> = (self.found.iter())
            .filter(|(_, f)| !sum.records.contains(f))
            .map(|(pos, _)| *pos)
            .collect();
        for pos in missing {
            let message = format!(
                "node at {:#x} is missing from the summary",
                base + pos as u64
            );
            self.problem(at, message);
        }
    }
}

/// A node check's failure; the scan places it at the node's offset.
fn bad(problem: String) -> Error {
    Error::Node { offset: 0, problem }
}

/// Where a run of bytes that are no node ends: at the next aligned 0xFF word or node
/// header with a good CRC, so that one damaged area is one problem.
fn garbage_end(block: &[u8], from: usize, limit: usize, endian: Endian) -> usize {
    let mut at = from + NODE_ALIGN;
    while at + NODE_ALIGN <= limit {
        if block[at..at + NODE_ALIGN] == [0xFF; NODE_ALIGN]
            || Header::parse(&block[at..limit], endian).is_some_and(|h| h.crc_ok)
        {
            return at;
        }
        at += NODE_ALIGN;
    }
    limit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::cleanmarker;
    use crate::readback::Fs;

    fn tiny_image(endian: Endian) -> Vec<u8> {
        // One 8 KiB block: cleanmarker, a dirent for /a, its inode, then 0xFF.
        let mut b = Vec::new();
        cleanmarker::encode(&mut b, endian, 12);
        RawDirent {
            pino: 1,
            version: 1,
            ino: 2,
            mctime: 0,
            dtype: 8,
            name: b"a".to_vec(),
        }
        .encode(endian, &mut b);
        b.resize(align(b.len()), 0xFF);
        RawInode {
            ino: 2,
            version: 1,
            mode: 0o100644,
            isize: 3,
            dsize: 3,
            ..Default::default()
        }
        .encode(b"hi\n", endian, &mut b);
        b.resize(8192, 0xFF);
        b
    }

    #[test]
    fn reads_a_hand_made_image_in_both_orders() {
        for endian in [Endian::Little, Endian::Big] {
            let img = tiny_image(endian);
            let s = scan(&img, Some(8192)).unwrap();
            assert_eq!(s.endian, endian);
            s.check().unwrap();
            let fs = Fs::new(&img, &s);
            let entries = fs.walk().unwrap();
            assert_eq!(entries.len(), 2);
            assert_eq!(
                (entries[1].path.as_slice(), entries[1].size),
                (&b"a"[..], 3)
            );
            assert_eq!(fs.data(2).unwrap(), b"hi\n");
        }
    }

    #[test]
    fn corruption_is_reported_with_its_offset() {
        let mut img = tiny_image(Endian::Little);
        img[12 + 40] ^= 0x04; // the dirent's name
        let s = scan(&img, Some(8192)).unwrap();
        assert_eq!(
            s.check().unwrap_err().to_string(),
            "at 0x0000000c: dirent name CRC is wrong"
        );
        let mut img = tiny_image(Endian::Little);
        img[4000] = 0;
        let e = scan(&img, Some(8192))
            .unwrap()
            .check()
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "at 0x00000fa0: 4 bytes that are neither a node nor 0xFF, starting [00, ff, ff, ff]"
        );
        let mut img = tiny_image(Endian::Little);
        img[4000..5000].fill(0);
        let e = scan(&img, Some(8192))
            .unwrap()
            .check()
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "at 0x00000fa0: 1000 bytes that are neither a node nor 0xFF, starting [00, 00, 00, 00]"
        );
    }

    #[test]
    fn erase_size_found_from_cleanmarkers_without_summaries() {
        let mut img = tiny_image(Endian::Little);
        let mut second = Vec::new();
        cleanmarker::encode(&mut second, Endian::Little, 12);
        second.resize(8192, 0xFF);
        img.extend_from_slice(&second);
        assert_eq!(scan(&img, None).unwrap().erase_size, 8192);
        // A lone block tells nothing: mkfs.jffs2's default.
        let lone = scan(&img[..8192], None).unwrap();
        assert_eq!(
            (lone.erase_size, lone.identity.unwrap().erase_size),
            (65536, None)
        );
        // A given size that the image contradicts is a problem.
        let given = scan(&img, Some(16384)).unwrap();
        assert_eq!(
            given.problems[0].message,
            "the image was made with 8KiB erase blocks, not 16KiB"
        );
    }

    #[test]
    fn not_jffs2_is_an_error() {
        assert!(matches!(
            scan(b"hello, world", None),
            Err(Error::NotJffs2 { offset: 0, .. })
        ));
        assert!(matches!(scan(&[], None), Err(Error::Empty)));
        // Erased flash is an empty file system, as the kernel sees it.
        let blank = scan(&[0xFF; 5 * 8192], Some(8192)).unwrap();
        assert_eq!(
            (blank.blocks, blank.blocks_empty, blank.nodes.len()),
            (5, 5, 0)
        );
        blank.check().unwrap();
    }
}
