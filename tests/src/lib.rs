//! Integration tests live in tests/; this holds what several of them share: constants
//! and numbers below, and the helper modules of the boot tests (each test binary uses its
//! own subset of them).

pub mod debian_package;
pub mod debian_root;
pub mod flashboot;

pub use flashroot_testsupport::default_config::FLASH_BOOT_MUST_HAVE;

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

/// The erase size of a layered root's overlay container, as the default config's comment
/// recommends it (fewer blocks for the JFFS2 mount to visit).
pub const LAYERED_ERASE_SIZE: u32 = 512 << 10;

/// The embedded default config made a layered root as its comment says: the root container
/// on `base.sqfs`, with 512 KiB erase blocks.
pub fn layered_config() -> String {
    let text = flashroot_config::DEFAULT_TOML;
    let layered = text
        .replacen("# base = \"base.sqfs\"", "base = \"base.sqfs\"", 1)
        .replacen("erase_size = \"64KiB\"", "erase_size = \"512KiB\"", 1);
    let config = flashroot_config::Config::parse("layered", &layered).expect("layered config");
    let root = config
        .containers
        .iter()
        .find(|c| c.mountpoint.0 == "/")
        .expect("root container");
    assert_eq!(root.erase_size.0, LAYERED_ERASE_SIZE);
    assert!(root.base.is_some(), "the root container has no base");
    layered
}
