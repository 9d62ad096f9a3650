//! The crate's one error type. Every variant carries the values it is about (offset,
//! path, sizes) as fields; the messages describe those values and never name a command
//! line option: a CLI maps the variants that come from its options to its flag names.

use std::fmt;
#[cfg(any(feature = "writer", feature = "reader"))]
use std::io;
#[cfg(any(feature = "writer", feature = "reader"))]
use std::path::PathBuf;

use crate::endian::Endian;

/// Something wrong at an offset of an image, found by a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Offset in the image.
    pub offset: u64,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {:#010x}: {}", self.offset, self.message)
    }
}

/// Everything that can go wrong identifying, reading or writing an image. The variants
/// of the writer and the reader exist only with their features, so that the format core
/// (all the init links) carries no messages it cannot produce.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    // --- identifying an image (core, what the init checks before mounting) ---
    /// The image has no bytes at all.
    Empty,
    /// The first data is not the node magic in either byte order.
    NotJffs2 {
        /// Offset of the first bytes that are not 0xFF.
        offset: u64,
        /// The u16 found there (little-endian), None past the end.
        found: Option<u16>,
    },
    /// The first node header has a wrong CRC.
    HeaderCrc {
        /// Offset of the header.
        offset: u64,
        /// The CRC of its first 8 bytes.
        expected: u32,
        /// The CRC it holds.
        found: u32,
    },
    /// The image is in a byte order the caller cannot use.
    ByteOrder {
        /// The image's byte order.
        found: Endian,
        /// The byte order the caller reads.
        wanted: Endian,
    },
    /// The image's erase blocks are not the size the caller is about to use.
    EraseSizeMismatch {
        /// The erase size about to be used, in bytes.
        configured: u32,
        /// The erase size the image shows.
        found: u32,
    },
    /// The image's length is not a whole number of erase blocks.
    NotWholeBlocks {
        /// The image length in bytes.
        len: u64,
        /// The erase size in bytes.
        erase_size: u32,
    },
    /// An erase size no image can have (zero, or not a multiple of 4).
    BadEraseSize {
        /// The size given.
        erase_size: u32,
    },

    // --- one node, as its parser sees it ---
    /// A node or summary is damaged; `offset` is relative to the bytes given to the parser.
    Node {
        /// Offset relative to the bytes the parser was given.
        offset: u64,
        /// What is wrong.
        problem: String,
    },

    /// A scan found problems in the image.
    Damaged {
        /// Every problem, by offset.
        problems: Vec<Problem>,
    },

    // --- writer geometry ---
    /// The erase size is not a power of two of at least two pages.
    #[cfg(feature = "writer")]
    EraseSizeVsPage {
        /// The erase size.
        erase_size: u32,
        /// The page size.
        page_size: u32,
    },
    /// The cleanmarker size cannot be used with this erase size.
    #[cfg(feature = "writer")]
    CleanmarkerSize {
        /// The cleanmarker size.
        size: u32,
        /// The erase size.
        erase_size: u32,
    },
    /// The padded image size is not a whole number of erase blocks.
    #[cfg(feature = "writer")]
    PadNotWholeBlocks {
        /// The padded image size.
        pad: u64,
        /// The erase size.
        erase_size: u32,
    },
    /// The padded image size reaches 4 GiB.
    #[cfg(feature = "writer")]
    PadTooLarge {
        /// The padded image size.
        pad: u64,
    },
    /// The padded image holds fewer erase blocks than the kernel needs.
    #[cfg(feature = "writer")]
    PadTooFewBlocks {
        /// The padded image size.
        pad: u64,
        /// The erase size.
        erase_size: u32,
    },
    /// The tree needs more erase blocks than the padded size holds.
    #[cfg(feature = "writer")]
    TreeExceedsPad {
        /// Erase blocks the tree needs.
        blocks_needed: u64,
        /// The erase size.
        erase_size: u32,
        /// The padded image size.
        pad: u64,
    },
    /// The unpadded image would reach 4 GiB.
    #[cfg(feature = "writer")]
    ImageTooLarge {
        /// Erase blocks the tree needs.
        blocks: u64,
    },
    /// The unpadded image has fewer erase blocks than the kernel needs.
    #[cfg(feature = "writer")]
    TooFewBlocks {
        /// Erase blocks written.
        blocks: u64,
        /// The erase size.
        erase_size: u32,
    },
    /// One node is larger than an erase block.
    #[cfg(feature = "writer")]
    NodeTooLarge {
        /// The node length.
        len: usize,
        /// The erase size.
        erase_size: u32,
    },
    /// A compressor or compression mode name that does not exist.
    #[cfg(any(feature = "writer", feature = "reader"))]
    UnknownCompression {
        /// The name given.
        name: String,
        /// The names that exist.
        expected: &'static str,
    },

    // --- the source tree ---
    /// A file system call on `path` failed.
    #[cfg(any(feature = "writer", feature = "reader"))]
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done, such as "cannot read".
        action: &'static str,
        /// The system's error.
        source: io::Error,
    },
    /// Writing the image to its output failed.
    #[cfg(feature = "writer")]
    Output(io::Error),
    /// An entry of the source tree cannot be stored in JFFS2.
    #[cfg(feature = "writer")]
    Source {
        /// The entry.
        path: PathBuf,
        /// Why it cannot be stored.
        problem: String,
    },
    /// A uid or gid above 65535 (JFFS2 stores 16 bits).
    #[cfg(feature = "writer")]
    OwnerTooLarge {
        /// The entry.
        path: PathBuf,
        /// "uid" or "gid".
        what: &'static str,
        /// The id.
        id: u32,
    },
    /// A line of a device table is wrong.
    #[cfg(feature = "writer")]
    DevTable {
        /// The table's name.
        file: String,
        /// The line number (from 1).
        line: usize,
        /// What is wrong.
        problem: String,
    },

    // --- reading back ---
    /// An inode's data or metadata cannot be read back.
    #[cfg(feature = "reader")]
    Inode {
        /// The inode number.
        ino: u32,
        /// What is wrong.
        problem: String,
    },
    /// The directory tree read back is inconsistent at `path`.
    #[cfg(feature = "reader")]
    Tree {
        /// The path from the root (raw bytes).
        path: Vec<u8>,
        /// What is wrong.
        problem: String,
    },
    /// Extraction refused or failed at `path`.
    #[cfg(feature = "reader")]
    Extract {
        /// The destination path.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// `bytes` as "64KiB", "1MiB" when whole, else plain bytes (the config's spelling).
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

fn order(e: Endian) -> &'static str {
    match e {
        Endian::Little => "little-endian",
        Endian::Big => "big-endian",
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            Empty => write!(f, "the file is empty"),
            NotJffs2 { offset, found } => write!(
                f,
                "not a JFFS2 image: expected the magic {:#06x} at offset {offset}, but found {}",
                crate::node::MAGIC,
                found.map_or_else(|| "end of file".into(), |m| format!("{m:#06x}"))
            ),
            HeaderCrc {
                offset,
                expected,
                found,
            } => write!(
                f,
                "not a valid JFFS2 image: the node header at offset {offset} has a bad CRC (expected {expected:#010x}, found {found:#010x})"
            ),
            ByteOrder { found, wanted } => write!(
                f,
                "a {} JFFS2 image; this kernel reads {} ones",
                order(*found),
                order(*wanted)
            ),
            EraseSizeMismatch { configured, found } => write!(
                f,
                "erase size mismatch: configured {}, but the image was made with {} erase blocks",
                format_size((*configured).into()),
                format_size((*found).into())
            ),
            NotWholeBlocks { len, erase_size } => write!(
                f,
                "its size {len} is not a multiple of the erase size {}",
                format_size((*erase_size).into())
            ),
            BadEraseSize { erase_size } => {
                write!(f, "erase size {erase_size} must be a positive multiple of 4")
            }
            Node { offset, problem } => write!(f, "at {offset:#x}: {problem}"),
            Damaged { problems } => {
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
            #[cfg(feature = "writer")]
            EraseSizeVsPage {
                erase_size,
                page_size,
            } => write!(
                f,
                "erase block size {erase_size} must be a power of two of at least twice the page size {page_size}"
            ),
            #[cfg(feature = "writer")]
            CleanmarkerSize { size, erase_size } => write!(
                f,
                "cleanmarker size {size} must be a multiple of 4, at least 12 and below half the erase block size {erase_size}"
            ),
            #[cfg(feature = "writer")]
            PadNotWholeBlocks { pad, erase_size } => write!(
                f,
                "image size {pad} is not a multiple of the erase block size {erase_size} (block2mtd needs whole blocks)"
            ),
            #[cfg(feature = "writer")]
            PadTooLarge { pad } => write!(
                f,
                "image size {pad} reaches 4 GiB; JFFS2 images must be smaller than {} bytes",
                crate::MAX_IMAGE_BYTES
            ),
            #[cfg(feature = "writer")]
            PadTooFewBlocks { pad, erase_size } => write!(
                f,
                "image size {pad} gives {} erase blocks of {erase_size} bytes; the kernel needs at least {}",
                pad / u64::from(*erase_size),
                crate::MIN_BLOCKS
            ),
            #[cfg(feature = "writer")]
            TreeExceedsPad {
                blocks_needed,
                erase_size,
                pad,
            } => write!(
                f,
                "the tree needs {blocks_needed} erase blocks ({} bytes) but the image size {pad} holds only {}",
                blocks_needed * u64::from(*erase_size),
                pad / u64::from(*erase_size)
            ),
            #[cfg(feature = "writer")]
            ImageTooLarge { blocks } => write!(
                f,
                "the image would reach 4 GiB ({blocks} erase blocks); JFFS2 images must be smaller"
            ),
            #[cfg(feature = "writer")]
            TooFewBlocks { blocks, erase_size } => write!(
                f,
                "the image has {blocks} erase blocks of {erase_size} bytes; the kernel needs at least {} (an image size of {} bytes)",
                crate::MIN_BLOCKS,
                crate::MIN_BLOCKS * u64::from(*erase_size)
            ),
            #[cfg(feature = "writer")]
            NodeTooLarge { len, erase_size } => write!(
                f,
                "a node of {len} bytes does not fit an erase block of {erase_size} bytes"
            ),
            #[cfg(any(feature = "writer", feature = "reader"))]
            UnknownCompression { name, expected } => {
                write!(f, "unknown compression {name:?}: expected {expected}")
            }
            #[cfg(any(feature = "writer", feature = "reader"))]
            Io {
                path,
                action,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
            #[cfg(feature = "writer")]
            Output(e) => write!(f, "cannot write the image: {e}"),
            #[cfg(feature = "writer")]
            Source { path, problem } => write!(f, "{}: {problem}", path.display()),
            #[cfg(feature = "writer")]
            OwnerTooLarge { path, what, id } => write!(
                f,
                "{what} {id} of {} does not fit JFFS2's 16 bits",
                path.display()
            ),
            #[cfg(feature = "writer")]
            DevTable {
                file,
                line,
                problem,
            } => write!(f, "{file}:{line}: {problem}"),
            #[cfg(feature = "reader")]
            Inode { ino, problem } => write!(f, "inode {ino}: {problem}"),
            #[cfg(feature = "reader")]
            Tree { path, problem } => write!(f, "/{}: {problem}", path.escape_ascii()),
            #[cfg(feature = "reader")]
            Extract { path, problem } => write!(f, "{}: {problem}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            #[cfg(any(feature = "writer", feature = "reader"))]
            Error::Io { source, .. } => Some(source),
            #[cfg(feature = "writer")]
            Error::Output(source) => Some(source),
            _ => None,
        }
    }
}

impl Error {
    /// The message without the offset of a [`Error::Node`] (whose offset is relative to
    /// what its parser saw; the caller places it); the whole message otherwise.
    pub fn detail(&self) -> String {
        match self {
            Error::Node { problem, .. } => problem.clone(),
            other => other.to_string(),
        }
    }

    /// An [`Error::Io`] for `path`.
    #[cfg(any(feature = "writer", feature = "reader"))]
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
