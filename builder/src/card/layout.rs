//! File names on the card, shared by `flashroot card`, the syslinux config and the kernel
//! hook, so that the three always agree.

/// The kernel the default entry boots.
pub const VMLINUZ: &str = "vmlinuz";
/// The initramfs the default entry boots.
pub const INITRD: &str = "initrd.img";
/// The previous kernel, kept for the fallback entry.
pub const VMLINUZ_OLD: &str = "vmlinuz.old";
/// The previous initramfs, kept for the fallback entry.
pub const INITRD_OLD: &str = "initrd.old.img";
/// The kernel release of [`VMLINUZ`] (one line), so a reinstall of the same version does
/// not push the previous kernel out.
pub const KVER: &str = "flashroot.kver";
/// The kernel release of [`VMLINUZ_OLD`].
pub const KVER_OLD: &str = "flashroot.kver.old";
/// The syslinux configuration, at the root of the FAT volume next to `ldlinux.sys`.
pub const SYSLINUX_CFG: &str = "syslinux.cfg";
/// Suffix of files being written; renamed over the real name once complete.
pub use crate::atomic::PARTIAL_SUFFIX;

/// The card agent's journal beside a container (`rootfs.img.journal`), laid down empty
/// (all zeros: no record) with each container: allocated once on the card, so the first
/// boot writes no FAT, and never a journal of an older container, whose unfinished
/// release the agent would otherwise write into the new one. Unused with
/// `writes = "buffered"`.
pub fn journal_of(container: &str) -> String {
    flashroot_runtime::journal::path(container)
}

/// The size of an empty journal: the agent's ring.
pub const JOURNAL_BYTES: u64 = flashroot_runtime::journal::DEFAULT_BYTES;
