//! The cleanmarker: a bare header at offset 0 of an erase block saying "this block was
//! erased and is ready for writing". A block of 0xFF without one is queued for erase at
//! mount (scan.c returns BLK_STATE_ALLFF); with one, the kernel checks a few bytes after
//! it and takes the block as free (BLK_STATE_CLEANMARKER).

use super::header::{self, nodetype, HEADER_SIZE};
use crate::endian::Endian;

/// The size the kernel expects on NOR and block2mtd (`c->cleanmarker_size`): a header alone.
pub const CLEANMARKER_SIZE: u32 = HEADER_SIZE as u32;

/// Appends a cleanmarker of `size` bytes (mkfs.jffs2 `-c`): a header whose totlen is
/// `size`, then 0xFF up to `size`.
pub fn encode(out: &mut Vec<u8>, endian: Endian, size: u32) {
    let start = out.len();
    header::encode(out, endian, nodetype::CLEANMARKER, size);
    out.resize(start + size as usize, 0xFF);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes_little_endian() {
        let mut b = Vec::new();
        encode(&mut b, Endian::Little, CLEANMARKER_SIZE);
        // The same bytes mkfs.jffs2 writes at the start of every little-endian block.
        assert_eq!(
            b,
            [0x85, 0x19, 0x03, 0x20, 0x0C, 0, 0, 0, 0xB1, 0xB0, 0x1E, 0xE4]
        );
    }

    #[test]
    fn larger_size_is_padded_with_ff() {
        let mut b = Vec::new();
        encode(&mut b, Endian::Big, 16);
        assert_eq!(b.len(), 16);
        assert_eq!(&b[..8], [0x19, 0x85, 0x20, 0x03, 0, 0, 0, 16]);
        assert_eq!(&b[12..], [0xFF; 4]);
    }
}
