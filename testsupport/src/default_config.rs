//! What the embedded default config (`config/flashroot.toml`) must bring in: checked by
//! the config's own tests (the names it lists), by resolution against Debian's kernel
//! (`modules_debian`) and by a boot (`build_boot`), from this one list.

/// Modules the embedded default config must bring in on Debian's 6.1 kernel: a disk
/// driver's softdep chain (sd_mod, crc_t10dif), the card (vfat, nls_ascii) and the
/// container (loop, nbd, block2mtd, jffs2, overlay).
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

/// Those of [`FLASH_BOOT_MUST_HAVE`] the config does not name: other modules need them
/// (sd_mod needs crc_t10dif in Debian's modules.dep).
pub const NEEDED_BY_OTHERS: [&str; 1] = ["crc_t10dif"];
