//! The file system that a scan's valid nodes describe: names from dirents (highest
//! version wins, ino 0 deletes), inode metadata and data from inode nodes applied in
//! version order, extended attributes from XATTR/XREF nodes.

use std::collections::BTreeMap;
use std::ops::Range;

use super::endian::Endian;
use super::node::inode::RawInode;
use super::node::xattr::{self as xattr_node, RawXattr};
use super::reader::{Node, Scan};

/// What an inode is, as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path from the root, components joined with '/', no leading slash ("" for the root).
    pub path: Vec<u8>,
    pub ino: u32,
    pub mode: u32,
    pub uid: u16,
    pub gid: u16,
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
    fn entry(&self, ino: u32, path: Vec<u8>) -> Result<Entry, String> {
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
                    .max(if ri.mode & super::tree::S_IFMT == super::tree::S_IFLNK {
                        ri.dsize
                    } else {
                        0
                    }),
            }),
            None if ino == super::tree::ROOT_INO => Ok(Entry {
                path,
                ino,
                mode: DEFAULT_ROOT_MODE,
                uid: 0,
                gid: 0,
                mtime: 0,
                size: 0,
            }),
            None => Err(format!(
                "inode {ino} ({}) is named by a dirent but has no inode node",
                String::from_utf8_lossy(&path)
            )),
        }
    }

    /// Every reachable entry, parents before children, names sorted by bytes.
    pub fn walk(&self) -> Result<Vec<Entry>, String> {
        let mut out = vec![self.entry(super::tree::ROOT_INO, Vec::new())?];
        self.walk_dir(super::tree::ROOT_INO, &[], 0, &mut out)?;
        Ok(out)
    }

    fn walk_dir(
        &self,
        dir: u32,
        prefix: &[u8],
        depth: usize,
        out: &mut Vec<Entry>,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "directories nest deeper than {MAX_DEPTH} at {}",
                String::from_utf8_lossy(prefix)
            ));
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
            let is_dir = e.mode & super::tree::S_IFMT == super::tree::S_IFDIR;
            out.push(e);
            if is_dir {
                if ino == dir || ino == super::tree::ROOT_INO {
                    return Err(format!(
                        "directory {} contains itself",
                        String::from_utf8_lossy(&path)
                    ));
                }
                self.walk_dir(ino, &path, depth + 1, out)?;
            }
        }
        Ok(())
    }

    /// The contents of inode `ino`: file data, symlink target or device number bytes.
    pub fn data(&self, ino: u32) -> Result<Vec<u8>, String> {
        let nodes = self
            .inodes
            .get(&ino)
            .ok_or_else(|| format!("inode {ino} has no nodes"))?;
        let size = nodes.last().map_or(0, |(ri, _)| {
            ri.isize
                .max(if ri.mode & super::tree::S_IFMT == super::tree::S_IFREG {
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
                .ok_or_else(|| format!("inode {ino}: data range past the image end"))?;
            if ri.compr == super::compress::code::ZERO {
                continue; // already zero; a hole stores nothing
            }
            let data = super::compress::decompress(ri.compr, stored, ri.dsize as usize)
                .map_err(|e| format!("inode {ino} version {}: {e}", ri.version))?;
            let start = (ri.offset as usize).min(out.len());
            let end = (start + data.len()).min(out.len());
            out[start..end].copy_from_slice(&data[..end - start]);
        }
        Ok(out)
    }

    /// The extended attributes of `ino`: (full name, value), sorted by name.
    pub fn xattrs(&self, ino: u32) -> Result<Vec<NamedXattr>, String> {
        let mut out = Vec::new();
        for &(_, xid) in self.xrefs.iter().filter(|(i, _)| *i == ino) {
            let x = self
                .xattrs
                .get(&xid)
                .ok_or_else(|| format!("inode {ino} refers to xattr {xid}, which has no node"))?;
            let name = xattr_node::full_name(x.xprefix, &x.name)
                .ok_or_else(|| format!("xattr {xid} has unknown prefix {}", x.xprefix))?;
            out.push((name, x.value.clone()));
        }
        out.sort();
        Ok(out)
    }

    /// A device inode's (major, minor).
    pub fn device(&self, ino: u32) -> Result<(u32, u32), String> {
        let data = self.data(ino)?;
        super::node::device::decode_dev(&data, self.endian).ok_or_else(|| {
            format!(
                "device inode {ino} holds {} bytes of device number, expected 2 or 4",
                data.len()
            )
        })
    }
}
