//! Why a wear report could not be made: each error names the file, and for the trace the line.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::fat_layout::LayoutError;
use super::trace::LineProblem;

#[derive(Debug)]
pub enum Error {
    /// The file could not be opened or read.
    Io { path: PathBuf, source: io::Error },
    /// A `blk_co_pwritev` line of the trace that does not parse.
    TraceLine {
        path: PathBuf,
        line: usize,
        problem: LineProblem,
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
    Card { path: PathBuf, source: LayoutError },
    /// A write in the trace reaches past the end of the card image.
    WriteBeyondCard {
        path: PathBuf,
        line: usize,
        end: u64,
        card_bytes: u64,
    },
    /// The PNG could not be drawn or written; `reason` is the drawing library's message.
    Png { path: PathBuf, reason: String },
    /// The heat map's font file could not be read or is no TrueType font.
    Font { path: PathBuf, problem: FontProblem },
}

/// What is wrong with the heat map's font (kept once per process, so `Clone`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FontProblem {
    /// Reading the file failed; the I/O error's text.
    Unreadable {
        error: String,
    },
    NotTrueType,
}

impl fmt::Display for FontProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable { error } => write!(
                f,
                "{error} (the heat map's font; install fonts-dejavu-core)"
            ),
            Self::NotTrueType => f.write_str("not a TrueType font"),
        }
    }
}

impl Error {
    /// The backends of [`Error::AmbiguousBackend`], one indented line each, for a
    /// message that says how to choose one.
    pub fn backend_lines(backends: &[BackendSummary]) -> String {
        backends
            .iter()
            .map(|b| {
                format!(
                    "\n  blk {:#x}: {} writes, first at line {}, up to byte {}",
                    b.blk, b.writes, b.first_line, b.highest_byte
                )
            })
            .collect()
    }
}

/// One backend of a trace, for the message that asks to choose one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSummary {
    pub blk: u64,
    pub writes: usize,
    pub first_line: usize,
    pub highest_byte: u64,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::TraceLine {
                path,
                line,
                problem,
            } => {
                write!(f, "{}:{line}: {problem}", path.display())
            }
            Self::AmbiguousBackend { path, backends } => write!(
                f,
                "{}: writes of {} block backends; choose the card's:{}",
                path.display(),
                backends.len(),
                Self::backend_lines(backends)
            ),
            Self::UnknownBackend { path, blk } => {
                write!(f, "{}: no write of block backend {blk:#x}", path.display())
            }
            Self::NoWrites { path } => write!(
                f,
                "{}: no blk_co_pwritev line (was QEMU run with -d trace:blk_co_pwritev?)",
                path.display()
            ),
            Self::Card { path, source } => write!(f, "{}: {source}", path.display()),
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
            Self::Font { path, problem } => write!(f, "{}: {problem}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Card { source, .. } => Some(source),
            _ => None,
        }
    }
}
