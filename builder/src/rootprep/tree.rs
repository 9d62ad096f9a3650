//! File operations on a root directory, with paths as seen inside it (`/var/tmp`), so that
//! a symlink in the tree is followed inside the tree and never into the host.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::Error;

/// Linux's limit on symlinks followed while resolving one path (`MAXSYMLINKS`).
const MAX_SYMLINK_HOPS: usize = 40;
/// Permission bits, setuid/setgid/sticky included.
const MODE_BITS: u32 = 0o7777;

/// The host path of `inner` (an absolute path inside `root`), without following symlinks.
pub fn host_path(root: &Path, inner: &str) -> PathBuf {
    root.join(inner.trim_start_matches('/'))
}

/// `inner` with every symlink resolved inside `root` (absolute targets start at `root`,
/// `..` stops at it). Missing components are kept as written.
pub fn resolve(root: &Path, inner: &str) -> Result<String, Error> {
    let mut pending: VecDeque<String> = components(inner).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        resolved.push(part);
        let here = host_path(root, &join(&resolved));
        let Ok(meta) = fs::symlink_metadata(&here) else {
            continue;
        };
        if !meta.file_type().is_symlink() {
            continue;
        }
        hops += 1;
        if hops > MAX_SYMLINK_HOPS {
            return Err(Error::SymlinkLoop {
                path: inner.to_string(),
                root: root.to_path_buf(),
                max: MAX_SYMLINK_HOPS,
            });
        }
        let target = fs::read_link(&here).map_err(Error::io("read symlink", &here))?;
        let target = target.to_string_lossy().into_owned();
        resolved.pop();
        if target.starts_with('/') {
            resolved.clear();
        }
        for part in components(&target).collect::<Vec<_>>().into_iter().rev() {
            pending.push_front(part);
        }
    }
    Ok(join(&resolved))
}

fn components(path: &str) -> impl Iterator<Item = String> + '_ {
    Path::new(path).components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
        Component::ParentDir => Some("..".to_string()),
        _ => None,
    })
}

fn join(parts: &[String]) -> String {
    format!("/{}", parts.join("/"))
}

/// What is at `path` now, for messages: "a directory", "a symlink to /tmp", "a file".
pub fn describe(path: &Path) -> io::Result<String> {
    let meta = fs::symlink_metadata(path)?;
    let kind = meta.file_type();
    Ok(if kind.is_symlink() {
        format!("a symlink to {}", fs::read_link(path)?.display())
    } else if kind.is_dir() {
        "a directory".to_string()
    } else if kind.is_file() {
        "a file".to_string()
    } else {
        "a special file".to_string()
    })
}

/// Removes everything inside the directory `dir` (not following symlinks); returns how many
/// entries were directly inside it.
pub fn empty_dir(dir: &Path) -> Result<usize, Error> {
    let mut count = 0;
    for entry in fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let path = entry.path();
        let is_dir = entry
            .file_type()
            .map_err(Error::io("stat", &path))?
            .is_dir();
        let removed = if is_dir {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(Error::io("remove", &path))?;
        count += 1;
    }
    Ok(count)
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> Result<u32, Error> {
    let meta = fs::symlink_metadata(path).map_err(Error::io("stat", path))?;
    Ok(meta.permissions().mode() & MODE_BITS)
}

/// Sets the permission bits of `path` (umask does not apply, unlike `create_dir`).
pub fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(Error::io(format!("chmod {mode:04o}"), path))
}

/// Creates the directory `path` (its parents too) with exactly `mode`.
pub fn create_dir(path: &Path, mode: u32) -> Result<(), Error> {
    fs::create_dir_all(path).map_err(Error::io("create", path))?;
    set_mode(path, mode)
}

/// Removes whatever is at `path`: a directory tree, a file or a symlink (not its target).
pub fn remove_any(path: &Path) -> Result<(), Error> {
    let meta = fs::symlink_metadata(path).map_err(Error::io("stat", path))?;
    let removed = if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    removed.map_err(Error::io("remove", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn resolves_symlinks_inside_the_root_only() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("run/lock")).unwrap();
        fs::create_dir_all(r.join("var")).unwrap();
        symlink("/run", r.join("var/run")).unwrap();
        symlink("../run/lock", r.join("var/lock")).unwrap();
        // An absolute target escaping to the host's /etc must stay inside the root.
        symlink("/etc", r.join("var/etc")).unwrap();
        symlink("../../../../..", r.join("var/up")).unwrap();
        assert_eq!(resolve(r, "/var/run").unwrap(), "/run");
        assert_eq!(resolve(r, "/var/run/").unwrap(), "/run");
        assert_eq!(resolve(r, "/var/lock").unwrap(), "/run/lock");
        assert_eq!(resolve(r, "/var/etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(resolve(r, "/var/up/tmp").unwrap(), "/tmp");
        assert_eq!(resolve(r, "/var/missing/x").unwrap(), "/var/missing/x");
    }

    #[test]
    fn symlink_loop_is_an_error_naming_the_path() {
        let root = tempfile::tempdir().unwrap();
        symlink("/b", root.path().join("a")).unwrap();
        symlink("/a", root.path().join("b")).unwrap();
        let err = resolve(root.path(), "/a/x").unwrap_err().to_string();
        assert!(err.starts_with("/a/x in "), "{err}");
        assert!(err.ends_with("more than 40 symlinks (a loop?)"), "{err}");
    }

    #[test]
    fn empty_dir_counts_top_level_entries_and_keeps_symlink_targets() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("tmp");
        let outside = root.path().join("outside");
        fs::create_dir_all(dir.join("a/b")).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"x").unwrap();
        fs::write(dir.join("f"), b"x").unwrap();
        symlink(&outside, dir.join("link")).unwrap();
        assert_eq!(empty_dir(&dir).unwrap(), 3);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        assert!(outside.join("keep").is_file());
    }
}
