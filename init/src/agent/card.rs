//! A file on the card (the container, its journal) as the store's [`Backing`]. The agent
//! writes its bytes where they lie on the card's partition when it can ([`placement`]):
//! then the FAT file's time never changes, and no sync(2) rewrites its directory entry.
//! Otherwise through the file, for direct I/O if the card's filesystem allows it, so that
//! a write reaches the card in the call itself and no page is cached twice (once under
//! block2mtd, once for the FAT file).
//!
//! [`placement`]: super::placement

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};

use super::journal::JournalFile;
use super::placement::{self, Piece, Placement};
use super::store::{Backing, PAGE};
use crate::blkid::SECTOR;

/// The largest request the kernel sends block2mtd's device is well below this.
const KEPT_BOUNCE: usize = 1 << 20;

/// How the agent reaches a file's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// On the card's partition, where the file lies: direct I/O, the FAT entry untouched.
    Partition,
    /// Through the FAT file, direct I/O.
    DirectFile,
    /// Through the FAT file and the page cache.
    BufferedFile,
}

impl Route {
    pub fn describe(self) -> &'static str {
        match self {
            Route::Partition => "direct I/O on the card's partition",
            Route::DirectFile => "direct I/O through the FAT file",
            Route::BufferedFile => "buffered, through the FAT file",
        }
    }
}

/// A page-aligned buffer, as direct I/O needs.
#[derive(Default)]
pub struct AlignedBuf(Vec<u8>);

impl AlignedBuf {
    pub fn new() -> Self {
        Self::default()
    }

    /// A page-aligned window of `len` bytes.
    pub fn window(&mut self, len: usize) -> &mut [u8] {
        if self.0.len() < len + PAGE {
            self.0.resize(len + PAGE, 0);
        }
        let skip = self.0.as_ptr().align_offset(PAGE);
        &mut self.0[skip..skip + len]
    }

    /// Reads `len` bytes of `file` at `offset` into the window.
    pub fn read_at(&mut self, file: &File, offset: u64, len: usize) -> io::Result<&[u8]> {
        let window = self.window(len);
        file.read_exact_at(window, offset)?;
        Ok(window)
    }
}

pub struct CardFile {
    /// The card's partition (route Partition) or the file.
    io: File,
    route: Route,
    /// Where the file lies on the partition (route Partition only).
    placement: Option<Placement>,
    bounce: AlignedBuf,
    /// The size when opened (the agent never resizes its files).
    bytes: u64,
}

impl CardFile {
    /// Opens `path` read-write by the best route it allows, making any device node it
    /// needs in `nodes`; each reason it had to take a lesser route is returned beside it.
    pub fn open(path: &str, nodes: &str) -> io::Result<(Self, Vec<String>)> {
        let mut notes = Vec::new();
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        let (file, route) = match options.clone().custom_flags(nix::libc::O_DIRECT).open(path) {
            Ok(f) => (f, Route::DirectFile),
            Err(e) => {
                notes.push(format!("it cannot be opened for direct I/O ({e})"));
                (options.open(path)?, Route::BufferedFile)
            }
        };
        let bytes = file.metadata()?.len();
        let mut card = Self {
            io: file,
            route,
            placement: None,
            bounce: AlignedBuf::new(),
            bytes,
        };
        if bytes < SECTOR as u64 {
            // The caller refuses such a file by name; nothing to map.
            return Ok((card, notes));
        }
        match placement::locate(&card.io, nodes) {
            Ok((device, placement)) => match card.same_on_partition(&device, &placement) {
                Ok(true) => {
                    // Pages of the file the init read before (its check of the image)
                    // would go stale as the agent writes beside the FAT file.
                    let _ = nix::fcntl::posix_fadvise(
                        card.io.as_raw_fd(),
                        0,
                        0,
                        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
                    );
                    card.io = device;
                    card.route = Route::Partition;
                    card.placement = Some(placement);
                }
                Ok(false) => notes.push(
                    "its bytes on the card's partition differ from the file's; not writing there"
                        .into(),
                ),
                Err(e) => notes.push(format!("comparing it with the card's partition: {e}")),
            },
            Err(why) => notes.push(why.to_string()),
        }
        Ok((card, notes))
    }

    /// Opens the journal at `path`, first making it `bytes` long (all its clusters
    /// allocated once, so its writes never touch the FAT) when it is missing or shorter.
    pub fn open_journal(path: &str, bytes: u64, nodes: &str) -> io::Result<(Self, Vec<String>)> {
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
        Self::open(path, nodes)
    }

    pub fn size(&self) -> u64 {
        self.bytes
    }

    pub fn route(&self) -> Route {
        self.route
    }

    /// The first and last sectors of the file read both ways agree: the map is right.
    fn same_on_partition(&mut self, device: &File, placement: &Placement) -> io::Result<bool> {
        let len = SECTOR.min(self.bytes as usize);
        for offset in [0, self.bytes - len as u64] {
            let through_file = self.bounce.read_at(&self.io, offset, len)?.to_vec();
            let piece = placement.pieces(offset, len)?[0];
            if self.bounce.read_at(device, piece.device, len)? != through_file.as_slice() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Where the `len` bytes at file offset `offset` lie on `self.io`.
    fn pieces(&self, offset: u64, len: usize) -> io::Result<Vec<Piece>> {
        match &self.placement {
            Some(p) => p.pieces(offset, len),
            None => Ok(vec![Piece {
                device: offset,
                at: 0,
                len,
            }]),
        }
    }
}

impl Backing for CardFile {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if self.route == Route::BufferedFile {
            return self.io.read_exact_at(buf, offset);
        }
        let pieces = self.pieces(offset, buf.len())?;
        // A large read (the journal's ring at start) gets a buffer of its own, so that the
        // kept one (locked in RAM, as all the agent's memory) stays a few pages.
        let mut own = AlignedBuf::new();
        let bounce = if buf.len() > KEPT_BOUNCE {
            &mut own
        } else {
            &mut self.bounce
        };
        let window = bounce.window(buf.len());
        for p in pieces {
            self.io
                .read_exact_at(&mut window[p.at..p.at + p.len], p.device)?;
        }
        buf.copy_from_slice(window);
        Ok(())
    }

    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.route == Route::BufferedFile {
            return self.io.write_all_at(buf, offset);
        }
        let pieces = self.pieces(offset, buf.len())?;
        let window = self.bounce.window(buf.len());
        window.copy_from_slice(buf);
        for p in pieces {
            self.io
                .write_all_at(&window[p.at..p.at + p.len], p.device)?;
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        // fdatasync: the data and the card's write cache (a flush command). On the
        // partition that is all; through the file, its times are not data, so its
        // directory entry is not rewritten each time (until a sync(2)).
        self.io.sync_data()
    }
}

impl JournalFile for CardFile {
    fn pages(&self) -> u64 {
        self.bytes / PAGE as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "partition" file where a 3-sector file lies in two runs, the second before the
    /// first: what the store writes through the card file lands in the right sectors,
    /// and reads across the jump come back whole.
    #[test]
    fn requests_are_cut_at_each_run_of_the_file_on_the_partition() {
        let dir = std::env::temp_dir().join(format!("flashroot-cardfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let partition = dir.join("partition");
        std::fs::write(&partition, vec![0u8; 8 * SECTOR]).unwrap();
        let io = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&partition)
            .unwrap();
        // File sector 0 at partition sector 5, file sectors 1 and 2 at partition sectors 1 and 2.
        let at = [5 * SECTOR as u64, SECTOR as u64, 2 * SECTOR as u64];
        let placement = Placement::map(3 * SECTOR as u64, SECTOR as u64, |o| {
            Ok(at[o as usize / SECTOR])
        })
        .unwrap();
        assert_eq!(placement.runs(), 2);
        let mut card = CardFile {
            io,
            route: Route::Partition,
            placement: Some(placement),
            bounce: AlignedBuf::new(),
            bytes: 3 * SECTOR as u64,
        };
        let data: Vec<u8> = (0..2 * SECTOR).map(|i| (i % 251) as u8).collect();
        card.write_at(&data, 0).unwrap();
        let on_partition = std::fs::read(&partition).unwrap();
        assert_eq!(&on_partition[5 * SECTOR..6 * SECTOR], &data[..SECTOR]);
        assert_eq!(&on_partition[SECTOR..2 * SECTOR], &data[SECTOR..]);
        assert!(
            on_partition[..SECTOR].iter().all(|b| *b == 0),
            "sector 0 untouched"
        );
        let mut back = vec![0u8; 2 * SECTOR];
        card.read_at(&mut back, 0).unwrap();
        assert_eq!(back, data);
        // Past the end of the file: an error, not a write somewhere on the partition.
        assert!(card.write_at(&data, 2 * SECTOR as u64).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
