//! The kernel's network block device (nbd) driven through its ioctls with a socket the
//! card agent serves itself (include/uapi/linux/nbd.h, drivers/block/nbd.c), and the
//! process settings a block device served from user space needs; at shutdown, the flush
//! and disconnect.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, RawFd};

use nix::errno::Errno;

use crate::error::BootError;

/// `_IO(0xab, n)`.
const NBD_SET_SOCK: u32 = 0xab00;
const NBD_SET_BLKSIZE: u32 = 0xab01;
const NBD_SET_SIZE: u32 = 0xab02;
const NBD_DO_IT: u32 = 0xab03;
const NBD_CLEAR_SOCK: u32 = 0xab04;
const NBD_DISCONNECT: u32 = 0xab08;
const NBD_SET_FLAGS: u32 = 0xab0a;
/// `NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH`: the kernel passes fsync's flush on to us.
const FLAGS_WITH_FLUSH: u64 = 1 | 1 << 2;
/// `PR_SET_IO_FLUSHER` (Linux 5.6): memory reclaim in this thread never waits on I/O,
/// which could be I/O to our own device — the deadlock of block devices served from user
/// space.
const PR_SET_IO_FLUSHER: i32 = 57;

fn ioctl(dev: &File, request: u32, arg: u64) -> Result<i32, Errno> {
    // SAFETY: every nbd ioctl used here takes its argument by value (an fd or a number),
    // never a pointer.
    let ret = unsafe { nix::libc::ioctl(dev.as_raw_fd(), request as _, arg as nix::libc::c_ulong) };
    Errno::result(ret)
}

/// Connects `/dev/nbd<index>` through generic netlink: no thread waits in the kernel for
/// the device's lifetime, so no signal to the agent can drop the connection.
pub fn connect_netlink(index: u32, socket: RawFd, size: u64, block_size: u64) -> Result<(), Errno> {
    super::genetlink::nbd_connect(index, socket, size, block_size, FLAGS_WITH_FLUSH)
}

/// Gives the device its socket, block size and size, and asks for flushes (the ioctl
/// interface: [`run_until_disconnected`] must then wait in the kernel).
pub fn connect(dev: &File, socket: RawFd, size: u64, block_size: u64) -> Result<(), Errno> {
    ioctl(dev, NBD_SET_BLKSIZE, block_size)?;
    ioctl(dev, NBD_SET_SIZE, size)?;
    ioctl(dev, NBD_SET_FLAGS, FLAGS_WITH_FLUSH)?;
    ioctl(dev, NBD_SET_SOCK, socket as u64)?;
    Ok(())
}

/// Starts the device and blocks until it is disconnected (`NBD_DO_IT`).
pub fn run_until_disconnected(dev: &File) -> Result<(), Errno> {
    ioctl(dev, NBD_DO_IT, 0).map(drop)
}

pub fn open_device(dev: &str) -> Result<File, BootError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev)
        .map_err(|e| BootError::io("open nbd device", dev, &e))
}

/// fsync(2): the device's dirty pages go to the agent, then a flush request, which the
/// agent answers once its data is on the card.
pub fn flush(file: &File, dev: &str) -> Result<(), BootError> {
    file.sync_all()
        .map_err(|e| BootError::io("flush nbd device", dev, &e))
}

/// `BLKFLSBUF`, `_IO(0x12, 97)`: write back the device's dirty pages, then drop its clean
/// ones from the page cache (what `blockdev --flushbufs` does).
const BLKFLSBUF: u32 = 0x1261;

/// Writes back the device's cached pages and drops them: afterwards every change to a
/// page dropped needs a read of it first.
pub fn drop_cached_pages(file: &File) -> Result<(), Errno> {
    ioctl(file, BLKFLSBUF, 0).map(drop)
}

/// Asks the kernel to disconnect (`NBD_DISCONNECT`: the agent gets a disconnect request
/// after the requests in flight, writes what it holds and exits), then `NBD_CLEAR_SOCK`.
pub fn disconnect(file: &File, dev: &str) -> Result<(), BootError> {
    ioctl(file, NBD_DISCONNECT, 0)
        .map_err(|e| BootError::errno("disconnect nbd device (NBD_DISCONNECT)", dev, e))?;
    ioctl(file, NBD_CLEAR_SOCK, 0)
        .map_err(|e| BootError::errno("clear nbd socket (NBD_CLEAR_SOCK)", dev, e))?;
    Ok(())
}

/// Marks the calling thread as one that writes back for a block device (see
/// [`PR_SET_IO_FLUSHER`]).
pub fn set_io_flusher() -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { nix::libc::prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) };
    Errno::result(ret).map(drop)
}

/// Keeps every page of this process in RAM, now and later: a page fault that needs I/O
/// could wait on our own device.
pub fn lock_memory() -> Result<(), Errno> {
    // SAFETY: mlockall takes flags only.
    let ret = unsafe { nix::libc::mlockall(nix::libc::MCL_CURRENT | nix::libc::MCL_FUTURE) };
    Errno::result(ret).map(drop)
}
