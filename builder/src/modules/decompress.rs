//! `.ko.xz`, `.ko.zst` and `.ko.gz` modules are decompressed at build time, so the init
//! loads plain `.ko` files and needs no decompressor.

use crate::initramfs::compression::{self, Compression};

/// The compression a module path's suffix names.
pub fn compression_of(path: &str) -> Compression {
    if path.ends_with(".ko.xz") {
        Compression::Xz
    } else if path.ends_with(".ko.zst") {
        Compression::Zstd
    } else if path.ends_with(".ko.gz") {
        Compression::Gzip
    } else {
        Compression::None
    }
}

/// The plain module object of `bytes` read from `path` (which names it in errors).
pub fn decompress_module(path: &str, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    let c = compression_of(path);
    if c == Compression::None {
        return Ok(bytes);
    }
    if compression::detect(&bytes) != Some(c) {
        return Err(format!(
            "{path}: expected {} data (by its name), but the magic does not match",
            compression::name(c)
        ));
    }
    compression::decompress(c, &bytes)
        .map(|(data, _)| data)
        .map_err(|e| format!("{path}: {} decompression failed: {e}", compression::name(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompresses_by_suffix() {
        let plain = b"\x7fELF module".to_vec();
        for (suffix, c) in [
            (".ko.xz", Compression::Xz),
            (".ko.zst", Compression::Zstd),
            (".ko.gz", Compression::Gzip),
        ] {
            let packed = compression::compress(c, &plain).unwrap();
            assert_eq!(
                decompress_module(&format!("m{suffix}"), packed).unwrap(),
                plain
            );
        }
        assert_eq!(decompress_module("m.ko", plain.clone()).unwrap(), plain);
    }

    #[test]
    fn names_the_module_whose_data_is_wrong() {
        let err = decompress_module("kernel/fs/x.ko.xz", b"plain".to_vec()).unwrap_err();
        assert_eq!(
            err,
            "kernel/fs/x.ko.xz: expected xz data (by its name), but the magic does not match"
        );
    }
}
