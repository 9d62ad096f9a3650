//! Collects the source tree before anything is laid out: every entry with its final
//! metadata, directories' children sorted by raw name bytes, inode numbers given in that
//! order (root = 1). Nothing here depends on the order the OS lists directories in.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::devtable::{self, EntryType};
use super::node::dirent::MAX_NAME_LEN;
use super::node::xattr::{split_name, ACL_NAMES};
use super::options::{Options, Squash, Times};

/// The root directory's inode number (the kernel's rule).
pub const ROOT_INO: u32 = 1;
/// File type bits of a mode, shared with the other on-disk formats.
pub use crate::file_mode::{
    S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK,
};
/// Group and other write bits, removed by `-P`.
const GROUP_OTHER_WRITE: u32 = 0o022;
/// The longest symlink target the kernel creates (jffs2_symlink refuses more).
pub const MAX_SYMLINK_LEN: usize = 254;
/// JFFS2 stores sizes in a u32.
pub const MAX_FILE_SIZE: u64 = u32::MAX as u64;

/// What an inode is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir { children: Vec<Child> },
    File { source: PathBuf, size: u64 },
    Symlink { target: Vec<u8> },
    Device { major: u32, minor: u32 },
    Fifo,
    Socket,
}

/// A name in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    pub name: Vec<u8>,
    pub ino: u32,
}

/// One inode with the metadata it will carry in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inode {
    pub ino: u32,
    pub kind: Kind,
    /// Full mode, file type bits included.
    pub mode: u32,
    pub uid: u16,
    pub gid: u16,
    pub atime: u32,
    pub mtime: u32,
    pub ctime: u32,
    /// Extended attributes as stored: (prefix number, name without prefix, value), sorted.
    pub xattrs: Vec<Xattr>,
}

/// One extended attribute: (JFFS2 prefix number, name without the prefix, value).
pub type Xattr = (u8, Vec<u8>, Vec<u8>);

/// Reads the extended attributes of `path` (not following symlinks).
fn read_xattrs(path: &Path) -> Result<Vec<Xattr>, String> {
    let shown = path.display();
    let names = xattr::list(path).map_err(|e| format!("cannot list xattrs of {shown}: {e}"))?;
    let mut out = Vec::new();
    for name in names {
        let full = name.as_bytes();
        if ACL_NAMES.iter().any(|a| a.as_bytes() == full) {
            return Err(format!(
                "{shown} has a POSIX ACL ({}); JFFS2 ACLs are not supported by this writer",
                name.to_string_lossy()
            ));
        }
        let Some((prefix, short)) = split_name(full) else {
            return Err(format!(
                "{shown}: xattr {} has a namespace JFFS2 cannot store (user., security., trusted.)",
                name.to_string_lossy()
            ));
        };
        let value = xattr::get(path, &name)
            .map_err(|e| {
                format!(
                    "cannot read xattr {} of {shown}: {e}",
                    name.to_string_lossy()
                )
            })?
            .unwrap_or_default();
        if short.len() > u8::MAX as usize || value.len() > u16::MAX as usize {
            return Err(format!(
                "{shown}: xattr {} is too long for JFFS2 (name at most 255, value at most 65535 bytes)",
                name.to_string_lossy()
            ));
        }
        out.push((prefix, short.to_vec(), value));
    }
    out.sort();
    Ok(out)
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
    pub inodes: Vec<Inode>,
}

impl Tree {
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
    pub fn collect(root: &Path, opts: &Options) -> Result<Tree, String> {
        let meta =
            fs::metadata(root).map_err(|e| format!("cannot read {}: {e}", root.display()))?;
        if !meta.is_dir() {
            return Err(format!("{} is not a directory", root.display()));
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
                .map_err(|e| format!("cannot read device table {}: {e}", table.display()))?;
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
    fn apply(&mut self, e: &devtable::Entry, opts: &Options) -> Result<(), String> {
        let shown = String::from_utf8_lossy(&e.path).into_owned();
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
                return Err(format!(
                    "device table: {shown} exists with another file type (mode {:o}, table says {:o})",
                    existing.mode, mode
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
            return Err(format!("device table: file {shown} is not in the tree"));
        };
        let pino = self
            .lookup(parent)
            .filter(|&p| matches!(self.get(p).kind, Kind::Dir { .. }))
            .ok_or_else(|| format!("device table: the parent directory of {shown} is missing"))?;
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

fn owner16(id: u32, what: &str, path: &str) -> Result<u16, String> {
    u16::try_from(id).map_err(|_| {
        format!(
            "{what} {id} of {path} does not fit JFFS2's 16 bits (use -U to make root the owner)"
        )
    })
}

fn check_name(name: &[u8], shown: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "name of {shown} is {} bytes; JFFS2 names are 1 to {MAX_NAME_LEN} bytes",
            name.len()
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
    fn inode_from(&self, path: &Path, m: &fs::Metadata, kind: Kind) -> Result<Inode, String> {
        let shown = path.display().to_string();
        let (uid, gid) = if self.squash.owners {
            (0, 0)
        } else {
            (
                owner16(m.uid(), "uid", &shown)?,
                owner16(m.gid(), "gid", &shown)?,
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
    fn walk(&mut self, dir: &Path, ino: u32) -> Result<(), String> {
        let read_err = |e: std::io::Error| format!("cannot read directory {}: {e}", dir.display());
        let mut names: Vec<std::ffi::OsString> = fs::read_dir(dir)
            .map_err(read_err)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(read_err)?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut children = Vec::with_capacity(names.len());
        for name in names {
            let path = dir.join(&name);
            let shown = path.display().to_string();
            check_name(name.as_bytes(), &shown)?;
            let m = fs::symlink_metadata(&path).map_err(|e| format!("cannot stat {shown}: {e}"))?;
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
                    return Err(format!(
                        "{shown} is {} bytes; JFFS2 files are at most {MAX_FILE_SIZE} bytes",
                        m.len()
                    ));
                }
                Kind::File {
                    source: path.clone(),
                    size: m.len(),
                }
            } else if ft.is_symlink() {
                let target = fs::read_link(&path)
                    .map_err(|e| format!("cannot read symlink {shown}: {e}"))?;
                let target = OsStr::as_bytes(target.as_os_str()).to_vec();
                if target.is_empty() || target.len() > MAX_SYMLINK_LEN {
                    return Err(format!(
                        "symlink {shown} has a {}-byte target; JFFS2 allows 1 to {MAX_SYMLINK_LEN}",
                        target.len()
                    ));
                }
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
                return Err(format!("{shown} has an unknown file type"));
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
