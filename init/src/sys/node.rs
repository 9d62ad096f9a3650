//! Device files opened through a node of our own in the initramfs' root instead of
//! devtmpfs: a process that outlives switch_root (the card agent) would otherwise keep the
//! moved /dev mount busy, and the shutdown could not unmount it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

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
    let node = format!(
        "{}/.flashroot-{name}-{}",
        dir.trim_end_matches('/'),
        std::process::id()
    );
    let _ = std::fs::remove_file(&node);
    mknod(
        node.as_str(),
        kind,
        Mode::from_bits_truncate(0o600),
        meta.rdev(),
    )?;
    let file = OpenOptions::new().read(true).write(true).open(&node);
    let _ = std::fs::remove_file(&node);
    file
}
