//! A window `[offset, offset + len)` of a seekable stream, so a filesystem library sees a partition
//! as a whole device.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// Reads and writes inside one byte range of `inner`; positions are relative to its start.
#[derive(Debug)]
pub struct Slice<T> {
    inner: T,
    offset: u64,
    len: u64,
    position: u64,
}

impl<T: Seek> Slice<T> {
    /// `inner` bytes `[offset, offset + len)`; the position starts at 0.
    pub fn new(mut inner: T, offset: u64, len: u64) -> io::Result<Self> {
        inner.seek(SeekFrom::Start(offset))?;
        Ok(Slice {
            inner,
            offset,
            len,
            position: 0,
        })
    }

    /// The underlying stream.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// How many bytes an access of `wanted` bytes may touch before the window ends.
    fn clamp(&self, wanted: usize) -> usize {
        let left = self.len.saturating_sub(self.position);
        wanted.min(usize::try_from(left).unwrap_or(usize::MAX))
    }
}

impl<T: Read + Seek> Read for Slice<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let allowed = self.clamp(buf.len());
        let read = self.inner.read(&mut buf[..allowed])?;
        self.position += read as u64;
        Ok(read)
    }
}

impl<T: Write + Seek> Write for Slice<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let allowed = self.clamp(buf.len());
        if allowed == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "write of {} bytes at {} past the end of a {}-byte partition",
                    buf.len(),
                    self.position,
                    self.len
                ),
            ));
        }
        let written = self.inner.write(&buf[..allowed])?;
        self.position += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Seek> Seek for Slice<T> {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        let base = match target {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
        };
        let position = base.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "seek to {target:?} from {} leaves the partition",
                    self.position
                ),
            )
        })?;
        self.inner.seek(SeekFrom::Start(self.offset + position))?;
        self.position = position;
        Ok(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn accesses_stay_inside_the_window() {
        let mut slice = Slice::new(Cursor::new(vec![0u8; 16]), 4, 8).unwrap();
        slice.write_all(b"abcdefgh").unwrap();
        assert!(slice.write(b"x").is_err(), "write past the end must fail");
        assert_eq!(slice.seek(SeekFrom::End(-2)).unwrap(), 6);
        let mut tail = Vec::new();
        slice.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, b"gh");
        let bytes = slice.into_inner().into_inner();
        assert_eq!(&bytes, b"\0\0\0\0abcdefgh\0\0\0\0");
    }
}
