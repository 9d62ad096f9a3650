//! The squashfs base of a layered root, written by `mksquashfs` (squashfs-tools).
//!
//! Why not a Rust writer: `backhand` 0.25 (the maintained pure-Rust one) writes gzip and
//! lz4 in pure Rust only (its xz and zstd bind liblzma and libzstd, C code), and on
//! Debian's minbase tree took 19.6 s with gzip against mksquashfs's 11.7 s (README,
//! dependency table). mksquashfs also keeps hard links, device nodes and extended
//! attributes, and `unsquashfs` from the same package is the oracle the tests read the
//! result with.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The program that writes the base (Debian package squashfs-tools).
pub const MKSQUASHFS: &str = "mksquashfs";
/// The squashfs superblock's magic, "hsqs" little-endian, at offset 0.
pub const MAGIC: [u8; 4] = *b"hsqs";

/// Compressions Debian's 6.1 kernel reads (CONFIG_SQUASHFS_{ZLIB,XZ,ZSTD,LZ4,LZO}=y).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// The default: 5% larger than xz on a Debian tree, decompressed several times faster
    /// (what a boot under QEMU's TCG and a slow CPU both notice), written 1.8x faster.
    Zstd,
    /// The smallest base; the slowest to write and to read.
    Xz,
    Gzip,
    Lz4,
    Lzo,
}

impl Compression {
    /// Every compression, the default first.
    pub const ALL: [Compression; 5] = [Self::Zstd, Self::Xz, Self::Gzip, Self::Lz4, Self::Lzo];

    /// The compression whose [`word`](Self::word) this is.
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.word() == word)
    }

    /// mksquashfs's `-comp` word.
    pub fn word(self) -> &'static str {
        match self {
            Self::Zstd => "zstd",
            Self::Xz => "xz",
            Self::Gzip => "gzip",
            Self::Lz4 => "lz4",
            Self::Lzo => "lzo",
        }
    }
}

/// How the base is written.
#[derive(Clone, Debug)]
pub struct Options {
    pub compression: Compression,
    /// Filesystem time, for reproducible images (mksquashfs also reads SOURCE_DATE_EPOCH).
    pub mkfs_time: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            compression: Compression::Zstd,
            mkfs_time: None,
        }
    }
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Report {
    pub path: PathBuf,
    pub bytes: u64,
    pub compression: Compression,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "squashfs base {}: {} bytes, {} compression",
            self.path.display(),
            self.bytes,
            self.compression.word()
        )
    }
}

/// Writing the base failed: the path or program involved and why.
#[derive(Debug)]
pub enum SquashfsError {
    /// mksquashfs is not installed.
    Missing { program: &'static str },
    /// mksquashfs ran and failed; `output` is what it printed.
    Failed { out: PathBuf, output: String },
    Io {
        path: PathBuf,
        what: &'static str,
        error: std::io::Error,
    },
}

impl fmt::Display for SquashfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { program } => write!(
                f,
                "{program} not found: install the Debian package squashfs-tools (scripts/setup does)"
            ),
            Self::Failed { out, output } => {
                write!(f, "{MKSQUASHFS} failed writing {}: {}", out.display(), output.trim())
            }
            Self::Io { path, what, error } => write!(f, "{}: {what}: {error}", path.display()),
        }
    }
}

impl std::error::Error for SquashfsError {}

impl From<crate::atomic::AtomicError> for SquashfsError {
    fn from(e: crate::atomic::AtomicError) -> Self {
        Self::Io {
            path: e.path,
            what: e.step,
            error: e.source,
        }
    }
}

/// Writes the squashfs image of `tree` to `out` through a temporary file beside it,
/// synced before the rename: an interrupted run never leaves half a base.
pub fn write_base(tree: &Path, out: &Path, options: &Options) -> Result<Report, SquashfsError> {
    let io = |path: &Path, what: &'static str| {
        let path = path.to_path_buf();
        move |error| SquashfsError::Io { path, what, error }
    };
    if !tree.is_dir() {
        return Err(SquashfsError::Io {
            path: tree.to_path_buf(),
            what: "the root tree",
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    crate::atomic::replace(out, |partial| run_mksquashfs(tree, partial, options))?;
    let bytes = std::fs::metadata(out).map_err(io(out, "stat"))?.len();
    Ok(Report {
        path: out.to_path_buf(),
        bytes,
        compression: options.compression,
    })
}

/// Runs mksquashfs to write the image of `tree` at `partial`.
fn run_mksquashfs(tree: &Path, partial: &Path, options: &Options) -> Result<(), SquashfsError> {
    let mut cmd = Command::new(MKSQUASHFS);
    cmd.arg(tree)
        .arg(partial)
        .args(["-noappend", "-quiet", "-no-progress", "-xattrs"])
        .args(["-comp", options.compression.word()]);
    if let Some(t) = options.mkfs_time {
        cmd.args(["-mkfs-time", &t.to_string(), "-all-time", &t.to_string()]);
    }
    let output = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SquashfsError::Missing {
            program: MKSQUASHFS,
        },
        _ => SquashfsError::Io {
            path: PathBuf::from(MKSQUASHFS),
            what: "run",
            error: e,
        },
    })?;
    if !output.status.success() {
        return Err(SquashfsError::Failed {
            out: partial.to_path_buf(),
            output: format!(
                "{} ({}{})",
                output.status,
                String::from_utf8_lossy(&output.stderr),
                String::from_utf8_lossy(&output.stdout)
            ),
        });
    }
    Ok(())
}

/// Whether `path` starts with a squashfs superblock.
pub fn is_squashfs(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path)?;
    match f.read_exact(&mut head) {
        Ok(()) => Ok(head == MAGIC),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// unsquashfs (the peer oracle) lists what mksquashfs wrote through us.
    #[test]
    fn a_written_base_lists_its_files_with_unsquashfs() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("etc")).unwrap();
        std::fs::write(tree.join("etc/hostname"), "box\n").unwrap();
        std::os::unix::fs::symlink("hostname", tree.join("etc/name")).unwrap();
        let out = dir.path().join("base.sqfs");
        let report = write_base(&tree, &out, &Options::default()).unwrap();
        assert!(report.bytes > 0);
        assert!(is_squashfs(&out).unwrap());
        assert!(!dir.path().join("base.sqfs.partial").exists());
        let listing = Command::new("unsquashfs")
            .arg("-l")
            .arg(&out)
            .output()
            .expect("unsquashfs (squashfs-tools) judges the base");
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(listing.status.success(), "{text}");
        for p in ["squashfs-root/etc/hostname", "squashfs-root/etc/name"] {
            assert!(text.lines().any(|l| l == p), "{p} missing:\n{text}");
        }
        let stat = Command::new("unsquashfs")
            .arg("-s")
            .arg(&out)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&stat.stdout);
        assert!(text.contains("Compression zstd"), "{text}");
    }

    #[test]
    fn a_missing_tree_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_base(
            &dir.path().join("nope"),
            &dir.path().join("b.sqfs"),
            &Options::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("nope: the root tree: not a directory"),
            "{err}"
        );
    }
}
