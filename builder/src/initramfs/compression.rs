//! The archive compressions `flashroot build` writes and `flashroot ls` reads, all
//! pure Rust: gzip (flate2), zstd (ruzstd), xz (lzma-rust2, with the CRC32 check the
//! kernel's decoder requires), or none.

use std::io::{self, Read, Write};

pub use flashroot_config::Compression;

/// gzip member magic (RFC 1952).
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// zstd frame magic (RFC 8878), little-endian 0xFD2FB528.
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// xz stream header magic.
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
/// The xz preset: 6 is xz's own default.
const XZ_PRESET: u32 = 6;
/// Uncompressed bytes per xz block (and the dictionary size): 2 MiB.
const XZ_BLOCK_SIZE: u64 = 2 << 20;
/// The gzip level. Measured with flate2's miniz_oxide on Debian 6.1's flash-boot archive
/// (7.8 MB): level 5 is 1% larger than 6 in half the time; 9 is 1% smaller than 6 in
/// three times the time.
const GZIP_LEVEL: u32 = 5;

/// The name used in messages and by the CLI.
pub fn name(c: Compression) -> &'static str {
    match c {
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
        Compression::Xz => "xz",
        Compression::None => "none",
    }
}

/// The kernel option that lets the kernel unpack an initramfs in this compression.
pub fn kernel_option(c: Compression) -> Option<&'static str> {
    match c {
        Compression::Gzip => Some("CONFIG_RD_GZIP"),
        Compression::Zstd => Some("CONFIG_RD_ZSTD"),
        Compression::Xz => Some("CONFIG_RD_XZ"),
        Compression::None => None,
    }
}

/// Checks a kernel `.config` text (`/boot/config-VER`) for the option `c` needs.
pub fn check_kernel_config(
    c: Compression,
    config_name: &str,
    config_text: &str,
) -> Result<(), super::Error> {
    let Some(option) = kernel_option(c) else {
        return Ok(());
    };
    let wanted = format!("{option}=y");
    if config_text.lines().any(|l| l.trim() == wanted) {
        return Ok(());
    }
    Err(super::Error::KernelCannotUnpack {
        config: config_name.to_string(),
        option,
        compression: name(c),
    })
}

/// The compression a stream starts with, by magic; `None` when it is none of ours.
pub fn detect(bytes: &[u8]) -> Option<Compression> {
    if bytes.starts_with(GZIP_MAGIC) {
        Some(Compression::Gzip)
    } else if bytes.starts_with(ZSTD_MAGIC) {
        Some(Compression::Zstd)
    } else if bytes.starts_with(XZ_MAGIC) {
        Some(Compression::Xz)
    } else {
        None
    }
}

/// Compresses `data`; the same input always gives the same bytes (no timestamps).
pub fn compress(c: Compression, data: &[u8]) -> io::Result<Vec<u8>> {
    match c {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            // flate2 writes mtime 0 and no file name: reproducible.
            let mut enc =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(GZIP_LEVEL));
            enc.write_all(data)?;
            enc.finish()
        }
        Compression::Zstd => Ok(ruzstd::encoding::compress_to_vec(
            data,
            ruzstd::encoding::CompressionLevel::Fastest,
        )),
        Compression::Xz => {
            let workers = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
            xz_blocks(data, XZ_BLOCK_SIZE, workers)
        }
    }
}

/// xz in independent blocks of `block_size` bytes, compressed by `workers` threads: the
/// same bytes whatever the number of workers, and the kernel's xz decoder reads
/// multi-block streams. The dictionary need not exceed a block.
fn xz_blocks(data: &[u8], block_size: u64, workers: u32) -> io::Result<Vec<u8>> {
    let mut options = lzma_rust2::XzOptions::with_preset(XZ_PRESET);
    options.set_check_sum_type(lzma_rust2::CheckType::Crc32);
    options.lzma_options.dict_size = block_size as u32;
    options.set_block_size(std::num::NonZeroU64::new(block_size));
    let mut w = lzma_rust2::XzWriterMt::new(Vec::new(), options, workers)?;
    w.write_all(data)?;
    w.finish()
}

/// Archive bytes per gzip member in [`compress_archive`]. Fixed, so the output does not
/// depend on the number of cores.
pub const GZIP_MEMBER_SIZE: usize = 1 << 20;

/// Compresses a whole newc archive. gzip is written as independent members of about
/// [`GZIP_MEMBER_SIZE`] archive bytes each, cut at entry boundaries and compressed on
/// all cores: the kernel unpacks concatenated compressed parts one after the other and
/// only requires each to end between two entries (`unpack_to_rootfs`'s
/// "junk at the end of compressed archive" check); gzip and cpio read them as one stream.
pub fn compress_archive(c: Compression, archive: &[u8]) -> io::Result<Vec<u8>> {
    if c != Compression::Gzip {
        return compress(c, archive);
    }
    let cuts = member_cuts(archive, GZIP_MEMBER_SIZE)?;
    let parts: Vec<&[u8]> = cuts.windows(2).map(|w| &archive[w[0]..w[1]]).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, parts.len().max(1));
    let mut members: Vec<Vec<u8>> = vec![Vec::new(); parts.len()];
    std::thread::scope(|scope| -> io::Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let parts = &parts;
                scope.spawn(move || -> io::Result<Vec<(usize, Vec<u8>)>> {
                    (t..parts.len())
                        .step_by(threads)
                        .map(|i| Ok((i, compress(Compression::Gzip, parts[i])?)))
                        .collect()
                })
            })
            .collect();
        for worker in workers {
            for (i, member) in worker.join().expect("a compression thread panicked")? {
                members[i] = member;
            }
        }
        Ok(())
    })?;
    Ok(members.concat())
}

/// Offsets where gzip members start: 0, then the first entry boundary at or after every
/// `size` bytes, then the end.
fn member_cuts(archive: &[u8], size: usize) -> io::Result<Vec<usize>> {
    let entries = flashroot_cpio::reader::read_entries(archive, 0).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("archive to compress: {e}"),
        )
    })?;
    let mut cuts = vec![0];
    for e in entries {
        if e.offset - cuts[cuts.len() - 1] >= size {
            cuts.push(e.offset);
        }
    }
    if archive.len() > cuts[cuts.len() - 1] || cuts.len() == 1 {
        cuts.push(archive.len());
    }
    Ok(cuts)
}

/// Decompresses one stream at the start of `bytes`. Returns the data and how many input
/// bytes were consumed (exact for gzip; the whole input for zstd and xz, whose decoders
/// read on to the end, which is where a compressed initramfs part sits).
pub fn decompress(c: Compression, bytes: &[u8]) -> io::Result<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    match c {
        Compression::None => return Ok((bytes.to_vec(), bytes.len())),
        Compression::Gzip => {
            let mut dec = flate2::bufread::GzDecoder::new(bytes);
            dec.read_to_end(&mut out)?;
            let rest = dec.into_inner().len();
            return Ok((out, bytes.len() - rest));
        }
        Compression::Zstd => {
            let mut rest = bytes;
            while !rest.is_empty() && rest.starts_with(ZSTD_MAGIC) {
                let mut dec = ruzstd::decoding::StreamingDecoder::new(&mut rest).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))
                })?;
                dec.read_to_end(&mut out)?;
            }
        }
        Compression::Xz => {
            lzma_rust2::XzReader::new(bytes, true).read_to_end(&mut out)?;
        }
    }
    Ok((out, bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 4] = [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Xz,
        Compression::None,
    ];

    #[test]
    fn round_trips_and_is_detected() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in ALL {
            let packed = compress(c, &data).unwrap();
            assert_eq!(
                packed,
                compress(c, &data).unwrap(),
                "{} is not reproducible",
                name(c)
            );
            if c != Compression::None {
                assert_eq!(detect(&packed), Some(c), "{}", name(c));
                assert!(packed.len() < data.len(), "{} did not compress", name(c));
            }
            let (unpacked, used) = decompress(c, &packed).unwrap();
            assert_eq!(unpacked, data, "{}", name(c));
            assert_eq!(used, packed.len(), "{}", name(c));
        }
    }

    #[test]
    fn gzip_archives_are_cut_into_members_at_entry_boundaries() {
        let mut w = flashroot_cpio::NewcWriter::new(Vec::new(), Default::default());
        let big: Vec<u8> = (0..GZIP_MEMBER_SIZE as u32 / 2)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        for name in ["a", "b", "c", "d", "e"] {
            w.file(name, 0o644, &big).unwrap();
        }
        let archive = w.finish().unwrap();
        let cuts = member_cuts(&archive, GZIP_MEMBER_SIZE).unwrap();
        // Entries of ~0.5 MiB: a cut after every second entry, then the end.
        assert_eq!(cuts.len(), 4, "{cuts:?}");
        assert_eq!(*cuts.last().unwrap(), archive.len());
        let packed = compress_archive(Compression::Gzip, &archive).unwrap();
        assert_eq!(
            packed,
            compress_archive(Compression::Gzip, &archive).unwrap()
        );
        // Every member decodes on its own to whole entries; together they are the archive.
        let (mut pos, mut out) = (0, Vec::new());
        while pos < packed.len() {
            let (part, used) = decompress(Compression::Gzip, &packed[pos..]).unwrap();
            assert!(flashroot_cpio::reader::read_entries(&part, 0).is_ok());
            out.extend(part);
            pos += used;
        }
        assert_eq!(out, archive);
    }

    #[test]
    fn gzip_reports_what_it_consumed() {
        let mut packed = compress(Compression::Gzip, b"hello").unwrap();
        let len = packed.len();
        packed.extend_from_slice(b"070701");
        assert_eq!(
            decompress(Compression::Gzip, &packed).unwrap(),
            (b"hello".to_vec(), len)
        );
    }

    #[test]
    fn xz_blocks_do_not_depend_on_the_worker_count() {
        const BLOCK: u64 = 64 << 10;
        let data: Vec<u8> = (0..3 * BLOCK as u32 + 1000)
            .map(|i| (i / 64 % 7) as u8)
            .collect();
        let one = xz_blocks(&data, BLOCK, 1).unwrap();
        assert_eq!(one, xz_blocks(&data, BLOCK, 3).unwrap());
        assert_eq!(decompress(Compression::Xz, &one).unwrap().0, data);
    }

    #[test]
    fn xz_uses_the_crc32_check() {
        // Stream flags (bytes 6..8): 0x00, check type; the kernel only knows none and CRC32.
        let packed = compress(Compression::Xz, b"x").unwrap();
        assert_eq!(packed[7], 0x01);
    }

    #[test]
    fn kernel_config_is_checked() {
        let config = "CONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n";
        assert!(check_kernel_config(Compression::Gzip, "/boot/config-6.1", config).is_ok());
        assert!(check_kernel_config(Compression::None, "/boot/config-6.1", config).is_ok());
        assert_eq!(
            check_kernel_config(Compression::Zstd, "/boot/config-6.1", config).unwrap_err().to_string(),
            "/boot/config-6.1 does not set CONFIG_RD_ZSTD=y: this kernel cannot unpack a zstd initramfs; choose another compression"
        );
    }
}
