//! The file system that a scan's valid nodes describe: names from dirents (highest
//! version wins, ino 0 deletes), inode metadata and data from inode nodes applied in
//! version order, extended attributes from XATTR/XREF nodes.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::endian::Endian;
use crate::error::{Error, Result};
use crate::node::inode::RawInode;
use crate::node::xattr::{self as xattr_node, RawXattr};
use crate::reader::{Node, Scan};

/// What an inode is, as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path from the root, components joined with '/', no leading slash ("" for the root).
    pub path: Vec<u8>,
    /// Inode number.
    pub ino: u32,
    /// Full mode, file type bits included.
    pub mode: u32,
    /// Owner.
    pub uid: u16,
    /// Group.
    pub gid: u16,
    /// Modification time (a directory's: of its newest dirent when newer).
    pub mtime: u32,
    /// File size (symlink target length; 0 for others).
    pub size: u32,
}

/// An extended attribute read back: (full name such as `user.mime`, value).
pub type NamedXattr = (Vec<u8>, Vec<u8>);

/// A directory's names → (dirent version, ino, dtype), the highest version kept.
type Dir = BTreeMap<Vec<u8>, (u32, u32, u8)>;

/// The file system the valid nodes describe.
#[derive(Debug)]
pub struct Fs<'a> {
    image: &'a [u8],
    endian: Endian,
    /// Each inode's nodes, in version order.
    inodes: BTreeMap<u32, Vec<(RawInode, Range<usize>)>>,
    /// Directory → name → (version, ino, dtype), the highest version kept.
    dirs: BTreeMap<u32, Dir>,
    /// xid → the newest datum.
    xattrs: BTreeMap<u32, RawXattr>,
    /// Live (ino, xid) references.
    xrefs: Vec<(u32, u32)>,
    /// Directory → (version, mctime) of its newest dirent with a nonzero mctime: the
    /// kernel gives a directory that time when the dirent is newer than its inode node
    /// (readinode.c, `latest_mctime`).
    mctimes: BTreeMap<u32, (u32, u32)>,
}

/// The mode the kernel gives a root directory that has no inode node (mkfs.jffs2 writes none).
const DEFAULT_ROOT_MODE: u32 = 0o040755;
/// Deepest directory nesting followed (guards against dirent loops).
const MAX_DEPTH: usize = 4096;

impl<'a> Fs<'a> {
    /// The file system the valid nodes of `scan` (a scan of `image`) describe.
    pub fn new(image: &'a [u8], scan: &Scan) -> Self {
        let mut inodes: BTreeMap<u32, Vec<(RawInode, Range<usize>)>> = BTreeMap::new();
        let mut dirs: BTreeMap<u32, Dir> = BTreeMap::new();
        let mut xattrs: BTreeMap<u32, RawXattr> = BTreeMap::new();
        let mut mctimes: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
        let mut xrefs = Vec::new();
        for (_, node) in &scan.nodes {
            match node {
                Node::Xattr(x) => {
                    if !matches!(xattrs.get(&x.xid), Some(old) if old.version > x.version) {
                        xattrs.insert(x.xid, x.clone());
                    }
                }
                Node::Xref(r) => {
                    if r.xseqno % xattr_node::XSEQNO_STEP == 0 {
                        xrefs.push((r.ino, r.xid));
                    }
                }
                Node::Inode(ri, range) => inodes
                    .entry(ri.ino)
                    .or_default()
                    .push((ri.clone(), range.clone())),
                Node::Dirent(d) => {
                    let m = mctimes.entry(d.pino).or_insert((0, 0));
                    if d.version > m.0 && d.mctime != 0 {
                        *m = (d.version, d.mctime);
                    }
                    let slot = dirs
                        .entry(d.pino)
                        .or_default()
                        .entry(d.name.clone())
                        .or_insert((0, 0, 0));
                    if d.version >= slot.0 {
                        *slot = (d.version, d.ino, d.dtype);
                    }
                }
            }
        }
        for nodes in inodes.values_mut() {
            nodes.sort_by_key(|(ri, _)| ri.version);
        }
        xrefs.sort();
        xrefs.dedup();
        Fs {
            image,
            endian: scan.endian,
            inodes,
            dirs,
            xattrs,
            xrefs,
            mctimes,
        }
    }

    fn latest(&self, ino: u32) -> Option<&RawInode> {
        self.inodes
            .get(&ino)
            .and_then(|n| n.last())
            .map(|(ri, _)| ri)
    }

    /// The entry for `ino` at `path`; Err when the inode has no node.
    fn entry(&self, ino: u32, path: Vec<u8>) -> Result<Entry> {
        match self.latest(ino) {
            Some(ri) => Ok(Entry {
                path,
                ino,
                mode: ri.mode,
                uid: ri.uid,
                gid: ri.gid,
                mtime: match self.mctimes.get(&ino) {
                    Some(&(version, mctime)) if version > ri.version => mctime,
                    _ => ri.mtime,
                },
                size: ri
                    .isize
                    .max(if ri.mode & crate::mode::S_IFMT == crate::mode::S_IFLNK {
                        ri.dsize
                    } else {
                        0
                    }),
            }),
            None if ino == crate::ROOT_INO => Ok(Entry {
                path,
                ino,
                mode: DEFAULT_ROOT_MODE,
                uid: 0,
                gid: 0,
                mtime: 0,
                size: 0,
            }),
            None => Err(Error::Tree {
                problem: format!("inode {ino} is named by a dirent but has no inode node"),
                path,
            }),
        }
    }

    /// Every reachable entry, parents before children, names sorted by bytes.
    pub fn walk(&self) -> Result<Vec<Entry>> {
        let mut out = vec![self.entry(crate::ROOT_INO, Vec::new())?];
        self.walk_dir(crate::ROOT_INO, &[], 0, &mut out)?;
        Ok(out)
    }

    fn walk_dir(&self, dir: u32, prefix: &[u8], depth: usize, out: &mut Vec<Entry>) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::Tree {
                path: prefix.to_vec(),
                problem: format!("directories nest deeper than {MAX_DEPTH}"),
            });
        }
        let Some(children) = self.dirs.get(&dir) else {
            return Ok(());
        };
        for (name, &(_, ino, _)) in children {
            if ino == 0 {
                continue; // deleted
            }
            let mut path = prefix.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            let e = self.entry(ino, path.clone())?;
            let is_dir = e.mode & crate::mode::S_IFMT == crate::mode::S_IFDIR;
            out.push(e);
            if is_dir {
                if ino == dir || ino == crate::ROOT_INO {
                    return Err(Error::Tree {
                        path,
                        problem: "the directory contains itself".into(),
                    });
                }
                self.walk_dir(ino, &path, depth + 1, out)?;
            }
        }
        Ok(())
    }

    /// The contents of inode `ino`: file data, symlink target or device number bytes.
    pub fn data(&self, ino: u32) -> Result<Vec<u8>> {
        let nodes = self
            .inodes
            .get(&ino)
            .ok_or_else(|| inode_error(ino, "has no nodes".into()))?;
        let size = nodes.last().map_or(0, |(ri, _)| {
            ri.isize
                .max(if ri.mode & crate::mode::S_IFMT == crate::mode::S_IFREG {
                    0
                } else {
                    ri.dsize
                })
        });
        let mut out = vec![0u8; size as usize];
        for (ri, range) in nodes {
            let stored = self
                .image
                .get(range.clone())
                .ok_or_else(|| inode_error(ino, "data range past the image end".into()))?;
            if ri.compr == crate::compress::code::ZERO {
                continue; // already zero; a hole stores nothing
            }
            let data = crate::compress::decompress(ri.compr, stored, ri.dsize as usize)
                .map_err(|e| inode_error(ino, format!("version {}: {}", ri.version, e.detail())))?;
            let start = (ri.offset as usize).min(out.len());
            let end = (start + data.len()).min(out.len());
            out[start..end].copy_from_slice(&data[..end - start]);
        }
        Ok(out)
    }

    /// The extended attributes of `ino`: (full name, value), sorted by name.
    pub fn xattrs(&self, ino: u32) -> Result<Vec<NamedXattr>> {
        let mut out = Vec::new();
        for &(_, xid) in self.xrefs.iter().filter(|(i, _)| *i == ino) {
            let x = self.xattrs.get(&xid).ok_or_else(|| {
                inode_error(ino, format!("refers to xattr {xid}, which has no node"))
            })?;
            let name = xattr_node::full_name(x.xprefix, &x.name).ok_or_else(|| {
                inode_error(ino, format!("xattr {xid} has unknown prefix {}", x.xprefix))
            })?;
            out.push((name, x.value.clone()));
        }
        out.sort();
        Ok(out)
    }

    /// A device inode's (major, minor).
    pub fn device(&self, ino: u32) -> Result<(u32, u32)> {
        let data = self.data(ino)?;
        crate::node::device::decode_dev(&data, self.endian).ok_or_else(|| {
            inode_error(
                ino,
                format!(
                    "device inode holds {} bytes of device number, expected 2 or 4",
                    data.len()
                ),
            )
        })
    }
}

fn inode_error(ino: u32, problem: String) -> Error {
    Error::Inode { ino, problem }
}

/// What [`check_image`] found.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The scan.
    pub scan: Scan,
    /// Every problem, the scan's (by offset) first, then those of the tree and of each
    /// file's data; empty when the image is sound.
    pub problems: Vec<String>,
}

/// The whole check of an image (`flashroot jffs2 check`): every node as the kernel
/// checks it ([`crate::scan`]), then the tree the valid nodes make and every inode's
/// data. Err only when the bytes are not JFFS2 at all ([`crate::probe::identify`]).
///
/// ```
/// use flashroot_jffs2::{check_image, tree::{Meta, Tree}, write_tree, Options};
///
/// let mut tree = Tree::new(Meta::new(0o755))?;
/// tree.file("/motd", b"hello\n".to_vec(), Meta::new(0o644))?;
/// let mut image = Vec::new();
/// write_tree(&tree, &mut image, &Options { pad_to: Some(5 << 16), ..Options::default() })?;
/// assert!(check_image(&image, None)?.problems.is_empty());
/// image[5 << 16 >> 1] = 0; // garbage in the middle of the free space
/// assert_eq!(check_image(&image, None)?.problems.len(), 1);
/// # Ok::<(), flashroot_jffs2::Error>(())
/// ```
pub fn check_image(image: &[u8], erase_size: Option<u32>) -> Result<Checked> {
    let scan = crate::reader::scan(image, erase_size)?;
    let mut problems: Vec<String> = scan.problems.iter().map(|p| p.to_string()).collect();
    let fs = Fs::new(image, &scan);
    match fs.walk() {
        Err(e) => problems.push(e.to_string()),
        Ok(entries) => {
            for e in entries
                .iter()
                .filter(|e| e.mode & crate::mode::S_IFMT != crate::mode::S_IFDIR)
            {
                if let Err(err) = fs.data(e.ino) {
                    problems.push(format!("/{}: {err}", e.path.escape_ascii()));
                }
            }
        }
    }
    Ok(Checked { scan, problems })
}
