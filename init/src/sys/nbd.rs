//! Network block devices served by a local agent: flush, then disconnect and drop the
//! socket. The ioctl numbers are those of include/uapi/linux/nbd.h (`_IO(0xab, n)`).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;

use nix::errno::Errno;

use crate::error::BootError;

const NBD_CLEAR_SOCK: u32 = 0xab04;
const NBD_DISCONNECT: u32 = 0xab08;

fn ioctl(file: &File, request: u32) -> Result<i32, Errno> {
    // SAFETY: both requests take no argument (the kernel ignores it); the fd is open.
    let ret = unsafe { nix::libc::ioctl(file.as_raw_fd(), request as _, 0) };
    Errno::result(ret)
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

/// NBD_DISCONNECT (the agent gets a disconnect request and exits), then NBD_CLEAR_SOCK.
pub fn disconnect(file: &File, dev: &str) -> Result<(), BootError> {
    ioctl(file, NBD_DISCONNECT)
        .map_err(|e| BootError::errno("disconnect nbd device (NBD_DISCONNECT)", dev, e))?;
    ioctl(file, NBD_CLEAR_SOCK)
        .map_err(|e| BootError::errno("clear nbd socket (NBD_CLEAR_SOCK)", dev, e))?;
    Ok(())
}
