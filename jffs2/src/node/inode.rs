//! `struct jffs2_raw_inode`: one version of an inode's metadata plus up to one page of
//! its data. Every node of an inode repeats the full metadata; the highest version wins.

use super::header::{self, nodetype, HEADER_SIZE};
use crate::crc::crc32;
use crate::endian::{Endian, FieldReader, FieldWriter};

/// Size of the fixed part; the (possibly compressed) data follows.
pub const INODE_SIZE: usize = 68;
/// `node_crc` covers everything before `data_crc` and itself.
pub const INODE_CRC_COVERS: usize = INODE_SIZE - 8;
/// Offset of `data_crc` within the node.
const DATA_CRC_AT: usize = 60;

/// The fields of an inode node (the header and the CRCs are derived on encoding).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawInode {
    /// Inode number.
    pub ino: u32,
    /// Version: the newest node of an inode wins.
    pub version: u32,
    /// The full `st_mode`, file type bits included (Linux values, as the kernel stores them).
    pub mode: u32,
    /// Owner (16 bits).
    pub uid: u16,
    /// Group (16 bits).
    pub gid: u16,
    /// File size after this node is applied.
    pub isize: u32,
    /// Access time, seconds since the epoch.
    pub atime: u32,
    /// Modification time.
    pub mtime: u32,
    /// Change time.
    pub ctime: u32,
    /// Where this node's data starts in the file.
    pub offset: u32,
    /// Stored (compressed) data length.
    pub csize: u32,
    /// Uncompressed data length; for a hole (`compr` ZERO) the length of the hole.
    pub dsize: u32,
    /// `JFFS2_COMPR_*` of the stored data.
    pub compr: u8,
    /// The compressor the user asked for; informational, the kernel ignores it.
    pub usercompr: u8,
    /// Flags (unused by the kernel; zero).
    pub flags: u16,
}

/// An inode node read back, with the checks the kernel makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedInode {
    /// The fields.
    pub raw: RawInode,
    /// Whether `node_crc` matches.
    pub node_crc_ok: bool,
    /// Whether `data_crc` matches the stored data.
    pub data_crc_ok: bool,
}

impl RawInode {
    /// Appends the whole node: header, fields with `csize = data.len()`, CRCs, data.
    pub fn encode(&self, data: &[u8], endian: Endian, out: &mut Vec<u8>) {
        let start = out.len();
        let totlen = (INODE_SIZE + data.len()) as u32;
        header::encode(out, endian, nodetype::INODE, totlen);
        FieldWriter::new(out, endian)
            .u32(self.ino)
            .u32(self.version)
            .u32(self.mode)
            .u16(self.uid)
            .u16(self.gid)
            .u32(self.isize)
            .u32(self.atime)
            .u32(self.mtime)
            .u32(self.ctime)
            .u32(self.offset)
            .u32(data.len() as u32)
            .u32(self.dsize)
            .u8(self.compr)
            .u8(self.usercompr)
            .u16(self.flags)
            .u32(crc32(data));
        let node_crc = crc32(&out[start..start + INODE_CRC_COVERS]);
        FieldWriter::new(out, endian).u32(node_crc).bytes(data);
    }

    /// Parses the node at the start of `b` (whose header was already checked); `b` must
    /// hold the whole node as claimed by totlen. None when it is shorter than the fixed part
    /// or than `csize` claims.
    pub fn parse(b: &[u8], endian: Endian) -> Option<(ParsedInode, &[u8])> {
        if b.len() < INODE_SIZE {
            return None;
        }
        let mut r = FieldReader::new(&b[HEADER_SIZE..INODE_SIZE], endian);
        let raw = RawInode {
            ino: r.u32(),
            version: r.u32(),
            mode: r.u32(),
            uid: r.u16(),
            gid: r.u16(),
            isize: r.u32(),
            atime: r.u32(),
            mtime: r.u32(),
            ctime: r.u32(),
            offset: r.u32(),
            csize: r.u32(),
            dsize: r.u32(),
            compr: r.u8(),
            usercompr: r.u8(),
            flags: r.u16(),
        };
        let data_crc = r.u32();
        let node_crc = r.u32();
        let data = b.get(INODE_SIZE..INODE_SIZE.checked_add(raw.csize as usize)?)?;
        let parsed = ParsedInode {
            node_crc_ok: node_crc == crc32(&b[..INODE_CRC_COVERS]),
            data_crc_ok: data_crc == crc32(data),
            raw,
        };
        debug_assert_eq!(DATA_CRC_AT, INODE_CRC_COVERS);
        Some((parsed, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RawInode {
        RawInode {
            ino: 2,
            version: 1,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            isize: 6,
            atime: 0x6B01_2F4F,
            mtime: 0x6B01_2F4F,
            ctime: 0x6B01_2F4F,
            offset: 0,
            csize: 6,
            dsize: 6,
            compr: 0,
            usercompr: 0,
            flags: 0,
        }
    }

    #[test]
    fn exact_bytes_match_mkfs_jffs2() {
        // The inode node mkfs.jffs2 (mtd-utils 2.1) wrote for a 6-byte file "hello\n"
        // stored uncompressed, little-endian.
        let want: [u8; 74] = [
            0x85, 0x19, 0x02, 0xE0, 0x4A, 0x00, 0x00, 0x00, 0x2E, 0x8C, 0x28, 0x78, // header
            0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xA4, 0x81, 0x00,
            0x00, // ino ver mode
            0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, // uid gid isize
            0x4F, 0x2F, 0x01, 0x6B, 0x4F, 0x2F, 0x01, 0x6B, 0x4F, 0x2F, 0x01, 0x6B, // times
            0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
            0x00, // ofs csize dsize
            0x00, 0x00, 0x00, 0x00, // compr usercompr flags
            0x83, 0x91, 0xF8, 0x87, 0x4F, 0xC3, 0xC6, 0xB2, // data_crc node_crc
            b'h', b'e', b'l', b'l', b'o', b'\n',
        ];
        let mut b = Vec::new();
        sample().encode(b"hello\n", Endian::Little, &mut b);
        assert_eq!(b, want);
    }

    #[test]
    fn round_trip_big_endian_and_crc_checks() {
        let mut b = Vec::new();
        sample().encode(b"hello\n", Endian::Big, &mut b);
        let (p, data) = RawInode::parse(&b, Endian::Big).unwrap();
        assert_eq!(p.raw, sample());
        assert!(p.node_crc_ok && p.data_crc_ok);
        assert_eq!(data, b"hello\n");
        b[70] ^= 0x20;
        let (p, _) = RawInode::parse(&b, Endian::Big).unwrap();
        assert!(p.node_crc_ok && !p.data_crc_ok);
        b[20] ^= 1;
        let (p, _) = RawInode::parse(&b, Endian::Big).unwrap();
        assert!(!p.node_crc_ok);
    }

    #[test]
    fn truncated_data_is_none() {
        let mut b = Vec::new();
        sample().encode(b"hello\n", Endian::Little, &mut b);
        assert!(RawInode::parse(&b[..b.len() - 1], Endian::Little).is_none());
    }
}
