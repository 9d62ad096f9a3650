//! Reads a whole initramfs image as the kernel unpacks it: any sequence of uncompressed
//! newc archives and compressed streams (each holding one or more archives), with NUL
//! padding between them, e.g. an early-microcode cpio followed by a gzip'ed main one.

use super::compression::{self, Compression};
use super::Error;
use flashroot_cpio::reader::{read_archive, read_entries, Entry};

/// The first bytes every newc archive starts with (`070701` or `070702`).
const NEWC_PREFIX: &[u8] = b"07070";

/// One part of the image.
#[derive(Clone, Debug)]
pub struct Segment {
    /// Offset of the part in the image file.
    pub offset: usize,
    pub compression: Compression,
    pub entries: Vec<Entry>,
}

/// Splits `image` into its parts and reads every archive.
pub fn read_image(image: &[u8]) -> Result<Vec<Segment>, Error> {
    let mut segments = Vec::new();
    let mut pos = 0;
    while pos < image.len() {
        if image[pos] == 0 {
            pos += 1;
            continue;
        }
        let rest = &image[pos..];
        if rest.starts_with(NEWC_PREFIX) {
            let (entries, used) = read_archive(rest, pos).map_err(|e| Error::ImageArchive {
                offset: pos,
                compression: None,
                source: e.into(),
            })?;
            segments.push(Segment {
                offset: pos,
                compression: Compression::None,
                entries,
            });
            pos += used;
        } else if let Some(c) = compression::detect(rest) {
            let (data, used) =
                compression::decompress(c, rest).map_err(|source| Error::ImageData {
                    offset: pos,
                    compression: compression::name(c),
                    source,
                })?;
            let entries = read_entries(&data, 0).map_err(|e| Error::ImageArchive {
                offset: pos,
                compression: Some(compression::name(c)),
                source: e.into(),
            })?;
            segments.push(Segment {
                offset: pos,
                compression: c,
                entries,
            });
            pos += used.max(1);
        } else {
            return Err(Error::ImageUnknown {
                offset: pos,
                start: rest[..rest.len().min(6)].to_vec(),
            });
        }
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashroot_cpio::{NewcWriter, WriterOptions};

    fn archive(names: &[&str]) -> Vec<u8> {
        let mut w = NewcWriter::new(Vec::new(), WriterOptions::default());
        for n in names {
            w.file(n, 0o644, n.as_bytes()).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn reads_microcode_then_compressed_main_in_every_compression() {
        for c in [
            Compression::Gzip,
            Compression::Zstd,
            Compression::Xz,
            Compression::None,
        ] {
            let mut image = archive(&["kernel/x86/microcode/GenuineIntel.bin"]);
            image.extend_from_slice(&[0; 512]);
            image.extend(compression::compress(c, &archive(&["init", "etc/x"])).unwrap());
            let segments = read_image(&image).unwrap();
            let names: Vec<Vec<&str>> = segments
                .iter()
                .map(|s| s.entries.iter().map(|e| e.name.as_str()).collect())
                .collect();
            assert_eq!(
                names,
                [
                    vec![
                        "kernel",
                        "kernel/x86",
                        "kernel/x86/microcode",
                        "kernel/x86/microcode/GenuineIntel.bin"
                    ],
                    vec!["init", "etc", "etc/x"]
                ],
                "{}",
                compression::name(c)
            );
            assert_eq!(segments[1].compression, c);
            assert_eq!(
                segments[1].offset,
                archive(&["kernel/x86/microcode/GenuineIntel.bin"]).len() + 512
            );
        }
    }

    #[test]
    fn names_the_offset_of_garbage() {
        let mut image = archive(&["a"]);
        let at = image.len();
        image.extend_from_slice(b"garbage");
        let err = read_image(&image).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("offset {at}: expected a newc archive")),
            "{err}"
        );
    }
}
