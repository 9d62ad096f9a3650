//! The NBD transmission protocol as the kernel's nbd driver speaks it over the socket we
//! hand it (include/uapi/linux/nbd.h): fixed 28-byte requests, 16-byte replies, all
//! fields big-endian; a write's data follows its request, a read's data its reply.

use std::fmt;

/// `NBD_REQUEST_MAGIC`: the first four bytes of every request.
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
/// `NBD_REPLY_MAGIC`: the first four bytes of every simple reply.
pub const REPLY_MAGIC: u32 = 0x6744_6698;
/// `struct nbd_request`: magic u32, type u32, handle [u8; 8], from u64, len u32 (packed).
pub const REQUEST_LEN: usize = 28;
/// `struct nbd_reply`: magic u32, error u32, handle [u8; 8].
pub const REPLY_LEN: usize = 16;
/// The low 16 bits of `type` are the command, the high 16 bits its flags.
const COMMAND_MASK: u32 = 0xffff;
const FLAGS_SHIFT: u32 = 16;

/// What the kernel asks (`NBD_CMD_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Read,
    Write,
    /// `NBD_CMD_DISC`: the device is being disconnected; no reply is expected.
    Disconnect,
    /// `NBD_CMD_FLUSH`: sent at the end of fsync(2) of the device, after its dirty pages.
    Flush,
    Trim,
    Other(u16),
}

impl Command {
    fn from_code(code: u16) -> Self {
        match code {
            0 => Self::Read,
            1 => Self::Write,
            2 => Self::Disconnect,
            3 => Self::Flush,
            4 => Self::Trim,
            other => Self::Other(other),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub command: Command,
    /// `NBD_CMD_FLAG_*` (e.g. FUA); we make every write durable by order, not by flag.
    pub flags: u16,
    /// Opaque to us; echoed in the reply so the kernel finds its request.
    pub handle: [u8; 8],
    pub offset: u64,
    pub len: u32,
}

/// A request that is not one: the stream is out of step and cannot be served further.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadMagic(pub u32);

impl fmt::Display for BadMagic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected the NBD request magic {REQUEST_MAGIC:#010x}, but got {:#010x}",
            self.0
        )
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().expect("4 bytes"))
}

impl Request {
    pub fn parse(b: &[u8; REQUEST_LEN]) -> Result<Self, BadMagic> {
        let magic = be32(&b[0..4]);
        if magic != REQUEST_MAGIC {
            return Err(BadMagic(magic));
        }
        let kind = be32(&b[4..8]);
        Ok(Self {
            command: Command::from_code((kind & COMMAND_MASK) as u16),
            flags: (kind >> FLAGS_SHIFT) as u16,
            handle: b[8..16].try_into().expect("8 bytes"),
            offset: u64::from_be_bytes(b[16..24].try_into().expect("8 bytes")),
            len: be32(&b[24..28]),
        })
    }

    /// The bytes the kernel sends for this request (the tests' side of the socket).
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let code: u16 = match self.command {
            Command::Read => 0,
            Command::Write => 1,
            Command::Disconnect => 2,
            Command::Flush => 3,
            Command::Trim => 4,
            Command::Other(c) => c,
        };
        let mut b = [0u8; REQUEST_LEN];
        b[0..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(
            &(u32::from(code) | u32::from(self.flags) << FLAGS_SHIFT).to_be_bytes(),
        );
        b[8..16].copy_from_slice(&self.handle);
        b[16..24].copy_from_slice(&self.offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.len.to_be_bytes());
        b
    }
}

/// The reply to `handle`: `errno` 0 for success, else the errno the kernel reports upward.
pub fn reply(handle: [u8; 8], errno: u32) -> [u8; REPLY_LEN] {
    let mut b = [0u8; REPLY_LEN];
    b[0..4].copy_from_slice(&REPLY_MAGIC.to_be_bytes());
    b[4..8].copy_from_slice(&errno.to_be_bytes());
    b[8..16].copy_from_slice(&handle);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes_are_the_kernels_layout() {
        // A 4 KiB write at 64 KiB with FUA, as nbd.c's nbd_send_cmd lays it out.
        let bytes: [u8; REQUEST_LEN] = [
            0x25, 0x60, 0x95, 0x13, // magic
            0x00, 0x01, 0x00, 0x01, // FUA << 16 | NBD_CMD_WRITE
            1, 2, 3, 4, 5, 6, 7, 8, // handle
            0, 0, 0, 0, 0, 1, 0, 0, // from = 65536
            0, 0, 0x10, 0, // len = 4096
        ];
        let r = Request::parse(&bytes).unwrap();
        assert_eq!(r.command, Command::Write);
        assert_eq!(r.flags, 1);
        assert_eq!(r.handle, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(r.offset, 65536);
        assert_eq!(r.len, 4096);
        assert_eq!(r.encode(), bytes);
    }

    #[test]
    fn every_command_round_trips() {
        for command in [
            Command::Read,
            Command::Write,
            Command::Disconnect,
            Command::Flush,
            Command::Trim,
            Command::Other(6),
        ] {
            let r = Request {
                command,
                flags: 0,
                handle: [9; 8],
                offset: 1 << 40,
                len: 512,
            };
            assert_eq!(Request::parse(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn bad_magic_is_refused_with_both_values() {
        let mut bytes = [0u8; REQUEST_LEN];
        bytes[0..4].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
        let err = Request::parse(&bytes).unwrap_err();
        assert_eq!(err, BadMagic(0xdead_beef));
        assert_eq!(
            err.to_string(),
            "expected the NBD request magic 0x25609513, but got 0xdeadbeef"
        );
    }

    #[test]
    fn reply_bytes() {
        assert_eq!(
            reply([1, 2, 3, 4, 5, 6, 7, 8], 5),
            [0x67, 0x44, 0x66, 0x98, 0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8]
        );
    }
}
