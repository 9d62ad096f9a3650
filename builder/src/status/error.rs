//! Why a status could not be read: each error names the file or device.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum StatusError {
    /// A file the report needs could not be read.
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A file had a shape the report does not understand.
    Parse { path: PathBuf, reason: String },
    /// This system was not booted by flashroot's init.
    NotFlashroot { path: PathBuf },
}

impl StatusError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StatusError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusError::Io { what, path, source } => {
                write!(f, "{}: cannot {what}: {source}", path.display())
            }
            StatusError::Parse { path, reason } => write!(f, "{}: {reason}", path.display()),
            StatusError::NotFlashroot { path } => write!(
                f,
                "{} is missing: this system was not booted from a card by flashroot's init",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StatusError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StatusError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
