//! A look at a JFFS2 container before handing it to the kernel: is it JFFS2 at all, in
//! our byte order, and were its erase blocks made with the size we are about to give
//! block2mtd? The kernel would mount a mismatched or foreign image anyway (erasing what
//! it does not understand), so these checks protect the user's data as much as they
//! explain the failure. Pure: bytes in, verdict out.

use flashroot_config::{format_size, MIN_ERASE_SIZE};

/// `JFFS2_MAGIC_BITMASK`, the first field of every node.
pub const MAGIC: u16 = 0x1985;
/// The node type of the cleanmarker at the start of an erase block.
pub const NODETYPE_CLEANMARKER: u16 = 0x2003;
/// The last 4 bytes of a block with an erase block summary (`JFFS2_SUM_MAGIC`).
pub const SUMMARY_MAGIC: u32 = 0x0285_1885;
/// magic (u16), nodetype (u16), totlen (u32), hdr_crc (u32).
pub const NODE_HEADER_LEN: usize = 12;
/// hdr_crc covers magic, nodetype and totlen.
const HEADER_CRC_COVERS: usize = 8;
/// Erase sizes are powers of two; a mismatch is found by looking at each one below this.
const MAX_PROBED_ERASE: u64 = 1 << 26;
/// How much of the container [`check`] wants to see: two blocks of the configured size
/// (so that a boundary of a larger image block can show), and at least this.
const MIN_PREFIX: usize = 256 << 10;

/// How many leading bytes of the container [`check`] should get.
pub fn prefix_len(erase_size: u32, file_len: u64) -> usize {
    let want = (2 * erase_size as usize + NODE_HEADER_LEN).max(MIN_PREFIX) as u64;
    want.min(file_len) as usize
}

/// Linux's `crc32(0, ...)` as JFFS2 uses it: reflected 0xEDB88320, seed 0, no final xor.
pub fn crc32(data: &[u8]) -> u32 {
    const POLY: u32 = 0xEDB8_8320;
    let mut crc = 0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

fn u16_le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Is there a node header with a correct CRC at `at`? Returns its type.
fn node_at(b: &[u8], at: usize) -> Option<u16> {
    let header = b.get(at..at + NODE_HEADER_LEN)?;
    if u16_le(header, 0)? != MAGIC {
        return None;
    }
    (crc32(&header[..HEADER_CRC_COVERS]) == u32_le(header, HEADER_CRC_COVERS)?)
        .then(|| u16_le(header, 2))?
}

/// Does an erase block end at `end`, going by what the writer leaves at block edges: a
/// cleanmarker starting the next block, or a summary marker ending this one?
fn block_edge_at(b: &[u8], end: usize) -> bool {
    if node_at(b, end) == Some(NODETYPE_CLEANMARKER) {
        return true;
    }
    end >= 8
        && u32_le(b, end - 4) == Some(SUMMARY_MAGIC)
        && u32_le(b, end - 8).is_some_and(|offset| (offset as usize) < end)
}

/// The erase block size the image shows in `prefix`: the smallest power of two (from
/// [`MIN_ERASE_SIZE`]) where a block edge is found, or None when nothing tells.
pub fn detect_erase_size(prefix: &[u8]) -> Option<u64> {
    let mut size = MIN_ERASE_SIZE;
    while size <= MAX_PROBED_ERASE && (size as usize) <= prefix.len() {
        if block_edge_at(prefix, size as usize) {
            return Some(size);
        }
        size *= 2;
    }
    None
}

/// Checks a container given its first bytes ([`prefix_len`] of them) and its length.
/// The error says what is wrong, expected versus found.
pub fn check(prefix: &[u8], file_len: u64, erase_size: u32) -> Result<(), String> {
    if file_len == 0 {
        return Err("the file is empty".into());
    }
    let blank = prefix.iter().take(NODE_HEADER_LEN).all(|b| *b == 0xFF);
    if !blank {
        match u16_le(prefix, 0) {
            Some(MAGIC) => {
                if node_at(prefix, 0).is_none() {
                    return Err(format!(
                        "not a valid JFFS2 image: the node header at offset 0 has a bad CRC (expected {:#010x}, found {:#010x})",
                        crc32(&prefix[..HEADER_CRC_COVERS.min(prefix.len())]),
                        u32_le(prefix, HEADER_CRC_COVERS).unwrap_or(0)
                    ));
                }
            }
            Some(m) if m == MAGIC.swap_bytes() => return Err(
                "a big-endian JFFS2 image; this kernel reads little-endian ones (mkfs.jffs2 -l)"
                    .into(),
            ),
            found => {
                return Err(format!(
                    "not a JFFS2 image: expected the magic {MAGIC:#06x} at offset 0, but found {}",
                    found
                        .map(|m| format!("{m:#06x}"))
                        .unwrap_or_else(|| "end of file".into())
                ))
            }
        }
    }
    if let Some(found) = detect_erase_size(prefix) {
        if found != u64::from(erase_size) {
            return Err(format!(
                "erase size mismatch: configured {}, but the image was made with {} erase blocks",
                format_size(erase_size.into()),
                format_size(found)
            ));
        }
    }
    if file_len % u64::from(erase_size) != 0 {
        return Err(format!(
            "its size {file_len} is not a multiple of the erase size {}",
            format_size(erase_size.into())
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u32 = 1024;

    fn header(nodetype: u16, totlen: u32) -> [u8; NODE_HEADER_LEN] {
        let mut h = [0u8; NODE_HEADER_LEN];
        h[0..2].copy_from_slice(&MAGIC.to_le_bytes());
        h[2..4].copy_from_slice(&nodetype.to_le_bytes());
        h[4..8].copy_from_slice(&totlen.to_le_bytes());
        let crc = crc32(&h[..8]);
        h[8..12].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// `blocks` erase blocks of `erase` bytes, each with a cleanmarker, an inode-ish node
    /// header after it, and optionally a summary marker at its end.
    fn image(erase: u32, blocks: usize, summary: bool, cleanmarkers: bool) -> Vec<u8> {
        let e = erase as usize;
        let mut img = vec![0xFFu8; e * blocks];
        for b in 0..blocks {
            let start = b * e;
            if cleanmarkers {
                img[start..start + 12].copy_from_slice(&header(NODETYPE_CLEANMARKER, 12));
            }
            img[start + 12..start + 24].copy_from_slice(&header(0xE002, 100));
            if summary {
                img[start + e - 8..start + e - 4].copy_from_slice(&200u32.to_le_bytes());
                img[start + e - 4..start + e].copy_from_slice(&SUMMARY_MAGIC.to_le_bytes());
            }
        }
        img
    }

    fn run(img: &[u8], erase: u32) -> Result<(), String> {
        check(
            &img[..prefix_len(erase, img.len() as u64)],
            img.len() as u64,
            erase,
        )
    }

    #[test]
    fn crc_matches_the_kernels_check_value() {
        assert_eq!(crc32(b"123456789"), 0x2DFD_2D88);
    }

    #[test]
    fn accepts_matching_images_of_every_geometry() {
        for erase in [8 * KIB, 16 * KIB, 64 * KIB, 128 * KIB, 256 * KIB] {
            for (summary, cleanmarkers) in [(true, true), (true, false), (false, true)] {
                let img = image(erase, 5, summary, cleanmarkers);
                assert_eq!(
                    run(&img, erase),
                    Ok(()),
                    "erase {erase} summary {summary} cleanmarkers {cleanmarkers}"
                );
                assert_eq!(detect_erase_size(&img), Some(u64::from(erase)));
            }
        }
    }

    #[test]
    fn names_both_sizes_on_mismatch() {
        for (made, configured) in [
            (64 * KIB, 128 * KIB),
            (128 * KIB, 64 * KIB),
            (16 * KIB, 64 * KIB),
            (256 * KIB, 8 * KIB),
        ] {
            let img = image(made, 8, true, true);
            let err = run(&img, configured).unwrap_err();
            let want = format!(
                "erase size mismatch: configured {}, but the image was made with {} erase blocks",
                format_size(configured.into()),
                format_size(made.into())
            );
            assert_eq!(err, want, "made {made}, configured {configured}");
        }
    }

    #[test]
    fn refuses_what_is_not_jffs2() {
        let mut img = image(64 * KIB, 5, true, true);
        img[..4].copy_from_slice(b"\0\0\0\0");
        assert_eq!(
            run(&img, 64 * KIB).unwrap_err(),
            "not a JFFS2 image: expected the magic 0x1985 at offset 0, but found 0x0000"
        );
        let mut img = image(64 * KIB, 5, true, true);
        img[4] ^= 0x40;
        assert!(run(&img, 64 * KIB).unwrap_err().contains("bad CRC"));
        let mut img = image(64 * KIB, 5, true, true);
        img[0..2].copy_from_slice(&MAGIC.to_be_bytes());
        assert!(run(&img, 64 * KIB).unwrap_err().contains("big-endian"));
        assert_eq!(check(&[], 0, 64 * KIB).unwrap_err(), "the file is empty");
    }

    #[test]
    fn size_must_be_a_multiple_of_the_erase_size() {
        let mut img = image(64 * KIB, 5, true, true);
        img.truncate(img.len() - 4096);
        assert_eq!(
            run(&img, 64 * KIB).unwrap_err(),
            format!(
                "its size {} is not a multiple of the erase size 64KiB",
                img.len()
            )
        );
    }

    #[test]
    fn a_blank_image_gives_no_verdict_on_erase_size() {
        let img = vec![0xFFu8; 5 * 64 * KIB as usize];
        assert_eq!(detect_erase_size(&img), None);
        assert_eq!(run(&img, 64 * KIB), Ok(()));
    }

    #[test]
    fn prefix_covers_two_blocks() {
        assert_eq!(prefix_len(64 * KIB, 1 << 30), MIN_PREFIX);
        assert_eq!(prefix_len(256 * KIB, 1 << 30), 512 * 1024 + NODE_HEADER_LEN);
        assert_eq!(prefix_len(64 * KIB, 1000), 1000);
    }
}
