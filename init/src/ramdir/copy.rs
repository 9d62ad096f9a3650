//! Copies a directory tree with its owners, modes and times, between tmpfs and the JFFS2
//! root. Files a previous copy already holds unchanged are hard-linked from it instead of
//! written again: a save of a RAM directory writes to the card only what changed.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::{mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::BootError;

/// What a copy did, for the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// Regular files written.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Regular files hard-linked from the previous copy, unchanged.
    pub linked: u64,
    /// Directories, symlinks and device nodes and fifos.
    pub others: u64,
    /// Sockets, which mean nothing once their server is gone: not copied.
    pub skipped: u64,
}

/// Copies the tree at `from` to `to`, which must not exist or be an empty directory. A regular file whose
/// counterpart under `previous` has the same size, modification time, owner and mode is
/// hard-linked from there.
pub fn copy_tree(from: &Path, to: &Path, previous: Option<&Path>) -> Result<Copied, BootError> {
    let mut copied = Copied::default();
    let meta = fs::symlink_metadata(from).map_err(|e| err("read", from, &e))?;
    copy_dir(from, to, previous, &meta, &mut copied)?;
    Ok(copied)
}

fn err(step: &str, path: &Path, e: &io::Error) -> BootError {
    BootError::io(
        format!("RAM directory: {step}"),
        path.display().to_string(),
        e,
    )
}

fn copy_dir(
    from: &Path,
    to: &Path,
    previous: Option<&Path>,
    meta: &fs::Metadata,
    copied: &mut Copied,
) -> Result<(), BootError> {
    match fs::create_dir(to) {
        // The top of the copy may be made already (a tmpfs to fill): it must be empty.
        Err(e)
            if e.kind() == io::ErrorKind::AlreadyExists
                && fs::read_dir(to).is_ok_and(|mut d| d.next().is_none()) => {}
        r => r.map_err(|e| err("create directory", to, &e))?,
    }
    let mut entries: Vec<_> = fs::read_dir(from)
        .map_err(|e| err("list", from, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| err("list", from, &e))?;
    // Sorted: the same tree is written in the same order, and logs are comparable.
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let (src, dst) = (from.join(&name), to.join(&name));
        let prev = previous.map(|p| p.join(&name));
        let m = fs::symlink_metadata(&src).map_err(|e| err("read", &src, &e))?;
        let kind = m.file_type();
        if kind.is_dir() {
            copy_dir(&src, &dst, prev.as_deref(), &m, copied)?;
            continue;
        }
        if kind.is_file() {
            copy_file(&src, &dst, prev.as_deref(), &m, copied)?;
        } else if kind.is_symlink() {
            let target = fs::read_link(&src).map_err(|e| err("read link", &src, &e))?;
            std::os::unix::fs::symlink(&target, &dst).map_err(|e| err("make link", &dst, &e))?;
            copied.others += 1;
        } else if kind.is_fifo() || kind.is_char_device() || kind.is_block_device() {
            let sflag = if kind.is_fifo() {
                SFlag::S_IFIFO
            } else if kind.is_char_device() {
                SFlag::S_IFCHR
            } else {
                SFlag::S_IFBLK
            };
            mknod(&dst, sflag, Mode::from_bits_truncate(m.mode()), m.rdev())
                .map_err(|e| err("make node", &dst, &io::Error::from(e)))?;
            copied.others += 1;
        } else {
            copied.skipped += 1;
            continue;
        }
        set_attributes(&dst, &m)?;
    }
    // Last: the entries made above changed the directory's own times.
    set_attributes(to, meta)
}

fn copy_file(
    src: &Path,
    dst: &Path,
    previous: Option<&Path>,
    m: &fs::Metadata,
    copied: &mut Copied,
) -> Result<(), BootError> {
    if let Some(prev) = previous {
        let same = fs::symlink_metadata(prev).is_ok_and(|p| {
            p.is_file()
                && p.len() == m.len()
                && p.mtime() == m.mtime()
                && p.mtime_nsec() == m.mtime_nsec()
                && p.mode() == m.mode()
                && (p.uid(), p.gid()) == (m.uid(), m.gid())
        });
        if same && fs::hard_link(prev, dst).is_ok() {
            copied.linked += 1;
            return Ok(());
        }
    }
    let bytes = fs::copy(src, dst).map_err(|e| err("copy", src, &e))?;
    copied.files += 1;
    copied.bytes += bytes;
    Ok(())
}

/// Owner, then mode (a chown clears set-id bits), then times; never through a symlink.
fn set_attributes(path: &Path, m: &fs::Metadata) -> Result<(), BootError> {
    std::os::unix::fs::lchown(path, Some(m.uid()), Some(m.gid()))
        .map_err(|e| err("set owner", path, &e))?;
    if !m.file_type().is_symlink() {
        fs::set_permissions(path, fs::Permissions::from_mode(m.mode() & 0o7777))
            .map_err(|e| err("set mode", path, &e))?;
    }
    let atime = TimeSpec::new(m.atime(), m.atime_nsec());
    let mtime = TimeSpec::new(m.mtime(), m.mtime_nsec());
    utimensat(None, path, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| err("set times", path, &io::Error::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("journal/abc")).unwrap();
        fs::write(root.join("journal/abc/system.journal"), vec![7u8; 10_000]).unwrap();
        fs::write(root.join("dpkg.log"), "installed\n").unwrap();
        symlink("../README.logs", root.join("README")).unwrap();
        fs::set_permissions(root.join("journal"), fs::Permissions::from_mode(0o2755)).unwrap();
        let t = TimeSpec::new(1_700_000_000, 123);
        utimensat(
            None,
            &root.join("dpkg.log"),
            &t,
            &t,
            UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }

    #[test]
    fn a_tree_is_copied_with_modes_times_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir(&a).unwrap();
        tree(&a);
        let c = copy_tree(&a, &b, None).unwrap();
        assert_eq!((c.files, c.linked, c.bytes), (2, 0, 10_010));
        assert_eq!(
            fs::read(b.join("journal/abc/system.journal")).unwrap(),
            vec![7u8; 10_000]
        );
        assert_eq!(
            fs::read_link(b.join("README")).unwrap(),
            Path::new("../README.logs")
        );
        let mode = fs::metadata(b.join("journal")).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o2755);
        let m = fs::metadata(b.join("dpkg.log")).unwrap();
        assert_eq!((m.mtime(), m.mtime_nsec()), (1_700_000_000, 123));
    }

    #[test]
    fn unchanged_files_are_linked_from_the_previous_copy_and_changed_ones_written() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        fs::create_dir(&a).unwrap();
        tree(&a);
        copy_tree(&a, &b, None).unwrap();
        fs::write(a.join("journal/abc/system.journal"), vec![8u8; 20_000]).unwrap();
        let copied = copy_tree(&a, &c, Some(&b)).unwrap();
        assert_eq!((copied.files, copied.linked), (1, 1));
        let (old, new) = (
            fs::metadata(b.join("dpkg.log")).unwrap(),
            fs::metadata(c.join("dpkg.log")).unwrap(),
        );
        assert_eq!(old.ino(), new.ino(), "unchanged: the same inode");
        assert_eq!(
            fs::read(c.join("journal/abc/system.journal")).unwrap(),
            vec![8u8; 20_000]
        );
        assert_eq!(
            fs::read(b.join("journal/abc/system.journal")).unwrap(),
            vec![7u8; 10_000],
            "the previous copy is left as it was"
        );
    }
}
