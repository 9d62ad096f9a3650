//! RAM directories: directories of the root kept on tmpfs — where everything works that
//! JFFS2 refuses, shared writable mmap above all (journald's files, SQLite's WAL index,
//! locale archives, man-db's cache) — and saved to the JFFS2 root, as log2ram and
//! folder2ram do for SD-card systems.
//!
//! At boot the init fills each one's tmpfs from the saved copy ([`store`]; at the first
//! boot from the directory as the root holds it) and mounts it before the real init runs.
//! A keeper process ([`keeper`]) saves them every `save_minutes` and on SIGUSR1; at
//! shutdown a systemd unit the init installs saves them before systemd unmounts them, and
//! without systemd the shutdown program does, run as the init's shutdown action.

pub mod copy;
pub mod keeper;
pub mod store;

use std::path::Path;
use std::time::Instant;

use nix::mount::MsFlags;

use crate::{sys, BootError};
use store::Store;

/// Where a RAM directory's tmpfs is filled before it is moved onto its directory.
const STAGE: &str = "/ramdir-stage";

/// Fills a tmpfs with the saved copy of the RAM directory `path` of the root at
/// `new_root` (at the first boot: with what `target`, the directory itself, holds) and
/// mounts it on `target`. On failure nothing is mounted: the directory stays on the root
/// for this boot, and is not saved (an empty copy must never replace a good one).
pub fn mount(
    new_root: &str,
    path: &str,
    target: &str,
    size: Option<&str>,
    mode: Option<&str>,
) -> Result<(), BootError> {
    let started = Instant::now();
    let store = Store::of(Path::new(new_root), path);
    let (from, whence) = match store.current() {
        Some((n, dir)) => (dir, format!("saved copy {n}")),
        None => (
            target.into(),
            "the root's own directory (first boot)".to_string(),
        ),
    };
    std::fs::create_dir_all(STAGE).map_err(|e| BootError::io("RAM directory", STAGE, &e))?;
    let mut data = Vec::new();
    if let Some(m) = mode {
        data.push(format!("mode={m}"));
    }
    if let Some(s) = size {
        data.push(format!("size={s}"));
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    sys::mount::mount("tmpfs", STAGE, Some("tmpfs"), flags, &data.join(","))?;
    let filled = copy::copy_tree(&from, Path::new(STAGE), None).and_then(|c| {
        if let Some(m) = mode {
            let bits = u32::from_str_radix(m, 8).map_err(|_| {
                BootError::new("RAM directory", path, format!("mode {m:?} is not octal"))
            })?;
            std::fs::set_permissions(STAGE, std::os::unix::fs::PermissionsExt::from_mode(bits))
                .map_err(|e| BootError::io("RAM directory: set mode", STAGE, &e))?;
        }
        Ok(c)
    });
    let copied = match filled {
        Ok(c) => c,
        Err(e) => {
            let _ = sys::mount::unmount(STAGE);
            return Err(e);
        }
    };
    if let Err(e) = sys::mount::move_mount(STAGE, target) {
        let _ = sys::mount::unmount(STAGE);
        return Err(e);
    }
    info!(
        "RAM directory {path}: loaded from {whence}: {} files ({} bytes), {} others, in {} ms",
        copied.files,
        copied.bytes,
        copied.others,
        started.elapsed().as_millis()
    );
    Ok(())
}
