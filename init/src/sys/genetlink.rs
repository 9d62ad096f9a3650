//! Generic netlink, just enough to configure an nbd device (include/uapi/linux/netlink.h,
//! genetlink.h, nbd-netlink.h): a connected nbd device needs no process waiting in an
//! ioctl, so a stop or a signal to the card agent (systemd's shutdown stops every process
//! for a moment) cannot end the connection, as it ends `NBD_DO_IT`.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};

const NLMSG_HDR: usize = 16;
const GENL_HDR: usize = 4;
const NLA_HDR: usize = 4;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;
const NLA_F_NESTED: u16 = 1 << 15;
/// The controller family, which names the others.
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

const NBD_FAMILY: &str = "nbd";
const NBD_GENL_VERSION: u8 = 1;
const NBD_CMD_CONNECT: u8 = 1;
const NBD_ATTR_INDEX: u16 = 1;
const NBD_ATTR_SIZE_BYTES: u16 = 2;
const NBD_ATTR_BLOCK_SIZE_BYTES: u16 = 3;
const NBD_ATTR_SERVER_FLAGS: u16 = 5;
const NBD_ATTR_SOCKETS: u16 = 7;
const NBD_SOCK_ITEM: u16 = 1;
const NBD_SOCK_FD: u16 = 1;

/// One netlink message being built: header, generic header, attributes.
struct Message(Vec<u8>);

impl Message {
    fn new(family: u16, cmd: u8, version: u8) -> Self {
        let mut b = vec![0u8; NLMSG_HDR];
        b[4..6].copy_from_slice(&family.to_ne_bytes());
        b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        b[8..12].copy_from_slice(&1u32.to_ne_bytes());
        b.extend_from_slice(&[cmd, version, 0, 0]);
        Self(b)
    }

    fn attr(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
        let len = (NLA_HDR + payload.len()) as u16;
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(payload);
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[0..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

/// A nested attribute's bytes: `kind` holding `inner`.
fn nested(kind: u16, inner: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&((NLA_HDR + inner.len()) as u16).to_ne_bytes());
    b.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    b.extend_from_slice(inner);
    b
}

fn open() -> Result<OwnedFd, Errno> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkGeneric,
    )?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
    Ok(fd)
}

/// Sends `msg` and reads the answers up to the acknowledgement; returns the payloads
/// (after the generic header) of the messages before it.
fn request(fd: &OwnedFd, msg: Vec<u8>) -> Result<Vec<Vec<u8>>, Errno> {
    send(fd.as_raw_fd(), &msg, MsgFlags::empty())?;
    let mut answers = Vec::new();
    let mut buf = vec![0u8; 16384];
    loop {
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
        let mut at = 0;
        while at + NLMSG_HDR <= n {
            let len = u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4")) as usize;
            let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().expect("2"));
            if len < NLMSG_HDR || at + len > n {
                return Err(Errno::EPROTO);
            }
            if kind == NLMSG_ERROR {
                let code = i32::from_ne_bytes(buf[at + 16..at + 20].try_into().expect("4"));
                return match code {
                    0 => Ok(answers),
                    e => Err(Errno::from_raw(-e)),
                };
            }
            answers.push(buf[at + NLMSG_HDR + GENL_HDR..at + len].to_vec());
            at += len.div_ceil(4) * 4;
        }
    }
}

/// The attribute `kind` among `attrs`.
fn find_attr(attrs: &[u8], kind: u16) -> Option<&[u8]> {
    let mut at = 0;
    while at + NLA_HDR <= attrs.len() {
        let len = u16::from_ne_bytes([attrs[at], attrs[at + 1]]) as usize;
        let k = u16::from_ne_bytes([attrs[at + 2], attrs[at + 3]]) & !NLA_F_NESTED;
        if len < NLA_HDR || at + len > attrs.len() {
            return None;
        }
        if k == kind {
            return Some(&attrs[at + NLA_HDR..at + len]);
        }
        at += len.div_ceil(4) * 4;
    }
    None
}

/// Connects `/dev/nbd<index>` to `socket` (its server end is ours), `size` bytes in blocks
/// of `block_size`, with flushes passed on (`server_flags`).
pub fn nbd_connect(
    index: u32,
    socket_fd: RawFd,
    size: u64,
    block_size: u64,
    server_flags: u64,
) -> Result<(), Errno> {
    let fd = open()?;
    let mut m = Message::new(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
    m.attr(CTRL_ATTR_FAMILY_NAME, format!("{NBD_FAMILY}\0").as_bytes());
    let answers = request(&fd, m.finish())?;
    let family = answers
        .iter()
        .find_map(|a| find_attr(a, CTRL_ATTR_FAMILY_ID))
        .and_then(|v| v.get(..2))
        .map(|v| u16::from_ne_bytes([v[0], v[1]]))
        .ok_or(Errno::ENOENT)?;
    let item = nested(
        NBD_SOCK_ITEM,
        &[
            &8u16.to_ne_bytes()[..],
            &NBD_SOCK_FD.to_ne_bytes(),
            &(socket_fd as u32).to_ne_bytes(),
        ]
        .concat(),
    );
    let mut m = Message::new(family, NBD_CMD_CONNECT, NBD_GENL_VERSION);
    m.attr(NBD_ATTR_INDEX, &index.to_ne_bytes())
        .attr(NBD_ATTR_SIZE_BYTES, &size.to_ne_bytes())
        .attr(NBD_ATTR_BLOCK_SIZE_BYTES, &block_size.to_ne_bytes())
        .attr(NBD_ATTR_SERVER_FLAGS, &server_flags.to_ne_bytes());
    let sockets = nested(NBD_ATTR_SOCKETS, &item);
    m.0.extend_from_slice(&sockets);
    request(&fd, m.finish()).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_found_again() {
        let mut m = Message::new(0x20, 1, 1);
        m.attr(2, b"nbd\0")
            .attr(3, &7u64.to_ne_bytes())
            .attr(4, &[1]);
        let bytes = m.finish();
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(
            u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize,
            bytes.len()
        );
        let attrs = &bytes[NLMSG_HDR + GENL_HDR..];
        assert_eq!(find_attr(attrs, 2), Some(&b"nbd\0"[..]));
        assert_eq!(find_attr(attrs, 3), Some(&7u64.to_ne_bytes()[..]));
        assert_eq!(find_attr(attrs, 4), Some(&[1u8][..]));
        assert_eq!(find_attr(attrs, 9), None);
    }

    #[test]
    fn nested_attributes_carry_the_nested_flag() {
        let n = nested(7, &[8, 0, 1, 0, 5, 0, 0, 0]);
        assert_eq!(u16::from_ne_bytes([n[0], n[1]]), 12);
        assert_eq!(u16::from_ne_bytes([n[2], n[3]]), 7 | NLA_F_NESTED);
        assert_eq!(
            find_attr(&n, 7).and_then(|i| find_attr(i, 1)),
            Some(&[5u8, 0, 0, 0][..])
        );
    }
}
