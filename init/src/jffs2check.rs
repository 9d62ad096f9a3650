//! A look at a JFFS2 container before handing it to the kernel: is it JFFS2 at all, in
//! our byte order, and were its erase blocks made with the size we are about to give
//! block2mtd? The kernel would mount a mismatched or foreign image anyway (erasing what
//! it does not understand), so these checks protect the user's data as much as they
//! explain the failure. Pure: bytes in, verdict out.
//!
//! The rules are flashroot-jffs2's format core ([`flashroot_jffs2::probe`]), the same
//! that `flashroot jffs2 check` applies: the boot and the builder cannot disagree about
//! an image.

use flashroot_jffs2::{Endian, Error};

pub use flashroot_jffs2::probe::{detect_erase_size, prefix_len};

/// The byte order this kernel reads JFFS2 in: its own.
pub const NATIVE: Endian = if cfg!(target_endian = "big") {
    Endian::Big
} else {
    Endian::Little
};

/// Checks a container given its first bytes ([`prefix_len`] of them) and its length.
/// The error says what is wrong, expected versus found.
pub fn check(prefix: &[u8], file_len: u64, erase_size: u32) -> Result<(), Error> {
    flashroot_jffs2::check_container(prefix, file_len, erase_size, NATIVE).map(|_| ())
}

/// The console message for a [`check`] failure: the library's, with how to make an image
/// this kernel reads when the byte order is wrong.
pub fn explain(e: &Error) -> String {
    match e {
        Error::ByteOrder {
            wanted: Endian::Little,
            ..
        } => format!("{e} (mkfs.jffs2 -l)"),
        Error::ByteOrder {
            wanted: Endian::Big,
            ..
        } => format!("{e} (mkfs.jffs2 -b)"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashroot_jffs2::node::{cleanmarker, summary};

    const KIB: u32 = 1024;

    /// `blocks` erase blocks of `erase` bytes, each with a cleanmarker and a summary.
    fn image(erase: u32, blocks: usize) -> Vec<u8> {
        let mut img = Vec::new();
        for _ in 0..blocks {
            let mut b = Vec::new();
            cleanmarker::encode(&mut b, NATIVE, cleanmarker::CLEANMARKER_SIZE);
            let info = summary::SummaryInfo {
                sum_num: 0,
                cln_mkr: cleanmarker::CLEANMARKER_SIZE,
                padded: 0,
            };
            let at = b.len() as u32;
            summary::encode(&mut b, NATIVE, info, &[], at, erase);
            img.extend_from_slice(&b);
        }
        img
    }

    fn run(img: &[u8], erase: u32) -> Result<(), String> {
        check(
            &img[..prefix_len(erase, img.len() as u64)],
            img.len() as u64,
            erase,
        )
        .map_err(|e| e.to_string())
    }

    /// The messages tests/tests/boot_failure.rs expects on the console.
    #[test]
    fn messages_name_what_was_expected_and_found() {
        let img = image(64 * KIB, 8);
        assert_eq!(run(&img, 64 * KIB), Ok(()));
        assert_eq!(
            run(&img, 128 * KIB).unwrap_err(),
            "erase size mismatch: configured 128KiB, but the image was made with 64KiB erase blocks"
        );
        let mut bad = img.clone();
        bad[..4].fill(0);
        assert_eq!(
            run(&bad, 64 * KIB).unwrap_err(),
            "not a JFFS2 image: expected the magic 0x1985 at offset 0, but found 0x0000"
        );
        assert_eq!(
            check(&[], 0, 64 * KIB).unwrap_err().to_string(),
            "the file is empty"
        );
        let wrong_order = Error::ByteOrder {
            found: Endian::Big,
            wanted: Endian::Little,
        };
        assert_eq!(
            explain(&wrong_order),
            "a big-endian JFFS2 image; this kernel reads little-endian ones (mkfs.jffs2 -l)"
        );
    }
}
