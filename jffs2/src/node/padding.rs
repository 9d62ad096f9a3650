//! Padding nodes (`JFFS2_NODETYPE_PADDING`): a header claiming a run of dead space. The
//! writer never needs them (gaps stay 0xFF, which the kernel skips and the summary's
//! node offsets account for), but images from other tools carry them.

use super::header::{self, nodetype, HEADER_SIZE};
use crate::endian::Endian;

/// The smallest padding node: a header alone.
pub const MIN_PADDING_SIZE: u32 = HEADER_SIZE as u32;

/// Appends a padding node of `size` bytes (header, then 0xFF).
pub fn encode(out: &mut Vec<u8>, endian: Endian, size: u32) {
    let start = out.len();
    header::encode(out, endian, nodetype::PADDING, size.max(MIN_PADDING_SIZE));
    out.resize(start + size.max(MIN_PADDING_SIZE) as usize, 0xFF);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crc::crc32;

    #[test]
    fn exact_bytes() {
        let mut b = Vec::new();
        encode(&mut b, Endian::Little, 16);
        let crc = crc32(&[0x85, 0x19, 0x04, 0x20, 16, 0, 0, 0]).to_le_bytes();
        let mut want = vec![0x85, 0x19, 0x04, 0x20, 16, 0, 0, 0];
        want.extend_from_slice(&crc);
        want.extend_from_slice(&[0xFF; 4]);
        assert_eq!(b, want);
    }
}
