//! flashroot library: everything behind the `flashroot` CLI.
//!
//! - [`jffs2`]: the JFFS2 image writer (with erase block summary) and reader.
//! - [`initramfs`]: the `flashroot build` pipeline that ties config, init and modules together.
//! - [`disk`]: MBR disk images with a FAT32 partition.
//! - [`card`]: populating a boot card (kernel, initramfs, containers, syslinux).
//! - [`rootprep`]: turning a root directory into a flash-ready one.
//! - [`status`]: the running flashroot system (`flashroot status`), JFFS2's real free space.
//! - [`squashfs`]: a layered root's squashfs base (through mksquashfs).

pub mod atomic;
pub mod card;
pub mod cmd;
pub mod disk;
pub mod initramfs;
pub mod jffs2;
pub mod layered;
pub mod repro;
pub mod rootprep;
pub mod squashfs;
pub mod status;

/// The static flashroot /init (x86_64 musl), built by build.rs from the `init/` crate.
pub const EMBEDDED_INIT: &[u8] = include_bytes!(env!("FLASHROOT_INIT_BIN"));
pub mod wear;
