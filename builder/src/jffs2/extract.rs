//! Extracts a read-back file system into a directory: files, directories, symlinks, hard
//! links, fifos, sockets (bound once to create them), device nodes (root only) and
//! extended attributes, with modes, and owners and times where permitted.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::sys::stat::{makedev, mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::readback::Fs;
use super::tree::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};

/// Permission bits applied with chmod.
const PERM_MASK: u32 = 0o7777;

/// What [`extract`] could not reproduce exactly.
#[derive(Debug, Default)]
pub struct Skipped {
    /// Paths whose owner could not be set (not root).
    pub owners: usize,
    /// Extended attributes the destination refused.
    pub xattrs: usize,
    /// Sockets whose path was too long to bind, written as empty regular files.
    pub sockets: Vec<String>,
}

/// Extracts everything into `dest`, which must not exist or be an empty directory.
pub fn extract(fs: &Fs, dest: &Path) -> Result<Skipped> {
    if dest.exists() && fs::read_dir(dest)?.next().is_some() {
        bail!("{} exists and is not empty", dest.display());
    }
    fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let entries = fs.walk().map_err(anyhow::Error::msg)?;
    let mut done: HashMap<u32, std::path::PathBuf> = HashMap::new();
    let mut skipped = Skipped::default();
    let mut dir_times = Vec::new();
    for e in &entries {
        let path = dest.join(OsStr::from_bytes(&e.path));
        let shown = path.display().to_string();
        if e.path.is_empty() {
            dir_times.push((path.clone(), e.mtime));
            set_mode(&path, e.mode)?;
            continue;
        }
        if let Some(first) = done.get(&e.ino) {
            if e.mode & S_IFMT != S_IFDIR {
                fs::hard_link(first, &path).with_context(|| format!("cannot link {shown}"))?;
                continue;
            }
        }
        match e.mode & S_IFMT {
            S_IFDIR => {
                fs::create_dir(&path)
                    .with_context(|| format!("cannot create directory {shown}"))?;
                dir_times.push((path.clone(), e.mtime));
            }
            S_IFREG => {
                let data = fs.data(e.ino).map_err(anyhow::Error::msg)?;
                fs::write(&path, data).with_context(|| format!("cannot write {shown}"))?;
            }
            S_IFLNK => {
                let target = fs.data(e.ino).map_err(anyhow::Error::msg)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path)
                    .with_context(|| format!("cannot create symlink {shown}"))?;
            }
            t @ (S_IFCHR | S_IFBLK | S_IFIFO) => {
                let (major, minor) = if t == S_IFIFO {
                    (0, 0)
                } else {
                    fs.device(e.ino).map_err(anyhow::Error::msg)?
                };
                let kind = match t {
                    S_IFCHR => SFlag::S_IFCHR,
                    S_IFBLK => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                mknod(
                    &path,
                    kind,
                    Mode::from_bits_truncate(e.mode & PERM_MASK),
                    makedev(major.into(), minor.into()),
                )
                .with_context(|| {
                    format!("cannot create {shown} ({major}:{minor}); devices need root")
                })?;
            }
            S_IFSOCK => {
                // Binding creates the socket file; a path too long for sun_path cannot be
                // bound, and gets an empty placeholder instead.
                if std::os::unix::net::UnixListener::bind(&path).is_err() {
                    fs::write(&path, b"").with_context(|| format!("cannot write {shown}"))?;
                    skipped.sockets.push(shown.clone());
                }
            }
            other => bail!("{shown} has an unknown file type {other:o}"),
        }
        if e.mode & S_IFMT != S_IFLNK {
            set_mode(&path, e.mode)?;
        }
        if e.mode & S_IFMT != S_IFDIR {
            let _ = set_mtime(&path, e.mtime);
        }
        for (name, value) in fs.xattrs(e.ino).map_err(anyhow::Error::msg)? {
            if xattr::set(&path, OsStr::from_bytes(&name), &value).is_err() {
                skipped.xattrs += 1;
            }
        }
        if std::os::unix::fs::lchown(&path, Some(e.uid.into()), Some(e.gid.into())).is_err() {
            skipped.owners += 1;
        }
        done.insert(e.ino, path);
    }
    // Directory times last: creating their contents changed them.
    for (path, mtime) in dir_times.iter().rev() {
        let _ = set_mtime(path, *mtime);
    }
    Ok(skipped)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode & PERM_MASK))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

/// Sets access and modification time without opening the path (opening a fifo would
/// block) and without following symlinks.
fn set_mtime(path: &Path, mtime: u32) -> nix::Result<()> {
    let t = TimeSpec::new(mtime.into(), 0);
    utimensat(None, path, &t, &t, UtimensatFlags::NoFollowSymlink)
}
