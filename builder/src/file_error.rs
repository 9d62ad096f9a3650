//! A failed file operation, as the card, rootprep and layered errors all report one:
//! what was being done, to which path, and the system's answer.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub struct FileError {
    /// As in "cannot {action} {path}": "create", "copy", "set \"user.x\" on"...
    pub action: String,
    pub path: PathBuf,
    pub source: io::Error,
}

impl FileError {
    /// The error maker for `map_err`.
    pub fn at(
        action: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let (action, path) = (action.into(), path.into());
        move |source| Self {
            action,
            path,
            source,
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} {}: {}",
            self.action,
            self.path.display(),
            self.source
        )
    }
}
