//! What flashroot's /init leaves on the running system and on the card for the tools to
//! read, and the names both sides use: the contract between the PID-1 crate
//! (`flashroot-init`) and the `flashroot` commands that run on a booted flash box
//! (`status`, `reset`, `overlay`, `fold`) or write the card (`card`). Named after the
//! running system it describes (most of it lives in `/run/flashroot`), not after the init:
//! the builder reads and writes these formats without linking PID-1 code, and the init
//! links only this small std-only crate for them.
//!
//! - [`keys`]: the `flashroot.*` words of the kernel command line.
//! - [`containers_file`]: `/run/flashroot/containers`, the containers the boot set up.
//! - [`mountinfo`]: `/proc/self/mountinfo`, parsed, and the order to unmount a tree in.
//! - [`layered`]: a layered root's directories, its record `/run/flashroot/layered` and the
//!   factory reset marker on the card.
//! - [`ramdir`]: the RAM directory keeper's files in `/run/flashroot` and where the saved
//!   copies lie on the root.
//! - [`journal`]: the card agent's journal file beside each container.
//!
//! Parsers take text and return typed errors; nothing here needs `unsafe` (the init's
//! system calls stay in its `sys` module).
//!
//! # Examples
//!
//! The layered root's record, as the init writes it and `flashroot reset` reads it, and
//! the mount it describes, from a mountinfo line:
//!
//! ```
//! use flashroot_runtime::{layered, mountinfo};
//!
//! let record = layered::Record {
//!     card: Some("/run/flashroot/card".into()),
//!     base: "base.sqfs".into(),
//!     overlay: "rootfs.img".into(),
//!     failsafe: false,
//!     erase_size: 64 << 10,
//! };
//! let text = record.text();
//! assert!(text.starts_with("card\t/run/flashroot/card\nbase\tbase.sqfs\n"));
//! assert_eq!(layered::Record::parse(&text)?, record);
//! assert_eq!(layered::reset_marker(&record.overlay), "rootfs.img.reset");
//!
//! let mounts = mountinfo::parse(
//!     "31 25 31:0 / /run/flashroot/layers/overlay rw,noatime - jffs2 mtd0 rw\n",
//! );
//! assert_eq!(mounts[0].mountpoint, layered::OVERLAY_DIR);
//! assert_eq!((mounts[0].fstype.as_str(), mounts[0].source.as_str()), ("jffs2", "mtd0"));
//! # Ok::<(), layered::RecordError>(())
//! ```

pub mod containers_file;
pub mod journal;
pub mod keys;
pub mod layered;
pub mod mountinfo;
pub mod ramdir;
