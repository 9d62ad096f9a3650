//! JFFS2 images, as the Linux kernel reads them from a block2mtd device.
//!
//! - The format core, always built: [`crc`], [`endian`], one module per on-disk node in
//!   [`node`], and [`probe`], which says whether bytes are JFFS2, in which byte order and
//!   with which erase block size. flashroot's static init links only this (build with
//!   `default-features = false`) to check a container before mounting it.
//! - `writer` (default): [`tree::Tree`] (collected from a directory, or pushed entry by
//!   entry) laid out by [`write_tree`] with an erase block summary in every block
//!   (mkfs.jffs2 + sumtool in one pass), into any [`std::io::Write`].
//! - `reader` (default): [`scan`] checks every node the way the kernel would and names
//!   the offset of anything wrong; [`Fs`] is the file system the valid nodes describe;
//!   [`extract`] writes it into a directory. Images from mkfs.jffs2 and sumtool read too.
//!
//! Errors are one type, [`Error`], whose variants carry the offset, path or sizes.
//!
//! Write a tree pushed entry by entry, read it back:
//!
//! ```
//! use flashroot_jffs2::tree::{Meta, Tree};
//! use flashroot_jffs2::{scan, write_tree, Fs, Options};
//!
//! let mut tree = Tree::new(Meta::new(0o755))?;
//! tree.dir("/etc", Meta::new(0o755))?;
//! tree.file("/etc/hostname", b"flashbox\n".to_vec(), Meta::new(0o644))?;
//! tree.symlink("/etc/mtab", "/proc/self/mounts", Meta::new(0o777))?;
//!
//! let opts = Options { erase_size: 16 << 10, pad_to: Some(5 * (16 << 10)), ..Options::default() };
//! let mut image = Vec::new();
//! let report = write_tree(&tree, &mut image, &opts)?;
//! assert_eq!(report.blocks_total, 5);
//!
//! let s = scan(&image, None)?; // the erase size is found from the summaries
//! assert_eq!((s.erase_size, s.problems.len()), (16 << 10, 0));
//! let fs = Fs::new(&image, &s);
//! let names: Vec<_> = fs.walk()?.into_iter().map(|e| e.path).collect();
//! assert_eq!(names, [&b""[..], b"etc", b"etc/hostname", b"etc/mtab"]);
//! let ino = fs.walk()?[2].ino;
//! assert_eq!(fs.data(ino)?, b"flashbox\n");
//! # Ok::<(), flashroot_jffs2::Error>(())
//! ```

#![warn(missing_docs)]

#[cfg(any(feature = "writer", feature = "reader"))]
pub mod compress;
pub mod crc;
#[cfg(feature = "writer")]
pub mod devtable;
pub mod endian;
pub mod error;
#[cfg(feature = "reader")]
pub mod extract;
#[cfg(feature = "writer")]
pub mod layout;
pub mod mountscan;
pub mod node;
#[cfg(feature = "writer")]
pub mod options;
pub mod probe;
#[cfg(feature = "writer")]
mod progress;
#[cfg(feature = "reader")]
pub mod readback;
#[cfg(feature = "reader")]
pub mod reader;
#[cfg(feature = "writer")]
pub mod report;
#[cfg(feature = "writer")]
pub mod tree;
#[cfg(feature = "writer")]
pub mod writer;

#[cfg(any(feature = "writer", feature = "reader"))]
pub use compress::{Compression, Compressor, Mode as CompressionMode};
pub use endian::Endian;
pub use error::{Error, Result};
#[cfg(feature = "writer")]
pub use options::{EmptyBlocks, Options, Squash, Times};
pub use probe::{check_container, detect_erase_size, identify, Identity};
#[cfg(feature = "reader")]
pub use readback::{check_image, Checked, Entry, Fs};
#[cfg(feature = "reader")]
pub use reader::{scan, Problem, Scan};
#[cfg(feature = "writer")]
pub use report::Report;
#[cfg(feature = "writer")]
pub use writer::write_tree;

/// The root directory's inode number (the kernel's rule).
pub const ROOT_INO: u32 = 1;
/// The kernel refuses a JFFS2 flash with fewer erase blocks.
pub const MIN_BLOCKS: u64 = 5;
/// JFFS2 addresses flash with u32 offsets: images must stay below 4 GiB.
pub const MAX_IMAGE_BYTES: u64 = 1 << 32;

/// File type bits of an inode's mode (libc's `S_IF*`).
pub mod mode {
    pub use libc::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
}
