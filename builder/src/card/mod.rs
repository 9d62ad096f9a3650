//! Populating a boot card: kernel, initramfs, the JFFS2 containers and `syslinux.cfg`,
//! into a mounted FAT directory or a new whole-disk image (MBR, one bootable FAT32
//! partition, syslinux installed); and the kernel hook that keeps the card current.

pub mod hook;
pub mod layout;
pub mod syslinux_cfg;
