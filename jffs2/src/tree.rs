//! Collects the source tree before anything is laid out: every entry with its final
//! metadata, directories' children sorted by raw name bytes, inode numbers given in that
//! order (root = 1). Nothing here depends on the order the OS lists directories in.
//!
//! A tree can also be pushed entry by entry ([`Tree::new`], [`Tree::dir`],
//! [`Tree::file`], …): parents first, inode numbers in push order, each directory's
//! names kept sorted.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::devtable::{self, EntryType};
use crate::error::{Error, Result};
pub use crate::mode::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
use crate::node::dirent::MAX_NAME_LEN;
use crate::node::xattr::{split_name, ACL_NAMES};
use crate::options::{Options, Squash, Times};
pub use crate::ROOT_INO;
/// Group and other write bits, removed by `-P`.
const GROUP_OTHER_WRITE: u32 = 0o022;
/// The longest symlink target the kernel creates (jffs2_symlink refuses more).
pub const MAX_SYMLINK_LEN: usize = 254;
/// JFFS2 stores sizes in a u32.
pub const MAX_FILE_SIZE: u64 = u32::MAX as u64;

/// What an inode is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir {
        /// Its names, sorted by bytes.
        children: Vec<Child>,
    },
    /// A regular file.
    File {
        /// Where its bytes come from.
        source: Source,
        /// Its size.
        size: u64,
    },
    /// A symbolic link.
    Symlink {
        /// The target, 1 to [`MAX_SYMLINK_LEN`] bytes.
        target: Vec<u8>,
    },
    /// A character or block device (the mode says which).
    Device {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A unix socket.
    Socket,
}

/// Where a regular file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Read when the image is written (a tree collected from a directory).
    Path(PathBuf),
    /// Held in memory (a pushed tree).
    Bytes(Vec<u8>),
}

/// A name in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    /// The name, raw bytes.
    pub name: Vec<u8>,
    /// The inode it names.
    pub ino: u32,
}

/// One inode with the metadata it will carry in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inode {
    /// Inode number.
    pub ino: u32,
    /// What it is.
    pub kind: Kind,
    /// Full mode, file type bits included.
    pub mode: u32,
    /// Owner.
    pub uid: u16,
    /// Group.
    pub gid: u16,
    /// Access time as stored.
    pub atime: u32,
    /// Modification time as stored.
    pub mtime: u32,
    /// Change time as stored.
    pub ctime: u32,
    /// Extended attributes as stored: (prefix number, name without prefix, value), sorted.
    pub xattrs: Vec<Xattr>,
}

/// One extended attribute: (JFFS2 prefix number, name without the prefix, value).
pub type Xattr = (u8, Vec<u8>, Vec<u8>);

/// Reads the extended attributes of `path` (not following symlinks).
fn read_xattrs(path: &Path) -> Result<Vec<Xattr>> {
    let names = xattr::list(path).map_err(|e| Error::io(path, "cannot list xattrs of", e))?;
    let mut out = Vec::new();
    for name in names {
        let value = xattr::get(path, &name)
            .map_err(|e| Error::io(path, "cannot read xattrs of", e))?
            .unwrap_or_default();
        out.push(xattr(path, name.as_bytes(), &value)?);
    }
    out.sort();
    Ok(out)
}

/// One extended attribute as JFFS2 stores it, from its full name (such as `user.mime`)
/// and value. Err: why JFFS2 cannot store it.
fn xattr(path: &Path, full: &[u8], value: &[u8]) -> Result<Xattr> {
    let shown = String::from_utf8_lossy(full);
    let err = |problem: String| Err(source_error(path, problem));
    if ACL_NAMES.iter().any(|a| a.as_bytes() == full) {
        return err(format!(
            "has a POSIX ACL ({shown}); JFFS2 ACLs are not supported by this writer"
        ));
    }
    let Some((prefix, short)) = split_name(full) else {
        return err(format!(
            "xattr {shown} has a namespace JFFS2 cannot store (user., security., trusted.)"
        ));
    };
    if short.len() > u8::MAX as usize || value.len() > u16::MAX as usize {
        return err(format!(
            "xattr {shown} is too long for JFFS2 (name at most 255, value at most 65535 bytes)"
        ));
    }
    Ok((prefix, short.to_vec(), value.to_vec()))
}

fn source_error(path: impl Into<PathBuf>, problem: String) -> Error {
    Error::Source {
        path: path.into(),
        problem,
    }
}

impl Inode {
    /// The `DT_*` type a dirent naming this inode carries.
    pub fn dtype(&self) -> u8 {
        ((self.mode & S_IFMT) >> 12) as u8
    }
}

/// The collected tree: `inodes[i].ino == i + 1`.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// Every inode, root first.
    pub inodes: Vec<Inode>,
}

impl Tree {
    /// The inode numbered `ino` (panics when there is none).
    pub fn get(&self, ino: u32) -> &Inode {
        &self.inodes[(ino - 1) as usize]
    }

    fn get_mut(&mut self, ino: u32) -> &mut Inode {
        &mut self.inodes[(ino - 1) as usize]
    }

    /// Bytes of regular file data in the tree (each hard-linked file once).
    pub fn data_bytes(&self) -> u64 {
        self.inodes
            .iter()
            .map(|i| match i.kind {
                Kind::File { size, .. } => size,
                _ => 0,
            })
            .sum()
    }

    /// Reads `root` (and the device table of `opts`, if any).
    pub fn collect(root: &Path, opts: &Options) -> Result<Tree> {
        let meta = fs::metadata(root).map_err(|e| Error::io(root, "cannot read", e))?;
        if !meta.is_dir() {
            return Err(source_error(root, "is not a directory".into()));
        }
        let mut c = Collector {
            tree: Tree::default(),
            links: HashMap::new(),
            xattrs: opts.xattrs,
            squash: opts.squash,
            times: opts.times,
        };
        let root_inode = c.inode_from(root, &meta, Kind::Dir { children: vec![] })?;
        c.tree.inodes.push(root_inode);
        c.walk(root, ROOT_INO)?;
        let mut tree = c.tree;
        if let Some(table) = &opts.devtable {
            let text = fs::read_to_string(table)
                .map_err(|e| Error::io(table, "cannot read device table", e))?;
            let entries = devtable::parse(&table.display().to_string(), &text)?;
            for e in entries {
                tree.apply(&e, opts)?;
            }
        }
        Ok(tree)
    }

    /// Looks up an absolute path (raw bytes); None when a component is missing.
    pub fn lookup(&self, path: &[u8]) -> Option<u32> {
        let mut ino = ROOT_INO;
        for part in path.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
            let Kind::Dir { children } = &self.get(ino).kind else {
                return None;
            };
            ino = children.iter().find(|c| c.name == part)?.ino;
        }
        Some(ino)
    }

    /// Applies one device table entry.
    fn apply(&mut self, e: &devtable::Entry, opts: &Options) -> Result<()> {
        let shown = PathBuf::from(OsStr::from_bytes(&e.path));
        let table = || {
            opts.devtable
                .as_ref()
                .map_or_else(String::new, |t| t.display().to_string())
        };
        let (parent, name) = match e.path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&e.path[..i], &e.path[i + 1..]),
            None => (&b""[..], &e.path[..]),
        };
        let squash = opts.squash.owners;
        let uid = owner16(if squash { 0 } else { e.uid }, "uid", &shown)?;
        let gid = owner16(if squash { 0 } else { e.gid }, "gid", &shown)?;
        let (type_bits, kind) = match e.kind {
            EntryType::File => (S_IFREG, None),
            EntryType::Dir => (S_IFDIR, Some(Kind::Dir { children: vec![] })),
            EntryType::CharDev => (S_IFCHR, Some(device(e))),
            EntryType::BlockDev => (S_IFBLK, Some(device(e))),
            EntryType::Fifo => (S_IFIFO, Some(Kind::Fifo)),
            EntryType::Socket => (S_IFSOCK, Some(Kind::Socket)),
        };
        let mode = type_bits | squash_perm(e.perm, opts.squash);
        if let Some(ino) = self.lookup(&e.path) {
            let existing = self.get_mut(ino);
            if existing.mode & S_IFMT != type_bits {
                return Err(source_error(
                    shown,
                    format!(
                        "device table {}: exists with another file type (mode {:o}, table says {:o})",
                        table(),
                        existing.mode,
                        mode
                    ),
                ));
            }
            existing.mode = mode;
            existing.uid = uid;
            existing.gid = gid;
            if let Some(k @ Kind::Device { .. }) = kind {
                existing.kind = k;
            }
            return Ok(());
        }
        let Some(kind) = kind else {
            return Err(source_error(
                shown,
                format!("device table {}: the file is not in the tree", table()),
            ));
        };
        let pino = self
            .lookup(parent)
            .filter(|&p| matches!(self.get(p).kind, Kind::Dir { .. }))
            .ok_or_else(|| {
                source_error(
                    &shown,
                    format!("device table {}: the parent directory is missing", table()),
                )
            })?;
        check_name(name, &shown)?;
        let ino = self.inodes.len() as u32 + 1;
        let t = opts.times.apply(0);
        self.inodes.push(Inode {
            ino,
            kind,
            mode,
            uid,
            gid,
            atime: t,
            mtime: t,
            ctime: t,
            xattrs: Vec::new(),
        });
        let Kind::Dir { children } = &mut self.get_mut(pino).kind else {
            unreachable!("checked above that the parent is a directory");
        };
        let at = children.partition_point(|c| c.name.as_slice() < name);
        children.insert(
            at,
            Child {
                name: name.to_vec(),
                ino,
            },
        );
        Ok(())
    }
}

fn device(e: &devtable::Entry) -> Kind {
    Kind::Device {
        major: e.major,
        minor: e.minor,
    }
}

fn squash_perm(perm: u32, squash: Squash) -> u32 {
    if squash.perms {
        perm & !GROUP_OTHER_WRITE
    } else {
        perm
    }
}

fn owner16(id: u32, what: &'static str, path: &Path) -> Result<u16> {
    u16::try_from(id).map_err(|_| Error::OwnerTooLarge {
        path: path.into(),
        what,
        id,
    })
}

fn check_symlink(target: &[u8], path: &Path) -> Result<()> {
    if target.is_empty() || target.len() > MAX_SYMLINK_LEN {
        return Err(source_error(
            path,
            format!(
                "the symlink has a {}-byte target; JFFS2 allows 1 to {MAX_SYMLINK_LEN}",
                target.len()
            ),
        ));
    }
    Ok(())
}

fn check_name(name: &[u8], path: &Path) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(source_error(
            path,
            format!(
                "the name is {} bytes; JFFS2 names are 1 to {MAX_NAME_LEN} bytes",
                name.len()
            ),
        ));
    }
    Ok(())
}

struct Collector {
    tree: Tree,
    xattrs: bool,
    /// (st_dev, st_ino) of multiply-linked non-directories already given an inode.
    links: HashMap<(u64, u64), u32>,
    squash: Squash,
    times: Times,
}

impl Collector {
    fn inode_from(&self, path: &Path, m: &fs::Metadata, kind: Kind) -> Result<Inode> {
        let (uid, gid) = if self.squash.owners {
            (0, 0)
        } else {
            (
                owner16(m.uid(), "uid", path)?,
                owner16(m.gid(), "gid", path)?,
            )
        };
        let mode = (m.mode() & S_IFMT) | squash_perm(m.mode() & !S_IFMT, self.squash);
        Ok(Inode {
            ino: self.tree.inodes.len() as u32 + 1,
            kind,
            mode,
            uid,
            gid,
            // JFFS2 never writes atime updates back, and reading the tree to build the
            // image changes the source's atimes: store mtime so rebuilds are identical.
            atime: self.times.apply(m.mtime()),
            mtime: self.times.apply(m.mtime()),
            ctime: self.times.apply(m.ctime()),
            xattrs: if self.xattrs {
                read_xattrs(path)?
            } else {
                Vec::new()
            },
        })
    }

    /// Adds the children of directory `dir` (inode `ino`), depth first, sorted by name.
    fn walk(&mut self, dir: &Path, ino: u32) -> Result<()> {
        let read_err = |e: std::io::Error| Error::io(dir, "cannot read directory", e);
        let mut names: Vec<std::ffi::OsString> = fs::read_dir(dir)
            .map_err(read_err)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(read_err)?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut children = Vec::with_capacity(names.len());
        for name in names {
            let path = dir.join(&name);
            check_name(name.as_bytes(), &path)?;
            let m = fs::symlink_metadata(&path).map_err(|e| Error::io(&path, "cannot stat", e))?;
            let ft = m.file_type();
            let link_key = (m.dev(), m.ino());
            if !ft.is_dir() && m.nlink() > 1 {
                if let Some(&existing) = self.links.get(&link_key) {
                    children.push(Child {
                        name: name.as_bytes().to_vec(),
                        ino: existing,
                    });
                    continue;
                }
            }
            let kind = if ft.is_dir() {
                Kind::Dir { children: vec![] }
            } else if ft.is_file() {
                if m.len() > MAX_FILE_SIZE {
                    return Err(source_error(
                        &path,
                        format!(
                            "the file is {} bytes; JFFS2 files are at most {MAX_FILE_SIZE} bytes",
                            m.len()
                        ),
                    ));
                }
                Kind::File {
                    source: Source::Path(path.clone()),
                    size: m.len(),
                }
            } else if ft.is_symlink() {
                let target =
                    fs::read_link(&path).map_err(|e| Error::io(&path, "cannot read symlink", e))?;
                let target = OsStr::as_bytes(target.as_os_str()).to_vec();
                check_symlink(&target, &path)?;
                Kind::Symlink { target }
            } else if ft.is_char_device() || ft.is_block_device() {
                let rdev = m.rdev();
                Kind::Device {
                    major: major(rdev),
                    minor: minor(rdev),
                }
            } else if ft.is_fifo() {
                Kind::Fifo
            } else if ft.is_socket() {
                Kind::Socket
            } else {
                return Err(source_error(&path, "unknown file type".into()));
            };
            let inode = self.inode_from(&path, &m, kind)?;
            let child_ino = inode.ino;
            let is_dir = ft.is_dir();
            self.tree.inodes.push(inode);
            if !is_dir && m.nlink() > 1 {
                self.links.insert(link_key, child_ino);
            }
            children.push(Child {
                name: name.as_bytes().to_vec(),
                ino: child_ino,
            });
            if is_dir {
                self.walk(&path, child_ino)?;
            }
        }
        self.tree.get_mut(ino).kind = Kind::Dir { children };
        Ok(())
    }
}

/// The metadata of a pushed entry. Times are stored as given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits (with setuid, setgid, sticky); the file type comes from the kind.
    pub perm: u32,
    /// Owner.
    pub uid: u16,
    /// Group.
    pub gid: u16,
    /// Access time.
    pub atime: u32,
    /// Modification time.
    pub mtime: u32,
    /// Change time.
    pub ctime: u32,
    /// Extended attributes: (full name such as `user.mime`, value).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Meta {
    /// Permission bits `perm`, owned by root, all times zero, no xattrs.
    pub fn new(perm: u32) -> Meta {
        Meta {
            perm,
            ..Meta::default()
        }
    }
}

/// Building a tree entry by entry.
impl Tree {
    /// A tree holding only the root directory. Err: its xattrs cannot be stored.
    pub fn new(root: Meta) -> Result<Tree> {
        let xattrs = checked_xattrs(Path::new("/"), &root.xattrs)?;
        let mut t = Tree::default();
        t.inodes.push(Inode {
            ino: ROOT_INO,
            kind: Kind::Dir { children: vec![] },
            mode: S_IFDIR | (root.perm & PERM_BITS),
            uid: root.uid,
            gid: root.gid,
            atime: root.atime,
            mtime: root.mtime,
            ctime: root.ctime,
            xattrs,
        });
        Ok(t)
    }

    /// Adds directory `path` (absolute, its parent already in the tree); returns its inode.
    pub fn dir(&mut self, path: impl AsRef<[u8]>, meta: Meta) -> Result<u32> {
        self.push(path.as_ref(), Kind::Dir { children: vec![] }, S_IFDIR, meta)
    }

    /// Adds a regular file holding `data`.
    pub fn file(&mut self, path: impl AsRef<[u8]>, data: Vec<u8>, meta: Meta) -> Result<u32> {
        let path = path.as_ref();
        if data.len() as u64 > MAX_FILE_SIZE {
            return Err(source_error(
                shown(path),
                format!(
                    "the file is {} bytes; JFFS2 files are at most {MAX_FILE_SIZE} bytes",
                    data.len()
                ),
            ));
        }
        let size = data.len() as u64;
        let kind = Kind::File {
            source: Source::Bytes(data),
            size,
        };
        self.push(path, kind, S_IFREG, meta)
    }

    /// Adds a symlink to `target` (1 to [`MAX_SYMLINK_LEN`] bytes).
    pub fn symlink(
        &mut self,
        path: impl AsRef<[u8]>,
        target: impl AsRef<[u8]>,
        meta: Meta,
    ) -> Result<u32> {
        let path = path.as_ref();
        let target = target.as_ref().to_vec();
        check_symlink(&target, &shown(path))?;
        self.push(path, Kind::Symlink { target }, S_IFLNK, meta)
    }

    /// Adds a character (`block` false) or block device.
    pub fn device(
        &mut self,
        path: impl AsRef<[u8]>,
        block: bool,
        major: u32,
        minor: u32,
        meta: Meta,
    ) -> Result<u32> {
        let bits = if block { S_IFBLK } else { S_IFCHR };
        self.push(path.as_ref(), Kind::Device { major, minor }, bits, meta)
    }

    /// Adds a named pipe.
    pub fn fifo(&mut self, path: impl AsRef<[u8]>, meta: Meta) -> Result<u32> {
        self.push(path.as_ref(), Kind::Fifo, S_IFIFO, meta)
    }

    /// Adds a unix socket.
    pub fn socket(&mut self, path: impl AsRef<[u8]>, meta: Meta) -> Result<u32> {
        self.push(path.as_ref(), Kind::Socket, S_IFSOCK, meta)
    }

    /// Adds `path` as another name of inode `ino` (a hard link; not to a directory).
    pub fn hard_link(&mut self, path: impl AsRef<[u8]>, ino: u32) -> Result<()> {
        let path = path.as_ref();
        let target = self.inodes.get((ino as usize).wrapping_sub(1));
        if target.is_none_or(|t| matches!(t.kind, Kind::Dir { .. })) {
            return Err(source_error(
                shown(path),
                format!("inode {ino} is not a non-directory of the tree"),
            ));
        }
        self.link(path, ino)
    }

    fn push(&mut self, path: &[u8], kind: Kind, type_bits: u32, meta: Meta) -> Result<u32> {
        let ino = self.inodes.len() as u32 + 1;
        let xattrs = checked_xattrs(&shown(path), &meta.xattrs)?;
        self.link(path, ino)?;
        self.inodes.push(Inode {
            ino,
            kind,
            mode: type_bits | (meta.perm & PERM_BITS),
            uid: meta.uid,
            gid: meta.gid,
            atime: meta.atime,
            mtime: meta.mtime,
            ctime: meta.ctime,
            xattrs,
        });
        Ok(ino)
    }

    /// Enters `path`'s last component into its parent directory, naming inode `ino`.
    fn link(&mut self, path: &[u8], ino: u32) -> Result<()> {
        let at = shown(path);
        let Some((parent, name)) = path.strip_prefix(b"/").map(|p| {
            let i = p.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
            (&p[..i.saturating_sub(1)], &p[i..])
        }) else {
            return Err(source_error(at, "the path must be absolute".into()));
        };
        check_name(name, &at)?;
        if name == b"." || name == b".." || name.contains(&0) {
            return Err(source_error(
                at,
                "the name must not be . or .. or hold NUL".into(),
            ));
        }
        let pino = self
            .lookup(parent)
            .filter(|&p| matches!(self.get(p).kind, Kind::Dir { .. }))
            .ok_or_else(|| source_error(&at, "the parent directory is not in the tree".into()))?;
        let Kind::Dir { children } = &mut self.get_mut(pino).kind else {
            unreachable!("checked above that the parent is a directory");
        };
        match children.binary_search_by(|c| c.name.as_slice().cmp(name)) {
            Ok(_) => Err(source_error(at, "the name is already in the tree".into())),
            Err(i) => {
                children.insert(
                    i,
                    Child {
                        name: name.to_vec(),
                        ino,
                    },
                );
                Ok(())
            }
        }
    }
}

/// Permission bits a pushed entry keeps.
const PERM_BITS: u32 = 0o7777;

fn shown(path: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(path))
}

fn checked_xattrs(path: &Path, named: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<Xattr>> {
    let mut out = named
        .iter()
        .map(|(n, v)| xattr(path, n, v))
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    Ok(out)
}

/// glibc's `gnu_dev_major`.
fn major(rdev: u64) -> u32 {
    (((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0x0000_0fff)) as u32
}

/// glibc's `gnu_dev_minor`.
fn minor(rdev: u64) -> u32 {
    (((rdev >> 12) & 0xffff_ff00) | (rdev & 0x0000_00ff)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc's `gnu_dev_makedev`, written out independently for the test.
    fn makedev(major: u32, minor: u32) -> u64 {
        let (ma, mi) = (major as u64, minor as u64);
        ((ma & 0xfff) << 8) | ((ma & !0xfff) << 32) | (mi & 0xff) | ((mi & !0xff) << 12)
    }

    #[test]
    fn pushed_entries_get_inodes_in_order_and_sorted_names() {
        let mut t = Tree::new(Meta::new(0o755)).unwrap();
        assert_eq!(t.dir("/etc", Meta::new(0o755)).unwrap(), 2);
        assert_eq!(
            t.file("/etc/b", b"x".to_vec(), Meta::new(0o600)).unwrap(),
            3
        );
        assert_eq!(t.fifo("/etc/a", Meta::new(0o644)).unwrap(), 4);
        t.hard_link("/c", 3).unwrap();
        let Kind::Dir { children } = &t.get(2).kind else {
            panic!("/etc is a directory")
        };
        let names: Vec<&[u8]> = children.iter().map(|c| c.name.as_slice()).collect();
        assert_eq!(names, [&b"a"[..], b"b"]);
        assert_eq!(t.lookup(b"/c"), Some(3));
        assert_eq!(t.get(3).mode, S_IFREG | 0o600);
        assert_eq!(t.data_bytes(), 1);
    }

    #[test]
    fn pushing_names_the_path_and_the_problem() {
        let mut t = Tree::new(Meta::new(0o755)).unwrap();
        let err = |r: Result<u32>| r.unwrap_err().to_string();
        assert_eq!(
            err(t.fifo("/no/x", Meta::default())),
            "/no/x: the parent directory is not in the tree"
        );
        t.fifo("/x", Meta::default()).unwrap();
        assert_eq!(
            err(t.fifo("/x", Meta::default())),
            "/x: the name is already in the tree"
        );
        assert_eq!(
            err(t.fifo("x", Meta::default())),
            "x: the path must be absolute"
        );
        assert_eq!(
            err(t.symlink("/l", "", Meta::default())),
            "/l: the symlink has a 0-byte target; JFFS2 allows 1 to 254"
        );
        let acl = Meta {
            xattrs: vec![(b"system.posix_acl_access".to_vec(), vec![])],
            ..Meta::default()
        };
        assert!(err(t.dir("/d", acl)).starts_with("/d: has a POSIX ACL"));
        assert!(t.hard_link("/y", 1).is_err(), "no hard link to a directory");
    }

    #[test]
    fn dev_numbers_split_like_glibc() {
        assert_eq!(makedev(259, 5), 0x1_0305);
        for (ma, mi) in [
            (0, 0),
            (3, 5),
            (259, 5),
            (4095, 1_048_575),
            (0xffff_ffff, 0xffff_ffff),
        ] {
            let d = makedev(ma, mi);
            assert_eq!((major(d), minor(d)), (ma, mi), "{ma}:{mi}");
        }
    }
}
