//! Integration tests live in tests/; this holds what several of them share.

/// Modules the embedded default config must bring in on Debian's 6.1 kernel: a disk
/// driver's softdep chain (sd_mod, crc_t10dif), the card (vfat, nls_ascii) and the
/// container (loop, nbd, block2mtd, jffs2, overlay). Checked by resolution (modules_debian)
/// and by a boot (build_boot).
pub const FLASH_BOOT_MUST_HAVE: [&str; 9] = [
    "sd_mod",
    "crc_t10dif",
    "vfat",
    "nls_ascii",
    "loop",
    "block2mtd",
    "nbd",
    "jffs2",
    "overlay",
];
