//! Why a wear report could not be made: each error names the file, and for the trace the line.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum WearError {
    /// The file could not be opened or read.
    Io { path: PathBuf, source: io::Error },
    /// A `blk_co_pwritev` line of the trace that does not parse.
    TraceLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// The trace holds writes of several QEMU block backends and none was chosen.
    AmbiguousBackend {
        path: PathBuf,
        backends: Vec<BackendSummary>,
    },
    /// The chosen backend wrote nothing in this trace.
    UnknownBackend { path: PathBuf, blk: u64 },
    /// The trace has no `blk_co_pwritev` line at all (tracing was not on).
    NoWrites { path: PathBuf },
    /// The card image's partition table or FAT structures do not parse.
    Card { path: PathBuf, reason: String },
    /// A write in the trace reaches past the end of the card image.
    WriteBeyondCard {
        path: PathBuf,
        line: usize,
        end: u64,
        card_bytes: u64,
    },
    /// The PNG could not be drawn or written.
    Png { path: PathBuf, reason: String },
}

/// One backend of a trace, for the message that asks to choose one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSummary {
    pub blk: u64,
    pub writes: usize,
    pub first_line: usize,
    pub highest_byte: u64,
}

impl fmt::Display for WearError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::TraceLine { path, line, reason } => {
                write!(f, "{}:{line}: {reason}", path.display())
            }
            Self::AmbiguousBackend { path, backends } => {
                write!(
                    f,
                    "{}: writes of {} block backends; choose the card's with --blk:",
                    path.display(),
                    backends.len()
                )?;
                for b in backends {
                    write!(
                        f,
                        "\n  blk {:#x}: {} writes, first at line {}, up to byte {}",
                        b.blk, b.writes, b.first_line, b.highest_byte
                    )?;
                }
                Ok(())
            }
            Self::UnknownBackend { path, blk } => {
                write!(f, "{}: no write of block backend {blk:#x}", path.display())
            }
            Self::NoWrites { path } => write!(
                f,
                "{}: no blk_co_pwritev line (was QEMU run with -d trace:blk_co_pwritev?)",
                path.display()
            ),
            Self::Card { path, reason } => write!(f, "{}: {reason}", path.display()),
            Self::WriteBeyondCard {
                path,
                line,
                end,
                card_bytes,
            } => write!(
                f,
                "{}:{line}: write ends at byte {end}, beyond the {card_bytes}-byte card \
                 (is this the card's backend and the right card image?)",
                path.display()
            ),
            Self::Png { path, reason } => write!(f, "{}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for WearError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
