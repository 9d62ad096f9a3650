//! Sectors being filled by small appends, and the rule that keeps them from becoming the
//! card's hot spots.
//!
//! JFFS2 appends its nodes one after another, and the agent writes every appended sector
//! at the next flush (100 ms by default) so that an fsync'ed write is on the card promptly.
//! A sector that fills slowly — small nodes arriving over many flushes, as on a busy host
//! where the guest's writes come in small bursts — is then rewritten at each of them: in
//! a 30-minute trace one sector took seven writes in a row while the container's sectors
//! averaged 3.4. So a sector's first [`FREE_REWRITES`] writes of a fill go out at once, and
//! later ones wait until `gap` has passed since its previous write (held here, in memory,
//! and read from here); a fill ends when the sector has not been written for
//! [`FILL_ENDS`]. With the default gap (one and a half flush intervals) a slowly filled
//! sector is written at every second flush at most, and its newest bytes reach the card at
//! most two flushes after they came.
//!
//! Only a write that changes nothing but such sectors waits: JFFS2 trusts its log to reach
//! the flash in order, so when anything else is written, what waits goes first (a rename
//! written after a file's data must never be on the card without that data).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::SECTOR;

/// Writes of a sector that go out at once in each fill.
pub const FREE_REWRITES: u32 = 2;
/// A sector not written for this long is no longer being filled.
pub const FILL_ENDS: Duration = Duration::from_secs(2);

/// When a sector was last written and how often in its current fill.
struct Filling {
    last: Instant,
    writes: u32,
}

#[derive(Default)]
pub struct Tails {
    gap: Duration,
    filling: HashMap<u64, Filling>,
    /// Sector index → its newest contents, not on the card yet.
    waiting: BTreeMap<u64, Box<[u8]>>,
}

impl Tails {
    /// Later rewrites of a sector in one fill wait until `gap` has passed since its last
    /// write; a zero gap writes every sector at once.
    pub fn new(gap: Duration) -> Self {
        Self {
            gap,
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Copies the waiting sectors that lie in `buf` (the card's bytes at `offset`,
    /// sector-aligned) over it.
    pub fn overlay(&self, buf: &mut [u8], offset: u64) {
        let first = offset / SECTOR as u64;
        let end = first + (buf.len() / SECTOR) as u64;
        for (&sector, data) in self.waiting.range(first..end) {
            let at = (sector - first) as usize * SECTOR;
            buf[at..at + SECTOR].copy_from_slice(data);
        }
    }

    /// True when a new write of `sector` at `now` should wait: it is waiting already, or
    /// it was written [`FREE_REWRITES`] times in this fill, the last less than `gap` ago.
    pub fn would_wait(&self, sector: u64, now: Instant) -> bool {
        if self.waiting.contains_key(&sector) {
            return true;
        }
        self.filling.get(&sector).is_some_and(|f| {
            let since = now.duration_since(f.last);
            since < FILL_ENDS && f.writes >= FREE_REWRITES && since < self.gap
        })
    }

    /// `data`, the new contents of `sector`, waits here.
    pub fn wait(&mut self, sector: u64, data: &[u8]) {
        self.waiting.insert(sector, data.into());
    }

    /// The caller wrote `sector` at `now` with its newest contents.
    pub fn written(&mut self, sector: u64, now: Instant) {
        self.waiting.remove(&sector);
        let fill = self.filling.entry(sector).or_insert(Filling {
            last: now,
            writes: 0,
        });
        if now.duration_since(fill.last) >= FILL_ENDS {
            fill.writes = 0;
        }
        fill.last = now;
        fill.writes += 1;
    }

    /// Removes and returns the waiting sectors whose gap has passed at `now` (all of them
    /// when `all`), in ascending order; the caller writes them and reports each to
    /// [`Tails::written`].
    pub fn due(&mut self, now: Instant, all: bool) -> Vec<(u64, Box<[u8]>)> {
        let gap = self.gap;
        let due: Vec<u64> = self
            .waiting
            .keys()
            .copied()
            .filter(|s| {
                all || self
                    .filling
                    .get(s)
                    .map_or(true, |f| now.duration_since(f.last) >= gap)
            })
            .collect();
        let out = due
            .into_iter()
            .map(|s| (s, self.waiting.remove(&s).expect("listed above")))
            .collect();
        self.filling
            .retain(|s, f| now.duration_since(f.last) < FILL_ENDS || self.waiting.contains_key(s));
        out
    }

    /// Drops what waits for `sector`: the caller is about to write newer contents.
    pub fn superseded(&mut self, sector: u64) {
        self.waiting.remove(&sector);
    }
}
