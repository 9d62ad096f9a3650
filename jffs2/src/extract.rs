//! Extracts a read-back file system into a directory: files, directories, symlinks, hard
//! links, fifos, sockets (bound once to create them), device nodes (root only) and
//! extended attributes, with modes, and owners and times where permitted.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sys::stat::{makedev, mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::error::{Error, Result};
use crate::mode::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
use crate::readback::Fs;

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
    let not_empty = dest.exists()
        && fs::read_dir(dest)
            .map_err(|e| Error::io(dest, "cannot read directory", e))?
            .next()
            .is_some();
    if not_empty {
        return Err(Error::Extract {
            path: dest.into(),
            problem: "exists and is not empty".into(),
        });
    }
    fs::create_dir_all(dest).map_err(|e| Error::io(dest, "cannot create", e))?;
    let entries = fs.walk()?;
    let mut done: HashMap<u32, std::path::PathBuf> = HashMap::new();
    let mut skipped = Skipped::default();
    let mut dir_times = Vec::new();
    for e in &entries {
        let path = dest.join(OsStr::from_bytes(&e.path));

        if e.path.is_empty() {
            dir_times.push((path.clone(), e.mtime));
            set_mode(&path, e.mode)?;
            continue;
        }
        if let Some(first) = done.get(&e.ino) {
            if e.mode & S_IFMT != S_IFDIR {
                fs::hard_link(first, &path).map_err(|e| Error::io(&path, "cannot link", e))?;
                continue;
            }
        }
        match e.mode & S_IFMT {
            S_IFDIR => {
                fs::create_dir(&path)
                    .map_err(|e| Error::io(&path, "cannot create directory", e))?;
                dir_times.push((path.clone(), e.mtime));
            }
            S_IFREG => {
                let data = fs.data(e.ino)?;
                fs::write(&path, data).map_err(|e| Error::io(&path, "cannot write", e))?;
            }
            S_IFLNK => {
                let target = fs.data(e.ino)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path)
                    .map_err(|e| Error::io(&path, "cannot create symlink", e))?;
            }
            t @ (S_IFCHR | S_IFBLK | S_IFIFO) => {
                let (major, minor) = if t == S_IFIFO {
                    (0, 0)
                } else {
                    fs.device(e.ino)?
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
                .map_err(|errno| Error::Extract {
                    path: path.clone(),
                    problem: format!(
                        "cannot create device {major}:{minor} ({errno}); devices need root"
                    ),
                })?;
            }
            S_IFSOCK => {
                // Binding creates the socket file; a path too long for sun_path cannot be
                // bound, and gets an empty placeholder instead.
                if std::os::unix::net::UnixListener::bind(&path).is_err() {
                    fs::write(&path, b"").map_err(|e| Error::io(&path, "cannot write", e))?;
                    skipped.sockets.push(path.display().to_string());
                }
            }
            other => {
                return Err(Error::Extract {
                    path,
                    problem: format!("unknown file type {other:o}"),
                })
            }
        }
        if e.mode & S_IFMT != S_IFLNK {
            set_mode(&path, e.mode)?;
        }
        if e.mode & S_IFMT != S_IFDIR {
            let _ = set_mtime(&path, e.mtime);
        }
        for (name, value) in fs.xattrs(e.ino)? {
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
        .map_err(|e| Error::io(path, "cannot chmod", e))
}

/// Sets access and modification time without opening the path (opening a fifo would
/// block) and without following symlinks.
fn set_mtime(path: &Path, mtime: u32) -> nix::Result<()> {
    let t = TimeSpec::new(mtime.into(), 0);
    utimensat(None, path, &t, &t, UtimensatFlags::NoFollowSymlink)
}
