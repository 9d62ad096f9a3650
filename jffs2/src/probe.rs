//! What an image is, from its first bytes: JFFS2 or not, which byte order, which erase
//! block size. One rule for everybody: the reader's scan of a whole image and the init's
//! look at a container's head before block2mtd gets it use these functions, so
//! `flashroot jffs2 check` and the boot cannot disagree about an image.
//!
//! ```
//! use flashroot_jffs2::probe::{check_container, detect_erase_size, prefix_len};
//! use flashroot_jffs2::{node::cleanmarker, Endian, Error};
//!
//! // Five 16 KiB blocks, each with a cleanmarker: what mkfs.jffs2 pads with.
//! let mut img = Vec::new();
//! for _ in 0..5 {
//!     let start = img.len();
//!     cleanmarker::encode(&mut img, Endian::Little, cleanmarker::CLEANMARKER_SIZE);
//!     img.resize(start + (16 << 10), 0xFF);
//! }
//! assert_eq!(detect_erase_size(&img, Endian::Little), Some(16 << 10));
//! let head = &img[..prefix_len(16 << 10, img.len() as u64)];
//! check_container(head, img.len() as u64, 16 << 10, Endian::Little).unwrap();
//! let e = check_container(head, img.len() as u64, 64 << 10, Endian::Little).unwrap_err();
//! assert!(matches!(e, Error::EraseSizeMismatch { configured: 65536, found: 16384 }));
//! ```

use crate::crc::crc32;
use crate::endian::Endian;
use crate::error::{Error, Result};
use crate::node::header::HEADER_CRC_COVERS;
use crate::node::{nodetype, summary, Header, HEADER_SIZE, MAGIC, NODE_ALIGN};

/// The smallest erase size detected (the smallest NOR sector mkfs.jffs2 accepts).
pub const MIN_DETECT_ERASE: u32 = 4 << 10;
/// The largest erase size detected.
pub const MAX_DETECT_ERASE: u32 = 64 << 20;
/// How much of a container [`check_container`] wants at least: see [`prefix_len`].
pub const MIN_PREFIX: usize = 256 << 10;

/// What the first bytes of an image say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Byte order.
    pub endian: Endian,
    /// Offset of the first node (the first bytes that are not 0xFF).
    pub first_node: u64,
    /// The erase size found by [`detect_erase_size`]; None when nothing in the bytes tells.
    pub erase_size: Option<u32>,
}

/// Identifies an image from `bytes` (its head or all of it). `Ok(None)`: every byte is
/// 0xFF, an erased image that the kernel mounts as an empty file system.
pub fn identify(bytes: &[u8]) -> Result<Option<Identity>> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    let Some(first) = (0..bytes.len() / NODE_ALIGN)
        .map(|i| i * NODE_ALIGN)
        .find(|&at| bytes[at..at + NODE_ALIGN] != [0xFF; NODE_ALIGN])
    else {
        return Ok(None);
    };
    let endian = [Endian::Little, Endian::Big]
        .into_iter()
        .find(|e| e.u16_at(bytes, first) == Some(MAGIC))
        .ok_or(Error::NotJffs2 {
            offset: first as u64,
            found: Endian::Little.u16_at(bytes, first),
        })?;
    Ok(Some(Identity {
        endian,
        first_node: first as u64,
        erase_size: detect_erase_size(bytes, endian),
    }))
}

/// The erase size an image was made for, from what writers leave at block edges: the
/// smallest power of two `e` (from [`MIN_DETECT_ERASE`] to [`MAX_DETECT_ERASE`]) such that
/// bytes `0..e` end with a valid erase block summary (its node CRCs checked), or a
/// cleanmarker with a good header CRC starts at `e`. For a smaller `e` both places lie
/// inside block 0's nodes or free space; a larger one skips the true edge. None when
/// nothing tells (no summaries, no cleanmarkers, or `bytes` too short to show an edge).
pub fn detect_erase_size(bytes: &[u8], endian: Endian) -> Option<u32> {
    std::iter::successors(Some(MIN_DETECT_ERASE), |e| e.checked_mul(2))
        .take_while(|&e| e <= MAX_DETECT_ERASE && e as usize <= bytes.len())
        .find(|&e| block_edge_at(bytes, e as usize, endian))
}

/// Does an erase block end at `end`?
fn block_edge_at(bytes: &[u8], end: usize, endian: Endian) -> bool {
    let cleanmarker_next = bytes.get(end..).and_then(|b| Header::parse(b, endian));
    if cleanmarker_next.is_some_and(|h| h.crc_ok && h.nodetype == nodetype::CLEANMARKER) {
        return true;
    }
    matches!(summary::parse(&bytes[..end], endian), Ok(Some(_)))
}

/// How many leading bytes of a container [`check_container`] should get for a
/// configured `erase_size`: two blocks and a header (so that the edge of a block twice as
/// large can show), at least [`MIN_PREFIX`], at most the file.
pub fn prefix_len(erase_size: u32, file_len: u64) -> usize {
    let want = (2 * erase_size as usize + HEADER_SIZE).max(MIN_PREFIX) as u64;
    want.min(file_len) as usize
}

/// The check before a container is handed to block2mtd with `erase_size` on a kernel
/// that reads `endian`: given its first bytes ([`prefix_len`] of them) and its length.
/// The first node must have a good header CRC, the byte order must be `endian`, an erase
/// size found in the bytes must be `erase_size`, and the length a multiple of it. An
/// erased (all 0xFF) head passes: the kernel formats it. Returns what was found.
pub fn check_container(
    prefix: &[u8],
    file_len: u64,
    erase_size: u32,
    endian: Endian,
) -> Result<Option<Identity>> {
    if file_len == 0 {
        return Err(Error::Empty);
    }
    let id = identify(prefix)?;
    if let Some(id) = id {
        let at = id.first_node as usize;
        let header = &prefix[at..];
        if header.len() >= HEADER_SIZE
            && !Header::parse(header, id.endian).is_some_and(|h| h.crc_ok)
        {
            return Err(Error::HeaderCrc {
                offset: id.first_node,
                expected: crc32(&header[..HEADER_CRC_COVERS]),
                found: id.endian.u32_at(header, HEADER_CRC_COVERS).unwrap_or(0),
            });
        }
        if id.endian != endian {
            return Err(Error::ByteOrder {
                found: id.endian,
                wanted: endian,
            });
        }
        if let Some(found) = id.erase_size.filter(|&f| f != erase_size) {
            return Err(Error::EraseSizeMismatch {
                configured: erase_size,
                found,
            });
        }
    }
    if erase_size == 0 || !file_len.is_multiple_of(u64::from(erase_size)) {
        return Err(Error::NotWholeBlocks {
            len: file_len,
            erase_size,
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::cleanmarker;

    const KIB: u32 = 1024;

    /// `blocks` erase blocks of `erase` bytes, each with an optional cleanmarker, an
    /// inode-ish node header, and optionally a real (empty) summary at its end.
    fn image(erase: u32, blocks: usize, summary: bool, cleanmarkers: bool) -> Vec<u8> {
        let mut img = Vec::new();
        for _ in 0..blocks {
            let mut b = Vec::new();
            if cleanmarkers {
                cleanmarker::encode(&mut b, Endian::Little, 12);
            }
            crate::node::header::encode(&mut b, Endian::Little, nodetype::PADDING, 12);
            let at = b.len() as u32;
            if summary {
                let info = summary::SummaryInfo {
                    sum_num: 0,
                    cln_mkr: if cleanmarkers { 12 } else { 0 },
                    padded: 0,
                };
                summary::encode(&mut b, Endian::Little, info, &[], at, erase);
            }
            b.resize(erase as usize, 0xFF);
            img.extend_from_slice(&b);
        }
        img
    }

    fn run(img: &[u8], erase: u32) -> Result<Option<Identity>> {
        check_container(
            &img[..prefix_len(erase, img.len() as u64)],
            img.len() as u64,
            erase,
            Endian::Little,
        )
    }

    #[test]
    fn accepts_matching_images_of_every_geometry() {
        for erase in [4 * KIB, 8 * KIB, 16 * KIB, 64 * KIB, 128 * KIB, 256 * KIB] {
            for (summary, cleanmarkers) in [(true, true), (true, false), (false, true)] {
                let img = image(erase, 5, summary, cleanmarkers);
                let what = format!("erase {erase} summary {summary} cleanmarkers {cleanmarkers}");
                assert_eq!(
                    run(&img, erase).expect(&what).unwrap().erase_size,
                    Some(erase),
                    "{what}"
                );
            }
        }
    }

    #[test]
    fn names_both_sizes_on_mismatch() {
        for (made, configured) in [
            (64 * KIB, 128 * KIB),
            (128 * KIB, 64 * KIB),
            (256 * KIB, 8 * KIB),
        ] {
            let img = image(made, 8, true, true);
            assert_eq!(
                run(&img, configured).unwrap_err().to_string(),
                format!(
                    "erase size mismatch: configured {}, but the image was made with {} erase blocks",
                    format_size(configured),
                    format_size(made)
                )
            );
        }
    }

    fn format_size(b: u32) -> String {
        crate::error::format_size(b.into())
    }

    #[test]
    fn refuses_what_is_not_jffs2() {
        let mut img = image(64 * KIB, 5, true, true);
        img[..4].copy_from_slice(b"\0\0\0\0");
        assert_eq!(
            run(&img, 64 * KIB).unwrap_err().to_string(),
            "not a JFFS2 image: expected the magic 0x1985 at offset 0, but found 0x0000"
        );
        let mut img = image(64 * KIB, 5, true, true);
        img[4] ^= 0x40;
        assert!(run(&img, 64 * KIB)
            .unwrap_err()
            .to_string()
            .contains("bad CRC"));
        let mut img = image(64 * KIB, 5, true, true);
        img[0..2].copy_from_slice(&MAGIC.to_be_bytes());
        img[2..4].copy_from_slice(&nodetype::CLEANMARKER.to_be_bytes());
        img[4..8].copy_from_slice(&12u32.to_be_bytes());
        let crc = crc32(&img[..8]).to_be_bytes();
        img[8..12].copy_from_slice(&crc);
        assert!(run(&img, 64 * KIB)
            .unwrap_err()
            .to_string()
            .contains("big-endian"));
        assert_eq!(
            check_container(&[], 0, 64 * KIB, Endian::Little)
                .unwrap_err()
                .to_string(),
            "the file is empty"
        );
    }

    #[test]
    fn size_must_be_a_multiple_of_the_erase_size() {
        let mut img = image(64 * KIB, 5, true, true);
        img.truncate(img.len() - 4096);
        assert_eq!(
            run(&img, 64 * KIB).unwrap_err().to_string(),
            format!(
                "its size {} is not a multiple of the erase size 64KiB",
                img.len()
            )
        );
    }

    #[test]
    fn a_blank_image_gives_no_verdict_on_erase_size() {
        let img = vec![0xFFu8; 5 * 64 * KIB as usize];
        assert_eq!(identify(&img).unwrap(), None);
        assert_eq!(run(&img, 64 * KIB).unwrap(), None);
    }

    #[test]
    fn a_damaged_summary_does_not_count_but_the_cleanmarker_does() {
        let mut img = image(16 * KIB, 5, true, true);
        img[16 * KIB as usize - 20] ^= 1; // inside block 0's summary
        assert_eq!(detect_erase_size(&img, Endian::Little), Some(16 * KIB));
        let mut img = image(16 * KIB, 5, true, false);
        img[16 * KIB as usize - 20] ^= 1;
        // Block 1's summary ends at 32 KiB, but its marker's offset, read as one of a
        // 32 KiB block, points at block 0's damaged summary: no edge is found.
        assert_eq!(detect_erase_size(&img, Endian::Little), None);
    }

    #[test]
    fn prefix_covers_two_blocks() {
        assert_eq!(prefix_len(64 * KIB, 1 << 30), MIN_PREFIX);
        assert_eq!(prefix_len(256 * KIB, 1 << 30), 512 * 1024 + HEADER_SIZE);
        assert_eq!(prefix_len(64 * KIB, 1000), 1000);
    }
}
