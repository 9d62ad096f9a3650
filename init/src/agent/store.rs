//! The container as the card agent serves it: the rules that keep a power cut from
//! destroying data that garbage collection is moving.
//!
//! JFFS2 was made for flash chips, where a write can only *program* erased bits (1 → 0),
//! only an erase of a whole block turns bits back to 1, and the erase is over before the
//! block is programmed again. Its garbage collector copies live nodes out of a block, then
//! erases the block. The kernel's page cache under block2mtd loses that order: copies,
//! erases and new nodes are all just dirty pages, written back in page order. So the agent
//! sorts every page the kernel writes, byte by byte against what the card holds:
//!
//! - bytes that only fill erased (0xFF) bytes are **appends**: new nodes, which destroy
//!   nothing. They go to the card at once (and are synced at every FLUSH), unless their
//!   block is being erased;
//! - JFFS2's **obsolete marks** (bits cleared in an old node's header once its replacement
//!   is written) retire data, and a page whose bits go from 0 to 1 is part of an
//!   **erase** (its whole erase block is held from then on: on the card it still holds
//!   the old nodes, and JFFS2 reuses an erased block at once). Both are **held** in memory
//!   and served from there.
//!
//! The kernel's fsync of the device writes back every page dirty at its start and then
//! sends a FLUSH; but a page it writes carries whatever the page holds by then, changes
//! newer than that fsync included, so no FLUSH alone marks a consistent state. One does
//! when the kernel wrote nothing at all since the previous FLUSH: everything it changed
//! before this fsync began has reached us, and what we hold plus the card is the device as
//! it was then. At such a FLUSH everything held is released at once, through the
//! [`journal`](super::journal), all or nothing, except a block half-way through its erase
//! (its old summary must not reach the card over a half-erased block; until the erase
//! ends, nothing depends on it). Writes that never pause never give such a FLUSH by
//! themselves: the agent's flusher then makes one (it holds back reads and empties the
//! device's page cache, see `Flusher` in the agent). Should that fail, held pages are
//! released after a bound anyway (`max_hold` flushes, 30 s by default, the kernel's own
//! write-back interval). Without a journal, blocks are released one by one as a chip would
//! go through them: the block's last page first when it holds an old erase-block summary
//! (JFFS2 trusts a summary instead of scanning the block), then the held pages in
//! ascending order.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use super::journal::{Journal, JournalFile};

/// Flushes after which held pages are released even though writes never paused (about
/// 30 s at the default 100 ms: the kernel's own write-back interval).
pub const DEFAULT_MAX_HOLD_FLUSHES: u64 = 300;
/// The card's logical sector: the unit direct I/O to it takes, and the unit it wears in.
pub const SECTOR: usize = 512;
/// The unit of the kernel's page cache, and so of every write block2mtd causes.
pub const PAGE: usize = 4096;
const PAGE_U64: u64 = PAGE as u64;
const ERASED: u8 = 0xFF;

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
    /// Pages appended to on the card as they came.
    pub programmed: u64,
    /// Card sectors those appends rewrote.
    pub sectors_written: u64,
    /// Erase blocks made pending (by an erase or an obsolete mark).
    pub erases: u64,
    /// Page writes held in memory (a page held twice counts twice).
    pub held: u64,
    /// Pages written to the card when their block was released.
    pub released: u64,
    /// Pages the kernel wrote unchanged (nothing to do).
    pub unchanged: u64,
    /// FLUSH requests answered.
    pub flushes: u64,
    /// Syncs of the card.
    pub syncs: u64,
    /// Releases written through the journal.
    pub batches: u64,
    /// Releases made because writes never paused for `max_hold` flushes.
    pub forced: u64,
    /// Quiet FLUSHes (none of the kernel's writes since the previous one) that found
    /// pages held and released them: the flusher counts these to know its quiescing
    /// worked.
    pub quiet: u64,
    /// Releases too big for the journal, written block by block.
    pub unjournaled: u64,
}

/// A page whose newest contents are not all on the card yet.
struct Held {
    data: Box<[u8]>,
}

pub struct Store<B> {
    backing: B,
    size: u64,
    pages_per_block: u64,
    /// Blocks being erased (block2mtd rewrote a page's bits from 0 to 1).
    pending: BTreeSet<u64>,
    held: BTreeMap<u64, Held>,
    /// Programs written since the last sync.
    unsynced: bool,
    stats: Stats,
    /// Scratch page for reads of the card.
    scratch: Vec<u8>,
    /// WRITE requests since the last FLUSH: none means the kernel's cache was clean.
    writes_since_flush: u64,
    /// FLUSHes answered while something was held.
    flushes_holding: u64,
    /// Flushes to hold for at most under writes that never pause.
    max_hold: u64,
    /// Makes each release all-or-nothing; without one, blocks are released one by one.
    journal: Option<Journal<Box<dyn JournalFile + Send>>>,
}

/// A request the store cannot serve.
#[derive(Debug)]
pub enum StoreError {
    /// Outside the device or not whole pages (the agent sets a 4 KiB block size, so the
    /// kernel never sends one).
    Range {
        offset: u64,
        len: u64,
        size: u64,
    },
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

/// True when writing `new` over `old` only clears bits, as programming flash does.
pub fn is_program(old: &[u8], new: &[u8]) -> bool {
    old.iter().zip(new).all(|(o, n)| n & !o == 0)
}

/// True when `new` differs from `old` only where `old` is erased: new nodes, nothing
/// existing touched.
pub fn is_append(old: &[u8], new: &[u8]) -> bool {
    old.iter().zip(new).all(|(&o, &n)| o == n || o == ERASED)
}

fn is_erased(page: &[u8]) -> bool {
    page.iter().all(|&b| b == ERASED)
}

impl<B: Backing> Store<B> {
    /// A store over `size` bytes of `backing`, erased in blocks of `erase_size` bytes (a
    /// multiple of [`PAGE`]: the container's JFFS2 erase size).
    pub fn new(backing: B, size: u64, erase_size: u64) -> Self {
        Self {
            backing,
            size,
            pages_per_block: (erase_size / PAGE_U64).max(1),
            pending: BTreeSet::new(),
            held: BTreeMap::new(),
            unsynced: false,
            stats: Stats::default(),
            scratch: vec![0; PAGE],
            journal: None,
            writes_since_flush: 0,
            flushes_holding: 0,
            max_hold: DEFAULT_MAX_HOLD_FLUSHES,
        }
    }

    /// Holds for at most `flushes` flushes when the kernel's writes never pause.
    pub fn with_max_hold(mut self, flushes: u64) -> Self {
        self.max_hold = flushes;
        self
    }

    /// Releases go through `journal` from now on.
    pub fn with_journal(mut self, journal: Journal<Box<dyn JournalFile + Send>>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// The container's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Pages held right now.
    pub fn held_pages(&self) -> usize {
        self.held.len()
    }

    /// Erase blocks held right now: the new nodes written into them wait with them.
    pub fn held_blocks(&self) -> usize {
        self.pending.len()
    }

    fn check(&self, offset: u64, len: usize) -> Result<(), StoreError> {
        let len = len as u64;
        let whole = offset.is_multiple_of(PAGE_U64) && len.is_multiple_of(PAGE_U64);
        if !whole || offset.checked_add(len).is_none_or(|end| end > self.size) {
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
            match self.held.get(&(first + i as u64)) {
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
        self.writes_since_flush += 1;
        // One read of the card for the whole request; then only the 512-byte sectors that
        // appends change are written, in runs: a page being filled by small appends is
        // written back at every flush, and rewriting all of it each time would wear its
        // sectors several times faster than the bytes that change.
        let mut card = std::mem::take(&mut self.scratch);
        card.resize(data.len(), 0);
        let result = match self.backing.read_at(&mut card, offset) {
            Ok(()) => {
                let mut staged = card.clone();
                for (i, new) in data.chunks(PAGE).enumerate() {
                    let page = offset / PAGE_U64 + i as u64;
                    let range = i * PAGE..(i + 1) * PAGE;
                    if let Some(merged) = self.take_page(page, &card[range.clone()], new) {
                        staged[range].copy_from_slice(&merged);
                        self.stats.programmed += 1;
                    }
                }
                self.write_changed_sectors(offset, &card, &staged)
            }
            Err(e) => Err(e.into()),
        };
        card.truncate(PAGE);
        self.scratch = card;
        result
    }

    /// Writes the runs of sectors where `staged` differs from `card` (both at `offset`).
    fn write_changed_sectors(
        &mut self,
        offset: u64,
        card: &[u8],
        staged: &[u8],
    ) -> Result<(), StoreError> {
        let sectors = card.len() / SECTOR;
        let differs =
            |i: usize| card[i * SECTOR..(i + 1) * SECTOR] != staged[i * SECTOR..(i + 1) * SECTOR];
        let mut i = 0;
        while i < sectors {
            if !differs(i) {
                i += 1;
                continue;
            }
            let first = i;
            while i < sectors && differs(i) {
                i += 1;
            }
            self.backing.write_at(
                &staged[first * SECTOR..i * SECTOR],
                offset + (first * SECTOR) as u64,
            )?;
            self.unsynced = true;
            self.stats.sectors_written += (i - first) as u64;
        }
        Ok(())
    }

    /// Sorts one page (the card holds `on_card`); returns the bytes to append to the card
    /// now, if any.
    fn take_page(&mut self, page: u64, on_card: &[u8], new: &[u8]) -> Option<Vec<u8>> {
        let block = page / self.pages_per_block;
        let before: &[u8] = match self.held.get(&page) {
            Some(h) => &h.data,
            None => on_card,
        };
        if before == new {
            self.stats.unchanged += 1;
            return None;
        }
        if !is_program(before, new) && self.pending.insert(block) {
            // An erase (or a page of one): the whole block is held from now on.
            self.stats.erases += 1;
        }
        if self.pending.contains(&block) {
            // Nothing of a block being erased reaches the card before its erase does.
            self.hold(page, new);
            return None;
        }
        // No erase pending: what only fills erased bytes goes to the card now; the rest
        // (JFFS2's obsolete marks) is held.
        let merged: Vec<u8> = on_card
            .iter()
            .zip(new)
            .map(|(&card, &n)| if card == ERASED { n } else { card })
            .collect();
        if merged == new {
            self.held.remove(&page);
        } else {
            self.hold(page, new);
        }
        (merged != on_card).then_some(merged)
    }

    fn hold(&mut self, page: u64, data: &[u8]) {
        self.held.insert(page, Held { data: data.into() });
        self.stats.held += 1;
    }

    /// Answers a FLUSH: syncs the appends; when the kernel wrote nothing since the last
    /// FLUSH (so everything it changed before this one's fsync began has reached us, and
    /// what we hold plus the card is the device as it was then), releases everything
    /// held but blocks half-way through their erase, all at once. Under writes that never
    /// pause, the held pages are released the same way after `max_hold` flushes.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let quiet = self.writes_since_flush == 0;
        self.writes_since_flush = 0;
        self.sync_programs()?;
        if self.held.is_empty() && self.pending.is_empty() {
            self.flushes_holding = 0;
        } else {
            self.flushes_holding += 1;
            if quiet {
                self.stats.quiet += 1;
                self.release(true)?;
                self.flushes_holding = 0;
            } else if self.flushes_holding > self.max_hold {
                self.stats.forced += 1;
                self.release(true)?;
                self.flushes_holding = 0;
            }
        }
        self.stats.flushes += 1;
        Ok(())
    }

    /// At disconnect: the kernel has written back everything (the filesystem was unmounted
    /// and the device synced), so everything held is released.
    pub fn finish(&mut self) -> Result<(), StoreError> {
        self.sync_programs()?;
        self.release(false)
    }

    /// Releases what is held; with `skip_underway` (any release but the last), blocks
    /// half-way through their erase stay held, so no old summary outlives a half-written
    /// erase.
    fn release(&mut self, skip_underway: bool) -> Result<(), StoreError> {
        let ppb = self.pages_per_block;
        let mut blocks = Vec::new();
        let candidates: Vec<u64> = self.pending.iter().copied().collect();
        for block in candidates {
            if !skip_underway || !self.erase_underway(block)? {
                blocks.push(block);
            }
        }
        let pages: Vec<u64> = self
            .held
            .keys()
            .copied()
            .filter(|page| {
                let block = page / ppb;
                !self.pending.contains(&block) || blocks.contains(&block)
            })
            .collect();
        if pages.is_empty() {
            for block in &blocks {
                self.pending.remove(block);
            }
            return Ok(());
        }
        if let Some(journal) = &self.journal {
            let data = pages
                .iter()
                .filter(|p| !is_erased(&self.held[p].data))
                .count();
            if journal.fits(pages.len(), data) {
                return self.release_journaled(&pages, &blocks);
            }
            self.stats.unjournaled += 1;
        }
        for &block in &blocks {
            self.release_block(block)?;
            self.pending.remove(&block);
        }
        for page in pages {
            // Those of the blocks are written already.
            let Some(h) = self.held.get(&page) else {
                continue;
            };
            self.backing.write_at(&h.data, page * PAGE_U64)?;
            self.held.remove(&page);
            self.stats.released += 1;
            self.unsynced = true;
        }
        self.sync_programs()
    }

    /// Releases `pages` (and the erases of `blocks`) all at once: the batch to the journal
    /// (synced), the pages in place (synced), then the journal's done record. A cut
    /// anywhere leaves either the old pages or, once the agent has read the journal at
    /// the next start, the new ones.
    fn release_journaled(&mut self, pages: &[u64], blocks: &[u64]) -> Result<(), StoreError> {
        let journal = self.journal.as_mut().expect("checked by the caller");
        let contents: Vec<(u64, &[u8])> = pages.iter().map(|p| (*p, &*self.held[p].data)).collect();
        journal.batch(&contents)?;
        for &page in pages {
            self.backing
                .write_at(&self.held[&page].data, page * PAGE_U64)?;
        }
        self.unsynced = true;
        self.sync_programs()?;
        self.journal.as_mut().expect("checked").done()?;
        for page in pages {
            self.held.remove(page);
        }
        for block in blocks {
            self.pending.remove(block);
        }
        self.stats.released += pages.len() as u64;
        self.stats.batches += 1;
        Ok(())
    }

    /// block2mtd erases a block page by page, first to last: a block whose first page is
    /// erased while its last still holds data is half-way through an erase. Its end may
    /// still hold the old erase-block summary, which JFFS2 trusts instead of scanning the
    /// block, so it must not reach the card like that. (A block erased and written again
    /// starts with a cleanmarker or a node; one whose end was erased already scans as
    /// empty once its first kilobyte is.)
    fn erase_underway(&mut self, block: u64) -> Result<bool, StoreError> {
        let first = block * self.pages_per_block;
        let last = first + self.pages_per_block - 1;
        Ok(first != last && self.page_erased(first)? && !self.page_erased(last)?)
    }

    /// The page as the device holds it (held, or on the card) is all 0xFF.
    fn page_erased(&mut self, page: u64) -> Result<bool, StoreError> {
        if let Some(h) = self.held.get(&page) {
            return Ok(is_erased(&h.data));
        }
        self.backing.read_at(&mut self.scratch, page * PAGE_U64)?;
        Ok(is_erased(&self.scratch))
    }

    /// Writes one pending block to the card as a chip would see it: an old summary gone
    /// first (synced), then the held pages in ascending order (synced).
    fn release_block(&mut self, block: u64) -> Result<(), StoreError> {
        let first = block * self.pages_per_block;
        let last = first + self.pages_per_block - 1;
        let mut pages: Vec<u64> = self.held.range(first..=last).map(|(&p, _)| p).collect();
        if pages.iter().any(|&p| p != last) {
            let last_at = last * PAGE_U64;
            self.backing.read_at(&mut self.scratch, last_at)?;
            let kept = self
                .held
                .get(&last)
                .is_some_and(|new| is_program(&self.scratch, &new.data));
            if !is_erased(&self.scratch) && !kept {
                self.scratch.fill(ERASED);
                self.backing.write_at(&self.scratch, last_at)?;
                self.unsynced = true;
                self.sync_programs()?;
                // A last page whose new contents are erased was released just now.
                if self.held.get(&last).is_some_and(|new| is_erased(&new.data)) {
                    self.held.remove(&last);
                    self.stats.released += 1;
                    pages.retain(|&p| p != last);
                }
            }
        }
        for page in pages {
            // Written before removal: if the card fails, the page stays held and readable.
            self.backing
                .write_at(&self.held[&page].data, page * PAGE_U64)?;
            self.held.remove(&page);
            self.stats.released += 1;
            self.unsynced = true;
        }
        self.sync_programs()
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
