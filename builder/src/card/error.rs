//! The one error type of card making: each variant names the file, the card directory or
//! image, or the tool and its Debian package.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use crate::atomic::AtomicError;

#[derive(Debug)]
pub enum Error {
    /// An input (`what`: "kernel", "initramfs", "container", "file") that is not a file.
    NotAFile { what: &'static str, path: PathBuf },
    /// The mounted card directory is missing.
    NoCardDir { dir: PathBuf },
    /// A file operation (`action`: "stat", "read", "create", "rename X to"...) on `path`.
    Io(crate::file_error::FileError),
    /// An output written atomically.
    Atomic(AtomicError),
    /// The disk image or its FAT volume.
    Disk(crate::disk::Error),
    /// Tools for the boot loader are missing: "tool (package X)" items, and the packages.
    MissingTools {
        missing: Vec<String>,
        packages: String,
    },
    /// A tool could not be started.
    Spawn { program: PathBuf, source: io::Error },
    /// A tool ran and failed.
    ToolFailed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// The MBR boot code file is too short.
    ShortBootCode {
        path: PathBuf,
        bytes: usize,
        needed: usize,
    },
    /// Installing syslinux into the image `image` failed.
    Syslinux { image: PathBuf, source: Box<Error> },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAFile { what, path } => write!(f, "{what} {} is not a file", path.display()),
            Self::NoCardDir { dir } => {
                write!(f, "card directory {} does not exist", dir.display())
            }
            Self::Io(e) => write!(f, "{e}"),
            Self::Atomic(e) => write!(f, "{e}"),
            Self::Disk(e) => write!(f, "{e}"),
            Self::MissingTools { missing, packages } => write!(
                f,
                "installing the boot loader needs {}; install them with: apt-get install {packages}",
                missing.join(", ")
            ),
            Self::Spawn { program, source } => {
                write!(f, "cannot run {}: {source}", program.display())
            }
            Self::ToolFailed {
                command,
                status,
                stderr,
            } => write!(f, "`{command}` failed ({status}): {stderr}"),
            Self::ShortBootCode {
                path,
                bytes,
                needed,
            } => write!(
                f,
                "{} is {bytes} bytes; expected at least the {needed}-byte boot code",
                path.display()
            ),
            Self::Syslinux { image, source } => {
                write!(f, "installing syslinux into {}: {source}", image.display())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(&e.source),
            Self::Spawn { source, .. } => Some(source),
            Self::Atomic(e) => Some(e),
            Self::Disk(e) => Some(e),
            Self::Syslinux { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<AtomicError> for Error {
    fn from(e: AtomicError) -> Self {
        Self::Atomic(e)
    }
}

impl From<crate::disk::Error> for Error {
    fn from(e: crate::disk::Error) -> Self {
        Self::Disk(e)
    }
}

impl Error {
    /// A failed file operation: "cannot {action} {path}: {error}".
    pub(crate) fn io(
        action: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let make = crate::file_error::FileError::at(action, path);
        move |source| Self::Io(make(source))
    }
}
