//! The container file on the card as the store's [`Backing`]: opened for direct I/O when
//! the card's filesystem allows it, so that a write reaches the card in the call itself
//! and no page is cached twice (once under block2mtd, once for the FAT file).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};

use super::journal::JournalFile;
use super::store::{Backing, PAGE};

/// The largest request the kernel sends block2mtd's device is well below this.
const KEPT_BOUNCE: usize = 1 << 20;

pub struct CardFile {
    file: File,
    /// Opened with O_DIRECT: buffers must be page-aligned.
    pub direct: bool,
    bounce: Vec<u8>,
    /// The size when opened (the agent never resizes its files).
    bytes: u64,
}

/// A page-aligned window of `len` bytes inside `v` (direct I/O needs aligned memory).
fn aligned(v: &mut Vec<u8>, len: usize) -> &mut [u8] {
    if v.len() < len + PAGE {
        v.resize(len + PAGE, 0);
    }
    let skip = v.as_ptr().align_offset(PAGE);
    &mut v[skip..skip + len]
}

impl CardFile {
    /// Opens `path` read-write, for direct I/O if possible; the error of the direct open
    /// is returned beside the file when only a buffered open worked.
    pub fn open(path: &str) -> io::Result<(Self, Option<io::Error>)> {
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        let direct = options.clone().custom_flags(nix::libc::O_DIRECT).open(path);
        let (file, direct, why) = match direct {
            Ok(f) => (f, true, None),
            Err(e) => (options.open(path)?, false, Some(e)),
        };
        let bytes = file.metadata()?.len();
        Ok((
            Self {
                file,
                direct,
                bounce: Vec::new(),
                bytes,
            },
            why,
        ))
    }

    /// Opens the journal at `path`, first making it `bytes` long (all its clusters
    /// allocated once, so its writes never touch the FAT) when it is missing or shorter.
    pub fn open_journal(path: &str, bytes: u64) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if file.metadata()?.len() < bytes {
            file.set_len(bytes)?;
            file.sync_all()?;
        }
        drop(file);
        Ok(Self::open(path)?.0)
    }

    pub fn size(&self) -> u64 {
        self.bytes
    }
}

impl Backing for CardFile {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if !self.direct {
            return self.file.read_exact_at(buf, offset);
        }
        // A large read (the journal's ring at start) gets a buffer of its own, so that the
        // kept one (locked in RAM, as all the agent's memory) stays a few pages.
        let mut own = Vec::new();
        let bounce = if buf.len() > KEPT_BOUNCE {
            &mut own
        } else {
            &mut self.bounce
        };
        let window = aligned(bounce, buf.len());
        self.file.read_exact_at(window, offset)?;
        buf.copy_from_slice(window);
        Ok(())
    }

    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        if !self.direct {
            return self.file.write_all_at(buf, offset);
        }
        let window = aligned(&mut self.bounce, buf.len());
        window.copy_from_slice(buf);
        self.file.write_all_at(window, offset)
    }

    fn sync(&mut self) -> io::Result<()> {
        // fdatasync: the data and, on FAT, the card's write cache (a flush command); the
        // file's times are not data, so its directory entry is not rewritten each time.
        self.file.sync_data()
    }
}

impl JournalFile for CardFile {
    fn pages(&self) -> u64 {
        self.bytes / PAGE as u64
    }
}
