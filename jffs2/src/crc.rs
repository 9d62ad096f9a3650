//! The CRC JFFS2 stores everywhere: Linux `crc32(0, …)`, i.e. the reflected polynomial
//! 0xEDB88320 with seed 0 and no final inversion. It is NOT the common zlib CRC-32
//! (which starts from and inverts with !0); the check value of "123456789" is 0x2DFD2D88.

/// JFFS2's CRC of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    // crc32fast computes the zlib CRC: it inverts the seed on entry and the result on
    // exit. Handing it !0 as the initial value cancels the first inversion (seed 0);
    // inverting its result cancels the second.
    let mut h = crc32fast::Hasher::new_with_initial(!0);
    h.update(data);
    !h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_is_linux_crc32_with_seed_zero() {
        assert_eq!(crc32(b"123456789"), 0x2DFD_2D88);
    }

    #[test]
    fn empty_input_gives_zero() {
        assert_eq!(crc32(b""), 0);
    }
}
