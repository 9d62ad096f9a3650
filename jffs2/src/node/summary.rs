//! The erase block summary (`fs/jffs2/summary.h`): a node at the end of a full erase
//! block that lists the block's inode and dirent nodes, so the kernel reads one node per
//! block at mount instead of scanning every byte.
//!
//! Layout inside the block, from `offset` to the block end:
//! `jffs2_raw_summary` (32 bytes) | packed records | 0xFF | `{u32 offset, u32 SUMMARY_MAGIC}`.
//! The node's totlen runs to the block end; `sum_crc` covers everything after the 32-byte
//! header (records, fill and marker); `node_crc` covers the first 24 bytes. Records must be
//! sorted by offset with exact lengths: the kernel links nodes in record order.

use super::header::{self, nodetype, HEADER_SIZE};
use crate::crc::crc32;
use crate::endian::{Endian, FieldReader, FieldWriter};
use crate::error::{Error, Result};

/// `JFFS2_SUM_MAGIC`, the last u32 of a block that carries a summary.
pub const SUMMARY_MAGIC: u32 = 0x0285_1885;
/// `struct jffs2_raw_summary` without records.
pub const SUMMARY_HEADER_SIZE: usize = 32;
/// `node_crc` covers the header up to (not including) `sum_crc`.
pub const SUMMARY_NODE_CRC_COVERS: usize = SUMMARY_HEADER_SIZE - 8;
/// `struct jffs2_sum_marker`: the summary node's offset in the block, then the magic.
pub const MARKER_SIZE: usize = 8;
/// `struct jffs2_sum_inode_flash` (packed).
pub const INODE_RECORD_SIZE: usize = 18;
/// `struct jffs2_sum_dirent_flash` without the name (packed).
pub const DIRENT_RECORD_BASE: usize = 24;
/// `struct jffs2_sum_xattr_flash` (packed).
pub const XATTR_RECORD_SIZE: usize = 18;
/// `struct jffs2_sum_xref_flash` (packed).
pub const XREF_RECORD_SIZE: usize = 6;

/// One summary record: what the kernel would learn by reading the node at `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// Describes an inode node.
    Inode {
        /// Inode number.
        ino: u32,
        /// Node version.
        version: u32,
        /// Node offset in its block.
        offset: u32,
        /// Node length.
        totlen: u32,
    },
    /// Describes a dirent node.
    Dirent {
        /// Node length.
        totlen: u32,
        /// Node offset in its block.
        offset: u32,
        /// Parent directory inode.
        pino: u32,
        /// Node version.
        version: u32,
        /// Inode named (0: deleted).
        ino: u32,
        /// `DT_*` type of that inode.
        dtype: u8,
        /// The name.
        name: Vec<u8>,
    },
    /// Describes an xattr node.
    Xattr {
        /// Xattr datum id.
        xid: u32,
        /// Node version.
        version: u32,
        /// Node offset in its block.
        offset: u32,
        /// Node length.
        totlen: u32,
    },
    /// Describes an xref node.
    Xref {
        /// Node offset in its block.
        offset: u32,
    },
}

impl Record {
    /// Encoded size in bytes (never zero).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        match self {
            Record::Inode { .. } => INODE_RECORD_SIZE,
            Record::Dirent { name, .. } => DIRENT_RECORD_BASE + name.len(),
            Record::Xattr { .. } => XATTR_RECORD_SIZE,
            Record::Xref { .. } => XREF_RECORD_SIZE,
        }
    }

    /// Offset of the described node within its erase block.
    pub fn offset(&self) -> u32 {
        match self {
            Record::Inode { offset, .. }
            | Record::Dirent { offset, .. }
            | Record::Xattr { offset, .. }
            | Record::Xref { offset } => *offset,
        }
    }

    /// Moves the record to describe a node at offset `to`.
    pub fn set_offset(&mut self, to: u32) {
        match self {
            Record::Inode { offset, .. }
            | Record::Dirent { offset, .. }
            | Record::Xattr { offset, .. }
            | Record::Xref { offset } => *offset = to,
        }
    }

    /// Appends the packed record.
    pub fn encode(&self, endian: Endian, out: &mut Vec<u8>) {
        let mut w = FieldWriter::new(out, endian);
        match self {
            Record::Inode {
                ino,
                version,
                offset,
                totlen,
            } => {
                w.u16(nodetype::INODE)
                    .u32(*ino)
                    .u32(*version)
                    .u32(*offset)
                    .u32(*totlen);
            }
            Record::Dirent {
                totlen,
                offset,
                pino,
                version,
                ino,
                dtype,
                name,
            } => {
                w.u16(nodetype::DIRENT)
                    .u32(*totlen)
                    .u32(*offset)
                    .u32(*pino)
                    .u32(*version)
                    .u32(*ino)
                    .u8(name.len() as u8)
                    .u8(*dtype)
                    .bytes(name);
            }
            Record::Xattr {
                xid,
                version,
                offset,
                totlen,
            } => {
                w.u16(nodetype::XATTR)
                    .u32(*xid)
                    .u32(*version)
                    .u32(*offset)
                    .u32(*totlen);
            }
            Record::Xref { offset } => {
                w.u16(nodetype::XREF).u32(*offset);
            }
        }
    }

    /// Parses the record at the start of `b`; Err names what is wrong.
    pub fn parse(b: &[u8], endian: Endian) -> Result<Record> {
        let bad = |problem: String| Error::Node { offset: 0, problem };
        let kind = endian
            .u16_at(b, 0)
            .ok_or_else(|| bad("record type runs past the summary".into()))?;
        let need = match kind {
            nodetype::INODE => INODE_RECORD_SIZE,
            nodetype::DIRENT => DIRENT_RECORD_BASE,
            nodetype::XATTR => XATTR_RECORD_SIZE,
            nodetype::XREF => XREF_RECORD_SIZE,
            other => return Err(bad(format!("unknown summary record type {other:#06x}"))),
        };
        if b.len() < need {
            return Err(bad(format!(
                "record of type {kind:#06x} needs {need} bytes but only {} remain",
                b.len()
            )));
        }
        let mut r = FieldReader::new(&b[2..need], endian);
        Ok(match kind {
            nodetype::INODE => Record::Inode {
                ino: r.u32(),
                version: r.u32(),
                offset: r.u32(),
                totlen: r.u32(),
            },
            nodetype::XATTR => Record::Xattr {
                xid: r.u32(),
                version: r.u32(),
                offset: r.u32(),
                totlen: r.u32(),
            },
            nodetype::XREF => Record::Xref { offset: r.u32() },
            _ => {
                let (totlen, offset, pino, version, ino) =
                    (r.u32(), r.u32(), r.u32(), r.u32(), r.u32());
                let nsize = r.u8() as usize;
                let dtype = r.u8();
                let name = b
                    .get(DIRENT_RECORD_BASE..DIRENT_RECORD_BASE + nsize)
                    .ok_or_else(|| {
                        bad(format!(
                            "dirent record name of {nsize} bytes runs past the summary"
                        ))
                    })?
                    .to_vec();
                Record::Dirent {
                    totlen,
                    offset,
                    pino,
                    version,
                    ino,
                    dtype,
                    name,
                }
            }
        })
    }
}

/// Bytes a summary with `records_len` bytes of records needs at the end of a block.
pub const fn summary_size(records_len: usize) -> usize {
    SUMMARY_HEADER_SIZE + records_len + MARKER_SIZE
}

/// What describes a block besides its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SummaryInfo {
    /// Number of records.
    pub sum_num: u32,
    /// Size of the block's cleanmarker, 0 when it has none.
    pub cln_mkr: u32,
    /// Bytes of padding nodes in the block.
    pub padded: u32,
}

/// Appends a summary node that starts at `offset` within a block of `erase_size` bytes and
/// runs to its end. `records` are the encoded records, already sorted by offset.
pub fn encode(
    out: &mut Vec<u8>,
    endian: Endian,
    info: SummaryInfo,
    records: &[u8],
    offset: u32,
    erase_size: u32,
) {
    let totlen = erase_size - offset;
    let start = out.len();
    header::encode(out, endian, nodetype::SUMMARY, totlen);
    FieldWriter::new(out, endian)
        .u32(info.sum_num)
        .u32(info.cln_mkr)
        .u32(info.padded);
    let node_crc = crc32(&out[start..start + SUMMARY_NODE_CRC_COVERS]);
    let mut body = Vec::with_capacity(totlen as usize - SUMMARY_HEADER_SIZE);
    body.extend_from_slice(records);
    body.resize(totlen as usize - SUMMARY_HEADER_SIZE - MARKER_SIZE, 0xFF);
    FieldWriter::new(&mut body, endian)
        .u32(offset)
        .u32(SUMMARY_MAGIC);
    FieldWriter::new(out, endian)
        .u32(crc32(&body))
        .u32(node_crc)
        .bytes(&body);
}

/// A summary node read back from the end of one erase block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedSummary {
    /// Offset of the summary node within the block.
    pub offset: u32,
    /// What describes the block.
    pub info: SummaryInfo,
    /// The records, in the order stored.
    pub records: Vec<Record>,
}

/// Parses the summary of `block` (one whole erase block). `Ok(None)`: the block carries no
/// summary marker. `Err`: the marker is there but the summary is wrong; the text says
/// what, with offsets relative to the block.
pub fn parse(block: &[u8], endian: Endian) -> Result<Option<ParsedSummary>> {
    let size = block.len();
    if size < SUMMARY_HEADER_SIZE + MARKER_SIZE {
        return Ok(None);
    }
    let marker_at = size - MARKER_SIZE;
    if endian.u32_at(block, marker_at + 4) != Some(SUMMARY_MAGIC) {
        return Ok(None);
    }
    let bad = |problem: String| Error::Node {
        offset: marker_at as u64,
        problem,
    };
    let offset = endian.u32_at(block, marker_at).unwrap_or(u32::MAX);
    let ofs = offset as usize;
    if !ofs.is_multiple_of(header::NODE_ALIGN) || ofs > size - SUMMARY_HEADER_SIZE - MARKER_SIZE {
        return Err(bad(format!(
            "summary marker at {marker_at:#x} points to {offset:#x}, outside the block or unaligned"
        )));
    }
    let node = &block[ofs..];
    let h = header::Header::parse(node, endian).ok_or_else(|| {
        bad(format!(
            "no node magic at {ofs:#x} where the summary marker points"
        ))
    })?;
    if h.nodetype != nodetype::SUMMARY {
        return Err(bad(format!(
            "node at {ofs:#x} where the summary marker points has type {:#06x}, expected {:#06x}",
            h.nodetype,
            nodetype::SUMMARY
        )));
    }
    if !h.crc_ok {
        return Err(bad(format!("summary node at {ofs:#x}: bad header CRC")));
    }
    if h.totlen as usize != node.len() {
        return Err(bad(format!(
            "summary node at {ofs:#x}: totlen {} but the block end is {} bytes away (wrong erase size?)",
            h.totlen,
            node.len()
        )));
    }
    let mut r = FieldReader::new(&node[HEADER_SIZE..SUMMARY_HEADER_SIZE], endian);
    let info = SummaryInfo {
        sum_num: r.u32(),
        cln_mkr: r.u32(),
        padded: r.u32(),
    };
    let sum_crc = r.u32();
    let node_crc = r.u32();
    if node_crc != crc32(&node[..SUMMARY_NODE_CRC_COVERS]) {
        return Err(bad(format!("summary node at {ofs:#x}: bad node CRC")));
    }
    let body = &node[SUMMARY_HEADER_SIZE..];
    if sum_crc != crc32(body) {
        return Err(bad(format!(
            "summary node at {ofs:#x}: bad summary data CRC"
        )));
    }
    let record_area = &body[..body.len() - MARKER_SIZE];
    let mut records = Vec::new();
    let mut at = 0usize;
    for i in 0..info.sum_num {
        let rec = Record::parse(&record_area[at..], endian).map_err(|e| {
            bad(format!(
                "summary at {ofs:#x}, record {i} at {:#x}: {}",
                ofs + SUMMARY_HEADER_SIZE + at,
                e.detail()
            ))
        })?;
        at += rec.len();
        records.push(rec);
    }
    Ok(Some(ParsedSummary {
        offset,
        info,
        records,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inode_rec() -> Record {
        Record::Inode {
            ino: 2,
            version: 1,
            offset: 0x38,
            totlen: 74,
        }
    }

    fn dirent_rec() -> Record {
        Record::Dirent {
            totlen: 41,
            offset: 0x0C,
            pino: 1,
            version: 0,
            ino: 2,
            dtype: 8,
            name: b"a".to_vec(),
        }
    }

    #[test]
    fn record_bytes() {
        let mut b = Vec::new();
        inode_rec().encode(Endian::Little, &mut b);
        assert_eq!(
            b,
            [2, 0xE0, 2, 0, 0, 0, 1, 0, 0, 0, 0x38, 0, 0, 0, 74, 0, 0, 0]
        );
        let mut b = Vec::new();
        dirent_rec().encode(Endian::Big, &mut b);
        assert_eq!(
            b,
            [0xE0, 1, 0, 0, 0, 41, 0, 0, 0, 0x0C, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 8, b'a']
        );
        let mut b = Vec::new();
        Record::Xref { offset: 0x40 }.encode(Endian::Little, &mut b);
        assert_eq!(b, [9, 0xE0, 0x40, 0, 0, 0]);
    }

    #[test]
    fn summary_node_bytes_and_round_trip() {
        const BLOCK: u32 = 256;
        let mut records = Vec::new();
        dirent_rec().encode(Endian::Little, &mut records);
        inode_rec().encode(Endian::Little, &mut records);
        let info = SummaryInfo {
            sum_num: 2,
            cln_mkr: 12,
            padded: 0,
        };
        let mut block = vec![0xFF; 0x50];
        encode(&mut block, Endian::Little, info, &records, 0x50, BLOCK);
        assert_eq!(block.len(), BLOCK as usize);
        let node = &block[0x50..];
        assert_eq!(&node[..8], [0x85, 0x19, 0x06, 0x20, 176, 0, 0, 0]);
        assert_eq!(&node[12..24], [2, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            &node[24..28],
            crc32(&node[32..]).to_le_bytes(),
            "sum_crc covers records, fill and marker"
        );
        assert_eq!(&node[28..32], crc32(&node[..24]).to_le_bytes());
        assert_eq!(&node[32..32 + 43], &records[..]);
        assert!(node[32 + 43..168].iter().all(|&b| b == 0xFF));
        assert_eq!(&node[168..], [0x50, 0, 0, 0, 0x85, 0x18, 0x85, 0x02]);
        let parsed = parse(&block, Endian::Little).unwrap().unwrap();
        assert_eq!(parsed.offset, 0x50);
        assert_eq!(parsed.info, info);
        assert_eq!(parsed.records, vec![dirent_rec(), inode_rec()]);
    }

    #[test]
    fn corrupt_summaries_are_named() {
        let mut records = Vec::new();
        inode_rec().encode(Endian::Big, &mut records);
        let info = SummaryInfo {
            sum_num: 1,
            cln_mkr: 0,
            padded: 0,
        };
        let mut block = vec![0xFF; 64];
        encode(&mut block, Endian::Big, info, &records, 64, 256);
        assert!(parse(&block, Endian::Big).unwrap().is_some());
        assert_eq!(parse(&vec![0xFF; 256], Endian::Big).unwrap(), None);
        let mut bad = block.clone();
        bad[64 + 40] ^= 1;
        assert_eq!(
            parse(&bad, Endian::Big).unwrap_err().detail(),
            "summary node at 0x40: bad summary data CRC"
        );
        let mut bad = block.clone();
        bad[256 - 5] = 0x42;
        let e = parse(&bad, Endian::Big).unwrap_err().detail();
        assert!(e.contains("points to 0x42"), "{e}");
        bad[256 - 5] = 0x44;
        assert_eq!(
            parse(&bad, Endian::Big).unwrap_err().detail(),
            "no node magic at 0x44 where the summary marker points"
        );
    }
}
