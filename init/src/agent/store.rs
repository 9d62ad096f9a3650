//! The container as the card agent serves it: the rule that keeps a power cut from
//! destroying data that garbage collection is moving.
//!
//! JFFS2 was made for flash chips, where a write can only *program* erased bits (1 → 0)
//! and only an erase turns bits back to 1. Its garbage collector copies live nodes out of
//! a block, then erases the block; on a chip the copy is done before the erase starts. The
//! kernel's page cache under block2mtd loses that order: both are just dirty pages, written
//! back in page order. So the agent sorts every page the kernel writes:
//!
//! - a **program** (no bit goes from 0 to 1) cannot destroy anything: it goes to the card
//!   at once;
//! - anything else (an erase, or new data over erased-but-not-yet-written space) is
//!   **held** in memory, and served from there, until every page the kernel dirtied before
//!   it is on the card. The kernel's fsync of the device writes back every page dirty at its
//!   start and then sends a FLUSH; a page held before one FLUSH was answered is therefore
//!   safe at the next one, after the programs that preceded it have been synced.
//!
//! Held pages that become safe together are written in the order a chip would see them:
//! first those carrying data (JFFS2 reuses an erased block at once, so a garbage-collection
//! copy can land in a page that is itself held), then the erased ones, then the erased ones
//! that carry only a cleanmarker (JFFS2 writes it after the erase); the card is synced
//! after each group.
//!
//! A cut then leaves the card as a flash chip would be after a cut: a copy without its
//! erase (JFFS2 keeps the newest version and garbage-collects the rest), or a block half
//! erased (JFFS2 erases it again), never an erase without its copy.

use std::collections::BTreeMap;
use std::io;

/// The unit of the kernel's page cache, and so of every write block2mtd causes.
pub const PAGE: usize = 4096;
const PAGE_U64: u64 = PAGE as u64;

/// Where the container's bytes live: its file on the card.
pub trait Backing {
    /// Reads exactly `buf.len()` bytes at `offset` (page-aligned, whole pages).
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset` (page-aligned, whole pages).
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes every completed write durable on the card.
    fn sync(&mut self) -> io::Result<()>;
}

/// What the store has done, for the agent's log and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Pages written to the card as they came (programs).
    pub programmed: u64,
    /// Pages held back because they would have destroyed data on the card.
    pub held: u64,
    /// Held pages written to the card once safe.
    pub released: u64,
    /// Pages the kernel wrote unchanged (nothing to do).
    pub unchanged: u64,
    /// FLUSH requests answered.
    pub flushes: u64,
    /// Syncs of the card.
    pub syncs: u64,
}

struct Held {
    data: Box<[u8]>,
    /// [`Stats::flushes`] when the page was first held.
    since: u64,
}

pub struct Store<B> {
    backing: B,
    size: u64,
    held: BTreeMap<u64, Held>,
    /// Programs written since the last sync.
    unsynced: bool,
    stats: Stats,
}

/// A request outside the device or not in whole pages (the agent sets a 4 KiB block size,
/// so the kernel never sends one).
#[derive(Debug)]
pub enum StoreError {
    Range { offset: u64, len: u64, size: u64 },
    Io(io::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Range { offset, len, size } => write!(
                f,
                "{len} bytes at {offset} are not whole {PAGE}-byte pages inside the {size}-byte container"
            ),
            Self::Io(e) => e.fmt(f),
        }
    }
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// JFFS2's cleanmarker: a bare node header at the start of an erased block.
const CLEANMARKER_LEN: usize = 12;
const ERASED: u8 = 0xFF;

/// The order in which held pages that are safe together reach the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Release {
    /// Anything else: nodes written into a block whose erase was held.
    Data,
    /// All 0xFF.
    Erased,
    /// Erased but for a node header at the page's start (the cleanmarker).
    Marker,
}

pub fn release_class(page: &[u8]) -> Release {
    let (head, rest) = page.split_at(CLEANMARKER_LEN.min(page.len()));
    match (
        head.iter().all(|&b| b == ERASED),
        rest.iter().all(|&b| b == ERASED),
    ) {
        (true, true) => Release::Erased,
        (false, true) => Release::Marker,
        _ => Release::Data,
    }
}

/// True when writing `new` over `old` only clears bits, as programming flash does.
pub fn is_program(old: &[u8], new: &[u8]) -> bool {
    old.iter().zip(new).all(|(o, n)| n & !o == 0)
}

impl<B: Backing> Store<B> {
    pub fn new(backing: B, size: u64) -> Self {
        Self {
            backing,
            size,
            held: BTreeMap::new(),
            unsynced: false,
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Pages held right now.
    pub fn held_pages(&self) -> usize {
        self.held.len()
    }

    fn check(&self, offset: u64, len: usize) -> Result<(), StoreError> {
        let len = len as u64;
        let whole = offset % PAGE_U64 == 0 && len % PAGE_U64 == 0;
        if !whole || offset.checked_add(len).map_or(true, |end| end > self.size) {
            return Err(StoreError::Range {
                offset,
                len,
                size: self.size,
            });
        }
        Ok(())
    }

    /// The device's bytes at `offset`: held pages from memory, the rest from the card.
    pub fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StoreError> {
        self.check(offset, buf.len())?;
        let first = offset / PAGE_U64;
        // Runs of pages not held are read from the card in one call each.
        let mut run_start: Option<usize> = None;
        for (i, chunk_start) in (0..buf.len()).step_by(PAGE).enumerate() {
            let page = first + i as u64;
            match self.held.get(&page) {
                Some(h) => {
                    if let Some(s) = run_start.take() {
                        self.backing
                            .read_at(&mut buf[s..chunk_start], offset + s as u64)?;
                    }
                    buf[chunk_start..chunk_start + PAGE].copy_from_slice(&h.data);
                }
                None => {
                    run_start.get_or_insert(chunk_start);
                }
            }
        }
        if let Some(s) = run_start {
            self.backing.read_at(&mut buf[s..], offset + s as u64)?;
        }
        Ok(())
    }

    /// Takes the kernel's write of `data` at `offset`, page by page.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        self.check(offset, data.len())?;
        let mut current = vec![0u8; PAGE];
        for (i, new) in data.chunks(PAGE).enumerate() {
            let page = offset / PAGE_U64 + i as u64;
            if let Some(h) = self.held.get_mut(&page) {
                // Still not safe: the card holds the old contents. Keep the newest.
                h.data.copy_from_slice(new);
                continue;
            }
            let at = page * PAGE_U64;
            self.backing.read_at(&mut current, at)?;
            if current == new {
                self.stats.unchanged += 1;
            } else if is_program(&current, new) {
                self.backing.write_at(new, at)?;
                self.unsynced = true;
                self.stats.programmed += 1;
            } else {
                self.held.insert(
                    page,
                    Held {
                        data: new.into(),
                        since: self.stats.flushes,
                    },
                );
                self.stats.held += 1;
            }
        }
        Ok(())
    }

    /// Answers a FLUSH: syncs the programs, then writes the held pages that became safe
    /// (held before the previous FLUSH was answered) and syncs again.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let answered = self.stats.flushes;
        self.release(|since| since < answered)?;
        self.stats.flushes += 1;
        Ok(())
    }

    /// At disconnect: the kernel has written back everything (the filesystem was unmounted
    /// and the device synced), so every held page is safe.
    pub fn finish(&mut self) -> Result<(), StoreError> {
        self.release(|_| true)
    }

    fn release(&mut self, safe: impl Fn(u64) -> bool) -> Result<(), StoreError> {
        self.sync_programs()?;
        let mut ready: Vec<(Release, u64)> = self
            .held
            .iter()
            .filter(|(_, h)| safe(h.since))
            .map(|(&page, h)| (release_class(&h.data), page))
            .collect();
        ready.sort_unstable();
        for group in ready.chunk_by(|a, b| a.0 == b.0) {
            for &(_, page) in group {
                let h = self.held.remove(&page).expect("listed above");
                if let Err(e) = self.backing.write_at(&h.data, page * PAGE_U64) {
                    // Keep it: a later flush tries again, and reads still see it.
                    self.held.insert(page, h);
                    return Err(e.into());
                }
                self.stats.released += 1;
            }
            self.unsynced = true;
            self.sync_programs()?;
        }
        Ok(())
    }

    fn sync_programs(&mut self) -> Result<(), StoreError> {
        if self.unsynced {
            self.backing.sync()?;
            self.unsynced = false;
            self.stats.syncs += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
