//! A streaming newc writer for initramfs archives.
//!
//! Every entry is owned by uid/gid 0 and stamped with one fixed mtime
//! ([`WriterOptions::mtime`]); inode numbers count up from 1 in write order, so the same
//! calls always give the same bytes.
//!
//! **Parents:** the kernel's extractor does not create missing parent directories, so a
//! directory must precede its contents. The writer guarantees it: a missing parent is
//! written on the spot as a directory with mode [`AUTO_DIR_MODE`]. Adding that directory
//! later with another mode is an error (add directories first to choose their mode).
//!
//! **Paths** are stored relative (`init`, `dev/console`), as the kernel expects: a leading
//! `/` or `./` is dropped; empty, `.` and `..` components are refused. Adding a path twice
//! is an error, except a directory added again with the same mode.
//!
//! **Failures:** once a write fails (I/O, or a streamed file whose size differs from the
//! one declared in its header), the archive is incomplete; the writer refuses further
//! calls and the caller must discard the output (write to a temporary file, then rename).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use crate::error::{Error, ErrorKind};
use crate::newc::{
    pad_len, Header, MAX_FILE_SIZE, PERM_MASK, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT,
    S_IFREG, S_IFSOCK, TRAILER,
};

/// What every fallible writer call returns.
pub type Result<T> = std::result::Result<T, Error>;

/// Mode of directories the writer creates because a path needed them.
pub const AUTO_DIR_MODE: u32 = 0o755;
/// Symlinks carry no meaningful permissions; Linux shows them as 0777.
const SYMLINK_MODE: u32 = 0o777;
/// A directory links to itself and from its parent.
const DIR_NLINK: u32 = 2;

/// What makes the archive reproducible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterOptions {
    /// The mtime of every entry, seconds since the epoch.
    pub mtime: u32,
}

/// Writes a newc archive entry by entry; see the module docs for the rules.
pub struct NewcWriter<W: Write> {
    out: W,
    options: WriterOptions,
    next_ino: u32,
    /// Every path written, with its mode (type and permission bits).
    written: BTreeMap<String, u32>,
    /// Bytes written so far, for data alignment.
    offset: u64,
    poisoned: bool,
}

impl<W: Write> NewcWriter<W> {
    /// A writer that writes to `out` (unbuffered writes of each header and data chunk:
    /// wrap a file in a [`std::io::BufWriter`]).
    pub fn new(out: W, options: WriterOptions) -> Self {
        Self {
            out,
            options,
            next_ino: 1,
            written: BTreeMap::new(),
            offset: 0,
            poisoned: false,
        }
    }

    /// Whether `path` (in any spelling [`normalize`] accepts) is already in the archive.
    pub fn contains(&self, path: &str) -> bool {
        normalize(path).is_ok_and(|p| p.is_empty() || self.written.contains_key(&p))
    }

    /// A directory. Adding an existing directory with the same mode does nothing.
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<()> {
        self.check_usable()?;
        let path = normalize(path)?;
        if path.is_empty() {
            // The archive's root is the rootfs itself; nothing to write.
            return Ok(());
        }
        let full_mode = S_IFDIR | (mode & PERM_MASK);
        if let Some(&existing) = self.written.get(&path) {
            if existing == full_mode {
                return Ok(());
            }
            return Err(Error::at_path(
                path,
                ErrorKind::DirectoryModeConflict {
                    existing,
                    wanted: full_mode,
                },
            ));
        }
        self.ensure_parents(&path)?;
        self.entry(&path, full_mode, DIR_NLINK, (0, 0), &[])
    }

    /// A regular file with its contents.
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<()> {
        self.file_from_reader(path, mode, data.len() as u64, &mut &data[..])
    }

    /// A regular file streamed from `reader`, which must yield exactly `size` bytes: a
    /// reader that ends early or has more to give (a file changed while packed) is an
    /// error naming the path and both sizes.
    pub fn file_from_reader(
        &mut self,
        path: &str,
        mode: u32,
        size: u64,
        reader: &mut dyn Read,
    ) -> Result<()> {
        self.check_usable()?;
        let path = self.new_path(path)?;
        let filesize = file_size(&path, size)?;
        let header = self.header(S_IFREG | (mode & PERM_MASK), 1, (0, 0), filesize);
        self.write_header(&header, &path)?;
        self.copy_data(&path, size, reader)
    }

    /// Several names for one regular file (a hard link set): the entries share an inode
    /// and `nlink`; the data follows the last one, as GNU cpio writes it (the kernel and
    /// GNU cpio both accept the data on any of the entries).
    pub fn hard_links(&mut self, paths: &[&str], mode: u32, data: &[u8]) -> Result<()> {
        self.check_usable()?;
        if paths.is_empty() {
            return Err(Error::new(ErrorKind::EmptyLinkSet));
        }
        let mut names = Vec::with_capacity(paths.len());
        for p in paths {
            let name = normalize(p)?;
            if names.contains(&name) {
                return Err(Error::at_path(name, ErrorKind::NamedTwiceInLinkSet));
            }
            names.push(name);
        }
        let nlink = u32::try_from(names.len())
            .map_err(|_| Error::at_path(names[0].as_str(), ErrorKind::TooManyLinks))?;
        let filesize = file_size(&names[0], data.len() as u64)?;
        let full_mode = S_IFREG | (mode & PERM_MASK);
        let ino = self.take_ino();
        for (i, name) in names.iter().enumerate() {
            let name = self.new_path(name)?;
            let is_last = i + 1 == names.len();
            let header = Header {
                ino,
                mode: full_mode,
                nlink,
                mtime: self.options.mtime,
                filesize: if is_last { filesize } else { 0 },
                ..Header::default()
            };
            self.write_header(&header, &name)?;
            if is_last {
                self.copy_data(&name, data.len() as u64, &mut &data[..])?;
            }
        }
        Ok(())
    }

    /// A symbolic link; its data is the target, without a NUL.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        self.check_usable()?;
        let path = self.new_path(path)?;
        if target.is_empty() {
            return Err(Error::at_path(path, ErrorKind::EmptySymlinkTarget));
        }
        self.entry(&path, S_IFLNK | SYMLINK_MODE, 1, (0, 0), target.as_bytes())
    }

    /// A character device node (no privileges needed: it is only a header).
    pub fn char_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> Result<()> {
        self.node(path, S_IFCHR | (mode & PERM_MASK), (major, minor))
    }

    /// A block device node.
    pub fn block_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> Result<()> {
        self.node(path, S_IFBLK | (mode & PERM_MASK), (major, minor))
    }

    /// A named pipe.
    pub fn fifo(&mut self, path: &str, mode: u32) -> Result<()> {
        self.node(path, S_IFIFO | (mode & PERM_MASK), (0, 0))
    }

    /// A Unix socket.
    pub fn socket(&mut self, path: &str, mode: u32) -> Result<()> {
        self.node(path, S_IFSOCK | (mode & PERM_MASK), (0, 0))
    }

    /// Writes `TRAILER!!!` and returns the output, flushed.
    pub fn finish(mut self) -> Result<W> {
        self.check_usable()?;
        let header = Header {
            nlink: 1,
            ..Header::default()
        };
        self.write_header(&header, TRAILER)?;
        self.out
            .flush()
            .map_err(|e| Error::new(ErrorKind::Write(e)))?;
        Ok(self.out)
    }

    fn node(&mut self, path: &str, full_mode: u32, rdev: (u32, u32)) -> Result<()> {
        self.check_usable()?;
        let path = self.new_path(path)?;
        self.entry(&path, full_mode, 1, rdev, &[])
    }

    /// Normalizes a path for a new non-directory entry and writes its missing parents.
    fn new_path(&mut self, path: &str) -> Result<String> {
        let path = normalize(path)?;
        if path.is_empty() {
            return Err(Error::new(ErrorKind::RootNotDirectory));
        }
        if let Some(&mode) = self.written.get(&path) {
            return Err(Error::at_path(path, ErrorKind::AlreadyInArchive { mode }));
        }
        self.ensure_parents(&path)?;
        Ok(path)
    }

    fn ensure_parents(&mut self, path: &str) -> Result<()> {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            end += slash;
            let parent = &path[..end];
            match self.written.get(parent) {
                Some(&mode) if mode & S_IFMT == S_IFDIR => {}
                Some(&mode) => {
                    return Err(Error::at_path(
                        path,
                        ErrorKind::ParentNotDirectory {
                            parent: parent.to_string(),
                            mode,
                        },
                    ))
                }
                None => self.entry(parent, S_IFDIR | AUTO_DIR_MODE, DIR_NLINK, (0, 0), &[])?,
            }
            end += 1;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        path: &str,
        full_mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> Result<()> {
        let filesize = file_size(path, data.len() as u64)?;
        let header = self.header(full_mode, nlink, rdev, filesize);
        self.write_header(&header, path)?;
        self.copy_data(path, data.len() as u64, &mut &data[..])
    }

    fn take_ino(&mut self) -> u32 {
        let ino = self.next_ino;
        self.next_ino += 1;
        ino
    }

    fn header(&mut self, mode: u32, nlink: u32, rdev: (u32, u32), filesize: u32) -> Header {
        Header {
            ino: self.take_ino(),
            mode,
            nlink,
            mtime: self.options.mtime,
            filesize,
            rdevmajor: rdev.0,
            rdevminor: rdev.1,
            ..Header::default()
        }
    }

    fn write_header(&mut self, header: &Header, name: &str) -> Result<()> {
        if name != TRAILER {
            self.written.insert(name.to_string(), header.mode);
        }
        let bytes = header.encode(name);
        self.write_all(&bytes)
    }

    /// Copies exactly `size` bytes of data, then the padding.
    fn copy_data(&mut self, path: &str, size: u64, reader: &mut dyn Read) -> Result<()> {
        let mut limited = reader.take(size);
        let mut buf = [0u8; 64 * 1024];
        let mut copied = 0u64;
        loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.poisoned = true;
                    return Err(Error::at_path(path, ErrorKind::Read(e)));
                }
            };
            self.write_all(&buf[..n])?;
            copied += n as u64;
        }
        let reader = limited.into_inner();
        if copied < size {
            self.poisoned = true;
            return Err(changed(path, size, Some(copied)));
        }
        let mut probe = [0u8; 1];
        if matches!(reader.read(&mut probe), Ok(n) if n > 0) {
            self.poisoned = true;
            return Err(changed(path, size, None));
        }
        let pad = pad_len((self.offset % 4) as usize);
        self.write_all(&[0u8; 4][..pad])
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        if let Err(e) = self.out.write_all(bytes) {
            self.poisoned = true;
            return Err(Error::new(ErrorKind::Write(e)));
        }
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn check_usable(&self) -> Result<()> {
        if self.poisoned {
            return Err(Error::new(ErrorKind::Incomplete));
        }
        Ok(())
    }
}

/// The archive spelling of `path`: relative, no empty, `.` or `..` components.
/// `/` and `.` become the empty string (the archive root).
pub fn normalize(path: &str) -> Result<String> {
    let mut rest = path;
    loop {
        if let Some(r) = rest.strip_prefix('/') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else {
            break;
        }
    }
    if rest.is_empty() || rest == "." {
        return Ok(String::new());
    }
    if rest.contains('\0')
        || rest
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(Error::at_path(path, ErrorKind::BadPath));
    }
    Ok(rest.to_string())
}

fn file_size(path: &str, size: u64) -> Result<u32> {
    if size > MAX_FILE_SIZE {
        return Err(Error::at_path(path, ErrorKind::TooLarge { size }));
    }
    Ok(size as u32)
}

fn changed(path: &str, declared: u64, read: Option<u64>) -> Error {
    Error::at_path(path, ErrorKind::SizeChanged { declared, read })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::newc::HEADER_LEN;

    fn opts() -> WriterOptions {
        WriterOptions {
            mtime: 1_700_000_000,
        }
    }

    /// (name, header) of every entry, parsed by hand from the bytes.
    fn entries(bytes: &[u8]) -> Vec<(String, Header, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let h = Header::decode(bytes[pos..pos + HEADER_LEN].try_into().unwrap()).unwrap();
            let name_end = pos + HEADER_LEN + h.namesize as usize;
            let name = String::from_utf8(bytes[pos + HEADER_LEN..name_end - 1].to_vec()).unwrap();
            let data_start = name_end + pad_len(name_end);
            let data_end = data_start + h.filesize as usize;
            let data = bytes[data_start..data_end].to_vec();
            pos = data_end + pad_len(data_end);
            if name == TRAILER {
                assert_eq!(pos, bytes.len(), "nothing after the trailer");
                return out;
            }
            out.push((name, h, data));
        }
    }

    #[test]
    fn writes_parents_first_and_trailer() {
        let mut w = NewcWriter::new(Vec::new(), opts());
        w.file("/lib/modules/x.ko", 0o644, b"abc").unwrap();
        w.char_dev("dev/console", 0o600, 5, 1).unwrap();
        let bytes = w.finish().unwrap();
        let e = entries(&bytes);
        let names: Vec<&str> = e.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "lib",
                "lib/modules",
                "lib/modules/x.ko",
                "dev",
                "dev/console"
            ]
        );
        assert_eq!(e[0].1.mode, S_IFDIR | 0o755);
        assert_eq!(e[2].1.mode, S_IFREG | 0o644);
        assert_eq!(e[2].2, b"abc");
        assert_eq!((e[4].1.rdevmajor, e[4].1.rdevminor), (5, 1));
        assert_eq!(e[4].1.mode, S_IFCHR | 0o600);
        for (_, h, _) in &e {
            assert_eq!((h.uid, h.gid, h.mtime), (0, 0, 1_700_000_000));
        }
        let inos: Vec<u32> = e.iter().map(|(_, h, _)| h.ino).collect();
        assert_eq!(inos, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn data_is_padded_to_four() {
        let mut w = NewcWriter::new(Vec::new(), opts());
        w.file("a", 0o644, b"12345").unwrap();
        let bytes = w.finish().unwrap();
        // header 110 + "a\0" = 112 (aligned), data 5 + 3 padding, then the trailer.
        assert_eq!(&bytes[112..120], b"12345\0\0\0");
        assert_eq!(&bytes[120..126], b"070701");
        assert_eq!(bytes.len() % 4, 0);
    }

    #[test]
    fn same_calls_same_bytes() {
        let build = || {
            let mut w = NewcWriter::new(Vec::new(), opts());
            w.dir("etc", 0o755).unwrap();
            w.symlink("bin/sh", "busybox").unwrap();
            w.fifo("run/fifo", 0o644).unwrap();
            w.finish().unwrap()
        };
        assert_eq!(build(), build());
    }

    #[test]
    fn symlink_data_is_the_target() {
        let mut w = NewcWriter::new(Vec::new(), opts());
        w.symlink("sbin", "bin").unwrap();
        let e = entries(&w.finish().unwrap());
        assert_eq!(e[0].1.mode, S_IFLNK | 0o777);
        assert_eq!(e[0].2, b"bin");
    }

    #[test]
    fn hard_links_share_inode_with_data_on_last() {
        let mut w = NewcWriter::new(Vec::new(), opts());
        w.hard_links(&["bin/a", "bin/b"], 0o755, b"data").unwrap();
        let e = entries(&w.finish().unwrap());
        assert_eq!(e[1].0, "bin/a");
        assert_eq!(e[2].0, "bin/b");
        assert_eq!(e[1].1.ino, e[2].1.ino);
        assert_eq!((e[1].1.nlink, e[2].1.nlink), (2, 2));
        assert_eq!(
            (e[1].1.filesize, e[2].2.as_slice()),
            (0, b"data".as_slice())
        );
    }

    #[test]
    fn refuses_duplicates_and_conflicting_dirs() {
        let mut w = NewcWriter::new(Vec::new(), opts());
        w.file("etc/x", 0o644, b"").unwrap();
        let err = w.file("/etc/x", 0o600, b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "etc/x: already in the archive (mode 100644)"
        );
        w.dir("etc", 0o755).unwrap();
        let err = w.dir("etc", 0o700).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("etc: already in the archive with mode 040755"),
            "{err}"
        );
        let err = w.file("etc/x/y", 0o644, b"").unwrap_err();
        assert!(
            err.to_string()
                .contains("parent etc/x is in the archive but not a directory"),
            "{err}"
        );
    }

    #[test]
    fn short_and_long_readers_are_errors() {
        let mut w = NewcWriter::new(Vec::new(), opts());
        let err = w
            .file_from_reader("f", 0o644, 4, &mut &b"abc"[..])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "f: expected 4 bytes but read only 3; did it change while being packed?"
        );
        assert!(w.finish().is_err(), "a poisoned writer must not finish");

        let mut w = NewcWriter::new(Vec::new(), opts());
        let err = w
            .file_from_reader("g", 0o644, 2, &mut &b"abc"[..])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "g: expected 2 bytes but read more; did it change while being packed?"
        );
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("/init").unwrap(), "init");
        assert_eq!(normalize("./dev/console").unwrap(), "dev/console");
        assert_eq!(normalize("/").unwrap(), "");
        assert!(normalize("a/../b").is_err());
        assert!(normalize("a//b").is_err());
        assert!(normalize("a/").is_err());
    }
}
