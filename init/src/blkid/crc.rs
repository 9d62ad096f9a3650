//! The two reflected CRC-32s superblocks are checked with, bit by bit: a superblock is
//! at most a few KiB, so a table would cost more init size than it saves time.

/// Castagnoli (CRC-32C), reflected: ext4's metadata_csum, btrfs, XFS v5.
pub const CASTAGNOLI: u32 = 0x82F6_3B78;
/// IEEE 802.3, reflected: f2fs.
pub const IEEE: u32 = 0xEDB8_8320;

/// The register after feeding `data` into `crc`, without any final inversion (the
/// kernel's `crc32c(seed, …)` and `crc32_le(seed, …)`); each user inverts as its format says.
pub fn update(poly: u32, mut crc: u32, data: &[u8]) -> u32 {
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (poly & (crc & 1).wrapping_neg());
        }
    }
    crc
}

/// The standard CRC-32C (seed !0, inverted result): check value of "123456789" is
/// 0xE3069283.
pub fn crc32c(data: &[u8]) -> u32 {
    !update(CASTAGNOLI, !0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(!update(IEEE, !0, b"123456789"), 0xCBF4_3926);
    }
}
