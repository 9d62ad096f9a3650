//! Byte order, chosen once per image and handed to the one writer and reader of fields.
//! The kernel reads JFFS2 in its native order only: little-endian for x86 and most ARM,
//! big-endian for some MIPS/PowerPC targets.

/// The byte order of every multi-byte field in an image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Endian {
    /// Least significant byte first (x86, most ARM).
    #[default]
    Little,
    /// Most significant byte first (some MIPS and PowerPC).
    Big,
}

impl Endian {
    /// `v` in this order.
    pub fn u16_bytes(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// `v` in this order.
    pub fn u32_bytes(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// The u16 at `at`, or None past the end of `b`.
    pub fn u16_at(self, b: &[u8], at: usize) -> Option<u16> {
        let raw: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u16::from_le_bytes(raw),
            Endian::Big => u16::from_be_bytes(raw),
        })
    }

    /// The u32 at `at`, or None past the end of `b`.
    pub fn u32_at(self, b: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(raw),
            Endian::Big => u32::from_be_bytes(raw),
        })
    }
}

/// Appends fields to a buffer in one byte order: the only place the writer converts.
pub struct FieldWriter<'a> {
    buf: &'a mut Vec<u8>,
    endian: Endian,
}

impl<'a> FieldWriter<'a> {
    /// Appends to `buf` in `endian` order.
    pub fn new(buf: &'a mut Vec<u8>, endian: Endian) -> Self {
        Self { buf, endian }
    }

    /// Appends a byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Appends a u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&self.endian.u16_bytes(v));
        self
    }

    /// Appends a u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&self.endian.u32_bytes(v));
        self
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
}

/// Reads fields in order from a slice whose length the caller has already checked.
pub struct FieldReader<'a> {
    buf: &'a [u8],
    pos: usize,
    endian: Endian,
}

impl<'a> FieldReader<'a> {
    /// Reads `buf` from its start in `endian` order.
    pub fn new(buf: &'a [u8], endian: Endian) -> Self {
        Self {
            buf,
            pos: 0,
            endian,
        }
    }

    /// The next byte (0xFF past the end).
    pub fn u8(&mut self) -> u8 {
        let v = self.buf.get(self.pos).copied().unwrap_or(0xFF);
        self.pos += 1;
        v
    }

    /// The next u16 (all ones past the end).
    pub fn u16(&mut self) -> u16 {
        let v = self.endian.u16_at(self.buf, self.pos).unwrap_or(u16::MAX);
        self.pos += 2;
        v
    }

    /// The next u32 (all ones past the end).
    pub fn u32(&mut self) -> u32 {
        let v = self.endian.u32_at(self.buf, self.pos).unwrap_or(u32::MAX);
        self.pos += 4;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_uses_the_chosen_order() {
        let mut le = Vec::new();
        FieldWriter::new(&mut le, Endian::Little)
            .u16(0x1985)
            .u32(0x0102_0304);
        assert_eq!(le, [0x85, 0x19, 4, 3, 2, 1]);
        let mut be = Vec::new();
        FieldWriter::new(&mut be, Endian::Big)
            .u16(0x1985)
            .u32(0x0102_0304);
        assert_eq!(be, [0x19, 0x85, 1, 2, 3, 4]);
    }

    #[test]
    fn reads_past_the_end_are_none() {
        assert_eq!(Endian::Little.u32_at(&[1, 2, 3], 0), None);
        assert_eq!(Endian::Big.u16_at(&[1, 2, 3], 1), Some(0x0203));
        assert_eq!(Endian::Big.u16_at(&[1, 2, 3], usize::MAX), None);
    }
}
