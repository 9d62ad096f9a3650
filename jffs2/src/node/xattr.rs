//! Extended attributes (`fs/jffs2/xattr.c`): an XATTR node holds one name/value pair (a
//! "datum", shared by every inode that has the same pair) and an XREF node attaches a
//! datum to an inode. Only kernels built with CONFIG_JFFS2_FS_XATTR accept images with
//! them: the node types are INCOMPAT, so other kernels refuse to mount.

use super::header::{self, align, nodetype, HEADER_SIZE};
use crate::crc::crc32;
use crate::endian::{Endian, FieldReader, FieldWriter};
use crate::error::{Error, Result};

/// `struct jffs2_raw_xattr` without its data (name, NUL, value).
pub const XATTR_SIZE: usize = 32;
/// `struct jffs2_raw_xref`.
pub const XREF_SIZE: usize = 28;
/// Both nodes' `node_crc` covers everything before itself.
const NODE_CRC_TAIL: usize = 4;
/// Live xrefs have even sequence numbers; odd marks a deleted one (`XREF_DELETE_MARKER`).
pub const XSEQNO_STEP: u32 = 2;

/// Name prefixes, stored as a number (`JFFS2_XPREFIX_*`); the name is stored without it.
pub const PREFIXES: [(u8, &str); 3] = [(1, "user."), (2, "security."), (5, "trusted.")];
/// POSIX ACLs (prefixes 3 and 4) need the kernel's own ACL encoding: not supported.
pub const ACL_NAMES: [&str; 2] = ["system.posix_acl_access", "system.posix_acl_default"];

/// Splits a full attribute name into the stored prefix number and the rest.
pub fn split_name(full: &[u8]) -> Option<(u8, &[u8])> {
    PREFIXES
        .iter()
        .find(|(_, p)| full.starts_with(p.as_bytes()))
        .map(|&(n, p)| (n, &full[p.len()..]))
}

/// The full name of a stored (prefix, name).
pub fn full_name(xprefix: u8, name: &[u8]) -> Option<Vec<u8>> {
    let (_, p) = PREFIXES.iter().find(|(n, _)| *n == xprefix)?;
    let mut out = p.as_bytes().to_vec();
    out.extend_from_slice(name);
    Some(out)
}

/// One name/value pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawXattr {
    /// Datum id, shared by every inode that refers to it.
    pub xid: u32,
    /// Node version.
    pub version: u32,
    /// Name prefix number (`JFFS2_XPREFIX_*`: user., security., trusted.).
    pub xprefix: u8,
    /// Without the prefix; at most 255 bytes.
    pub name: Vec<u8>,
    /// At most 65535 bytes.
    pub value: Vec<u8>,
}

impl RawXattr {
    /// The node's totlen: unlike other nodes, the kernel wants it padded to 4 bytes.
    pub fn totlen(&self) -> usize {
        align(XATTR_SIZE + self.name.len() + 1 + self.value.len())
    }

    /// Appends the node, padded to 4 bytes.
    pub fn encode(&self, endian: Endian, out: &mut Vec<u8>) {
        let start = out.len();
        let totlen = self.totlen();
        let mut data = self.name.clone();
        data.push(0);
        data.extend_from_slice(&self.value);
        header::encode(out, endian, nodetype::XATTR, totlen as u32);
        FieldWriter::new(out, endian)
            .u32(self.xid)
            .u32(self.version)
            .u8(self.xprefix)
            .u8(self.name.len() as u8)
            .u16(self.value.len() as u16)
            .u32(crc32(&data));
        let node_crc = crc32(&out[start..start + XATTR_SIZE - NODE_CRC_TAIL]);
        FieldWriter::new(out, endian).u32(node_crc).bytes(&data);
        out.resize(start + totlen, 0xFF);
    }

    /// Parses an XATTR node; Err says what the kernel would reject.
    pub fn parse(b: &[u8], endian: Endian) -> Result<RawXattr> {
        if b.len() < XATTR_SIZE {
            return Err(node_error(format!(
                "xattr node of {} bytes is too short",
                b.len()
            )));
        }
        let mut r = FieldReader::new(&b[HEADER_SIZE..XATTR_SIZE], endian);
        let (xid, version, xprefix) = (r.u32(), r.u32(), r.u8());
        let (name_len, value_len) = (r.u8() as usize, r.u16() as usize);
        let (data_crc, node_crc) = (r.u32(), r.u32());
        if node_crc != crc32(&b[..XATTR_SIZE - NODE_CRC_TAIL]) {
            return Err(node_error("xattr node CRC is wrong".into()));
        }
        let want = align(XATTR_SIZE + name_len + 1 + value_len);
        if want != b.len() {
            return Err(node_error(format!(
                "xattr node totlen {} but its name and value need {want}",
                b.len()
            )));
        }
        let data = &b[XATTR_SIZE..XATTR_SIZE + name_len + 1 + value_len];
        if data_crc != crc32(data) {
            return Err(node_error(format!("xattr {xid} data CRC is wrong")));
        }
        Ok(RawXattr {
            xid,
            version,
            xprefix,
            name: data[..name_len].to_vec(),
            value: data[name_len + 1..].to_vec(),
        })
    }
}

/// Attaches datum `xid` to inode `ino`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawXref {
    /// The inode.
    pub ino: u32,
    /// The datum.
    pub xid: u32,
    /// Sequence number; the kernel keeps a reference whose number is even.
    pub xseqno: u32,
}

impl RawXref {
    /// Appends the node.
    pub fn encode(&self, endian: Endian, out: &mut Vec<u8>) {
        let start = out.len();
        header::encode(out, endian, nodetype::XREF, XREF_SIZE as u32);
        FieldWriter::new(out, endian)
            .u32(self.ino)
            .u32(self.xid)
            .u32(self.xseqno);
        let node_crc = crc32(&out[start..start + XREF_SIZE - NODE_CRC_TAIL]);
        FieldWriter::new(out, endian).u32(node_crc);
    }

    /// Parses an XREF node; Err says what the kernel would reject.
    pub fn parse(b: &[u8], endian: Endian) -> Result<RawXref> {
        if b.len() != XREF_SIZE {
            return Err(node_error(format!(
                "xref node totlen {} but it is {XREF_SIZE} bytes",
                b.len()
            )));
        }
        let mut r = FieldReader::new(&b[HEADER_SIZE..], endian);
        let x = RawXref {
            ino: r.u32(),
            xid: r.u32(),
            xseqno: r.u32(),
        };
        if r.u32() != crc32(&b[..XREF_SIZE - NODE_CRC_TAIL]) {
            return Err(node_error("xref node CRC is wrong".into()));
        }
        Ok(x)
    }
}

/// A damaged node: the offset is the node's start.
fn node_error(problem: String) -> Error {
    Error::Node { offset: 0, problem }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xattr_bytes_and_round_trip() {
        let x = RawXattr {
            xid: 1,
            version: 1,
            xprefix: 1,
            name: b"mime".to_vec(),
            value: b"text/plain".to_vec(),
        };
        let mut b = Vec::new();
        x.encode(Endian::Little, &mut b);
        // 32 + "mime" + NUL + "text/plain" = 47, padded to 48.
        assert_eq!(b.len(), 48);
        assert_eq!(&b[..8], [0x85, 0x19, 0x08, 0xE0, 48, 0, 0, 0]);
        assert_eq!(&b[12..24], [1, 0, 0, 0, 1, 0, 0, 0, 1, 4, 10, 0]);
        assert_eq!(&b[24..28], crc32(b"mime\0text/plain").to_le_bytes());
        assert_eq!(&b[28..32], crc32(&b[..28]).to_le_bytes());
        assert_eq!(&b[32..47], b"mime\0text/plain");
        assert_eq!(b[47], 0xFF);
        assert_eq!(RawXattr::parse(&b, Endian::Little).unwrap(), x);
        b[40] ^= 1;
        assert_eq!(
            RawXattr::parse(&b, Endian::Little).unwrap_err().detail(),
            "xattr 1 data CRC is wrong"
        );
    }

    #[test]
    fn xref_bytes_and_round_trip() {
        let r = RawXref {
            ino: 7,
            xid: 3,
            xseqno: 2,
        };
        let mut b = Vec::new();
        r.encode(Endian::Big, &mut b);
        assert_eq!(b.len(), XREF_SIZE);
        assert_eq!(&b[..8], [0x19, 0x85, 0xE0, 0x09, 0, 0, 0, 28]);
        assert_eq!(&b[12..24], [0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 2]);
        assert_eq!(&b[24..], crc32(&b[..24]).to_be_bytes());
        assert_eq!(RawXref::parse(&b, Endian::Big).unwrap(), r);
    }

    #[test]
    fn prefixes() {
        assert_eq!(split_name(b"user.mime"), Some((1, &b"mime"[..])));
        assert_eq!(split_name(b"security.selinux"), Some((2, &b"selinux"[..])));
        assert_eq!(split_name(b"system.posix_acl_access"), None);
        assert_eq!(full_name(5, b"x").unwrap(), b"trusted.x");
    }
}
