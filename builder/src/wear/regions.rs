//! The card's regions, sector by sector: MBR, the gap before the partition, the reserved
//! sectors, each FAT copy, each directory, each container (in file order, through its
//! cluster chain), other files, free clusters. Every card sector belongs to exactly one.

// A region is a list of extents; many have exactly one, which is not a mistaken range.
#![allow(clippy::single_range_in_vec_init)]

use std::ops::Range;

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::error::Error;
use super::fat_layout::{self, Layout, LayoutError, CARD_SECTOR};

/// What a region is; the wear test and the report group by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegionKind {
    /// Sector 0: the partition table.
    Mbr,
    /// Between the MBR and the partition, and after it (boot loader space, alignment).
    Unpartitioned,
    /// The FAT boot sector (holds the dirty bit of FAT16; FAT32 keeps it in the FAT).
    BootSector,
    /// FAT32's FSInfo sector: free cluster count and next-free hint.
    FsInfo,
    BackupBootSector,
    /// The other reserved sectors.
    Reserved,
    /// One FAT copy.
    Fat,
    /// A directory's sectors (its entries hold sizes and times).
    Directory,
    /// A JFFS2 container file.
    Container,
    /// Any other file.
    File,
    /// Clusters marked free in the FAT.
    Free,
    /// Clusters marked used that no directory entry reaches, and sectors past the last cluster.
    Other,
    /// A whole partition that is not FAT (ext4 on the card, for comparison): one region.
    Partition,
}

impl RegionKind {
    /// Containers are where writes belong; everything else should stay cold.
    pub fn is_container(self) -> bool {
        self == Self::Container
    }
}

/// A named set of card sectors, in the region's own order (a file's, by file offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub kind: RegionKind,
    /// Card sector ranges (512-byte sectors from the disk start), in region order.
    pub extents: Vec<Range<u64>>,
}

impl Region {
    pub fn sector_count(&self) -> u64 {
        self.extents.iter().map(|r| r.end - r.start).sum()
    }

    /// Every card sector of the region, in region order.
    pub fn sectors(&self) -> impl Iterator<Item = u64> + '_ {
        self.extents.iter().flat_map(|r| r.clone())
    }

    /// Byte offset inside the region (for a file: the file offset) of card sector `sector`.
    pub fn offset_of(&self, sector: u64) -> Option<u64> {
        let mut before = 0;
        for r in &self.extents {
            if r.contains(&sector) {
                return Some((before + sector - r.start) * CARD_SECTOR);
            }
            before += r.end - r.start;
        }
        None
    }
}

/// Every region of a card, and which region owns each sector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionMap {
    pub card_sectors: u64,
    pub regions: Vec<Region>,
    /// Region index of each card sector.
    owner: Vec<u32>,
}

impl RegionMap {
    /// The map of the card image at `path`: FAT structures and files when the MBR has a FAT
    /// partition, else each partition as one region (a card holding ext4 directly).
    pub fn read(path: &Path) -> Result<Self, Error> {
        let card_error = |source: LayoutError| Error::Card {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut mbr = vec![0u8; CARD_SECTOR as usize];
        let card_bytes = file
            .seek(SeekFrom::End(0))
            .and_then(|len| file.seek(SeekFrom::Start(0)).map(|_| len))
            .and_then(|len| file.read_exact(&mut mbr).map(|_| len))
            .map_err(|e| card_error(LayoutError::Mbr(e)))?;
        let partitions = fat_layout::partitions(&mbr);
        if partitions
            .iter()
            .any(|(_, t, _)| fat_layout::is_fat_type(*t))
            || partitions.is_empty()
        {
            let layout = fat_layout::layout_of(&mut file).map_err(card_error)?;
            return Ok(Self::from_layout(&layout));
        }
        let card_sectors = card_bytes / CARD_SECTOR;
        let mut b = Builder::default();
        b.add("MBR", RegionKind::Mbr, vec![0..1]);
        for (number, partition_type, sectors) in partitions {
            let sectors = sectors.start..sectors.end.min(card_sectors);
            b.add(
                &format!("partition {number} (type {partition_type:02x})"),
                RegionKind::Partition,
                vec![sectors.clone()],
            );
        }
        let mut used: Vec<Range<u64>> = b.regions.iter().flat_map(|r| r.extents.clone()).collect();
        used.sort_by_key(|r| r.start);
        let mut gaps = Vec::new();
        let mut at = 0;
        for r in used {
            if r.start > at {
                gaps.push(at..r.start);
            }
            at = at.max(r.end);
        }
        gaps.push(at..card_sectors);
        b.add("outside partitions", RegionKind::Unpartitioned, gaps);
        Ok(b.finish(card_sectors))
    }

    pub fn from_layout(layout: &Layout) -> Self {
        let v = &layout.volume;
        let mut b = Builder::default();
        let p = v.partition.clone();
        b.add("MBR", RegionKind::Mbr, vec![0..1]);
        b.add(
            "before partition",
            RegionKind::Unpartitioned,
            vec![1..p.start],
        );
        b.add(
            "boot sector",
            RegionKind::BootSector,
            vec![p.start..p.start + 1],
        );
        let mut special = vec![0];
        if let Some(s) = v.fsinfo_sector.filter(|&s| s > 0 && s < v.reserved_sectors) {
            b.add(
                "FSInfo",
                RegionKind::FsInfo,
                vec![p.start + s..p.start + s + 1],
            );
            special.push(s);
        }
        if let Some(s) = v
            .backup_boot_sector
            .filter(|&s| s > 0 && s < v.reserved_sectors)
        {
            b.add(
                "backup boot sector",
                RegionKind::BackupBootSector,
                vec![p.start + s..p.start + s + 1],
            );
            special.push(s);
        }
        let other_reserved: Vec<u64> = (0..v.reserved_sectors)
            .filter(|s| !special.contains(s))
            .map(|s| p.start + s)
            .collect();
        b.add(
            "reserved sectors",
            RegionKind::Reserved,
            runs(other_reserved),
        );
        for copy in 0..v.fat_count {
            b.add(
                &format!("FAT {}", copy + 1),
                RegionKind::Fat,
                vec![v.fat_copy(copy)],
            );
        }
        let mut owned = vec![false; layout.fat.len()];
        for entry in &layout.entries {
            let mut extents: Vec<Range<u64>> = Vec::new();
            if entry.path == "/" && !v.fat32 {
                extents.push(v.fixed_root.clone());
            }
            for &c in &entry.clusters {
                owned[c as usize] = true;
                push_merged(&mut extents, v.cluster_sectors(c));
            }
            let (name, kind) = if entry.directory {
                (format!("dir {}", entry.path), RegionKind::Directory)
            } else if entry.container {
                (format!("container {}", entry.path), RegionKind::Container)
            } else {
                (format!("file {}", entry.path), RegionKind::File)
            };
            b.add(&name, kind, extents);
        }
        let mut free = Vec::new();
        let mut lost = Vec::new();
        for c in v.clusters() {
            if owned[c as usize] {
                continue;
            }
            let target = if layout.fat[c as usize] == 0 {
                &mut free
            } else {
                &mut lost
            };
            push_merged(target, v.cluster_sectors(c));
        }
        b.add("free space", RegionKind::Free, free);
        let data_end = v.data_start + v.cluster_count * v.sectors_per_cluster;
        let mut other = lost;
        other.push(data_end..p.end);
        b.add(
            "unreferenced clusters, volume tail",
            RegionKind::Other,
            other,
        );
        b.add(
            "after partition",
            RegionKind::Unpartitioned,
            vec![p.end..layout.card_sectors],
        );
        b.finish(layout.card_sectors)
    }

    /// The region holding card sector `sector`, if the sector is on the card.
    pub fn region_of(&self, sector: u64) -> Option<usize> {
        let index = *self.owner.get(usize::try_from(sector).ok()?)?;
        (index != u32::MAX).then_some(index as usize)
    }
}

#[derive(Default)]
struct Builder {
    regions: Vec<Region>,
}

impl Builder {
    /// Adds a region unless it is empty.
    fn add(&mut self, name: &str, kind: RegionKind, extents: Vec<Range<u64>>) {
        let extents: Vec<Range<u64>> = extents.into_iter().filter(|r| r.start < r.end).collect();
        if !extents.is_empty() {
            self.regions.push(Region {
                name: name.into(),
                kind,
                extents,
            });
        }
    }

    /// Regions sorted by first sector; the later region wins a sector claimed twice (a
    /// damaged volume whose chains cross), so the map stays a partition of the card.
    fn finish(mut self, card_sectors: u64) -> RegionMap {
        self.regions.sort_by_key(|r| r.extents[0].start);
        let mut owner = vec![u32::MAX; card_sectors as usize];
        for (index, region) in self.regions.iter().enumerate() {
            for s in region.sectors() {
                if let Some(slot) = owner.get_mut(s as usize) {
                    *slot = index as u32;
                }
            }
        }
        RegionMap {
            card_sectors,
            regions: self.regions,
            owner,
        }
    }
}

/// Appends `next`, merging it into the last extent when they touch.
fn push_merged(extents: &mut Vec<Range<u64>>, next: Range<u64>) {
    match extents.last_mut() {
        Some(last) if last.end == next.start => last.end = next.end,
        _ => extents.push(next),
    }
}

/// Sorted sectors as ranges.
fn runs(sectors: Vec<u64>) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    for s in sectors {
        push_merged(&mut out, s..s + 1);
    }
    out
}
