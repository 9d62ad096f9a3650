//! The wear of each region: writes, the hottest sector, its rate per hour, and for
//! containers the hot-spot ratio (hottest ÷ mean of the container's written sectors).

use std::fmt::Write as _;

use super::count::SectorCounts;
use super::regions::{RegionKind, RegionMap};

/// The most written sector of a region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hottest {
    /// Card sector (512 bytes from the disk start).
    pub sector: u64,
    /// Byte offset inside the region (a file's offset for files).
    pub offset: u64,
    pub writes: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegionWear {
    pub name: String,
    pub kind: RegionKind,
    pub sectors: u64,
    /// Sector writes: every write of every sector of the region.
    pub writes: u64,
    pub sectors_written: u64,
    pub hottest: Option<Hottest>,
    /// Writes of the hottest sector per hour of the run.
    pub hottest_per_hour: Option<f64>,
    /// Containers (and whole non-FAT partitions): hottest ÷ mean writes of the written sectors.
    pub hot_spot_ratio: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WearReport {
    pub requests: usize,
    /// The run's duration, and where it came from (guest seconds given, or trace times).
    pub seconds: Option<f64>,
    pub regions: Vec<RegionWear>,
    /// Writes of each card sector, for the heat map.
    pub counts: SectorCounts,
}

impl WearReport {
    pub fn new(map: &RegionMap, counts: SectorCounts, seconds: Option<f64>) -> Self {
        let hours = seconds.filter(|s| *s > 0.0).map(|s| s / 3600.0);
        let regions = map
            .regions
            .iter()
            .map(|region| {
                let mut writes = 0u64;
                let mut written = 0u64;
                let mut hottest: Option<Hottest> = None;
                for s in region.sectors() {
                    let n = counts.get(s);
                    if n == 0 {
                        continue;
                    }
                    writes += u64::from(n);
                    written += 1;
                    if hottest.is_none_or(|h| n > h.writes) {
                        hottest = Some(Hottest {
                            sector: s,
                            offset: region.offset_of(s).unwrap_or(0),
                            writes: n,
                        });
                    }
                }
                let hot_spot_ratio = match (region.kind, hottest) {
                    (RegionKind::Container | RegionKind::Partition, Some(h)) => {
                        Some(f64::from(h.writes) / (writes as f64 / written as f64))
                    }
                    _ => None,
                };
                RegionWear {
                    name: region.name.clone(),
                    kind: region.kind,
                    sectors: region.sector_count(),
                    writes,
                    sectors_written: written,
                    hottest,
                    hottest_per_hour: hours
                        .and_then(|h| hottest.map(|hot| f64::from(hot.writes) / h)),
                    hot_spot_ratio,
                }
            })
            .collect();
        Self {
            requests: counts.requests,
            seconds,
            regions,
            counts,
        }
    }

    /// The most written sector outside every container, with its region.
    pub fn hottest_outside_containers(&self) -> Option<(&RegionWear, Hottest)> {
        self.regions
            .iter()
            .filter(|r| !r.kind.is_container())
            .filter_map(|r| r.hottest.map(|h| (r, h)))
            .max_by_key(|(_, h)| h.writes)
    }

    /// The text table: every region that was written, then the count of those that were not.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} write requests; run of {}",
            self.requests,
            match self.seconds {
                Some(s) => format!("{s:.0} s"),
                None => "unknown length (no rates per hour without it)".into(),
            }
        );
        let _ = writeln!(
            out,
            "{:<34} {:>8} {:>8} {:>8} {:>10} {:>12} {:>7} {:>9} {:>6}",
            "region",
            "sectors",
            "written",
            "writes",
            "hottest",
            "at offset",
            "writes",
            "per hour",
            "ratio"
        );
        let mut unwritten = 0;
        for r in &self.regions {
            let Some(h) = r.hottest else {
                unwritten += 1;
                continue;
            };
            let _ = writeln!(
                out,
                "{:<34} {:>8} {:>8} {:>8} {:>10} {:>12} {:>7} {:>9} {:>6}",
                shorten(&r.name, 34),
                r.sectors,
                r.sectors_written,
                r.writes,
                h.sector,
                h.offset,
                h.writes,
                r.hottest_per_hour.map_or("-".into(), |p| format!("{p:.0}")),
                r.hot_spot_ratio.map_or("-".into(), |x| format!("{x:.2}")),
            );
        }
        if unwritten > 0 {
            let _ = writeln!(out, "({unwritten} regions not written)");
        }
        out
    }
}

/// Long names keep their end (the file name).
fn shorten(name: &str, width: usize) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= width {
        return name.into();
    }
    let tail: String = chars[chars.len() - (width - 1)..].iter().collect();
    format!("…{tail}")
}
