//! Populating a boot card: kernel, initramfs, the JFFS2 containers and `syslinux.cfg`,
//! into a mounted FAT directory or a new whole-disk image (MBR, one bootable FAT32
//! partition, syslinux installed); and the kernel hook that keeps the card current.

pub mod bootloader;
mod error;
pub mod hook;
pub mod image;
pub mod layout;
pub mod payload;
pub mod syslinux_cfg;

pub use error::Error;
pub use image::{write_image, ImageOptions};
pub use payload::{populate_dir, Payload};
pub use syslinux_cfg::BootConfig;
