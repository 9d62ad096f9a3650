//! Device files opened through a node of our own in the initramfs' root instead of
//! devtmpfs: a process that outlives switch_root (the card agent) would otherwise keep the
//! moved /dev mount busy, and the shutdown could not unmount it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};

use nix::sys::stat::{mknod, Mode, SFlag};

/// Opens the device `path` (e.g. /dev/nbd0) read-write through a private node made in
/// `dir` (on the initramfs' own filesystem) and removed at once.
pub fn open_private(path: &str, dir: &str) -> std::io::Result<File> {
    let meta = std::fs::metadata(path)?;
    let kind = if meta.file_type().is_block_device() {
        SFlag::S_IFBLK
    } else if meta.file_type().is_char_device() {
        SFlag::S_IFCHR
    } else {
        return Err(std::io::Error::other(format!("{path} is not a device")));
    };
    let name = path.trim_start_matches('/').replace('/', "-");
    open_node(kind, meta.rdev(), &name, dir, 0)
}

/// Opens the block device numbered `rdev` (a filesystem's `st_dev`) read-write with the
/// extra open `flags` (e.g. O_DIRECT), through a private node in `dir`.
pub fn open_private_block(rdev: u64, dir: &str, flags: i32) -> std::io::Result<File> {
    let name = format!(
        "block-{}-{}",
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev)
    );
    open_node(SFlag::S_IFBLK, rdev, &name, dir, flags)
}

fn open_node(kind: SFlag, rdev: u64, name: &str, dir: &str, flags: i32) -> std::io::Result<File> {
    let node = format!(
        "{}/.flashroot-{name}-{}",
        dir.trim_end_matches('/'),
        std::process::id()
    );
    let _ = std::fs::remove_file(&node);
    mknod(node.as_str(), kind, Mode::from_bits_truncate(0o600), rdev)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(flags)
        .open(&node);
    let _ = std::fs::remove_file(&node);
    file
}
