//! One module per JFFS2 on-disk structure: its constants, size, encoder and parser.
//! Layouts follow the kernel's `include/uapi/linux/jffs2.h` and `fs/jffs2/summary.h`.

pub mod cleanmarker;
pub mod device;
pub mod dirent;
pub mod header;
pub mod inode;
pub mod padding;
pub mod summary;
pub mod xattr;

pub use header::{align, nodetype, Header, HEADER_SIZE, MAGIC, NODE_ALIGN};
