//! The one error type of this crate: what went wrong ([`ErrorKind`]) with the file and
//! line it was found at as fields, so callers add their own context without parsing text.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// An error reading module metadata or resolving modules.
///
/// Displayed as `<path> line <line>: <what>`, each prefix only when known:
/// `modules.dep line 2: expected "module.ko: dependencies...", but got "not a module line"`.
#[derive(Debug)]
pub struct Error {
    /// The file concerned: an index such as `modules.dep` (as the caller named it), a
    /// module object, or the module directory.
    pub path: Option<PathBuf>,
    /// The 1-based line of `path` (text indexes only).
    pub line: Option<u32>,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// What went wrong; values, never advice about command-line options.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A line that does not have the shape its file requires.
    Syntax {
        /// What the line should look like (`"alias <pattern> <module>"`).
        expected: &'static str,
        /// The line, or the word of it that is wrong.
        got: String,
    },
    /// A `softdep` line of modules.softdep without a module name.
    SoftdepWithoutModule,
    /// A module object without the ELF magic.
    NotElf,
    /// `e_ident[EI_CLASS]` is neither 1 (32-bit) nor 2 (64-bit); `None` past the end.
    ElfClass {
        /// The byte found.
        got: Option<u8>,
    },
    /// `e_ident[EI_DATA]` is neither 1 (little-endian) nor 2 (big-endian).
    ElfDataEncoding {
        /// The byte found.
        got: Option<u8>,
    },
    /// A structure of the ELF object lies past its end.
    ElfTruncated {
        /// Which structure (`section header 3`).
        what: String,
        /// The object's size in bytes.
        len: usize,
    },
    /// The name says compressed (`.ko.xz`) but the data does not start with that magic.
    CompressionMagic {
        /// The format the name says (`xz`).
        format: &'static str,
    },
    /// Decompressing a module failed.
    Decompress {
        /// The format (`zstd`).
        format: &'static str,
        /// The decoder's error.
        source: io::Error,
    },
    /// Reading a file or directory failed.
    Io(io::Error),
    /// The module directory of a kernel does not exist.
    NoModuleDirectory {
        /// The kernel version.
        kver: String,
    },
    /// A name asked for is no module, alias or builtin of the kernel.
    ModuleNotFound {
        /// The name as asked for.
        name: String,
        /// The kernel version.
        kver: String,
        /// The module directory searched.
        dir: Box<Path>,
    },
    /// A module depends on a module the tree does not have.
    MissingDependency {
        /// The module (normalized name).
        module: String,
        /// The dependency it names.
        dep: String,
        /// The kernel version.
        kver: String,
        /// The module directory.
        dir: Box<Path>,
    },
}

impl Error {
    /// An error about no file in particular.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            path: None,
            line: None,
            kind,
        }
    }

    /// An error found at `line` (1-based) of `path`.
    pub fn at_line(path: impl AsRef<Path>, line: usize, kind: ErrorKind) -> Self {
        Self {
            path: Some(path.as_ref().to_path_buf()),
            line: Some(u32::try_from(line).unwrap_or(u32::MAX)),
            kind,
        }
    }

    /// An error about the file `path`.
    pub fn at_path(path: impl AsRef<Path>, kind: ErrorKind) -> Self {
        Self::new(kind).with_path(path)
    }

    /// The same error, about the file `path`.
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Self {
        self.path = Some(path.as_ref().to_path_buf());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}", path.display())?;
            if let Some(line) = self.line {
                write!(f, " line {line}")?;
            }
            write!(f, ": ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { expected, got } => write!(f, "expected {expected}, but got {got:?}"),
            Self::SoftdepWithoutModule => write!(f, "\"softdep\" without a module name"),
            Self::NotElf => write!(f, "not an ELF object (expected magic 7f 45 4c 46)"),
            Self::ElfClass { got } => write!(f, "ELF class: expected 1 or 2 but got {got:?}"),
            Self::ElfDataEncoding { got } => {
                write!(f, "ELF data encoding: expected 1 or 2 but got {got:?}")
            }
            Self::ElfTruncated { what, len } => write!(
                f,
                "truncated ELF object: {what} is past the end ({len} bytes)"
            ),
            Self::CompressionMagic { format } => write!(
                f,
                "expected {format} data (by its name), but the magic does not match"
            ),
            Self::Decompress { format, source } => {
                write!(f, "{format} decompression failed: {source}")
            }
            Self::Io(e) => write!(f, "cannot read: {e}"),
            Self::NoModuleDirectory { kver } => {
                write!(f, "no such module directory for kernel {kver}")
            }
            Self::ModuleNotFound { name, kver, dir } => write!(
                f,
                "module {name} not found for kernel {kver} (not a module, alias or builtin in {})",
                dir.display()
            ),
            Self::MissingDependency {
                module,
                dep,
                kver,
                dir,
            } => write!(
                f,
                "module {module} needs {dep}, which is not in the modules of kernel {kver} ({})",
                dir.display()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) | ErrorKind::Decompress { source: e, .. } => Some(e),
            _ => None,
        }
    }
}
