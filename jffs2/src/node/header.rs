//! The 12-byte header every node starts with (`struct jffs2_unknown_node`).

use crate::crc::crc32;
use crate::endian::{Endian, FieldWriter};

/// `JFFS2_MAGIC_BITMASK`: the first u16 of every node.
pub const MAGIC: u16 = 0x1985;
/// magic (u16), nodetype (u16), totlen (u32), hdr_crc (u32).
pub const HEADER_SIZE: usize = 12;
/// `hdr_crc` covers magic, nodetype and totlen.
pub const HEADER_CRC_COVERS: usize = 8;
/// Nodes start on 4-byte boundaries; the gap before the next node is 0xFF.
pub const NODE_ALIGN: usize = 4;

/// Node types (`JFFS2_NODETYPE_*`). The top two bits are the compatibility class: 0xC000
/// means a kernel that does not know the type must refuse the image.
pub mod nodetype {
    /// `JFFS2_NODETYPE_DIRENT`: a directory entry.
    pub const DIRENT: u16 = 0xE001;
    /// `JFFS2_NODETYPE_INODE`: inode metadata, with data or a hole.
    pub const INODE: u16 = 0xE002;
    /// `JFFS2_NODETYPE_CLEANMARKER`: the marker of an erased block.
    pub const CLEANMARKER: u16 = 0x2003;
    /// `JFFS2_NODETYPE_PADDING`: dead space.
    pub const PADDING: u16 = 0x2004;
    /// `JFFS2_NODETYPE_SUMMARY`: an erase block summary.
    pub const SUMMARY: u16 = 0x2006;
    /// `JFFS2_NODETYPE_XATTR`: an extended attribute datum.
    pub const XATTR: u16 = 0xE008;
    /// `JFFS2_NODETYPE_XREF`: a reference from an inode to an xattr datum.
    pub const XREF: u16 = 0xE009;
}

/// `n` rounded up to the node alignment (the kernel's `PAD()`).
pub const fn align(n: usize) -> usize {
    (n + NODE_ALIGN - 1) & !(NODE_ALIGN - 1)
}

/// Appends a header for a node of `totlen` bytes (unpadded, header included).
pub fn encode(out: &mut Vec<u8>, endian: Endian, nodetype: u16, totlen: u32) {
    let start = out.len();
    FieldWriter::new(out, endian)
        .u16(MAGIC)
        .u16(nodetype)
        .u32(totlen);
    let crc = crc32(&out[start..start + HEADER_CRC_COVERS]);
    FieldWriter::new(out, endian).u32(crc);
}

/// A parsed node header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The node type (`nodetype::*`).
    pub nodetype: u16,
    /// The node length, header included, without alignment padding.
    pub totlen: u32,
    /// Whether `hdr_crc` matches.
    pub crc_ok: bool,
}

impl Header {
    /// Parses the header at the start of `b`; None unless it starts with the magic.
    pub fn parse(b: &[u8], endian: Endian) -> Option<Header> {
        if b.len() < HEADER_SIZE || endian.u16_at(b, 0)? != MAGIC {
            return None;
        }
        let nodetype = endian.u16_at(b, 2)?;
        let totlen = endian.u32_at(b, 4)?;
        let crc = endian.u32_at(b, 8)?;
        Some(Header {
            nodetype,
            totlen,
            crc_ok: crc == crc32(&b[..HEADER_CRC_COVERS]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanmarker_header_bytes() {
        let mut b = Vec::new();
        encode(&mut b, Endian::Little, nodetype::CLEANMARKER, 12);
        let crc = crc32(&[0x85, 0x19, 0x03, 0x20, 12, 0, 0, 0]).to_le_bytes();
        assert_eq!(
            b,
            [0x85, 0x19, 0x03, 0x20, 12, 0, 0, 0, crc[0], crc[1], crc[2], crc[3]]
        );
        assert_eq!(
            Header::parse(&b, Endian::Little),
            Some(Header {
                nodetype: nodetype::CLEANMARKER,
                totlen: 12,
                crc_ok: true
            })
        );
        assert_eq!(Header::parse(&b, Endian::Big), None);
    }

    #[test]
    fn flipped_totlen_fails_the_crc() {
        let mut b = Vec::new();
        encode(&mut b, Endian::Big, nodetype::INODE, 68);
        b[7] ^= 1;
        assert!(!Header::parse(&b, Endian::Big).unwrap().crc_ok);
    }

    #[test]
    fn align_rounds_up_to_four() {
        assert_eq!([0, 1, 4, 5, 7, 8].map(align), [0, 4, 4, 8, 8, 8]);
    }
}
