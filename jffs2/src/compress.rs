//! Page compression. A page is stored with the first enabled compressor that shrinks it
//! (mode "priority", mkfs.jffs2's default) or the smallest result (mode "size"), and
//! raw when nothing shrinks it. The kernel decompresses by the node's `compr` code.

use std::fmt;
use std::io::Write;

use crate::error::{Error, Result};

/// Damaged stored data; the reader places it at its node.
fn bad(problem: String) -> Error {
    Error::Node { offset: 0, problem }
}

/// `JFFS2_COMPR_*` codes stored in an inode node's `compr`.
pub mod code {
    /// Stored as is.
    pub const NONE: u8 = 0x00;
    /// A hole: no data stored, `dsize` zero bytes.
    pub const ZERO: u8 = 0x01;
    /// The "rtime" run-length scheme.
    pub const RTIME: u8 = 0x02;
    /// A zlib (RFC 1950) stream without preset dictionary.
    pub const ZLIB: u8 = 0x06;
    /// LZO1X.
    pub const LZO: u8 = 0x07;
}

/// A compressor an image may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Compressor {
    /// zlib (deflate): the best ratio, the slowest.
    Zlib,
    /// rtime: a cheap run-length scheme.
    Rtime,
    /// LZO1X: fast to decompress.
    Lzo,
}

impl Compressor {
    /// Every compressor, in mkfs.jffs2's order.
    pub const ALL: [Compressor; 3] = [Compressor::Zlib, Compressor::Rtime, Compressor::Lzo];

    /// The name mkfs.jffs2 uses for `-x`/`-X`.
    pub fn name(self) -> &'static str {
        match self {
            Compressor::Zlib => "zlib",
            Compressor::Rtime => "rtime",
            Compressor::Lzo => "lzo",
        }
    }

    /// mkfs.jffs2's priority: in "priority" mode the highest enabled one is tried first.
    pub fn priority(self) -> u8 {
        match self {
            Compressor::Lzo => 80,
            Compressor::Zlib => 60,
            Compressor::Rtime => 50,
        }
    }

    /// The `compr` code nodes compressed with it carry.
    pub fn code(self) -> u8 {
        match self {
            Compressor::Zlib => code::ZLIB,
            Compressor::Rtime => code::RTIME,
            Compressor::Lzo => code::LZO,
        }
    }

    /// The compressor named `name` (zlib, rtime, lzo). Err: [`Error::UnknownCompression`].
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| Error::UnknownCompression {
                name: name.into(),
                expected: "zlib, rtime or lzo",
            })
    }

    /// Compresses `data`; None when the result would not be smaller.
    pub fn compress(self, data: &[u8]) -> Option<Vec<u8>> {
        let out = match self {
            Compressor::Zlib => zlib_compress(data),
            Compressor::Rtime => rtime::compress(data),
            Compressor::Lzo => lzokay_native::compress(data).ok()?,
        };
        (out.len() < data.len()).then_some(out)
    }
}

impl fmt::Display for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to choose among enabled compressors (mkfs.jffs2 `-m`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Store everything raw.
    None,
    /// The first compressor, by priority, that shrinks the page.
    #[default]
    Priority,
    /// The smallest result of all enabled compressors.
    Size,
}

impl Mode {
    /// The mode named `name` (none, priority, size). Err: [`Error::UnknownCompression`].
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "none" => Ok(Mode::None),
            "priority" => Ok(Mode::Priority),
            "size" => Ok(Mode::Size),
            other => Err(Error::UnknownCompression {
                name: other.into(),
                expected: "none, priority or size",
            }),
        }
    }
}

/// The compression policy of one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compression {
    /// How the compressor of a page is chosen.
    pub mode: Mode,
    /// Enabled compressors, highest priority first.
    enabled: Vec<Compressor>,
}

impl Default for Compression {
    /// mkfs.jffs2's defaults: zlib, then rtime; lzo disabled.
    fn default() -> Self {
        Self {
            mode: Mode::Priority,
            enabled: vec![Compressor::Zlib, Compressor::Rtime],
        }
    }
}

impl Compression {
    /// No compression at all.
    pub fn none() -> Self {
        Self {
            mode: Mode::None,
            enabled: Vec::new(),
        }
    }

    /// Exactly the given compressors, in priority order.
    pub fn only(mode: Mode, compressors: &[Compressor]) -> Self {
        let mut c = Self {
            mode,
            enabled: Vec::new(),
        };
        for &x in compressors {
            c.enable(x);
        }
        c
    }

    /// Enables `c` (kept in priority order).
    pub fn enable(&mut self, c: Compressor) {
        if !self.enabled.contains(&c) {
            self.enabled.push(c);
            self.enabled
                .sort_by_key(|c| std::cmp::Reverse(c.priority()));
        }
    }

    /// Disables `c`.
    pub fn disable(&mut self, c: Compressor) {
        self.enabled.retain(|&x| x != c);
    }

    /// The enabled compressors, highest priority first.
    pub fn enabled(&self) -> &[Compressor] {
        &self.enabled
    }

    /// The `compr` code and stored bytes for one page.
    pub fn compress_page(&self, page: &[u8]) -> (u8, Vec<u8>) {
        let best = match self.mode {
            Mode::None => None,
            Mode::Priority => self
                .enabled
                .iter()
                .find_map(|c| c.compress(page).map(|out| (c.code(), out))),
            Mode::Size => self
                .enabled
                .iter()
                .filter_map(|c| c.compress(page).map(|out| (c.code(), out)))
                .min_by_key(|(_, out)| out.len()),
        };
        best.unwrap_or_else(|| (code::NONE, page.to_vec()))
    }
}

/// mkfs.jffs2 and the kernel use zlib level 3 for speed on the device; on the host we can
/// afford the default level, which packs a few percent tighter.
const ZLIB_LEVEL: u32 = 6;

fn zlib_compress(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len()),
        flate2::Compression::new(ZLIB_LEVEL),
    );
    e.write_all(data).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

/// Decompresses a node's stored data to exactly `dsize` bytes.
pub fn decompress(compr: u8, stored: &[u8], dsize: usize) -> Result<Vec<u8>> {
    let out = match compr {
        code::NONE => stored.to_vec(),
        code::ZERO => vec![0; dsize],
        code::RTIME => rtime::decompress(stored, dsize)?,
        code::ZLIB => {
            let mut d = flate2::Decompress::new(true);
            let mut out = Vec::with_capacity(dsize);
            d.decompress_vec(stored, &mut out, flate2::FlushDecompress::Finish)
                .map_err(|e| bad(format!("zlib data is corrupt: {e}")))?;
            out
        }
        code::LZO => lzokay_native::decompress_all(stored, Some(dsize))
            .map_err(|e| bad(format!("lzo data is corrupt: {e}")))?,
        other => return Err(bad(format!("unsupported compression type {other:#04x}"))),
    };
    if out.len() != dsize {
        return Err(bad(format!(
            "data decompresses to {} bytes, but the node's dsize is {dsize}",
            out.len()
        )));
    }
    Ok(out)
}

/// The "rtime" run-length scheme of JFFS2: each literal byte is followed by a count of
/// bytes to copy from just after the previous occurrence of that byte value.
mod rtime {
    /// A repeat count is one byte.
    const MAX_RUN: usize = 255;

    pub fn compress(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + data.len() / 2);
        // For each byte value, where the byte after its last occurrence is.
        let mut next_after = [0usize; 256];
        let mut pos = 0;
        while pos < data.len() {
            let value = data[pos];
            out.push(value);
            pos += 1;
            let mut back = next_after[value as usize];
            next_after[value as usize] = pos;
            let mut run = 0;
            while back < pos && pos < data.len() && data[pos] == data[back] && run < MAX_RUN {
                pos += 1;
                back += 1;
                run += 1;
            }
            out.push(run as u8);
        }
        out
    }

    pub fn decompress(stored: &[u8], dsize: usize) -> super::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(dsize);
        let mut next_after = [0usize; 256];
        let mut pairs = stored.chunks_exact(2);
        while out.len() < dsize {
            let Some(&[value, run]) = pairs.next() else {
                return Err(super::bad(format!(
                    "rtime data ends after {} of {dsize} bytes",
                    out.len()
                )));
            };
            out.push(value);
            let back = next_after[value as usize];
            next_after[value as usize] = out.len();
            // Copies may overlap their own output, byte by byte, as the kernel's do.
            for from in back..back + run as usize {
                let b = out[from];
                out.push(b);
            }
        }
        out.truncate(dsize);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtime_exact_bytes() {
        // History starts at offset 0 for every byte value, as in the kernel: the first
        // 'a' is followed by a copy of 4 bytes from offset 0 onwards (overlapping).
        assert_eq!(rtime::compress(b"aaaaa"), [b'a', 4]);
        assert_eq!(rtime::compress(b"abab"), [b'a', 0, b'b', 2]);
        assert_eq!(rtime::decompress(&[b'a', 0, b'b', 2], 4).unwrap(), b"abab");
        assert_eq!(rtime::decompress(&[b'a', 4], 5).unwrap(), b"aaaaa");
        assert!(rtime::decompress(&[b'a', 0], 5).is_err());
    }

    #[test]
    fn every_compressor_round_trips() {
        let page: Vec<u8> = (0..4096u32).map(|i| (i / 7 % 13) as u8).collect();
        for c in Compressor::ALL {
            let out = c
                .compress(&page)
                .unwrap_or_else(|| panic!("{c} did not shrink"));
            assert_eq!(decompress(c.code(), &out, page.len()).unwrap(), page, "{c}");
        }
    }

    #[test]
    fn incompressible_page_is_stored_raw() {
        let mut x = 0x1234_5678u32;
        let page: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let (c, out) = Compression::default().compress_page(&page);
        assert_eq!((c, out.as_slice()), (code::NONE, page.as_slice()));
    }

    #[test]
    fn priority_and_size_modes() {
        let page = vec![7u8; 4096];
        let mut c = Compression::default();
        assert_eq!(c.compress_page(&page).0, code::ZLIB);
        c.enable(Compressor::Lzo);
        assert_eq!(
            c.enabled(),
            [Compressor::Lzo, Compressor::Zlib, Compressor::Rtime]
        );
        assert_eq!(c.compress_page(&page).0, code::LZO);
        c.mode = Mode::Size;
        let (code, out) = c.compress_page(&page);
        assert!(out.len() < 40, "{code} gave {} bytes", out.len());
        assert_eq!(Compression::none().compress_page(&page).0, code::NONE);
    }

    #[test]
    fn wrong_sizes_are_errors() {
        assert_eq!(
            decompress(code::NONE, b"abc", 4).unwrap_err().detail(),
            "data decompresses to 3 bytes, but the node's dsize is 4"
        );
        assert!(decompress(code::ZLIB, b"not zlib", 4).is_err());
        assert!(decompress(0x42, b"", 0).is_err());
    }
}
