//! `struct jffs2_raw_dirent`: one name in a directory. Hard links are several dirents
//! naming one inode; the highest version of a (parent, name) pair wins, ino 0 deletes it.

use super::header::{self, nodetype, HEADER_SIZE};
use crate::crc::crc32;
use crate::endian::{Endian, FieldReader, FieldWriter};

/// Size of the fixed part; the name follows, without a NUL.
pub const DIRENT_SIZE: usize = 40;
/// `node_crc` covers everything before itself and `name_crc`.
pub const DIRENT_CRC_COVERS: usize = DIRENT_SIZE - 8;
/// The longest name the kernel accepts (`JFFS2_MAX_NAME_LEN`); nsize is a u8.
pub const MAX_NAME_LEN: usize = 254;

/// The fields of a directory entry node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawDirent {
    /// The directory's inode number.
    pub pino: u32,
    /// In the directory's version space (shared with its inode nodes).
    pub version: u32,
    /// The inode named; 0 marks a deletion.
    pub ino: u32,
    /// Modification/change time the entry gives the directory.
    pub mctime: u32,
    /// `DT_*` type: the file type bits of the mode shifted down by 12.
    pub dtype: u8,
    /// Raw name bytes (any bytes but '/' and NUL; not necessarily UTF-8).
    pub name: Vec<u8>,
}

/// A dirent read back, with the checks the kernel makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedDirent {
    /// The fields.
    pub raw: RawDirent,
    /// Whether `node_crc` matches.
    pub node_crc_ok: bool,
    /// Whether `name_crc` matches the name.
    pub name_crc_ok: bool,
}

impl RawDirent {
    /// Appends the whole node. The caller guarantees `name.len() <= MAX_NAME_LEN`.
    pub fn encode(&self, endian: Endian, out: &mut Vec<u8>) {
        debug_assert!(self.name.len() <= MAX_NAME_LEN);
        let start = out.len();
        let totlen = (DIRENT_SIZE + self.name.len()) as u32;
        header::encode(out, endian, nodetype::DIRENT, totlen);
        FieldWriter::new(out, endian)
            .u32(self.pino)
            .u32(self.version)
            .u32(self.ino)
            .u32(self.mctime)
            .u8(self.name.len() as u8)
            .u8(self.dtype)
            .bytes(&[0, 0]);
        let node_crc = crc32(&out[start..start + DIRENT_CRC_COVERS]);
        FieldWriter::new(out, endian)
            .u32(node_crc)
            .u32(crc32(&self.name))
            .bytes(&self.name);
    }

    /// Parses the node at the start of `b`; None when shorter than the fixed part or
    /// than nsize claims.
    pub fn parse(b: &[u8], endian: Endian) -> Option<ParsedDirent> {
        if b.len() < DIRENT_SIZE {
            return None;
        }
        let mut r = FieldReader::new(&b[HEADER_SIZE..DIRENT_SIZE], endian);
        let pino = r.u32();
        let version = r.u32();
        let ino = r.u32();
        let mctime = r.u32();
        let nsize = r.u8() as usize;
        let dtype = r.u8();
        let _unused = r.u16();
        let node_crc = r.u32();
        let name_crc = r.u32();
        let name = b.get(DIRENT_SIZE..DIRENT_SIZE + nsize)?.to_vec();
        Some(ParsedDirent {
            node_crc_ok: node_crc == crc32(&b[..DIRENT_CRC_COVERS]),
            name_crc_ok: name_crc == crc32(&name),
            raw: RawDirent {
                pino,
                version,
                ino,
                mctime,
                dtype,
                name,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RawDirent {
        RawDirent {
            pino: 1,
            version: 0,
            ino: 2,
            mctime: 0x6B01_2F4F,
            dtype: 8,
            name: b"a".to_vec(),
        }
    }

    #[test]
    fn exact_bytes_match_mkfs_jffs2() {
        // The dirent mkfs.jffs2 (mtd-utils 2.1) wrote for "/a", little-endian.
        let want: [u8; 41] = [
            0x85, 0x19, 0x01, 0xE0, 0x29, 0x00, 0x00, 0x00, 0x6D, 0xA6, 0x2F, 0xD7, // header
            0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, // pino, version (mkfs.jffs2 writes 0)
            0x02, 0x00, 0x00, 0x00, 0x4F, 0x2F, 0x01, 0x6B, // ino, mctime
            0x01, 0x08, 0x00, 0x00, // nsize type unused
            0xC9, 0x9F, 0x05, 0xD3, 0xCE, 0x51, 0xB5, 0x3A, // node_crc name_crc
            b'a',
        ];
        let mut b = Vec::new();
        sample().encode(Endian::Little, &mut b);
        assert_eq!(b, want);
    }

    #[test]
    fn round_trip_non_utf8_longest_name() {
        let mut d = sample();
        d.name = vec![0xFE; MAX_NAME_LEN];
        let mut b = Vec::new();
        d.encode(Endian::Big, &mut b);
        assert_eq!(b.len(), DIRENT_SIZE + MAX_NAME_LEN);
        let p = RawDirent::parse(&b, Endian::Big).unwrap();
        assert_eq!(p.raw, d);
        assert!(p.node_crc_ok && p.name_crc_ok);
        b[DIRENT_SIZE] = 0xFD;
        let p = RawDirent::parse(&b, Endian::Big).unwrap();
        assert!(p.node_crc_ok && !p.name_crc_ok);
    }
}
