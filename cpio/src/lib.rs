//! newc cpio archives, as the Linux kernel unpacks them into its rootfs: the header
//! format ([`newc`]), a reproducible streaming writer ([`writer`]) and a reader
//! ([`reader`]) that also takes several archives concatenated (an uncompressed early
//! microcode archive followed by the main one, say).
//!
//! The writer puts every parent directory before its contents (the kernel's extractor
//! creates no parents), owns everything by uid/gid 0, stamps one fixed mtime and numbers
//! inodes from 1 in write order, so the same calls give the same bytes. Nothing here
//! reads the environment or opens files by path: the caller hands in a [`std::io::Write`]
//! and the options. Every error is an [`Error`] with the entry's path and, when reading,
//! the header's byte offset as fields.
//!
//! # Example
//!
//! Two archives written one after the other, then read back as one stream:
//!
//! ```
//! use flashroot_cpio::reader::read_entries;
//! use flashroot_cpio::{NewcWriter, WriterOptions};
//!
//! # fn main() -> Result<(), flashroot_cpio::Error> {
//! let options = WriterOptions { mtime: 1_700_000_000 };
//! let mut early = NewcWriter::new(Vec::new(), options);
//! early.file("kernel/x86/microcode/GenuineIntel.bin", 0o644, b"ucode")?;
//! let mut bytes = early.finish()?;
//!
//! let mut main = NewcWriter::new(Vec::new(), options);
//! main.char_dev("dev/console", 0o600, 5, 1)?;
//! main.file("/init", 0o755, b"#!/bin/sh\n")?;
//! bytes.extend(main.finish()?);
//!
//! let names: Vec<String> = read_entries(&bytes, 0)?
//!     .into_iter()
//!     .map(|entry| entry.name)
//!     .collect();
//! assert_eq!(
//!     names,
//!     [
//!         "kernel",
//!         "kernel/x86",
//!         "kernel/x86/microcode",
//!         "kernel/x86/microcode/GenuineIntel.bin",
//!         "dev",
//!         "dev/console",
//!         "init",
//!     ]
//! );
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod error;
pub mod newc;
pub mod reader;
pub mod writer;

pub use error::{Error, ErrorKind};
pub use reader::{read_archive, read_entries, Entry};
pub use writer::{NewcWriter, WriterOptions};
