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

    /// Takes `data`, the new contents of `sector`, at `now`: true when it waits here, false
    /// when the caller writes it to the card now (and it is counted as written).
    pub fn take(&mut self, sector: u64, data: &[u8], now: Instant) -> bool {
        let fill = self.filling.entry(sector).or_insert(Filling {
            last: now,
            writes: 0,
        });
        if now.duration_since(fill.last) >= FILL_ENDS {
            fill.writes = 0;
        }
        let recent = now.duration_since(fill.last) < self.gap;
        if fill.writes >= FREE_REWRITES && recent || self.waiting.contains_key(&sector) {
            self.waiting.insert(sector, data.into());
            return true;
        }
        fill.last = now;
        fill.writes += 1;
        false
    }

    /// Removes and returns the waiting sectors whose gap has passed at `now` (all of them
    /// when `all`), counting them as written, in ascending order.
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
        let mut out = Vec::with_capacity(due.len());
        for sector in due {
            let data = self.waiting.remove(&sector).expect("listed above");
            let fill = self.filling.entry(sector).or_insert(Filling {
                last: now,
                writes: 0,
            });
            fill.last = now;
            fill.writes += 1;
            out.push((sector, data));
        }
        self.filling
            .retain(|s, f| now.duration_since(f.last) < FILL_ENDS || self.waiting.contains_key(s));
        out
    }

    /// Puts back a sector [`Tails::due`] gave out that could not be written.
    pub fn put_back(&mut self, sector: u64, data: Box<[u8]>) {
        self.waiting.insert(sector, data);
    }
}
