//! The kernel's uevent socket (`NETLINK_KOBJECT_UEVENT`): every device the kernel adds
//! is announced here with its modalias, as udev hears it. Opened before the sysfs scan,
//! so no device falls between the scan and the first message.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    bind, recv, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};

/// The multicast group of the kernel's own uevents (udev's re-broadcasts use group 2).
const KERNEL_GROUP: u32 = 1;
/// Room for the bursts a driver probe causes (each event is a few hundred bytes).
const RECEIVE_BUFFER: usize = 1 << 20;
/// Larger than any uevent (the kernel caps one at 2 KiB of environment).
pub const MAX_MESSAGE: usize = 8192;

pub struct UeventSocket(OwnedFd);

impl UeventSocket {
    pub fn open() -> Result<Self, Errno> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            SockProtocol::NetlinkKObjectUEvent,
        )?;
        // Best effort: the default buffer also works, a burst then costs a rescan.
        let _ = setsockopt(&fd, sockopt::RcvBuf, &RECEIVE_BUFFER);
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &NetlinkAddr::new(0, KERNEL_GROUP),
        )?;
        Ok(Self(fd))
    }

    /// Waits up to `timeout` for a message; true when one is ready.
    pub fn wait(&self, timeout: Duration) -> Result<bool, Errno> {
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) => Ok(n > 0),
            Err(Errno::EINTR) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The next message, or `None` when none is waiting. `ENOBUFS` means messages were
    /// lost: the caller rescans sysfs.
    pub fn receive<'b>(&self, buf: &'b mut [u8]) -> Result<Option<&'b [u8]>, Errno> {
        match recv(
            std::os::fd::AsRawFd::as_raw_fd(&self.0),
            buf,
            MsgFlags::empty(),
        ) {
            Ok(n) => Ok(Some(&buf[..n])),
            Err(Errno::EAGAIN) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
