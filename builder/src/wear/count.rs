//! Per-sector write counts: a write request counts once for every 512-byte card sector it
//! touches, a partial sector included (the card rewrites the whole sector, or more).

use std::path::Path;

use super::error::Error;
use super::fat_layout::CARD_SECTOR;
use super::trace::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectorCounts {
    /// Writes of each card sector.
    pub counts: Vec<u32>,
    /// Write requests counted.
    pub requests: usize,
}

impl SectorCounts {
    /// Counts `writes` on a card of `card_sectors`; `trace` names the file in errors.
    pub fn count(writes: &[Write], card_sectors: u64, trace: &Path) -> Result<Self, Error> {
        let mut counts = vec![0u32; card_sectors as usize];
        for w in writes {
            let end = w.offset + w.bytes;
            if end > card_sectors * CARD_SECTOR {
                return Err(Error::WriteBeyondCard {
                    path: trace.to_path_buf(),
                    line: w.line,
                    end,
                    card_bytes: card_sectors * CARD_SECTOR,
                });
            }
            let first = w.offset / CARD_SECTOR;
            let last = end.div_ceil(CARD_SECTOR).max(first + 1);
            for c in &mut counts[first as usize..last as usize] {
                *c = c.saturating_add(1);
            }
        }
        Ok(Self {
            counts,
            requests: writes.len(),
        })
    }

    pub fn get(&self, sector: u64) -> u32 {
        self.counts.get(sector as usize).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(line: usize, offset: u64, bytes: u64) -> Write {
        Write {
            line,
            blk: 1,
            offset,
            bytes,
            time: None,
        }
    }

    #[test]
    fn every_touched_sector_counts_once_per_request() {
        let writes = [write(1, 0, 512), write(2, 1000, 100), write(3, 512, 1024)];
        let c = SectorCounts::count(&writes, 4, Path::new("t")).unwrap();
        assert_eq!(c.counts, [1, 2, 2, 0]);
        assert_eq!(c.requests, 3);
    }

    #[test]
    fn a_write_beyond_the_card_names_its_line() {
        let error = SectorCounts::count(&[write(7, 1536, 1024)], 4, Path::new("trace.log"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "trace.log:7: write ends at byte 2560, beyond the 2048-byte card \
             (is this the card's backend and the right card image?)"
        );
    }
}
