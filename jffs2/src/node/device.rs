//! Device numbers as a device inode's data: the old 16-bit form (`old_encode_dev`) when
//! major and minor both fit a byte, else the new 32-bit form (`new_encode_dev`), as the
//! kernel's jffs2_mknod writes them. mkfs.jffs2 always uses the old form, which turns
//! 259:5 into 3:5.

use crate::endian::Endian;

/// The old 16-bit encoding holds majors and minors below this.
const OLD_DEV_LIMIT: u32 = 256;

/// A device number as the kernel stores it: the old 16-bit form when major and minor both
/// fit a byte, else the new 32-bit form (`new_encode_dev`).
pub fn encode_dev(major: u32, minor: u32, endian: Endian) -> Vec<u8> {
    if major < OLD_DEV_LIMIT && minor < OLD_DEV_LIMIT {
        endian.u16_bytes(((major << 8) | minor) as u16).to_vec()
    } else {
        let v = (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12);
        endian.u32_bytes(v).to_vec()
    }
}

/// The inverse of [`encode_dev`]; None for lengths other than 2 and 4.
pub fn decode_dev(data: &[u8], endian: Endian) -> Option<(u32, u32)> {
    match data.len() {
        2 => {
            let v = endian.u16_at(data, 0)? as u32;
            Some((v >> 8, v & 0xff))
        }
        4 => {
            let v = endian.u32_at(data, 0)?;
            Some(((v & 0xfff00) >> 8, (v & 0xff) | ((v >> 12) & 0xfff00)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_encodings() {
        assert_eq!(encode_dev(3, 5, Endian::Little), [5, 3]);
        // 259:5 needs the new form: mkfs.jffs2 truncates it to 3:5.
        assert_eq!(encode_dev(259, 5, Endian::Little), 0x10305u32.to_le_bytes());
        assert_eq!(
            encode_dev(8, 256, Endian::Big),
            0x0010_0800u32.to_be_bytes()
        );
        for (ma, mi) in [(0, 0), (255, 255), (259, 5), (4095, 1_048_575), (1, 300)] {
            for e in [Endian::Little, Endian::Big] {
                assert_eq!(
                    decode_dev(&encode_dev(ma, mi, e), e),
                    Some((ma, mi)),
                    "{ma}:{mi}"
                );
            }
        }
    }
}
