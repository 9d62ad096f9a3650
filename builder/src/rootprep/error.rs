//! The one error type of preparing a root for JFFS2: each variant names the file, the
//! path inside the root, or the tool involved.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use super::fstab::FstabProblem;
use crate::atomic::AtomicError;

#[derive(Debug)]
pub enum Error {
    /// A file operation (`action`: "stat", "list", "remove", "chmod 0755"...) on `path`.
    Io(crate::file_error::FileError),
    /// A file written atomically (the localedef wrapper).
    Atomic(AtomicError),
    /// The root to import is not a directory.
    SourceNotDir { path: PathBuf },
    /// The copy's target holds files already.
    TargetNotEmpty { path: PathBuf },
    /// Any error while preparing `root` (after the copy).
    InRoot { root: PathBuf, source: Box<Error> },
    /// `path` (inside the root) must be a directory, because `why`, but it is `what`.
    NotADir {
        path: String,
        why: &'static str,
        what: String,
    },
    /// The config's `role` (such as "overlay path") `path` must be a directory, but is `what`.
    NotADirFor {
        role: String,
        path: String,
        what: String,
    },
    /// A mode that is not octal permissions.
    Mode { text: String },
    /// A config value (`key`, such as `tmpfs[0].mode (/tmp)`) refused.
    ConfigValue { key: String, source: Box<Error> },
    /// Resolving `path` inside `root` met more than `max` symlinks.
    SymlinkLoop {
        path: String,
        root: PathBuf,
        max: usize,
    },
    /// The root's fstab (`path`) has a broken flashroot block.
    Fstab {
        path: PathBuf,
        problem: FstabProblem,
    },
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

impl Error {
    /// A failed file operation; `action` as in "cannot {action} {path}".
    pub(crate) fn io(
        action: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let make = crate::file_error::FileError::at(action, path);
        move |source| Self::Io(make(source))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Atomic(e) => write!(f, "{e}"),
            Self::SourceNotDir { path } => {
                write!(f, "source root {} is not a directory", path.display())
            }
            Self::TargetNotEmpty { path } => write!(
                f,
                "target {} is not empty; give a new or empty directory",
                path.display()
            ),
            Self::InRoot { root, source } => {
                write!(f, "preparing root {}: {source}", root.display())
            }
            Self::NotADir { path, why, what } => {
                write!(f, "{path} must be a directory ({why}), but it is {what}")
            }
            Self::NotADirFor { role, path, what } => {
                write!(f, "{role} {path} must be a directory, but it is {what}")
            }
            Self::Mode { text } => write!(
                f,
                "expected an octal mode such as 1777 or 0755, but got {text:?}"
            ),
            Self::ConfigValue { key, source } => write!(f, "config {key}: {source}"),
            Self::SymlinkLoop { path, root, max } => write!(
                f,
                "{path} in {}: more than {max} symlinks (a loop?)",
                root.display()
            ),
            Self::Fstab { path, problem } => write!(f, "{}: {problem}", path.display()),
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

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ToolMissing { source, .. } => Some(source),
            Self::Io(e) => Some(&e.source),
            Self::Atomic(e) => Some(e),
            Self::InRoot { source, .. } | Self::ConfigValue { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<AtomicError> for Error {
    fn from(e: AtomicError) -> Self {
        Self::Atomic(e)
    }
}
