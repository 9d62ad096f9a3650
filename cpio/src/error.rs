//! The one error type of this crate: what went wrong ([`ErrorKind`]), with the byte
//! offset of the header (reading) and the archive path of the entry (reading and
//! writing) as fields, so callers can add their own context without parsing text.

use std::fmt;
use std::io;

use crate::newc::{MAX_FILE_SIZE, TRAILER};

/// An error reading or writing a newc archive.
///
/// Displayed as `offset <offset>: <path>: <what>`, each prefix only when known:
/// `offset 1000: etc/a: 8 bytes of data run past the end`.
#[derive(Debug)]
pub struct Error {
    /// Byte offset of the entry's header in the input (reader errors only), counted from
    /// the `base` given to the reader.
    pub offset: Option<u64>,
    /// The entry's path as stored in the archive (`dev/console`), when one is concerned.
    pub path: Option<String>,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// What went wrong; values, never advice about command-line options.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A header does not start with `070701` or `070702`.
    BadMagic {
        /// The first 6 bytes of the header.
        got: Vec<u8>,
    },
    /// A header field is not 8 hex digits.
    BadField {
        /// The field's name (`filesize`).
        field: &'static str,
        /// Its 8 bytes, lossily as text.
        text: String,
    },
    /// The input ends inside a header, before a trailer.
    TruncatedHeader,
    /// The name (of `namesize` bytes, NUL included) runs past the end of the input.
    NameRunsPast {
        /// The header's `namesize`.
        namesize: u32,
    },
    /// The last byte of the name is not NUL.
    NameNotNulTerminated,
    /// The entry's data (`filesize` bytes) runs past the end of the input.
    DataRunsPast {
        /// The header's `filesize`.
        filesize: u32,
    },
    /// A path with an empty, `.` or `..` component, or a NUL byte.
    BadPath,
    /// Only a directory can stand for the archive root (`/`, `.`).
    RootNotDirectory,
    /// The path is in the archive already, with this mode (type and permission bits).
    AlreadyInArchive {
        /// The mode it was written with.
        mode: u32,
    },
    /// A directory is added again with another mode than the first time.
    DirectoryModeConflict {
        /// The mode it was written with.
        existing: u32,
        /// The mode asked for now.
        wanted: u32,
    },
    /// A parent of the path is in the archive but is no directory.
    ParentNotDirectory {
        /// The parent's path.
        parent: String,
        /// The parent's mode.
        mode: u32,
    },
    /// A symlink needs a target.
    EmptySymlinkTarget,
    /// A hard link set needs at least one name.
    EmptyLinkSet,
    /// A hard link set names the same path twice.
    NamedTwiceInLinkSet,
    /// More names in a hard link set than `nlink` can count.
    TooManyLinks,
    /// A file larger than `filesize` (a u32) can describe.
    TooLarge {
        /// The file's size in bytes.
        size: u64,
    },
    /// A streamed file gave another number of bytes than declared: `read` is what it
    /// gave when it ended early, `None` when it had more to give.
    SizeChanged {
        /// The size written in the header.
        declared: u64,
        /// What the reader gave, when less.
        read: Option<u64>,
    },
    /// Reading a streamed file's data failed.
    Read(io::Error),
    /// Writing the archive failed.
    Write(io::Error),
    /// An earlier error left the archive incomplete; it must be discarded.
    Incomplete,
}

impl Error {
    /// An error about no entry in particular.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            offset: None,
            path: None,
            kind,
        }
    }

    /// An error about the entry at `path`.
    pub fn at_path(path: impl Into<String>, kind: ErrorKind) -> Self {
        Self {
            offset: None,
            path: Some(path.into()),
            kind,
        }
    }

    /// The same error, found at byte `offset` of the input.
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// The same error, about the entry at `path`.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(offset) = self.offset {
            write!(f, "offset {offset}: ")?;
        }
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic { got } => write!(
                f,
                "expected newc magic \"070701\" but got {:?}",
                String::from_utf8_lossy(got)
            ),
            Self::BadField { field, text } => {
                write!(f, "field {field}: expected 8 hex digits but got {text:?}")
            }
            Self::TruncatedHeader => {
                write!(f, "truncated newc header (archive ends without {TRAILER})")
            }
            Self::NameRunsPast { namesize } => {
                write!(f, "name of {namesize} bytes runs past the end")
            }
            Self::NameNotNulTerminated => write!(f, "name is not NUL-terminated"),
            Self::DataRunsPast { filesize } => {
                write!(f, "{filesize} bytes of data run past the end")
            }
            Self::BadPath => write!(
                f,
                "expected a path without empty, \".\" or \"..\" components and without NUL"
            ),
            Self::RootNotDirectory => write!(f, "the archive root can only be a directory"),
            Self::AlreadyInArchive { mode } => {
                write!(f, "already in the archive (mode {mode:06o})")
            }
            Self::DirectoryModeConflict { existing, wanted } => write!(
                f,
                "already in the archive with mode {existing:06o}, cannot add it as \
                 directory {wanted:06o} (add directories before their contents to choose their mode)"
            ),
            Self::ParentNotDirectory { parent, mode } => write!(
                f,
                "its parent {parent} is in the archive but not a directory (mode {mode:06o})"
            ),
            Self::EmptySymlinkTarget => write!(f, "a symlink target cannot be empty"),
            Self::EmptyLinkSet => write!(f, "a hard link set needs at least one name"),
            Self::NamedTwiceInLinkSet => write!(f, "named twice in one hard link set"),
            Self::TooManyLinks => write!(f, "too many hard links"),
            Self::TooLarge { size } => write!(
                f,
                "{size} bytes is larger than newc allows ({MAX_FILE_SIZE} bytes)"
            ),
            Self::SizeChanged { declared, read } => {
                write!(f, "expected {declared} bytes but read ")?;
                match read {
                    Some(n) => write!(f, "only {n}")?,
                    None => write!(f, "more")?,
                }
                write!(f, "; did it change while being packed?")
            }
            Self::Read(e) => write!(f, "reading: {e}"),
            Self::Write(e) => write!(f, "writing the archive: {e}"),
            Self::Incomplete => write!(
                f,
                "the archive is incomplete after an earlier error and must be discarded"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Read(e) | ErrorKind::Write(e) => Some(e),
            _ => None,
        }
    }
}

/// For callers that work in [`io::Result`]: the text is kept, the kind is the I/O error's
/// own for read and write failures, `InvalidData` for bad input and changed files, and
/// `InvalidInput` for calls the writer refuses.
impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e.kind {
            ErrorKind::Read(io) | ErrorKind::Write(io) => io.kind(),
            ErrorKind::BadMagic { .. }
            | ErrorKind::BadField { .. }
            | ErrorKind::TruncatedHeader
            | ErrorKind::NameRunsPast { .. }
            | ErrorKind::NameNotNulTerminated
            | ErrorKind::DataRunsPast { .. }
            | ErrorKind::SizeChanged { .. } => io::ErrorKind::InvalidData,
            ErrorKind::Incomplete => io::ErrorKind::Other,
            _ => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}
