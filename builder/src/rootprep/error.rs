//! The ways preparing a Debian root for JFFS2 can fail beyond plain file operations: each
//! names the file and the tool involved.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

#[derive(Debug)]
pub enum PrepError {
    /// A host tool could not be started at all.
    ToolMissing {
        tool: &'static str,
        package: &'static str,
        source: io::Error,
    },
    /// A host tool ran and failed.
    ToolFailed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// `path` is diverted already, but not as flashroot diverts it.
    DivertedElsewhere {
        root: PathBuf,
        path: &'static str,
        to: String,
        by: String,
        wanted: &'static str,
    },
    /// `path` holds flashroot's wrapper, yet dpkg records no diversion: diverting now would
    /// move the wrapper over the real program.
    WrapperWithoutDiversion { root: PathBuf, path: &'static str },
    /// `path` must be a regular file.
    NotAFile {
        path: &'static str,
        what: String,
        why: &'static str,
    },
}

impl fmt::Display for PrepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ToolMissing {
                tool,
                package,
                source,
            } => write!(
                f,
                "cannot run {tool} (install Debian package {package}): {source}"
            ),
            Self::ToolFailed {
                command,
                status,
                stderr,
            } => write!(f, "`{command}` failed ({status}): {stderr}"),
            Self::DivertedElsewhere {
                root,
                path,
                to,
                by,
                wanted,
            } => write!(
                f,
                "{path} in {} is already diverted to {to} by {by}; flashroot needs a local \
                 diversion to {wanted} (dpkg-divert --root {} --list {path})",
                root.display(),
                root.display()
            ),
            Self::WrapperWithoutDiversion { root, path } => write!(
                f,
                "{path} in {} is flashroot's wrapper, but dpkg records no diversion of it, so \
                 the real program is gone; reinstall its package, then import again",
                root.display()
            ),
            Self::NotAFile { path, what, why } => {
                write!(f, "{path} must be a regular file ({why}), but it is {what}")
            }
        }
    }
}

impl std::error::Error for PrepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ToolMissing { source, .. } => Some(source),
            _ => None,
        }
    }
}
