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
pub mod disk;
pub mod file_error;
pub mod initramfs;
pub mod jffs2;
pub mod layered;
pub mod repro;
pub mod rootprep;
pub mod squashfs;
pub mod status;

pub mod wear;

/// The static flashroot /init (x86_64 musl), built by build.rs from the `init/` crate.
/// Only with the default feature `embedded-init`; [`embedded_init`] works either way.
#[cfg(feature = "embedded-init")]
pub const EMBEDDED_INIT: &[u8] = include_bytes!(env!("FLASHROOT_INIT_BIN"));

/// The embedded /init, or why there is none: this library was built without the feature
/// `embedded-init` (a library-only build such as the docs).
pub fn embedded_init() -> Result<&'static [u8], NoEmbeddedInit> {
    #[cfg(feature = "embedded-init")]
    return Ok(EMBEDDED_INIT);
    #[cfg(not(feature = "embedded-init"))]
    return Err(NoEmbeddedInit);
}

/// This build of flashroot carries no /init (built without the feature `embedded-init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoEmbeddedInit;

impl std::fmt::Display for NoEmbeddedInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "this flashroot was built without its /init (cargo feature `embedded-init` off); \
             give an init file, or rebuild with the default features",
        )
    }
}

impl std::error::Error for NoEmbeddedInit {}
