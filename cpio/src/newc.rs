//! The newc ("new ASCII", magic `070701`) cpio header: constants, encoder, decoder and
//! the padding rule. Layout per the kernel's `Documentation/driver-api/early-userspace/
//! buffer-format.rst`: a 6-byte magic, then 13 fields of 8 upper-case hex digits, then
//! the NUL-terminated name; header+name and the data are each padded to 4 bytes.

use crate::error::{Error, ErrorKind};

/// The magic of a newc archive without checksums (the only kind the kernel writes and
/// the kind we write). `070702` (crc) is read as well.
pub const MAGIC: &[u8; 6] = b"070701";
/// The `crc` variant: same layout, `check` holds a byte sum of the data.
pub const MAGIC_CRC: &[u8; 6] = b"070702";
/// Magic + 13 fields of 8 hex digits.
pub const HEADER_LEN: usize = 6 + FIELD_COUNT * FIELD_LEN;
/// Number of hex fields after the magic.
const FIELD_COUNT: usize = 13;
/// Each field is 8 hex digits (a u32).
const FIELD_LEN: usize = 8;
/// Header+name and file data both start on this boundary.
pub const ALIGN: usize = 4;
/// The name of the last entry.
pub const TRAILER: &str = "TRAILER!!!";

/// Largest file a newc header can describe (`filesize` is 8 hex digits).
pub const MAX_FILE_SIZE: u64 = u32::MAX as u64;

/// The file type bits of a mode (`st_mode & S_IFMT`), as Linux defines them.
pub const S_IFMT: u32 = libc::S_IFMT;
/// Socket.
pub const S_IFSOCK: u32 = libc::S_IFSOCK;
/// Symbolic link.
pub const S_IFLNK: u32 = libc::S_IFLNK;
/// Regular file.
pub const S_IFREG: u32 = libc::S_IFREG;
/// Block device.
pub const S_IFBLK: u32 = libc::S_IFBLK;
/// Directory.
pub const S_IFDIR: u32 = libc::S_IFDIR;
/// Character device.
pub const S_IFCHR: u32 = libc::S_IFCHR;
/// Named pipe.
pub const S_IFIFO: u32 = libc::S_IFIFO;
/// Permission bits including setuid, setgid and sticky.
pub const PERM_MASK: u32 = 0o7777;

/// Bytes of padding after `len` bytes so that the next item starts aligned.
pub fn pad_len(len: usize) -> usize {
    (ALIGN - len % ALIGN) % ALIGN
}

/// One newc header, field by field, in archive order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Inode number; entries sharing one (with `nlink` > 1) are hard links.
    pub ino: u32,
    /// Type and permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Number of names of the inode (2 for an empty directory).
    pub nlink: u32,
    /// Seconds since the epoch.
    pub mtime: u32,
    /// Bytes of data after the name (a symlink's data is its target).
    pub filesize: u32,
    /// Device holding the original file; only hard-link detection uses it.
    pub devmajor: u32,
    /// Minor of `devmajor`.
    pub devminor: u32,
    /// The device number of a character or block device node: major.
    pub rdevmajor: u32,
    /// Minor of `rdevmajor`.
    pub rdevminor: u32,
    /// `namesize` is derived from the name when encoding; kept on decode for errors.
    pub namesize: u32,
    /// Zero for `070701`; the data byte sum for `070702`.
    pub check: u32,
}

impl Header {
    /// The file type bits (`S_IFREG`, `S_IFDIR`, ...).
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }

    /// Encodes header, NUL-terminated `name` and the padding up to the data.
    /// `namesize` is taken from `name`, not from `self`.
    pub fn encode(&self, name: &str) -> Vec<u8> {
        let namesize = name.len() + 1;
        let total = HEADER_LEN + namesize;
        let mut out = Vec::with_capacity(total + pad_len(total));
        out.extend_from_slice(MAGIC);
        let fields = [
            self.ino,
            self.mode,
            self.uid,
            self.gid,
            self.nlink,
            self.mtime,
            self.filesize,
            self.devmajor,
            self.devminor,
            self.rdevmajor,
            self.rdevminor,
            namesize as u32,
            self.check,
        ];
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(total + pad_len(total), 0);
        out
    }

    /// Decodes the fixed part of a header (the magic and 13 fields).
    /// Errors carry neither offset nor path: the reader adds them.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, Error> {
        let magic = &bytes[..MAGIC.len()];
        if magic != MAGIC && magic != MAGIC_CRC {
            return Err(Error::new(ErrorKind::BadMagic {
                got: magic.to_vec(),
            }));
        }
        let mut fields = [0u32; FIELD_COUNT];
        for (i, field) in fields.iter_mut().enumerate() {
            let start = MAGIC.len() + i * FIELD_LEN;
            let text = &bytes[start..start + FIELD_LEN];
            *field = std::str::from_utf8(text)
                .ok()
                .and_then(|t| u32::from_str_radix(t, 16).ok())
                .ok_or_else(|| {
                    Error::new(ErrorKind::BadField {
                        field: FIELD_NAMES[i],
                        text: String::from_utf8_lossy(text).into_owned(),
                    })
                })?;
        }
        let [ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check] =
            fields;
        Ok(Self {
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            filesize,
            devmajor,
            devminor,
            rdevmajor,
            rdevminor,
            namesize,
            check,
        })
    }
}

/// Field names in archive order, for error messages.
const FIELD_NAMES: [&str; FIELD_COUNT] = [
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "filesize",
    "devmajor",
    "devminor",
    "rdevmajor",
    "rdevminor",
    "namesize",
    "check",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_length_is_110() {
        assert_eq!(HEADER_LEN, 110);
    }

    #[test]
    fn pads_to_four() {
        assert_eq!([0, 1, 2, 3, 4, 5].map(pad_len), [0, 3, 2, 1, 0, 3]);
    }

    /// `dev/console` as the kernel's gen_init_cpio writes it with `nod /dev/console 0600 0 0 c 5 1`,
    /// except ino/mtime/devmajor/devminor which we choose.
    #[test]
    fn encodes_console_node_exactly() {
        let h = Header {
            ino: 2,
            mode: S_IFCHR | 0o600,
            nlink: 1,
            mtime: 0x5F5E_1000,
            rdevmajor: 5,
            rdevminor: 1,
            ..Header::default()
        };
        let bytes = h.encode("dev/console");
        let expected = concat!(
            "070701",
            "00000002", // ino
            "00002180", // mode: 020600
            "00000000", // uid
            "00000000", // gid
            "00000001", // nlink
            "5F5E1000", // mtime
            "00000000", // filesize
            "00000000", // devmajor
            "00000000", // devminor
            "00000005", // rdevmajor
            "00000001", // rdevminor
            "0000000C", // namesize: "dev/console" + NUL
            "00000000", // check
            "dev/console\0",
        );
        // 110 + 12 = 122 → 2 bytes of padding.
        let mut expected = expected.as_bytes().to_vec();
        expected.extend_from_slice(&[0, 0]);
        assert_eq!(bytes, expected);
        assert_eq!(bytes.len() % ALIGN, 0);
    }

    #[test]
    fn trailer_needs_no_padding_after_name() {
        // 110 + "TRAILER!!!\0" (11) = 121 → 3 bytes of padding.
        let bytes = Header {
            nlink: 1,
            ..Header::default()
        }
        .encode(TRAILER);
        assert_eq!(bytes.len(), 124);
        assert_eq!(&bytes[110..121], b"TRAILER!!!\0");
        assert_eq!(&bytes[121..], &[0, 0, 0]);
    }

    #[test]
    fn decode_round_trips() {
        let h = Header {
            ino: 7,
            mode: S_IFREG | 0o755,
            nlink: 1,
            mtime: 1,
            filesize: 0xABCDEF,
            rdevmajor: 0,
            ..Header::default()
        };
        let bytes = h.encode("init");
        let decoded = Header::decode(bytes[..HEADER_LEN].try_into().unwrap()).unwrap();
        assert_eq!(decoded, Header { namesize: 5, ..h });
    }

    #[test]
    fn decode_names_bad_magic_and_field() {
        let mut bytes = Header::default().encode("x");
        bytes[..6].copy_from_slice(b"070707");
        let err = Header::decode(bytes[..HEADER_LEN].try_into().unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected newc magic \"070701\" but got \"070707\""
        );

        let mut bytes = Header::default().encode("x");
        bytes[6 + 6 * 8..6 + 7 * 8].copy_from_slice(b"0000000G");
        let err = Header::decode(bytes[..HEADER_LEN].try_into().unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "field filesize: expected 8 hex digits but got \"0000000G\""
        );
    }
}
