//! One error type for the harness; every variant names the file, command or parameter involved.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// Everything that can go wrong while fetching a kernel or booting a guest.
#[derive(Debug)]
pub enum Error {
    /// A filesystem operation on `path` failed; `action` says which ("create", "read", ...).
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A host program is not installed; `package` is the Debian package that provides it.
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    /// A host program could not be started (other than "not found").
    Spawn { command: String, source: io::Error },
    /// A host program ran but failed.
    CommandFailed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// Output of a host program, or a file, did not have the expected shape.
    Unexpected { what: String, detail: String },
    /// A caller-supplied parameter is out of range.
    InvalidParameter { name: &'static str, detail: String },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn unexpected(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Unexpected {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            Error::MissingTool { tool, package } => write!(
                f,
                "`{tool}` not found in PATH; install the Debian package `{package}` (apt-get install {package})"
            ),
            Error::Spawn { command, source } => write!(f, "cannot run `{command}`: {source}"),
            Error::CommandFailed {
                command,
                status,
                stderr,
            } => write!(f, "`{command}` failed ({status}): {}", stderr.trim_end()),
            Error::Unexpected { what, detail } => write!(f, "unexpected {what}: {detail}"),
            Error::InvalidParameter { name, detail } => {
                write!(f, "invalid parameter `{name}`: {detail}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::Spawn { source, .. } => Some(source),
            _ => None,
        }
    }
}
