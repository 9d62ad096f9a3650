//! mount(2) and umount(2) whose errors carry source, target, type, flags and data.

use nix::mount::{umount2, MntFlags, MsFlags};

use crate::error::BootError;
use crate::options;

/// `source on target (type, options)` as errors and logs show a mount.
pub fn describe(
    source: &str,
    target: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: &str,
) -> String {
    format!(
        "{source} on {target} ({}, {})",
        fstype.unwrap_or("no type"),
        options::describe(flags, data)
    )
}

pub fn mount(
    source: &str,
    target: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: &str,
) -> Result<(), BootError> {
    let data_arg = if data.is_empty() { None } else { Some(data) };
    nix::mount::mount(Some(source), target, fstype, flags, data_arg)
        .map_err(|e| BootError::errno("mount", describe(source, target, fstype, flags, data), e))
}

/// `mount --move from to`.
pub fn move_mount(from: &str, to: &str) -> Result<(), BootError> {
    nix::mount::mount(Some(from), to, None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .map_err(|e| BootError::errno("move mount", format!("{from} to {to}"), e))
}

/// `mount --make-rprivate path`: MS_MOVE refuses to move out of a shared parent.
pub fn make_private(path: &str) -> Result<(), BootError> {
    let flags = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    nix::mount::mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .map_err(|e| BootError::errno("make mount private", path, e))
}

/// `umount -l path`.
pub fn detach(path: &str) -> Result<(), BootError> {
    umount2(path, MntFlags::MNT_DETACH).map_err(|e| BootError::errno("detach mount", path, e))
}

/// `umount path`; the errno stays in the error, for callers that retry on EBUSY.
pub fn unmount(path: &str) -> Result<(), BootError> {
    umount2(path, MntFlags::empty()).map_err(|e| BootError::errno("unmount", path, e))
}

/// `mount -o remount,ro path`: FAT clears its dirty bit then too.
pub fn remount_read_only(path: &str) -> Result<(), BootError> {
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    nix::mount::mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .map_err(|e| BootError::errno("remount read-only", path, e))
}

/// `mount --bind path path`: pivot_root wants its new root to be a mountpoint.
pub fn bind_onto_itself(path: &str) -> Result<(), BootError> {
    nix::mount::mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| BootError::errno("bind mount", format!("{path} on itself"), e))
}

/// `mount --bind from to` (not recursive).
pub fn bind(from: &str, to: &str) -> Result<(), BootError> {
    nix::mount::mount(Some(from), to, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| BootError::errno("bind mount", format!("{from} on {to}"), e))
}
