//! The one error type of the `flashroot build` pipeline and of reading images back: each
//! variant carries the path, origin, line or offset involved; messages describe values
//! (the CLI adds its flags, see `cmd/build.rs`).

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A boxed error of another crate area (module resolution, the cpio reader).
pub type Source = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug)]
pub enum Error {
    /// `path` is planned twice: by `first` and by `second` (origins such as "the init").
    Twice {
        path: String,
        first: String,
        second: String,
    },
    /// A path from `origin` that an archive cannot hold.
    Path { origin: String, source: io::Error },
    /// Something other than a directory at the archive root.
    RootNotDir { origin: String },
    /// A hard link set names `link` twice.
    LinkTwice { origin: String, link: String },
    /// Writing `path` (from `origin`) into the archive failed.
    Write {
        path: String,
        origin: String,
        source: io::Error,
    },
    /// The archive's trailer could not be written.
    Finish(io::Error),
    /// The module tree could not be loaded or resolved.
    Modules(Source),
    /// A module's `.modinfo` does not read.
    Modinfo {
        module: String,
        source_path: String,
        source: Source,
    },
    /// The config asks for modules, but there is no module tree.
    NoModuleTree,
    /// The config's `[initramfs] shell` file is missing.
    ShellMissing { shell: String },
    /// A `[[initramfs.files]]` source is missing.
    HostTreeMissing { source_path: PathBuf },
    /// Walking a `[[initramfs.files]]` source failed.
    HostTree {
        source_path: PathBuf,
        source: walkdir::Error,
    },
    /// A host file of the tree could not be read.
    HostFile { path: PathBuf, source: io::Error },
    /// A gen_init_cpio spec could not be read.
    SpecRead { path: PathBuf, source: io::Error },
    /// A line of a gen_init_cpio spec does not parse.
    Spec {
        file: String,
        line: usize,
        problem: SpecProblem,
    },
    /// A line of a modalias list is no modalias.
    NotAModalias {
        file: String,
        line: usize,
        text: String,
    },
    /// A modalias list without any.
    NoModalias { file: String },
    /// A module directory whose name is no kernel version.
    ModulesDirUnnamed { dir: PathBuf },
    /// A module directory that is not a directory.
    ModulesDirMissing { dir: PathBuf },
    /// No module tree `dir` for kernel `kver`; `found` lists those under `root`.
    KernelMissing {
        kver: String,
        dir: PathBuf,
        root: PathBuf,
        found: Vec<String>,
    },
    /// No module tree at all under `root`.
    NoKernels {
        root: PathBuf,
        running: Option<String>,
    },
    /// The kernel's build config (`config`) lacks the option (`option=y`) to unpack
    /// `compression`.
    KernelCannotUnpack {
        config: String,
        option: &'static str,
        compression: &'static str,
    },
    /// Compressed data of an image, at `offset`, does not decompress.
    ImageData {
        offset: usize,
        compression: &'static str,
        source: io::Error,
    },
    /// An archive of an image does not read; `compression` is the stream it is in.
    ImageArchive {
        offset: usize,
        compression: Option<&'static str>,
        source: Source,
    },
    /// Bytes at `offset` that are neither an archive nor compressed data.
    ImageUnknown { offset: usize, start: Vec<u8> },
}

/// What is wrong with one line of a gen_init_cpio spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecProblem {
    /// Too few (or, but for `file`, too many) fields for `usage`.
    Fields {
        usage: &'static str,
        got: usize,
    },
    DeviceType {
        got: String,
    },
    Mode {
        got: String,
    },
    DeviceNumber {
        got: String,
    },
    /// `what` is "uid" or "gid".
    Owner {
        what: &'static str,
        got: String,
    },
    /// `${` without `}` in `text`.
    Unclosed {
        text: String,
    },
    /// `${var}` in `text` names an unset environment variable.
    Unset {
        text: String,
        var: String,
    },
    /// An unknown line type.
    Kind {
        got: String,
    },
}

impl fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fields { usage, got } => {
                write!(f, "expected \"{usage}\", but got {got} fields")
            }
            Self::DeviceType { got } => {
                write!(f, "device type: expected \"c\" or \"b\", but got {got:?}")
            }
            Self::Mode { got } => write!(
                f,
                "mode: expected octal permissions such as 0755, but got {got:?}"
            ),
            Self::DeviceNumber { got } => {
                write!(f, "expected a device number, but got {got:?}")
            }
            Self::Owner { what, got } => write!(f, "{what}: expected a number, but got {got:?}"),
            Self::Unclosed { text } => write!(f, "unclosed \"${{\" in {text:?}"),
            Self::Unset { text, var } => {
                write!(f, "{text:?}: environment variable {var} is not set")
            }
            Self::Kind { got } => write!(
                f,
                "expected file, dir, nod, slink, pipe or sock, but got {got:?}"
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Twice {
                path,
                first,
                second,
            } => write!(f, "/{path} is added twice: by {first} and by {second}"),
            Self::Path { origin, source } => write!(f, "{origin}: {source}"),
            Self::RootNotDir { origin } => write!(
                f,
                "{origin}: the archive root \"/\" can only be a directory"
            ),
            Self::LinkTwice { origin, link } => {
                write!(f, "{origin}: /{link} is named twice in one hard link set")
            }
            Self::Write {
                path,
                origin,
                source,
            } => write!(f, "{path} ({origin}): {source}"),
            Self::Finish(e) => write!(f, "finishing the archive: {e}"),
            Self::Modules(e) => write!(f, "{e}"),
            Self::Modinfo {
                module,
                source_path,
                source,
            } => write!(f, "module {module} ({source_path}): {source}"),
            Self::NoModuleTree => {
                f.write_str("the config asks for modules but no module tree was given")
            }
            Self::ShellMissing { shell } => {
                write!(f, "[initramfs] shell = {shell:?}: no such file")
            }
            Self::HostTreeMissing { source_path } => write!(
                f,
                "[[initramfs.files]] source {}: no such file or directory",
                source_path.display()
            ),
            Self::HostTree {
                source_path,
                source,
            } => write!(
                f,
                "[[initramfs.files]] source {}: {source}",
                source_path.display()
            ),
            Self::HostFile { path, source } => write!(f, "{}: {source}", path.display()),
            Self::SpecRead { path, source } => {
                write!(f, "{}: cannot read: {source}", path.display())
            }
            Self::Spec {
                file,
                line,
                problem,
            } => write!(f, "{file} line {line}: {problem}"),
            Self::NotAModalias { file, line, text } => write!(
                f,
                "{file} line {line}: expected a modalias such as pci:v00008086d00007010sv…, but got {text:?}"
            ),
            Self::NoModalias { file } => write!(
                f,
                "{file}: no modalias in it (make it with `cat /sys/bus/*/devices/*/modalias` on the target machine)"
            ),
            Self::ModulesDirUnnamed { dir } => write!(
                f,
                "{}: cannot tell the kernel version from the directory's name",
                dir.display()
            ),
            Self::ModulesDirMissing { dir } => write!(f, "{}: not a directory", dir.display()),
            Self::KernelMissing {
                kver,
                dir,
                root,
                found,
            } => {
                write!(f, "kernel {kver}: {} does not exist; found: ", dir.display())?;
                if found.is_empty() {
                    write!(f, "nothing under {}", root.display())
                } else {
                    f.write_str(&found.join(", "))
                }
            }
            Self::NoKernels { root, running } => write!(
                f,
                "no kernel modules found: {} has no module trees (running kernel: {})",
                root.display(),
                running.as_deref().unwrap_or("unknown")
            ),
            Self::KernelCannotUnpack {
                config,
                option,
                compression,
            } => write!(
                f,
                "{config} does not set {option}=y: this kernel cannot unpack a {compression} initramfs; choose another compression"
            ),
            Self::ImageData {
                offset,
                compression,
                source,
            } => write!(f, "offset {offset}: {compression} data: {source}"),
            Self::ImageArchive {
                offset,
                compression: Some(c),
                source,
            } => write!(f, "in the {c} part at offset {offset}: {source}"),
            Self::ImageArchive {
                compression: None,
                source,
                ..
            } => write!(f, "{source}"),
            Self::ImageUnknown { offset, start } => write!(
                f,
                "offset {offset}: expected a newc archive (070701) or gzip, zstd or xz data, but got {start:02x?}"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Path { source, .. }
            | Self::Write { source, .. }
            | Self::Finish(source)
            | Self::HostFile { source, .. }
            | Self::SpecRead { source, .. }
            | Self::ImageData { source, .. } => Some(source),
            Self::HostTree { source, .. } => Some(source),
            Self::Modules(source)
            | Self::Modinfo { source, .. }
            | Self::ImageArchive { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}
