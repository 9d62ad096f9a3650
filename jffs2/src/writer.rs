//! Writes an image: collect the tree, then one pass emits nodes in inode order into the
//! block filler. File pages are compressed in parallel in bounded batches, then laid out
//! in their fixed order, so the bytes never depend on thread timing and memory does not
//! grow with the image.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};

use rayon::prelude::*;

use crate::compress::code;
use crate::error::{Error, Result};
use crate::layout::{BlockFiller, Filled, Geometry};
use crate::node::cleanmarker::CLEANMARKER_SIZE;
use crate::node::device::encode_dev;
use crate::node::dirent::{RawDirent, DIRENT_SIZE};
use crate::node::inode::{RawInode, INODE_SIZE};
use crate::node::summary::Record;
use crate::node::xattr::{RawXattr, RawXref, XSEQNO_STEP};
use crate::node::NODE_ALIGN;
use crate::options::Options;
use crate::progress::Progress;
use crate::report::{write_reserve_blocks, Report};
use crate::tree::{Inode, Kind, Source, Tree, Xattr};
pub use crate::{MAX_IMAGE_BYTES, MIN_BLOCKS};

/// Raw file bytes read and compressed per batch.
const BATCH_BYTES: usize = 8 << 20;

/// Checks the options that do not depend on the tree; returns the block limit.
fn check_geometry(opts: &Options) -> Result<u64> {
    let erase = opts.erase_size as u64;
    if erase < 2 * opts.page_size as u64 || !erase.is_power_of_two() {
        return Err(Error::EraseSizeVsPage {
            erase_size: opts.erase_size,
            page_size: opts.page_size,
        });
    }
    if let Some(cm) = opts.cleanmarker {
        if cm < CLEANMARKER_SIZE
            || !(cm as usize).is_multiple_of(NODE_ALIGN)
            || cm as u64 >= erase / 2
        {
            return Err(Error::CleanmarkerSize {
                size: cm,
                erase_size: opts.erase_size,
            });
        }
    }
    let max_blocks = (MAX_IMAGE_BYTES - 1) / erase;
    match opts.pad_to {
        None => Ok(max_blocks),
        Some(pad) => {
            let erase_size = opts.erase_size;
            if pad % erase != 0 {
                return Err(Error::PadNotWholeBlocks { pad, erase_size });
            }
            if pad >= MAX_IMAGE_BYTES {
                return Err(Error::PadTooLarge { pad });
            }
            if pad / erase < MIN_BLOCKS {
                return Err(Error::PadTooFewBlocks { pad, erase_size });
            }
            Ok(pad / erase)
        }
    }
}

/// Writes the image of an already collected tree to `out`.
pub fn write_tree<W: Write>(tree: &Tree, out: W, opts: &Options) -> Result<Report> {
    let max_blocks = check_geometry(opts)?;
    let geo = Geometry {
        erase_size: opts.erase_size,
        endian: opts.endian,
        cleanmarker: opts.cleanmarker,
        summary: opts.summary,
        max_blocks,
    };
    let mut e = Emitter {
        opts,
        filler: BlockFiller::new(out, geo),
        batch: Vec::new(),
        batch_bytes: 0,
        stats: Report::default(),
        progress: Progress::new(opts.progress, tree.data_bytes()),
        xids: HashMap::new(),
        xseqno: 0,
    };
    for inode in &tree.inodes {
        e.inode(tree, inode)?;
    }
    e.flush()?;
    e.progress.done();
    let total = opts.pad_to.map_or(0, |p| p / opts.erase_size as u64);
    let (_, filled) = e.filler.finish(total, opts.empty_blocks)?;
    let mut r = e.stats;
    finish_report(&mut r, filled, opts, tree)?;
    Ok(r)
}

fn finish_report(r: &mut Report, f: Filled, opts: &Options, tree: &Tree) -> Result<()> {
    let erase = opts.erase_size as u64;
    if let Some(pad) = opts.pad_to {
        if f.blocks_used > pad / erase {
            return Err(Error::TreeExceedsPad {
                blocks_needed: f.blocks_used,
                erase_size: opts.erase_size,
                pad,
            });
        }
    } else if f.blocks_used * erase >= MAX_IMAGE_BYTES {
        return Err(Error::ImageTooLarge {
            blocks: f.blocks_used,
        });
    }
    if f.blocks_written < MIN_BLOCKS {
        return Err(Error::TooFewBlocks {
            blocks: f.blocks_written,
            erase_size: opts.erase_size,
        });
    }
    r.erase_size = opts.erase_size;
    r.blocks_total = f.blocks_written;
    r.blocks_used = f.blocks_used;
    r.blocks_free = f.blocks_written - f.blocks_used;
    r.reserve_blocks = write_reserve_blocks(f.blocks_written, opts.erase_size);
    r.image_bytes = f.blocks_written * erase;
    r.inodes = tree.inodes.len() as u64;
    r.nodes = f.nodes;
    r.summary_bytes = f.summary_bytes;
    Ok(())
}

/// A node waiting in the batch: encoded, or a page to compress first.
enum Pending {
    Encoded(Vec<u8>, Record),
    Page(RawInode, Vec<u8>),
}

struct Emitter<'a, W: Write> {
    opts: &'a Options,
    filler: BlockFiller<W>,
    batch: Vec<Pending>,
    batch_bytes: usize,
    stats: Report,
    progress: Progress,
    /// Each distinct xattr datum gets one XATTR node, shared by every inode that has it.
    xids: HashMap<Xattr, u32>,
    /// Sequence number of the last XREF written.
    xseqno: u32,
}

fn inode_record(ri: &RawInode, totlen: usize) -> Record {
    Record::Inode {
        ino: ri.ino,
        version: ri.version,
        offset: 0,
        totlen: totlen as u32,
    }
}

impl<W: Write> Emitter<'_, W> {
    fn push_inode(&mut self, ri: RawInode, data: &[u8]) {
        let mut node = Vec::with_capacity(INODE_SIZE + data.len());
        ri.encode(data, self.opts.endian, &mut node);
        let rec = inode_record(&ri, node.len());
        self.batch.push(Pending::Encoded(node, rec));
    }

    fn inode(&mut self, tree: &Tree, inode: &Inode) -> Result<()> {
        let base = RawInode {
            ino: inode.ino,
            version: 1,
            mode: inode.mode,
            uid: inode.uid,
            gid: inode.gid,
            atime: inode.atime,
            mtime: inode.mtime,
            ctime: inode.ctime,
            ..RawInode::default()
        };
        match &inode.kind {
            Kind::Dir { children } => {
                self.push_inode(base, &[]);
                for (i, child) in children.iter().enumerate() {
                    let target = tree.get(child.ino);
                    let d = RawDirent {
                        pino: inode.ino,
                        // The directory's inode node is version 1; its dirents follow.
                        version: 2 + i as u32,
                        ino: child.ino,
                        // The kernel takes a directory's mtime from its newest dirent
                        // (readinode.c), so this is the directory's time, not the child's.
                        mctime: inode.mtime,
                        dtype: target.dtype(),
                        name: child.name.clone(),
                    };
                    let mut node = Vec::with_capacity(DIRENT_SIZE + d.name.len());
                    d.encode(self.opts.endian, &mut node);
                    let rec = Record::Dirent {
                        totlen: node.len() as u32,
                        offset: 0,
                        pino: d.pino,
                        version: d.version,
                        ino: d.ino,
                        dtype: d.dtype,
                        name: d.name,
                    };
                    self.batch.push(Pending::Encoded(node, rec));
                }
            }
            Kind::Symlink { target } => {
                let len = target.len() as u32;
                self.push_inode(
                    RawInode {
                        isize: len,
                        dsize: len,
                        ..base
                    },
                    target,
                );
            }
            Kind::Device { major, minor } => {
                let data = encode_dev(*major, *minor, self.opts.endian);
                self.push_inode(
                    RawInode {
                        dsize: data.len() as u32,
                        ..base
                    },
                    &data,
                );
            }
            Kind::Fifo | Kind::Socket => self.push_inode(base, &[]),
            Kind::File { source, size } => self.file(base, source, *size)?,
        }
        self.xattrs(inode);
        if self.batch_bytes >= BATCH_BYTES || self.batch.len() >= BATCH_BYTES / 64 {
            self.flush()?;
        }
        Ok(())
    }

    /// Queues the XATTR nodes of datums not yet written, and one XREF per attribute.
    fn xattrs(&mut self, inode: &Inode) {
        let endian = self.opts.endian;
        for x in &inode.xattrs {
            let xid = match self.xids.get(x) {
                Some(&xid) => xid,
                None => {
                    let xid = self.xids.len() as u32 + 1;
                    self.xids.insert(x.clone(), xid);
                    let raw = RawXattr {
                        xid,
                        version: 1,
                        xprefix: x.0,
                        name: x.1.clone(),
                        value: x.2.clone(),
                    };
                    let mut node = Vec::with_capacity(raw.totlen());
                    raw.encode(endian, &mut node);
                    let rec = Record::Xattr {
                        xid,
                        version: 1,
                        offset: 0,
                        totlen: node.len() as u32,
                    };
                    self.batch.push(Pending::Encoded(node, rec));
                    xid
                }
            };
            self.xseqno += XSEQNO_STEP;
            let mut node = Vec::new();
            RawXref {
                ino: inode.ino,
                xid,
                xseqno: self.xseqno,
            }
            .encode(endian, &mut node);
            self.batch
                .push(Pending::Encoded(node, Record::Xref { offset: 0 }));
        }
    }

    /// Queues a regular file's nodes: one per page of data, one ZERO node per run of
    /// all-zero pages, a single empty node for an empty file.
    fn file(&mut self, base: RawInode, source: &Source, size: u64) -> Result<()> {
        let isize = size as u32;
        let base = RawInode { isize, ..base };
        if size == 0 {
            self.push_inode(base, &[]);
            return Ok(());
        }
        let path = match source {
            Source::Path(p) => p.clone(),
            Source::Bytes(_) => "(pushed file)".into(),
        };
        let mut f: Box<dyn Read + '_> = match source {
            Source::Path(p) => Box::new(File::open(p).map_err(|e| Error::io(p, "cannot open", e))?),
            Source::Bytes(b) => Box::new(&b[..]),
        };
        let page = self.opts.page_size as usize;
        let mut version = 1;
        let mut hole: Option<(u32, u32)> = None; // (offset, length)
        let mut offset: u64 = 0;
        while offset < size {
            let want = page.min((size - offset) as usize);
            let mut buf = vec![0u8; want];
            f.read_exact(&mut buf).map_err(|e| {
                Error::io(
                    &path,
                    "cannot read all bytes (did it shrink while being read?) of",
                    e,
                )
            })?;
            if buf.iter().all(|&b| b == 0) {
                let h = hole.get_or_insert((offset as u32, 0));
                h.1 += want as u32;
            } else {
                if let Some((hofs, hlen)) = hole.take() {
                    self.hole(base.clone(), &mut version, hofs, hlen);
                }
                self.batch_bytes += want;
                self.batch.push(Pending::Page(
                    RawInode {
                        version,
                        offset: offset as u32,
                        dsize: want as u32,
                        ..base.clone()
                    },
                    buf,
                ));
                version += 1;
                if self.batch_bytes >= BATCH_BYTES {
                    self.flush()?;
                }
            }
            offset += want as u64;
        }
        if let Some((hofs, hlen)) = hole {
            self.hole(base, &mut version, hofs, hlen);
        }
        let mut probe = [0u8; 1];
        let more = f
            .read(&mut probe)
            .map_err(|e| Error::io(&path, "cannot read", e))?;
        if more != 0 {
            return Err(Error::Source {
                path,
                problem: "the file grew while being read".into(),
            });
        }
        Ok(())
    }

    fn hole(&mut self, base: RawInode, version: &mut u32, offset: u32, len: u32) {
        self.stats.hole_bytes += len as u64;
        self.push_inode(
            RawInode {
                version: *version,
                offset,
                dsize: len,
                compr: code::ZERO,
                ..base
            },
            &[],
        );
        *version += 1;
    }

    /// Compresses the batch's pages on all cores, then lays everything out in order.
    fn flush(&mut self) -> Result<()> {
        let endian = self.opts.endian;
        let compression = &self.opts.compression;
        let encoded: Vec<(Vec<u8>, Record, u64, u64)> = std::mem::take(&mut self.batch)
            .into_par_iter()
            .map(|p| match p {
                Pending::Encoded(node, rec) => (node, rec, 0, 0),
                Pending::Page(ri, page) => {
                    let (compr, stored) = compression.compress_page(&page);
                    let ri = RawInode { compr, ..ri };
                    let mut node = Vec::with_capacity(INODE_SIZE + stored.len());
                    ri.encode(&stored, endian, &mut node);
                    let rec = inode_record(&ri, node.len());
                    (node, rec, page.len() as u64, stored.len() as u64)
                }
            })
            .collect();
        for (node, rec, raw, stored) in encoded {
            self.filler.add(&node, Some(rec))?;
            self.stats.data_bytes += raw;
            self.stats.stored_bytes += stored;
            self.progress.advance(raw);
        }
        self.batch_bytes = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_errors_name_the_parameter() {
        let o = Options {
            pad_to: Some(4 * 65536),
            ..Options::default()
        };
        let e = check_geometry(&o).unwrap_err().to_string();
        assert_eq!(
            e,
            "image size 262144 gives 4 erase blocks of 65536 bytes; the kernel needs at least 5"
        );
        let o = Options {
            pad_to: Some(100_000),
            ..Options::default()
        };
        assert!(check_geometry(&o)
            .unwrap_err()
            .to_string()
            .contains("not a multiple"));
        let o = Options {
            pad_to: Some(1 << 32),
            ..Options::default()
        };
        assert!(check_geometry(&o)
            .unwrap_err()
            .to_string()
            .contains("4 GiB"));
    }
}
