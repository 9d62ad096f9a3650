//! Where a file's blocks lie on its filesystem's device: the FIGETBSZ and FIBMAP ioctls
//! of include/uapi/linux/fs.h (what swap files and syslinux's installer use). FIBMAP
//! needs CAP_SYS_RAWIO; the card agent runs as root.

use std::fs::File;
use std::os::fd::AsRawFd;

use nix::errno::Errno;

/// `_IO(0x00, 1)`: in, a block number of the file; out, the device block holding it.
const FIBMAP: nix::libc::c_ulong = 1;
/// `_IO(0x00, 2)`: the filesystem's block size, the unit of FIBMAP's numbers.
const FIGETBSZ: nix::libc::c_ulong = 2;

fn int_ioctl(
    file: &File,
    request: nix::libc::c_ulong,
    value: &mut nix::libc::c_int,
) -> Result<(), Errno> {
    // SAFETY: both ioctls read and write one int through the pointer, which lives for the
    // call; the fd is open.
    let ret = unsafe {
        nix::libc::ioctl(
            file.as_raw_fd(),
            request as _,
            value as *mut nix::libc::c_int,
        )
    };
    Errno::result(ret).map(drop)
}

/// The filesystem's block size in bytes.
pub fn block_size(file: &File) -> Result<u32, Errno> {
    let mut size: nix::libc::c_int = 0;
    int_ioctl(file, FIGETBSZ, &mut size)?;
    u32::try_from(size)
        .ok()
        .filter(|s| *s > 0)
        .ok_or(Errno::EINVAL)
}

/// The device block holding block `block` of the file; None for a hole (no block).
pub fn device_block(file: &File, block: u32) -> Result<Option<u32>, Errno> {
    let mut value = nix::libc::c_int::try_from(block).map_err(|_| Errno::EFBIG)?;
    int_ioctl(file, FIBMAP, &mut value)?;
    // The kernel hands back an int; 0 is its word for "not mapped".
    Ok(u32::try_from(value).ok().filter(|b| *b != 0))
}
