//! Where a container's bytes lie on the card's partition, so that the agent writes them
//! there rather than through the FAT file. A write through the file sets the file's
//! modification time, and then every sync(2) anywhere in the box rewrites the directory
//! sector holding the file's entry (FAT keeps times in it): the card's hottest sector in
//! the wear maps of issue #11. FAT allocates a file's clusters once and never moves them,
//! so the kernel's map of the file (FIBMAP, what swap files and syslinux's installer use)
//! stays true while the agent runs.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;

use crate::{blkid, fatchain, sys};

/// Why a file's bytes cannot be written on the card's partition directly, so the agent
/// keeps to the file's own path. `device` names the partition ("block device 8:1").
#[derive(Debug)]
pub enum PlacementError {
    /// The file's metadata could not be read.
    Stat(io::Error),
    /// FIGETBSZ failed: the filesystem gives no block size.
    NoBlockSize(Errno),
    /// The filesystem's blocks are not 512-byte sectors.
    BlockSize { bytes: u32 },
    /// The partition could not be opened for direct writes.
    Open { device: String, source: io::Error },
    /// The partition's boot sector could not be read.
    BootSector { device: String, source: io::Error },
    /// The partition does not start with a FAT boot sector.
    NotFat { device: String },
    /// The file could not be mapped on the partition (a hole, FIBMAP, or the FAT and the
    /// kernel disagree).
    Map { device: String, source: io::Error },
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stat(e) => write!(f, "stat: {e}"),
            Self::NoBlockSize(e) => write!(
                f,
                "the card's filesystem gives no block size (FIGETBSZ: {e})"
            ),
            Self::BlockSize { bytes } => write!(
                f,
                "the card's filesystem has {bytes}-byte blocks; the agent writes 512-byte sectors"
            ),
            Self::Open { device, source } => write!(
                f,
                "the card's partition ({device}) cannot be opened for direct writes: {source}"
            ),
            Self::BootSector { device, source } => {
                write!(f, "reading the boot sector of {device}: {source}")
            }
            Self::NotFat { device } => {
                write!(f, "{device} does not start with a FAT boot sector")
            }
            Self::Map { device, source } => write!(f, "mapping the file on {device}: {source}"),
        }
    }
}

impl std::error::Error for PlacementError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Stat(e)
            | Self::Open { source: e, .. }
            | Self::BootSector { source: e, .. }
            | Self::Map { source: e, .. } => Some(e),
            Self::NoBlockSize(e) => Some(e),
            Self::BlockSize { .. } | Self::NotFat { .. } => None,
        }
    }
}

/// A run of the file that is contiguous on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Extent {
    file: u64,
    device: u64,
    len: u64,
}

/// The file's bytes as runs on its device, in file order, covering it whole.
#[derive(Debug)]
pub struct Placement {
    extents: Vec<Extent>,
}

/// One piece of a request: `len` bytes at `device` on the device, `at` bytes into the
/// request's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub device: u64,
    pub at: usize,
    pub len: usize,
}

impl Placement {
    /// Maps a file of `size` bytes that is contiguous within each `step` bytes (a FAT
    /// cluster); `device_offset(o)` is the device offset of file offset `o`, asked once
    /// per step.
    pub fn map(
        size: u64,
        step: u64,
        mut device_offset: impl FnMut(u64) -> io::Result<u64>,
    ) -> io::Result<Self> {
        if step == 0 {
            return Err(io::Error::other("a step of 0 bytes"));
        }
        let mut extents: Vec<Extent> = Vec::new();
        let mut file = 0;
        while file < size {
            let len = step.min(size - file);
            let device = device_offset(file)?;
            match extents.last_mut() {
                Some(last) if last.device + last.len == device => last.len += len,
                _ => extents.push(Extent { file, device, len }),
            }
            file += len;
        }
        Ok(Self { extents })
    }

    /// How many runs the file is in on the device.
    pub fn runs(&self) -> usize {
        self.extents.len()
    }

    /// The device pieces of the `len` bytes at file offset `offset`, in order.
    pub fn pieces(&self, offset: u64, len: usize) -> io::Result<Vec<Piece>> {
        let end = offset + len as u64;
        let mut pieces = Vec::new();
        // The first run that ends after `offset`.
        let first = self.extents.partition_point(|e| e.file + e.len <= offset);
        let mut at = offset;
        for e in &self.extents[first..] {
            if at >= end {
                break;
            }
            let take = (e.file + e.len).min(end) - at;
            pieces.push(Piece {
                device: e.device + (at - e.file),
                at: (at - offset) as usize,
                len: take as usize,
            });
            at += take;
        }
        if at < end {
            return Err(io::Error::other(format!(
                "bytes {at}..{end} lie beyond the mapped file"
            )));
        }
        Ok(pieces)
    }
}

/// How many clusters of a chain read from the FAT are checked against the kernel's map.
const CHECKED_CLUSTERS: usize = 256;

/// Finds where `file` (a container or journal on the card) lies on the card's partition
/// and opens that partition for direct I/O through a private node in `nodes`. The error
/// says why the file's own path must be used instead.
pub fn locate(file: &File, nodes: &str) -> Result<(File, Placement), PlacementError> {
    let meta = file.metadata().map_err(PlacementError::Stat)?;
    let (size, rdev) = (meta.size(), meta.dev());
    let name = format!(
        "block device {}:{}",
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev)
    );
    let block = sys::fibmap::block_size(file).map_err(PlacementError::NoBlockSize)?;
    if block != blkid::SECTOR as u32 {
        return Err(PlacementError::BlockSize { bytes: block });
    }
    // The kernel's map, in bytes: FIBMAP counts filesystem blocks.
    let kernel_offset = |offset: u64| -> io::Result<u64> {
        let index = u32::try_from(offset / u64::from(block))
            .map_err(|_| io::Error::other("a block number beyond FIBMAP's range"))?;
        match sys::fibmap::device_block(file, index) {
            Ok(Some(b)) => Ok(u64::from(b) * u64::from(block)),
            Ok(None) => Err(io::Error::other(format!(
                "byte {offset} has no block (a hole)"
            ))),
            Err(e) => Err(io::Error::other(format!("FIBMAP of block {index}: {e}"))),
        }
    };
    let device =
        sys::node::open_private_block(rdev, nodes, nix::libc::O_DIRECT).map_err(|source| {
            PlacementError::Open {
                device: name.clone(),
                source,
            }
        })?;
    let mut buf = super::card::AlignedBuf::new();
    let boot = buf
        .read_at(&device, 0, blkid::SECTOR)
        .map_err(|source| PlacementError::BootSector {
            device: name.clone(),
            source,
        })?
        .to_vec();
    let placement = match fatchain::Layout::parse(&boot) {
        Some(layout) => from_the_fat(&layout, size, &device, &mut buf, &kernel_offset),
        // FAT12: at most 4084 clusters, few enough to ask the kernel for each.
        None => {
            let cluster =
                blkid::fat_cluster_bytes(&boot).ok_or_else(|| PlacementError::NotFat {
                    device: name.clone(),
                })?;
            Placement::map(size, u64::from(cluster), kernel_offset)
        }
    }
    .map_err(|source| PlacementError::Map {
        device: name,
        source,
    })?;
    Ok((device, placement))
}

/// The file's placement from its cluster chain in the FAT (the kernel names its first
/// cluster), checked against the kernel's map at [`CHECKED_CLUSTERS`] clusters spread
/// over the file and at its last.
fn from_the_fat(
    layout: &fatchain::Layout,
    size: u64,
    device: &File,
    buf: &mut super::card::AlignedBuf,
    kernel_offset: &dyn Fn(u64) -> io::Result<u64>,
) -> io::Result<Placement> {
    let step = layout.cluster_bytes;
    let first_offset = kernel_offset(0)?;
    let first = layout.cluster_at(first_offset).ok_or_else(|| {
        io::Error::other(format!(
            "the file starts at {first_offset}, not at a cluster"
        ))
    })?;
    let count = size.div_ceil(step) as usize;
    let chain = layout.chain(first, count, |at, out| {
        out.copy_from_slice(buf.read_at(device, at, out.len())?);
        Ok(())
    })?;
    let stride = (count / CHECKED_CLUSTERS).max(1);
    for i in (0..count).step_by(stride).chain([count - 1]) {
        let (ours, kernels) = (layout.offset_of(chain[i]), kernel_offset(i as u64 * step)?);
        if ours != kernels {
            return Err(io::Error::other(format!(
                "cluster {i} of the file: the FAT says offset {ours}, the kernel {kernels}"
            )));
        }
    }
    Placement::map(size, step, |offset| {
        Ok(layout.offset_of(chain[(offset / step) as usize]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_clusters_make_one_run_and_a_jump_starts_another() {
        // Clusters of 512 bytes: 0..3 at 10_000.., 4..5 elsewhere, 6 back after 3.
        let at = [10_000, 10_512, 11_024, 11_536, 50_000, 50_512, 12_048];
        let p = Placement::map(7 * 512, 512, |o| Ok(at[(o / 512) as usize])).unwrap();
        assert_eq!(p.runs(), 3);
        assert_eq!(
            p.pieces(0, 2048).unwrap(),
            vec![Piece {
                device: 10_000,
                at: 0,
                len: 2048
            }]
        );
        // A request across both jumps is cut at each.
        assert_eq!(
            p.pieces(1536, 2048).unwrap(),
            vec![
                Piece {
                    device: 11_536,
                    at: 0,
                    len: 512
                },
                Piece {
                    device: 50_000,
                    at: 512,
                    len: 1024
                },
                Piece {
                    device: 12_048,
                    at: 1536,
                    len: 512
                },
            ]
        );
        assert!(p.pieces(3072, 1024).is_err(), "past the end of the file");
    }

    #[test]
    fn a_short_last_cluster_and_an_unmapped_one() {
        let p = Placement::map(4096 + 512, 4096, |o| Ok(o * 2)).unwrap();
        assert_eq!(
            p.pieces(4096, 512).unwrap(),
            vec![Piece {
                device: 8192,
                at: 0,
                len: 512
            }]
        );
        let hole = Placement::map(8192, 4096, |o| {
            if o == 0 {
                Ok(0)
            } else {
                Err(io::Error::other("a hole"))
            }
        });
        assert!(hole.is_err());
    }
}
