//! The output disk: a raw disk the guest writes its results to, read back after the run.
//!
//! # Framing
//!
//! At byte 0 of the disk the guest writes one header line, then the payload:
//!
//! ```text
//! FLASHROOT-OUTPUT <length in decimal bytes>\n
//! <exactly length bytes of payload>
//! ```
//!
//! From a guest shell (the output disk is the last disk; `/dev/vdb` if it is the second virtio disk):
//!
//! ```sh
//! { printf 'FLASHROOT-OUTPUT %d\n' "$(wc -c < report.json)"; cat report.json; } > /dev/vdb
//! sync
//! ```
//!
//! A disk still starting with a zero byte means the guest wrote nothing.

/// The first word of the header line.
pub const MAGIC: &str = "FLASHROOT-OUTPUT";
/// Longest header line accepted: magic, space, 20 digits, newline.
pub const MAX_HEADER: usize = MAGIC.len() + 1 + 20 + 1;

/// The header and payload a guest writes; for guests written in Rust and for tests.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut framed = format!("{MAGIC} {}\n", payload.len()).into_bytes();
    framed.extend_from_slice(payload);
    framed
}

/// What is wrong with the frame at the start of an output disk; the header and lengths
/// travel as fields, the caller adds the disk's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// No newline in the first [`MAX_HEADER`] bytes, which start with `start`.
    NoHeaderLine { start: String },
    /// The header line is not UTF-8.
    NotUtf8 { header: Vec<u8> },
    /// The header does not start with [`MAGIC`] and a space.
    Magic { header: String },
    /// The length after the magic is not a decimal number.
    Length {
        header: String,
        length: String,
        reason: String,
    },
    /// The header announces more bytes than the disk holds after it.
    Truncated {
        header: String,
        length: usize,
        available: usize,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoHeaderLine { start } => write!(
                f,
                "no header line within the first {MAX_HEADER} bytes (starts {start:?})"
            ),
            Self::NotUtf8 { header } => write!(f, "header {header:?} is not UTF-8"),
            Self::Magic { header } => {
                write!(f, "header {header:?} does not start with \"{MAGIC} \"")
            }
            Self::Length {
                header,
                length,
                reason,
            } => write!(
                f,
                "header {header:?}: length {length:?} is not a number: {reason}"
            ),
            Self::Truncated {
                header,
                length,
                available,
            } => write!(
                f,
                "header {header:?} announces {length} bytes but the disk holds {available} after it"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// The payload framed at the start of `disk`, `Ok(None)` if the guest wrote nothing,
/// or an error saying what is wrong with the frame.
pub fn decode(disk: &[u8]) -> Result<Option<&[u8]>, FrameError> {
    if disk.first().is_none_or(|&b| b == 0) {
        return Ok(None);
    }
    let window = &disk[..disk.len().min(MAX_HEADER)];
    let newline =
        window
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| FrameError::NoHeaderLine {
                start: String::from_utf8_lossy(window).into_owned(),
            })?;
    let header = std::str::from_utf8(&window[..newline]).map_err(|_| FrameError::NotUtf8 {
        header: window[..newline].to_vec(),
    })?;
    let length = header
        .strip_prefix(MAGIC)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or_else(|| FrameError::Magic {
            header: header.into(),
        })?;
    let length: usize = length.parse().map_err(|e| FrameError::Length {
        header: header.into(),
        length: length.into(),
        reason: format!("{e}"),
    })?;
    let start = newline + 1;
    let payload = disk
        .get(start..start + length)
        .ok_or_else(|| FrameError::Truncated {
            header: header.into(),
            length,
            available: disk.len() - start,
        })?;
    Ok(Some(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_trailing_zeros() {
        let mut disk = encode(b"{\"root\":\"jffs2\"}\n");
        assert_eq!(&disk[..20], b"FLASHROOT-OUTPUT 17\n");
        disk.resize(4096, 0);
        assert_eq!(decode(&disk).unwrap(), Some(&b"{\"root\":\"jffs2\"}\n"[..]));
    }

    #[test]
    fn empty_disk_means_nothing_written() {
        assert_eq!(decode(&[0u8; 512]).unwrap(), None);
        assert_eq!(decode(&[]).unwrap(), None);
    }

    #[test]
    fn bad_frames_say_why() {
        let short = decode(b"FLASHROOT-OUTPUT 10\nabc").unwrap_err().to_string();
        assert!(
            short.contains("announces 10 bytes but the disk holds 3"),
            "{short}"
        );
        let magic = decode(b"HELLO 3\nabc").unwrap_err().to_string();
        assert!(magic.contains("does not start with"), "{magic}");
        let number = decode(b"FLASHROOT-OUTPUT x\n").unwrap_err().to_string();
        assert!(number.contains("is not a number"), "{number}");
        let no_line = decode(&[b'F'; 100]).unwrap_err().to_string();
        assert!(no_line.contains("no header line"), "{no_line}");
    }

    #[test]
    fn zero_length_payload_is_some_empty() {
        assert_eq!(decode(b"FLASHROOT-OUTPUT 0\n\0\0").unwrap(), Some(&b""[..]));
    }
}
