//! `.ko.xz`, `.ko.zst` and `.ko.gz` modules are decompressed at build time, so the init
//! loads plain `.ko` files and needs no decompressor. Pure Rust: lzma-rust2, ruzstd and
//! flate2 (feature `tree`).

use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, ErrorKind};

/// How a module file is compressed, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleCompression {
    /// `.ko`
    None,
    /// `.ko.xz`
    Xz,
    /// `.ko.zst`
    Zstd,
    /// `.ko.gz`
    Gzip,
}

impl ModuleCompression {
    /// The compression a module path's suffix names.
    pub fn of_path(path: &str) -> Self {
        if path.ends_with(".ko.xz") {
            Self::Xz
        } else if path.ends_with(".ko.zst") {
            Self::Zstd
        } else if path.ends_with(".ko.gz") {
            Self::Gzip
        } else {
            Self::None
        }
    }

    /// The format's name (`xz`), for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "uncompressed",
            Self::Xz => "xz",
            Self::Zstd => "zstd",
            Self::Gzip => "gzip",
        }
    }

    /// The magic bytes a stream of this format starts with.
    fn magic(self) -> &'static [u8] {
        match self {
            Self::None => b"",
            Self::Xz => &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
            Self::Zstd => &[0x28, 0xb5, 0x2f, 0xfd],
            Self::Gzip => &[0x1f, 0x8b],
        }
    }
}

/// The plain module object of `bytes` read from `path` (whose suffix says the format,
/// and which names it in errors).
pub fn decompress_module(path: impl AsRef<Path>, bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
    let path = path.as_ref();
    let c = ModuleCompression::of_path(&path.to_string_lossy());
    if c == ModuleCompression::None {
        return Ok(bytes);
    }
    if !bytes.starts_with(c.magic()) {
        return Err(Error::at_path(
            path,
            ErrorKind::CompressionMagic { format: c.name() },
        ));
    }
    decompress(c, &bytes).map_err(|source| {
        Error::at_path(
            path,
            ErrorKind::Decompress {
                format: c.name(),
                source,
            },
        )
    })
}

fn decompress(c: ModuleCompression, bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match c {
        ModuleCompression::None => out.extend_from_slice(bytes),
        ModuleCompression::Gzip => {
            flate2::bufread::GzDecoder::new(bytes).read_to_end(&mut out)?;
        }
        ModuleCompression::Zstd => {
            let mut rest = bytes;
            while rest.starts_with(c.magic()) {
                ruzstd::decoding::StreamingDecoder::new(&mut rest)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
                    .read_to_end(&mut out)?;
            }
        }
        ModuleCompression::Xz => {
            lzma_rust2::XzReader::new(bytes, true).read_to_end(&mut out)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn compress(c: ModuleCompression, data: &[u8]) -> Vec<u8> {
        match c {
            ModuleCompression::None => data.to_vec(),
            ModuleCompression::Gzip => {
                let mut w =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                w.write_all(data).unwrap();
                w.finish().unwrap()
            }
            ModuleCompression::Zstd => {
                ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
            }
            ModuleCompression::Xz => {
                let mut w =
                    lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1))
                        .unwrap();
                w.write_all(data).unwrap();
                w.finish().unwrap()
            }
        }
    }

    #[test]
    fn decompresses_by_suffix() {
        let plain = b"\x7fELF module".to_vec();
        for (suffix, c) in [
            (".ko.xz", ModuleCompression::Xz),
            (".ko.zst", ModuleCompression::Zstd),
            (".ko.gz", ModuleCompression::Gzip),
        ] {
            let packed = compress(c, &plain);
            assert_eq!(
                decompress_module(format!("m{suffix}"), packed).unwrap(),
                plain,
                "{suffix}"
            );
        }
        assert_eq!(decompress_module("m.ko", plain.clone()).unwrap(), plain);
    }

    #[test]
    fn names_the_module_whose_data_is_wrong() {
        let err = decompress_module("kernel/fs/x.ko.xz", b"plain".to_vec()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel/fs/x.ko.xz: expected xz data (by its name), but the magic does not match"
        );
        let mut bad = compress(ModuleCompression::Zstd, b"data");
        bad.truncate(6);
        let err = decompress_module("kernel/fs/x.ko.zst", bad).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::Decompress { format: "zstd", .. }),
            "{err}"
        );
    }
}
