//! JFFS2 images: a writer that lays out the tree with an erase block summary in every
//! block (mkfs.jffs2 + sumtool in one pass) and a reader that checks, lists and
//! extracts images, ours and mtd-utils' alike.
//!
//! ```no_run
//! use flashroot::jffs2::{write_image, Options};
//! let opts = Options { pad_to: Some(32 << 20), ..Options::default() };
//! let report = write_image("rootfs/".as_ref(), "rootfs.jffs2".as_ref(), &opts)?;
//! println!("{report}");
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod compress;
pub mod crc;
pub mod devtable;
pub mod endian;
pub mod extract;
pub mod layout;
pub mod node;
pub mod options;
mod progress;
pub mod readback;
pub mod reader;
pub mod report;
pub mod tree;
pub mod writer;

pub use compress::{Compression, Compressor, Mode as CompressionMode};
pub use endian::Endian;
pub use options::{EmptyBlocks, Options, Squash, Times};
pub use readback::{Entry, Fs};
pub use reader::{scan, Problem, Scan};
pub use report::Report;
pub use writer::{write_image, write_tree};
