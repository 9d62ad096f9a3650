//! Reads an image back: a scan that checks every node the way the kernel would (header,
//! node and data CRCs, block bounds, cleanmarkers, every summary against the nodes it
//! describes) and names the offset of anything wrong; [`super::readback`] builds the
//! file system from the valid nodes. Never panics, whatever the bytes: a fuzz target holds it to that.

use std::fmt;
use std::ops::Range;

use super::endian::Endian;
use super::node::dirent::{RawDirent, DIRENT_SIZE};
use super::node::inode::{RawInode, INODE_SIZE};
use super::node::summary::{self, Record};
use super::node::xattr::{RawXattr, RawXref};
use super::node::{align, nodetype, Header, HEADER_SIZE, MAGIC, NODE_ALIGN};

/// Smallest and largest erase sizes tried when the caller gives none.
const MIN_DETECT_ERASE: u32 = 4 << 10;
const MAX_DETECT_ERASE: u32 = 16 << 20;
/// The erase size assumed when nothing in the image tells (mkfs.jffs2's default).
const FALLBACK_ERASE: u32 = 64 << 10;
/// Node type bits that say how an unknown type must be treated.
const COMPAT_MASK: u16 = 0xC000;
/// An unknown node type with these bits must make the kernel refuse the image.
const FEATURE_INCOMPAT: u16 = 0xC000;

/// Something wrong at an offset of the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub offset: u64,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {:#010x}: {}", self.offset, self.message)
    }
}

/// A node that passed its checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// An inode node and where its stored data is in the image.
    Inode(RawInode, Range<usize>),
    Dirent(RawDirent),
    Xattr(RawXattr),
    Xref(RawXref),
}

/// The result of scanning a whole image.
#[derive(Clone, Debug)]
pub struct Scan {
    pub endian: Endian,
    pub erase_size: u32,
    /// Valid inode and dirent nodes with their offsets, in image order.
    pub nodes: Vec<(u64, Node)>,
    pub problems: Vec<Problem>,
    pub blocks: u64,
    pub blocks_with_summary: u64,
    /// Blocks with nothing but (optionally) a cleanmarker.
    pub blocks_empty: u64,
}

/// Scans `image`. `erase_size` None: found from the summary markers, else the default.
/// Err only when this is not a JFFS2 image at all.
pub fn scan(image: &[u8], erase_size: Option<u32>) -> Result<Scan, String> {
    let endian = detect_endian(image)?;
    let erase_size = match erase_size {
        Some(e) if e == 0 || e as usize % NODE_ALIGN != 0 => {
            return Err(format!("erase size {e} must be a positive multiple of 4"))
        }
        Some(e) => e,
        None => detect_erase_size(image, endian),
    };
    let mut s = Scan {
        endian,
        erase_size,
        nodes: Vec::new(),
        problems: Vec::new(),
        blocks: 0,
        blocks_with_summary: 0,
        blocks_empty: 0,
    };
    if image.len() % erase_size as usize != 0 {
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
        scan_block(&mut s, block, i as u64 * erase_size as u64);
    }
    Ok(s)
}

impl Scan {
    /// Ok when no problem was found; else the problems, one a line.
    pub fn check(&self) -> Result<(), String> {
        if self.problems.is_empty() {
            return Ok(());
        }
        Err(self
            .problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

fn detect_endian(image: &[u8]) -> Result<Endian, String> {
    let first = (0..image.len() / NODE_ALIGN)
        .map(|i| i * NODE_ALIGN)
        .find(|&at| image[at..at + NODE_ALIGN] != [0xFF; NODE_ALIGN])
        .ok_or("no JFFS2 node in the image: it is empty or all 0xFF")?;
    for endian in [Endian::Little, Endian::Big] {
        if endian.u16_at(image, first) == Some(MAGIC) {
            return Ok(endian);
        }
    }
    Err(format!(
        "not a JFFS2 image: the first data at {first:#x} is not the node magic {MAGIC:#06x} in either byte order"
    ))
}

/// The erase size an image was made for: the smallest power of two whose first block ends
/// with a valid summary marker (for a smaller size the end of block 0 lies inside the data;
/// a multiple of the true size would put the first summary mid-block). Without summaries,
/// the offset of the first cleanmarker after block 0. Else mkfs.jffs2's default.
fn detect_erase_size(image: &[u8], endian: Endian) -> u32 {
    let sizes = || {
        std::iter::successors(Some(MIN_DETECT_ERASE), |e| e.checked_mul(2))
            .take_while(|&e| e <= MAX_DETECT_ERASE && e as usize <= image.len())
    };
    if let Some(e) =
        sizes().find(|&e| matches!(summary::parse(&image[..e as usize], endian), Ok(Some(_))))
    {
        return e;
    }
    let cleanmarker_at = |e: u32| {
        Header::parse(&image[e as usize..], endian)
            .is_some_and(|h| h.crc_ok && h.nodetype == nodetype::CLEANMARKER)
    };
    sizes()
        .filter(|&e| (e as usize) < image.len())
        .find(|&e| cleanmarker_at(e))
        .unwrap_or(FALLBACK_ERASE)
}

fn scan_block(s: &mut Scan, block: &[u8], base: u64) {
    let endian = s.endian;
    let mut limit = block.len();
    let mut sum = None;
    match summary::parse(block, endian) {
        Ok(Some(p)) => {
            limit = p.offset as usize;
            s.blocks_with_summary += 1;
            sum = Some(p);
        }
        Ok(None) => {}
        Err(e) => s.problems.push(Problem {
            offset: base + (block.len() - summary::MARKER_SIZE) as u64,
            message: e,
        }),
    }
    let mut found: Vec<(usize, Record)> = Vec::new();
    let mut cleanmarker = 0u32;
    let mut only_cleanmarker = true;
    let mut pos = 0usize;
    let problem = |s: &mut Scan, at: usize, message: String| {
        s.problems.push(Problem {
            offset: base + at as u64,
            message,
        })
    };
    while pos + NODE_ALIGN <= limit {
        if block[pos..pos + NODE_ALIGN] == [0xFF; NODE_ALIGN] {
            pos += NODE_ALIGN;
            continue;
        }
        only_cleanmarker = false;
        let Some(h) = Header::parse(&block[pos..limit], endian) else {
            let end = garbage_end(block, pos, limit, endian);
            problem(
                s,
                pos,
                format!(
                    "{} bytes that are neither a node nor 0xFF, starting {:02x?}",
                    end - pos,
                    &block[pos..pos + NODE_ALIGN]
                ),
            );
            pos = end;
            continue;
        };
        if !h.crc_ok {
            problem(
                s,
                pos,
                format!("node header CRC is wrong (type {:#06x})", h.nodetype),
            );
            pos += NODE_ALIGN;
            continue;
        }
        let totlen = h.totlen as usize;
        if totlen < HEADER_SIZE || totlen > limit - pos {
            let what = if sum.is_some() {
                "the summary"
            } else {
                "the erase block end"
            };
            problem(
                s,
                pos,
                format!(
                    "node of type {:#06x} claims {totlen} bytes, past {what}",
                    h.nodetype
                ),
            );
            pos += NODE_ALIGN;
            continue;
        }
        let node = &block[pos..pos + totlen];
        match h.nodetype {
            nodetype::INODE => match RawInode::parse(node, endian) {
                None => problem(
                    s,
                    pos,
                    format!("inode node of {totlen} bytes is shorter than its fields say"),
                ),
                Some((p, _)) if !p.node_crc_ok => problem(
                    s,
                    pos,
                    format!("inode node (ino {}) CRC is wrong", p.raw.ino),
                ),
                Some((p, _)) if !p.data_crc_ok => problem(
                    s,
                    pos,
                    format!(
                        "inode node data CRC is wrong (ino {} version {})",
                        p.raw.ino, p.raw.version
                    ),
                ),
                Some((p, _)) if INODE_SIZE + p.raw.csize as usize != totlen => problem(
                    s,
                    pos,
                    format!(
                        "inode node totlen {totlen} but csize {} + {INODE_SIZE}",
                        p.raw.csize
                    ),
                ),
                Some((p, _)) => {
                    let start = base as usize + pos + INODE_SIZE;
                    found.push((
                        pos,
                        Record::Inode {
                            ino: p.raw.ino,
                            version: p.raw.version,
                            offset: pos as u32,
                            totlen: h.totlen,
                        },
                    ));
                    s.nodes.push((
                        base + pos as u64,
                        Node::Inode(p.raw.clone(), start..start + p.raw.csize as usize),
                    ));
                }
            },
            nodetype::DIRENT => match RawDirent::parse(node, endian) {
                None => problem(
                    s,
                    pos,
                    format!("dirent node of {totlen} bytes is shorter than its name"),
                ),
                Some(p) if !p.node_crc_ok => problem(s, pos, "dirent node CRC is wrong".into()),
                Some(p) if !p.name_crc_ok => problem(s, pos, "dirent name CRC is wrong".into()),
                Some(p) if DIRENT_SIZE + p.raw.name.len() != totlen => problem(
                    s,
                    pos,
                    format!(
                        "dirent totlen {totlen} but nsize {} + {DIRENT_SIZE}",
                        p.raw.name.len()
                    ),
                ),
                Some(p)
                    if p.raw.name.is_empty() || p.raw.name.iter().any(|&b| b == 0 || b == b'/') =>
                {
                    problem(
                        s,
                        pos,
                        format!(
                            "dirent name {:?} is empty or holds '/' or NUL",
                            String::from_utf8_lossy(&p.raw.name)
                        ),
                    )
                }
                Some(p) => {
                    let d = p.raw;
                    found.push((
                        pos,
                        Record::Dirent {
                            totlen: h.totlen,
                            offset: pos as u32,
                            pino: d.pino,
                            version: d.version,
                            ino: d.ino,
                            dtype: d.dtype,
                            name: d.name.clone(),
                        },
                    ));
                    s.nodes.push((base + pos as u64, Node::Dirent(d)));
                }
            },
            nodetype::CLEANMARKER => {
                if pos != 0 {
                    problem(
                        s,
                        pos,
                        "cleanmarker not at the start of its erase block".into(),
                    );
                } else {
                    cleanmarker = h.totlen;
                    only_cleanmarker = true;
                }
            }
            nodetype::PADDING => {}
            // Reached only when the marker did not lead here (its problem is reported).
            nodetype::SUMMARY if sum.is_none() && pos + totlen != block.len() => {
                problem(
                    s,
                    pos,
                    "summary node does not run to the erase block end".into(),
                );
            }
            nodetype::SUMMARY => {}
            nodetype::XATTR => match RawXattr::parse(node, endian) {
                Err(e) => problem(s, pos, e),
                Ok(x) => {
                    found.push((
                        pos,
                        Record::Xattr {
                            xid: x.xid,
                            version: x.version,
                            offset: pos as u32,
                            totlen: h.totlen,
                        },
                    ));
                    s.nodes.push((base + pos as u64, Node::Xattr(x)));
                }
            },
            nodetype::XREF => match RawXref::parse(node, endian) {
                Err(e) => problem(s, pos, e),
                Ok(x) => {
                    found.push((pos, Record::Xref { offset: pos as u32 }));
                    s.nodes.push((base + pos as u64, Node::Xref(x)));
                }
            },
            t if t & COMPAT_MASK == FEATURE_INCOMPAT => {
                problem(
                    s,
                    pos,
                    format!("unknown node type {t:#06x} that the kernel must refuse"),
                );
            }
            _ => {}
        }
        let next = align(pos + totlen).min(limit);
        if let Some(bad) = block[pos + totlen..next].iter().position(|&b| b != 0xFF) {
            problem(
                s,
                pos + totlen + bad,
                "non-0xFF byte in the alignment gap after a node".into(),
            );
        }
        pos = next;
    }
    if pos < limit && block[pos..limit].iter().any(|&b| b != 0xFF) {
        problem(
            s,
            pos,
            "trailing bytes that are neither a node nor 0xFF".into(),
        );
    }
    if only_cleanmarker && sum.is_none() {
        s.blocks_empty += 1;
    }
    if let Some(sum) = sum {
        check_summary(s, &sum, &found, cleanmarker, base);
    }
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

/// The summary must list exactly the block's inode and dirent nodes, in offset order.
fn check_summary(
    s: &mut Scan,
    sum: &summary::ParsedSummary,
    found: &[(usize, Record)],
    cleanmarker: u32,
    base: u64,
) {
    let at = base + sum.offset as u64;
    let mut complain = |message: String| {
        s.problems.push(Problem {
            offset: at,
            message,
        })
    };
    if sum.info.cln_mkr != cleanmarker {
        complain(format!(
            "summary says the cleanmarker is {} bytes, the block has {cleanmarker}",
            sum.info.cln_mkr
        ));
    }
    let listed: Vec<&Record> = sum.records.iter().collect();
    if listed.windows(2).any(|w| w[0].offset() >= w[1].offset()) {
        complain("summary records are not sorted by offset".into());
    }
    for r in &listed {
        if !found.iter().any(|(_, f)| f == *r) {
            complain(format!(
                "summary record for offset {:#x} matches no valid node there: {r:?}",
                base + r.offset() as u64
            ));
        }
    }
    for (pos, f) in found {
        if !listed.contains(&f) {
            complain(format!(
                "node at {:#x} is missing from the summary",
                base + *pos as u64
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jffs2::node::cleanmarker;
    use crate::jffs2::readback::Fs;

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
            s.check().unwrap_err(),
            "at 0x0000000c: dirent name CRC is wrong"
        );
        let mut img = tiny_image(Endian::Little);
        img[4000] = 0;
        let e = scan(&img, Some(8192)).unwrap().check().unwrap_err();
        assert_eq!(
            e,
            "at 0x00000fa0: 4 bytes that are neither a node nor 0xFF, starting [00, ff, ff, ff]"
        );
        let mut img = tiny_image(Endian::Little);
        img[4000..5000].fill(0);
        let e = scan(&img, Some(8192)).unwrap().check().unwrap_err();
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
        assert_eq!(scan(&img[..8192], None).unwrap().erase_size, 65536);
    }

    #[test]
    fn not_jffs2_is_an_error() {
        assert!(scan(&[0xFF; 64], None).unwrap_err().contains("all 0xFF"));
        assert!(scan(b"hello, world", None)
            .unwrap_err()
            .contains("not a JFFS2 image"));
        assert!(scan(&[], None).is_err());
    }
}
