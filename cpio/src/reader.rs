//! Reads newc archives back: for listing an initramfs and for tests that check what the
//! writer produced. Pure: bytes in, entries out; errors give the byte offset.

use crate::error::{Error, ErrorKind};
use crate::newc::{pad_len, Header, HEADER_LEN, S_IFLNK, TRAILER};

/// One archive member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Offset of the header in the bytes read (plus the `base` given to [`read_archive`]).
    pub offset: usize,
    /// The path as stored (`dev/console`), without the NUL.
    pub name: String,
    /// The decoded header.
    pub header: Header,
    /// The data: a regular file's contents, a symlink's target.
    pub data: Vec<u8>,
}

impl Entry {
    /// The target of a symlink entry.
    pub fn link_target(&self) -> Option<String> {
        (self.header.file_type() == S_IFLNK)
            .then(|| String::from_utf8_lossy(&self.data).into_owned())
    }
}

/// Reads one archive at the start of `bytes`, up to and including its trailer (and the
/// trailer's padding). Returns the entries (without the trailer) and the bytes consumed.
/// `base` is the offset of `bytes` in the file, for error messages.
///
/// ```
/// use flashroot_cpio::{read_archive, NewcWriter, WriterOptions};
///
/// let mut w = NewcWriter::new(Vec::new(), WriterOptions::default());
/// w.symlink("bin/sh", "busybox").unwrap();
/// let mut bytes = w.finish().unwrap();
/// bytes.extend_from_slice(b"more data after the trailer");
/// let (entries, used) = read_archive(&bytes, 0).unwrap();
/// assert_eq!(entries[1].link_target().as_deref(), Some("busybox"));
/// assert_eq!(&bytes[used..], b"more data after the trailer");
/// ```
pub fn read_archive(bytes: &[u8], base: usize) -> Result<(Vec<Entry>, usize), Error> {
    let mut entries = Vec::new();
    let mut pos = 0;
    loop {
        let (entry, next) = read_entry(bytes, pos, base)?;
        pos = next;
        if entry.name == TRAILER {
            return Ok((entries, pos));
        }
        entries.push(entry);
    }
}

/// Reads entries up to the end of `bytes` as the kernel does within one decompressed
/// stream: trailers only separate archives (they are optional at the end), NUL padding
/// between archives is skipped, and the data must end on an entry boundary.
pub fn read_entries(bytes: &[u8], base: usize) -> Result<Vec<Entry>, Error> {
    let mut entries = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes[pos] == 0 {
            pos += 1;
            continue;
        }
        let (entry, next) = read_entry(bytes, pos, base)?;
        pos = next;
        if entry.name != TRAILER {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// The entry whose header starts at `pos`, and where the next one starts.
fn read_entry(bytes: &[u8], pos: usize, base: usize) -> Result<(Entry, usize), Error> {
    let at = base + pos;
    let fail = |kind| Error::new(kind).with_offset(at as u64);
    let raw: &[u8; HEADER_LEN] = bytes
        .get(pos..pos + HEADER_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| fail(ErrorKind::TruncatedHeader))?;
    let header = Header::decode(raw).map_err(|e| e.with_offset(at as u64))?;
    let name_start = pos + HEADER_LEN;
    let name_end = name_start + header.namesize as usize;
    let name_bytes = bytes.get(name_start..name_end).ok_or_else(|| {
        fail(ErrorKind::NameRunsPast {
            namesize: header.namesize,
        })
    })?;
    let Some((&0, name)) = name_bytes.split_last() else {
        return Err(fail(ErrorKind::NameNotNulTerminated));
    };
    let name = String::from_utf8_lossy(name).into_owned();
    let data_start = name_end + pad_len(name_end);
    let data_end = data_start + header.filesize as usize;
    let data = bytes.get(data_start..data_end).ok_or_else(|| {
        fail(ErrorKind::DataRunsPast {
            filesize: header.filesize,
        })
        .with_path(name.as_str())
    })?;
    let next = (data_end + pad_len(data_end)).min(bytes.len());
    Ok((
        Entry {
            offset: at,
            name,
            header,
            data: data.to_vec(),
        },
        next,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{NewcWriter, WriterOptions};

    #[test]
    fn reads_back_what_the_writer_wrote() {
        let mut w = NewcWriter::new(Vec::new(), WriterOptions { mtime: 5 });
        w.file("etc/a", 0o600, b"hello").unwrap();
        w.symlink("bin/sh", "busybox").unwrap();
        let bytes = w.finish().unwrap();
        let (entries, used) = read_archive(&bytes, 0).unwrap();
        assert_eq!(used, bytes.len());
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["etc", "etc/a", "bin", "bin/sh"]);
        assert_eq!(entries[1].data, b"hello");
        assert_eq!(entries[3].link_target().as_deref(), Some("busybox"));
    }

    #[test]
    fn read_entries_takes_trailers_as_separators() {
        let mut w = NewcWriter::new(Vec::new(), WriterOptions::default());
        w.file("a", 0o644, b"1").unwrap();
        let one = w.finish().unwrap();
        let mut bytes = one.clone();
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&one[..one.len() - 124]); // the second without its trailer
        let names: Vec<String> = read_entries(&bytes, 0)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["a", "a"]);
        let err = read_entries(&bytes[..bytes.len() - 4], 0).unwrap_err();
        assert!(
            matches!(
                err.kind,
                ErrorKind::DataRunsPast { .. } | ErrorKind::TruncatedHeader
            ),
            "{err}"
        );
    }

    #[test]
    fn names_the_offset_of_a_truncated_archive() {
        let mut w = NewcWriter::new(Vec::new(), WriterOptions::default());
        w.file("a", 0o644, b"12345678").unwrap();
        let bytes = w.finish().unwrap();
        let err = read_archive(&bytes[..115], 1000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "offset 1000: a: 8 bytes of data run past the end"
        );
        assert_eq!((err.offset, err.path.as_deref()), (Some(1000), Some("a")));
        let err = read_archive(&bytes[..120], 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "offset 120: truncated newc header (archive ends without TRAILER!!!)"
        );
    }
}
