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
    owner: Option<&str>,
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
    // No mode= here: the copy gives the tmpfs the saved directory's mode, and a
    // configured mode is set over that below.
    let data = size.map(|s| format!("size={s}")).unwrap_or_default();
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    sys::mount::mount("tmpfs", STAGE, Some("tmpfs"), flags, &data)?;
    let filled = copy::copy_tree(&from, Path::new(STAGE), None).and_then(|c| {
        if let Some(m) = mode {
            let bits = u32::from_str_radix(m, 8).map_err(|_| {
                BootError::new("RAM directory", path, format!("mode {m:?} is not octal"))
            })?;
            std::fs::set_permissions(STAGE, std::os::unix::fs::PermissionsExt::from_mode(bits))
                .map_err(|e| BootError::io("RAM directory: set mode", STAGE, &e))?;
        }
        if let Some(spec) = owner {
            match resolve_owner(Path::new(new_root), spec) {
                Ok((uid, gid)) => std::os::unix::fs::chown(STAGE, Some(uid), Some(gid))
                    .map_err(|e| BootError::io("RAM directory: set owner", STAGE, &e))?,
                Err(why) => {
                    info!("RAM directory {path}: owner {spec:?}: {why}; it keeps the saved owner")
                }
            }
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

/// Why an owner `user[:group]` does not resolve in the new root (the caller names the
/// spec and the directory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OwnerError {
    NoUser,
    BrokenPasswd,
    NumericUserWithoutGroup,
    NoGroup,
    BrokenGroup,
}

impl std::fmt::Display for OwnerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NoUser => "no such user in /etc/passwd",
            Self::BrokenPasswd => "a broken /etc/passwd line",
            Self::NumericUserWithoutGroup => "a numeric user needs a group",
            Self::NoGroup => "no such group in /etc/group",
            Self::BrokenGroup => "a broken /etc/group line",
        })
    }
}

impl std::error::Error for OwnerError {}

/// `user[:group]` as numbers: names are looked up in the root's /etc/passwd and
/// /etc/group (not the initramfs'), numbers taken as they are; without a group, the
/// user's own.
fn resolve_owner(root: &Path, spec: &str) -> Result<(u32, u32), OwnerError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    let (uid, primary) = match user.parse::<u32>() {
        Ok(uid) => (uid, None),
        Err(_) => {
            let fields = lookup(&passwd, user).ok_or(OwnerError::NoUser)?;
            let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u32>().ok());
            let uid = number(2).ok_or(OwnerError::BrokenPasswd)?;
            (uid, number(3))
        }
    };
    let gid = match group {
        None => primary.ok_or(OwnerError::NumericUserWithoutGroup)?,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let text = std::fs::read_to_string(root.join("etc/group")).unwrap_or_default();
                let fields = lookup(&text, g).ok_or(OwnerError::NoGroup)?;
                fields
                    .get(2)
                    .and_then(|f| f.parse().ok())
                    .ok_or(OwnerError::BrokenGroup)?
            }
        },
    };
    Ok((uid, gid))
}

/// The `:`-separated fields of the line of `name` in a passwd or group file.
fn lookup<'t>(text: &'t str, name: &str) -> Option<Vec<&'t str>> {
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_read_from_the_roots_own_user_and_group_files() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nman:x:6:12:man:/var/cache/man:/usr/sbin/nologin\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("etc/group"),
            "root:x:0:\nman:x:12:\nadm:x:4:\n",
        )
        .unwrap();
        let r = |spec| resolve_owner(root.path(), spec);
        assert_eq!(r("man:man"), Ok((6, 12)));
        assert_eq!(r("man"), Ok((6, 12)));
        assert_eq!(r("man:adm"), Ok((6, 4)));
        assert_eq!(r("1000:1000"), Ok((1000, 1000)));
        assert_eq!(r("nobody:man"), Err(OwnerError::NoUser));
        assert_eq!(r("man:staff"), Err(OwnerError::NoGroup));
        assert_eq!(r("1000"), Err(OwnerError::NumericUserWithoutGroup));
        assert_eq!(
            OwnerError::NoUser.to_string(),
            "no such user in /etc/passwd"
        );
    }
}
