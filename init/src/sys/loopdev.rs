//! Loop devices: a free one from /dev/loop-control, then LOOP_CONFIGURE, or on kernels
//! before 5.8 LOOP_SET_FD + LOOP_SET_STATUS64. The ioctl numbers and structs are those
//! of include/uapi/linux/loop.h.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::error::BootError;

pub const LOOP_CONTROL: &str = "/dev/loop-control";

const LOOP_SET_FD: u32 = 0x4C00;
const LOOP_CLR_FD: u32 = 0x4C01;
const LOOP_SET_STATUS64: u32 = 0x4C04;
const LOOP_CONFIGURE: u32 = 0x4C0A;
const LOOP_CTL_GET_FREE: u32 = 0x4C82;
/// `lo_flags` bits of loop.h.
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// `LO_NAME_SIZE`, `LO_KEY_SIZE` of loop.h.
const LO_NAME_SIZE: usize = 64;
const LO_KEY_SIZE: usize = 32;

/// Another process may take the free device between GET_FREE and CONFIGURE (EBUSY).
const ATTACH_ATTEMPTS: u32 = 8;
/// devtmpfs creates /dev/loopN as the device is added; allow it a moment.
const NODE_WAIT: Duration = Duration::from_secs(1);
const NODE_POLL: Duration = Duration::from_millis(5);

/// `struct loop_info64`.
#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; LO_NAME_SIZE],
    lo_crypt_name: [u8; LO_NAME_SIZE],
    lo_encrypt_key: [u8; LO_KEY_SIZE],
    lo_init: [u64; 2],
}

/// `struct loop_config`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

const _: () = assert!(std::mem::size_of::<LoopInfo64>() == 232);
const _: () = assert!(std::mem::size_of::<LoopConfig>() == 304);

impl LoopInfo64 {
    /// No offset, no size limit; the file name shows in losetup and sysfs.
    fn for_file(name: &str, lo_flags: u32) -> Self {
        let mut lo_file_name = [0u8; LO_NAME_SIZE];
        let n = name.len().min(LO_NAME_SIZE - 1);
        lo_file_name[..n].copy_from_slice(&name.as_bytes()[..n]);
        Self {
            lo_device: 0,
            lo_inode: 0,
            lo_rdevice: 0,
            lo_offset: 0,
            lo_sizelimit: 0,
            lo_number: 0,
            lo_encrypt_type: 0,
            lo_encrypt_key_size: 0,
            lo_flags,
            lo_file_name,
            lo_crypt_name: [0; LO_NAME_SIZE],
            lo_encrypt_key: [0; LO_KEY_SIZE],
            lo_init: [0; 2],
        }
    }
}

fn ioctl<T>(file: &File, request: u32, arg: T) -> Result<i32, Errno> {
    // SAFETY: the caller passes the argument type the loop driver expects for `request`
    // (an int, or a pointer to a live #[repr(C)] struct of the uapi layout checked above).
    let ret = unsafe { nix::libc::ioctl(file.as_raw_fd(), request as _, arg) };
    Errno::result(ret)
}

/// Attaches `path` (opened read-write: block2mtd writes to it) to a free loop device and
/// returns the device's path, e.g. `/dev/loop0`.
pub fn attach(path: &str) -> Result<String, BootError> {
    attach_with(path, false).map(|(dev, _)| dev)
}

/// Attaches `path` read-only (a layered root's squashfs base) with autoclear: the device
/// detaches itself, and lets go of the file on the card, when its last user closes it.
/// So the caller keeps the returned handle open until the filesystem is mounted.
pub fn attach_read_only(path: &str) -> Result<(String, File), BootError> {
    attach_with(path, true)
}

fn attach_with(path: &str, read_only: bool) -> Result<(String, File), BootError> {
    let step = "attach loop device";
    let lo_flags = if read_only {
        LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR
    } else {
        0
    };
    let backing = OpenOptions::new()
        .read(true)
        .write(!read_only)
        .open(path)
        .map_err(|e| BootError::io(step, path, &e))?;
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .open(LOOP_CONTROL)
        .map_err(|e| BootError::io(step, LOOP_CONTROL, &e))?;
    for _ in 0..ATTACH_ATTEMPTS {
        let n = ioctl(&control, LOOP_CTL_GET_FREE, 0).map_err(|e| {
            BootError::errno(step, format!("{LOOP_CONTROL} (LOOP_CTL_GET_FREE)"), e)
        })?;
        let dev = format!("/dev/loop{n}");
        let loop_file = open_node(&dev).map_err(|e| BootError::errno(step, &dev, e))?;
        match configure(&loop_file, &backing, path, lo_flags) {
            Ok(()) => return Ok((dev, loop_file)),
            Err(Errno::EBUSY) => continue,
            Err(e) => return Err(BootError::errno(step, format!("{path} on {dev}"), e)),
        }
    }
    Err(BootError::new(
        step,
        path,
        format!("every free loop device was taken by someone else ({ATTACH_ATTEMPTS} attempts)"),
    ))
}

fn open_node(dev: &str) -> Result<File, Errno> {
    let start = Instant::now();
    loop {
        match OpenOptions::new().read(true).write(true).open(dev) {
            Ok(f) => return Ok(f),
            Err(e)
                if e.raw_os_error() == Some(Errno::ENOENT as i32)
                    && start.elapsed() < NODE_WAIT =>
            {
                std::thread::sleep(NODE_POLL)
            }
            Err(e) => {
                return Err(Errno::from_raw(
                    e.raw_os_error().unwrap_or(Errno::EIO as i32),
                ))
            }
        }
    }
}

fn configure(loop_file: &File, backing: &File, name: &str, lo_flags: u32) -> Result<(), Errno> {
    let config = LoopConfig {
        fd: backing.as_raw_fd() as u32,
        block_size: 0,
        info: LoopInfo64::for_file(name, lo_flags),
        reserved: [0; 8],
    };
    match ioctl(loop_file, LOOP_CONFIGURE, &config as *const LoopConfig) {
        Ok(_) => Ok(()),
        // Kernels before 5.8 do not know LOOP_CONFIGURE.
        Err(Errno::EINVAL | Errno::ENOTTY) => {
            ioctl(loop_file, LOOP_SET_FD, backing.as_raw_fd())?;
            let info = LoopInfo64::for_file(name, lo_flags);
            if let Err(e) = ioctl(loop_file, LOOP_SET_STATUS64, &info as *const LoopInfo64) {
                let _ = ioctl(loop_file, LOOP_CLR_FD, 0);
                return Err(e);
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// What LOOP_CLR_FD did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detached {
    Now,
    /// ENXIO: nothing was attached (systemd-shutdown set autoclear earlier, and the
    /// last release, block2mtd's, detached it).
    AlreadyFree,
    /// Someone else still has the device open: the kernel only set autoclear, and the
    /// device detaches itself when they let go.
    WhenReleased,
}

/// Opens a loop device for the shutdown's flush and detach.
pub fn open_device(dev: &str) -> Result<File, BootError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev)
        .map_err(|e| BootError::io("open loop device", dev, &e))
}

/// fsync(2) of the device: the loop's page cache into the backing file, then (the
/// flush) the file's data and the FAT to the card.
pub fn flush(file: &File, dev: &str) -> Result<(), BootError> {
    file.sync_all()
        .map_err(|e| BootError::io("flush loop device", dev, &e))
}

/// LOOP_CLR_FD, then a look in sysfs to tell a detach from a deferred one. `file` is
/// closed here, so only other holders can defer it.
pub fn clear(file: File, dev: &str) -> Result<Detached, BootError> {
    let result = ioctl(&file, LOOP_CLR_FD, 0);
    drop(file);
    match result {
        Ok(_) if backing_file(dev).is_some() => Ok(Detached::WhenReleased),
        Ok(_) => Ok(Detached::Now),
        Err(Errno::ENXIO) => Ok(Detached::AlreadyFree),
        Err(e) => Err(BootError::errno("detach loop device", dev, e)),
    }
}

/// The file behind `/dev/loopN`, from sysfs (absent when nothing is attached).
pub fn backing_file(dev: &str) -> Option<String> {
    let name = dev.rsplit('/').next()?;
    std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file"))
        .ok()
        .map(|s| s.trim_end().to_string())
}
