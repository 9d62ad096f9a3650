//! Card wear from a QEMU write trace: which card sectors a boot wrote, and how often.
//!
//! - [`trace`]: parses `-d trace:blk_co_pwritev` lines and picks the card's backend.
//! - [`fat_layout`]: reads the card image's MBR, FAT boot sector, FAT and directories.
//! - [`regions`]: every card sector assigned to one region (MBR, FATs, directories,
//!   each container through its cluster chain, free space, …).
//! - [`count`]: writes per card sector.
//! - [`report`]: per-region totals, hottest sector, rate per hour, hot-spot ratio.
//! - [`heatmap`]: the PNG picture of the same.

pub mod count;
pub mod error;
pub mod fat_layout;
pub mod heatmap;
pub mod regions;
pub mod report;
pub mod trace;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::Error;
pub use regions::{RegionKind, RegionMap};
pub use report::{Hottest, RegionWear, WearReport};
pub use trace::Trace;

/// The wear report of `trace` on the card image `card`. `blk` picks the card's backend
/// when the trace has several; `seconds` is the run's guest duration (else the trace's
/// own timestamps, if it has them, give host time).
pub fn analyse(
    card: &Path,
    trace: &Path,
    blk: Option<u64>,
    seconds: Option<f64>,
) -> Result<WearReport, Error> {
    let map = RegionMap::read(card)?;
    let trace = Trace::read(trace)?;
    let writes = trace.card_writes(blk)?;
    let counts = count::SectorCounts::count(&writes, map.card_sectors, &trace.path)?;
    let seconds = seconds.or_else(|| trace.timestamp_span());
    Ok(WearReport::new(&map, counts, seconds))
}
