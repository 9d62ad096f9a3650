//! Reads ahead, for the JFFS2 mount that follows, what the kernel's scan will read of
//! every erase block ([`flashroot_jffs2::mountscan`] says what that is).
//!
//! The scan reads through block2mtd, which reads the block device's page cache one page at
//! a time and waits for each. Through the card agent every such read is a round trip
//! between the kernel and the agent, a millisecond or more under QEMU TCG, and the scan
//! makes two per block and one per page of a block it reads whole: an empty overlay of 128
//! blocks spent about 0.3 s on them. Asked for all at once with `POSIX_FADV_WILLNEED` on
//! the device under block2mtd, the same pages go out as one stream of requests (the last
//! page of one block and the first of the next are one 8 KiB read; a block read whole is
//! one request) that the agent answers back to back; the scan then finds them in the page
//! cache. Only time is at stake: whatever is not read ahead, the kernel reads itself.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use flashroot_jffs2::mountscan::{more_reads, MoreReads};
use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};

use crate::jffs2check::NATIVE;

/// The page cache's unit, and what block2mtd reads at a time.
const PAGE: u64 = 4096;
/// The kernel reads ahead at most a device's read-ahead window per request
/// (`force_page_cache_ra`: 128 KiB for nbd and loop devices); longer ranges are asked
/// for in pieces of this size.
const MAX_ASK: u64 = 128 << 10;

/// What was read ahead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadAhead {
    /// Requests made: ranges of the device asked for (at most [`MAX_ASK`] each).
    pub requests: u64,
    /// Erase blocks the scan reads more of than their first and last pages.
    pub more: u64,
    /// Bytes asked for.
    pub bytes: u64,
    /// Until every range asked for was in the page cache.
    pub elapsed: Duration,
}

/// Reads ahead what the scan reads of the `erase_size` blocks of the `bytes`-long block
/// device `dev`, and returns when it is in the page cache.
pub fn for_jffs2_scan(dev: &str, erase_size: u32, bytes: u64) -> io::Result<ReadAhead> {
    let start = Instant::now();
    let file = File::open(dev)?;
    let erase = u64::from(erase_size);
    let mut done = ReadAhead::default();
    let mut ask = |at: u64, len: u64| -> io::Result<()> {
        let mut piece = at;
        while piece < at + len {
            let n = MAX_ASK.min(at + len - piece);
            posix_fadvise(
                file.as_raw_fd(),
                piece as i64,
                n as i64,
                PosixFadviseAdvice::POSIX_FADV_WILLNEED,
            )?;
            done.requests += 1;
            piece += n;
        }
        done.bytes += len;
        Ok(())
    };
    // First the pages the scan reads of every block, all asked for at once.
    for (at, len) in boundary_ranges(erase, bytes) {
        ask(at, len)?;
    }
    // Then, as each block's pages arrive (in the order asked), what else the scan reads.
    let (mut first, mut last) = (vec![0u8; PAGE as usize], vec![0u8; PAGE as usize]);
    let mut more = Vec::new();
    for block in 0..whole_blocks(erase, bytes) {
        let at = block * erase;
        file.read_exact_at(&mut first, at)?;
        file.read_exact_at(&mut last, at + erase - PAGE)?;
        let extra = match more_reads(&first, &last, erase_size, NATIVE) {
            MoreReads::Nothing => None,
            MoreReads::Summary { start, len } => Some((at + u64::from(start), u64::from(len))),
            MoreReads::WholeBlock => Some((at, erase)),
        };
        if let Some((at, len)) = extra {
            ask(at, len)?;
            more.push((at, len));
        }
    }
    // Reading them back waits for each page still on its way.
    let mut buf = Vec::new();
    for &(at, len) in &more {
        buf.resize(len as usize, 0);
        file.read_exact_at(&mut buf, at)?;
    }
    done.more = more.len() as u64;
    done.elapsed = start.elapsed();
    Ok(done)
}

/// The whole `erase` blocks of a device of `bytes`; none when a block is smaller than the
/// two pages the scan reads of it.
fn whole_blocks(erase: u64, bytes: u64) -> u64 {
    if erase < 2 * PAGE {
        0
    } else {
        bytes / erase
    }
}

/// The ranges around each block boundary of a device of `bytes` in `erase` blocks: the
/// last page before it and the first page after it, clipped to the whole blocks.
fn boundary_ranges(erase: u64, bytes: u64) -> impl Iterator<Item = (u64, u64)> {
    let blocks = whole_blocks(erase, bytes);
    (0..=blocks).filter_map(move |k| {
        let boundary = k * erase;
        let start = boundary.saturating_sub(PAGE);
        let end = (boundary + PAGE).min(blocks * erase);
        (end > start).then_some((start, end - start))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_block_gets_its_first_and_last_page() {
        let r: Vec<_> = boundary_ranges(64 << 10, 3 * (64 << 10)).collect();
        assert_eq!(
            r,
            [
                (0, 4096),
                (60 << 10, 8192),
                (124 << 10, 8192),
                (188 << 10, 4096)
            ]
        );
    }

    #[test]
    fn a_partial_last_block_is_left_out_and_nothing_is_asked_of_no_blocks() {
        let r: Vec<_> = boundary_ranges(8192, 8192 + 100).collect();
        assert_eq!(r, [(0, 4096), (4096, 4096)]);
        assert_eq!(boundary_ranges(0, 1 << 20).count(), 0);
        assert_eq!(boundary_ranges(4096, 1 << 20).count(), 0);
        assert_eq!(boundary_ranges(8192, 100).count(), 0);
    }

    /// A file standing in for the device: three `erase` blocks, the middle one with a node
    /// and no summary (read whole), the others cleanmarker-only.
    fn read_ahead_of_three_blocks(erase: u64) -> ReadAhead {
        use flashroot_jffs2::node::cleanmarker;
        let mut img = Vec::new();
        for block in 0..3 {
            let start = img.len();
            cleanmarker::encode(&mut img, NATIVE, cleanmarker::CLEANMARKER_SIZE);
            if block == 1 {
                img.extend_from_slice(&[0x85, 0x19, 0x01, 0xE0, 0x44, 0, 0, 0]);
            }
            img.resize(start + erase as usize, 0xFF);
        }
        let dir = std::env::temp_dir().join(format!("scanahead-{}-{erase}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dev");
        std::fs::write(&path, &img).unwrap();
        let r = for_jffs2_scan(path.to_str().unwrap(), erase as u32, img.len() as u64).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        r
    }

    #[test]
    fn what_the_scan_reads_is_asked_for() {
        // Four boundary ranges, then the middle block whole.
        let r = read_ahead_of_three_blocks(16 << 10);
        assert_eq!((r.requests, r.more, r.bytes), (5, 1, 6 * PAGE + (16 << 10)));
        // A block larger than the kernel's read-ahead window is asked for in pieces.
        let r = read_ahead_of_three_blocks(512 << 10);
        assert_eq!(
            (r.requests, r.more, r.bytes),
            (8, 1, 6 * PAGE + (512 << 10))
        );
    }
}
