//! Integration tests live in tests/; this holds what several of them share: constants
//! and numbers below, and the helper modules of the boot tests (each test binary uses its
//! own subset of them).

pub mod debian_package;
pub mod debian_root;
pub mod flashboot;

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

/// Pseudo-random numbers for test data and cut points: splitmix64, a few lines, the same
/// numbers on every machine, no dependency. Its bytes are incompressible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}
