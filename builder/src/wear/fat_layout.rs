//! Reads where things are on a FAT card: the MBR's FAT partition, its boot sector (BPB),
//! the first FAT, and every directory entry with its cluster chain.
//!
//! The `fatfs` crate reads files but does not say which clusters hold them, and a wear map
//! needs exactly that, so this is a small read-only parser of the on-disk structures
//! (Microsoft's FAT specification, "FAT: General Overview of On-Disk Format").

use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use super::error::Error;

use crate::disk::mbr::{
    BOOT_SIGNATURE, BOOT_SIGNATURE_OFFSET, PARTITION_ENTRY_SIZE, PARTITION_TABLE_OFFSET,
    PRIMARY_PARTITIONS, SECTOR_SIZE,
};

/// Card sectors are 512 bytes: QEMU's trace offsets are divided by this.
pub const CARD_SECTOR: u64 = SECTOR_SIZE as u64;
/// MBR partition types of FAT volumes: FAT12, FAT16 (<32 MiB), FAT16, FAT32 (CHS),
/// FAT32 (LBA), FAT16 (LBA).
const FAT_PARTITION_TYPES: &[u8] = &[0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E];
/// Partition entry: type byte, first LBA (u32), sector count (u32).
const ENTRY_TYPE: usize = 4;
const ENTRY_FIRST_LBA: usize = 8;
const ENTRY_SECTORS: usize = 12;
/// BPB fields (offsets in the boot sector).
const BPB_BYTES_PER_SECTOR: usize = 11;
const BPB_SECTORS_PER_CLUSTER: usize = 13;
const BPB_RESERVED_SECTORS: usize = 14;
const BPB_FAT_COUNT: usize = 16;
const BPB_ROOT_ENTRIES: usize = 17;
const BPB_TOTAL_SECTORS_16: usize = 19;
const BPB_FAT_SIZE_16: usize = 22;
const BPB_TOTAL_SECTORS_32: usize = 32;
const BPB_FAT32_FAT_SIZE: usize = 36;
const BPB_FAT32_ROOT_CLUSTER: usize = 44;
const BPB_FAT32_FSINFO_SECTOR: usize = 48;
const BPB_FAT32_BACKUP_BOOT_SECTOR: usize = 50;
/// Fewer clusters than this is FAT12 (unsupported here); fewer than [`FAT32_MIN_CLUSTERS`] FAT16.
const FAT16_MIN_CLUSTERS: u64 = 4085;
const FAT32_MIN_CLUSTERS: u64 = 65525;
/// The first data cluster's number; entries 0 and 1 of the FAT hold no cluster.
const FIRST_CLUSTER: u32 = 2;
/// FAT32 entries use the low 28 bits.
const FAT32_ENTRY_MASK: u32 = 0x0FFF_FFFF;
/// Directory entries.
const DIR_ENTRY_BYTES: usize = 32;
const DIR_ATTR: usize = 11;
const DIR_NT_CASE: usize = 12;
const DIR_CLUSTER_HIGH: usize = 20;
const DIR_CLUSTER_LOW: usize = 26;
const DIR_SIZE: usize = 28;
const ATTR_LONG_NAME: u8 = 0x0F;
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
const ENTRY_END: u8 = 0x00;
const ENTRY_DELETED: u8 = 0xE5;
/// NT case flags of a short name: base and extension stored upper case, shown lower case.
const NT_LOWER_BASE: u8 = 0x08;
const NT_LOWER_EXT: u8 = 0x10;
/// A long-name entry's ordinal byte: sequence number, and the flag of the last (first stored).
const LFN_SEQUENCE_MASK: u8 = 0x1F;
/// UCS-2 characters of a long-name entry: 5 at byte 1, 6 at 14, 2 at 28.
const LFN_CHAR_RUNS: [(usize, usize); 3] = [(1, 5), (14, 6), (28, 2)];
/// JFFS2's node magic 0x1985, little- and big-endian: how a container file is recognised.
const JFFS2_MAGICS: [[u8; 2]; 2] = [[0x85, 0x19], [0x19, 0x85]];

/// The geometry of the FAT volume, in card sectors (512 bytes, counted from the disk start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Sectors of the partition on the card.
    pub partition: Range<u64>,
    pub fat32: bool,
    pub sectors_per_cluster: u64,
    pub reserved_sectors: u64,
    /// FAT32 only: the FSInfo and backup boot sectors, relative to the partition.
    pub fsinfo_sector: Option<u64>,
    pub backup_boot_sector: Option<u64>,
    pub fat_count: u64,
    pub fat_sectors: u64,
    /// FAT16's fixed root directory, in card sectors (empty on FAT32).
    pub fixed_root: Range<u64>,
    /// Card sector of cluster 2.
    pub data_start: u64,
    pub cluster_count: u64,
    pub root_cluster: u32,
}

/// One file or directory of the volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `/`-separated path on the volume (`/` is the root directory).
    pub path: String,
    pub directory: bool,
    /// The file starts with a JFFS2 node magic.
    pub container: bool,
    pub size: u64,
    /// Its clusters in chain order.
    pub clusters: Vec<u32>,
}

/// The volume and everything in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub card_sectors: u64,
    pub volume: Volume,
    /// Every FAT entry (from the first FAT).
    pub fat: Vec<u32>,
    pub entries: Vec<Entry>,
}

impl Volume {
    /// Card sectors of `cluster`.
    pub fn cluster_sectors(&self, cluster: u32) -> Range<u64> {
        let start = self.data_start + u64::from(cluster - FIRST_CLUSTER) * self.sectors_per_cluster;
        start..start + self.sectors_per_cluster
    }

    /// Card sectors of FAT copy `index` (0-based).
    pub fn fat_copy(&self, index: u64) -> Range<u64> {
        let start = self.partition.start + self.reserved_sectors + index * self.fat_sectors;
        start..start + self.fat_sectors
    }

    /// The cluster numbers of the data area.
    pub fn clusters(&self) -> Range<u32> {
        FIRST_CLUSTER..FIRST_CLUSTER + self.cluster_count as u32
    }

    fn end_of_chain(&self, entry: u32) -> bool {
        if self.fat32 {
            entry >= 0x0FFF_FFF8
        } else {
            entry >= 0xFFF8
        }
    }
}

/// Why a card image's partition table or FAT structures do not parse (the caller adds
/// the image's path). Sectors are card sectors of 512 bytes; offsets are bytes.
#[derive(Debug)]
pub enum LayoutError {
    /// The image's size could not be found.
    Size(io::Error),
    /// `len` bytes at byte `offset` could not be read.
    Read {
        offset: u64,
        len: usize,
        source: io::Error,
    },
    /// The MBR (sector 0) could not be read.
    Mbr(io::Error),
    /// Sector 0 lacks the boot signature 55 AA.
    NoBootSignature,
    /// No MBR entry of a FAT type.
    NoFatPartition,
    /// The FAT partition ends at `end`, past the image's `card_sectors`.
    PartitionBeyondImage { end: u64, card_sectors: u64 },
    /// The boot sector at `sector` says something this reader refuses.
    BootSector { sector: u64, problem: BootProblem },
    /// The FAT at `sector` is too short for the volume's clusters.
    ShortFat {
        sector: u64,
        entries: usize,
        clusters: usize,
    },
    /// The chain of `path` reaches `cluster`, outside `2..end`.
    ChainOutside {
        path: String,
        cluster: u32,
        end: u32,
    },
    /// The chain of `path` loops.
    ChainLoop { path: String },
    /// Directories under `path` nested deeper than `max`.
    TooDeep { path: String, max: usize },
}

/// What a boot sector says that the reader refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootProblem {
    BytesPerSector(u16),
    SectorsPerCluster(u64),
    NoVolume {
        reserved_sectors: u64,
        fat_count: u64,
        fat_sectors: u64,
        total: u64,
    },
    Fat12 {
        clusters: u64,
    },
}

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Size(e) => write!(f, "cannot size the image: {e}"),
            Self::Read {
                offset,
                len,
                source,
            } => write!(f, "cannot read {len} bytes at byte {offset}: {source}"),
            Self::Mbr(e) => write!(f, "cannot read the MBR: {e}"),
            Self::NoBootSignature => {
                f.write_str("sector 0: expected the boot signature 55 AA but got none")
            }
            Self::NoFatPartition => {
                f.write_str("the MBR has no FAT partition (types 01, 04, 06, 0B, 0C, 0E)")
            }
            Self::PartitionBeyondImage { end, card_sectors } => write!(
                f,
                "the FAT partition ends at sector {end} but the image has {card_sectors}"
            ),
            Self::BootSector { sector, problem } => {
                write!(f, "boot sector (card sector {sector}): ")?;
                match problem {
                    BootProblem::BytesPerSector(got) => {
                        write!(f, "expected 512 bytes per sector but got {got}")
                    }
                    BootProblem::SectorsPerCluster(got) => write!(
                        f,
                        "expected a power of two of sectors per cluster but got {got}"
                    ),
                    BootProblem::NoVolume {
                        reserved_sectors,
                        fat_count,
                        fat_sectors,
                        total,
                    } => write!(
                        f,
                        "no FAT volume ({reserved_sectors} reserved sectors, \
                         {fat_count} FATs of {fat_sectors} sectors, {total} sectors in all)"
                    ),
                    BootProblem::Fat12 { clusters } => {
                        write!(f, "FAT12 ({clusters} clusters) is not supported")
                    }
                }
            }
            Self::ShortFat {
                sector,
                entries,
                clusters,
            } => write!(
                f,
                "FAT at card sector {sector}: {entries} entries for {clusters} clusters"
            ),
            Self::ChainOutside { path, cluster, end } => write!(
                f,
                "{path}: cluster chain reaches cluster {cluster}, outside 2..{end}"
            ),
            Self::ChainLoop { path } => write!(f, "{path}: cluster chain loops"),
            Self::TooDeep { path, max } => {
                write!(f, "{path}: directories nested deeper than {max}")
            }
        }
    }
}

impl std::error::Error for LayoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Size(e) | Self::Mbr(e) | Self::Read { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

/// Reads the layout of the card image at `path`.
pub fn read_layout(path: &Path) -> Result<Layout, Error> {
    let mut file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    layout_of(&mut file).map_err(|source| Error::Card {
        path: path.to_path_buf(),
        source,
    })
}

/// The layout of a card image; the error is the reason, which the caller pairs with the path.
pub fn layout_of<R: Read + Seek>(card: &mut R) -> Result<Layout, LayoutError> {
    let card_bytes = card.seek(SeekFrom::End(0)).map_err(LayoutError::Size)?;
    let card_sectors = card_bytes / CARD_SECTOR;
    let mbr = read_at(card, 0, SECTOR_SIZE)?;
    if mbr[BOOT_SIGNATURE_OFFSET..] != BOOT_SIGNATURE {
        return Err(LayoutError::NoBootSignature);
    }
    let partition = fat_partition(&mbr)?;
    if partition.end > card_sectors {
        return Err(LayoutError::PartitionBeyondImage {
            end: partition.end,
            card_sectors,
        });
    }
    let boot = read_at(card, partition.start * CARD_SECTOR, SECTOR_SIZE)?;
    let volume = parse_boot_sector(&boot, partition)?;
    let fat = read_fat(card, &volume)?;
    let mut reader = Reader {
        card,
        volume: &volume,
        fat: &fat,
        entries: Vec::new(),
    };
    reader.walk_root()?;
    let entries = reader.entries;
    Ok(Layout {
        card_sectors,
        volume,
        fat,
        entries,
    })
}

/// Every used primary partition of the MBR: its number (1-4), type byte and sectors.
pub fn partitions(mbr: &[u8]) -> Vec<(usize, u8, Range<u64>)> {
    (0..PRIMARY_PARTITIONS)
        .filter_map(|index| {
            let entry = &mbr[PARTITION_TABLE_OFFSET + index * PARTITION_ENTRY_SIZE..]
                [..PARTITION_ENTRY_SIZE];
            let first = u64::from(u32_at(entry, ENTRY_FIRST_LBA));
            let sectors = u64::from(u32_at(entry, ENTRY_SECTORS));
            (entry[ENTRY_TYPE] != 0 && sectors > 0).then_some((
                index + 1,
                entry[ENTRY_TYPE],
                first..first + sectors,
            ))
        })
        .collect()
}

/// Whether an MBR partition type is a FAT volume.
pub fn is_fat_type(partition_type: u8) -> bool {
    FAT_PARTITION_TYPES.contains(&partition_type)
}

/// The first FAT partition of the MBR.
fn fat_partition(mbr: &[u8]) -> Result<Range<u64>, LayoutError> {
    for index in 0..PRIMARY_PARTITIONS {
        let entry =
            &mbr[PARTITION_TABLE_OFFSET + index * PARTITION_ENTRY_SIZE..][..PARTITION_ENTRY_SIZE];
        if FAT_PARTITION_TYPES.contains(&entry[ENTRY_TYPE]) {
            let first = u64::from(u32_at(entry, ENTRY_FIRST_LBA));
            let sectors = u64::from(u32_at(entry, ENTRY_SECTORS));
            return Ok(first..first + sectors);
        }
    }
    Err(LayoutError::NoFatPartition)
}

fn parse_boot_sector(boot: &[u8], partition: Range<u64>) -> Result<Volume, LayoutError> {
    let at = partition.start;
    let refuse = |problem| LayoutError::BootSector {
        sector: at,
        problem,
    };
    let bytes_per_sector = u16_at(boot, BPB_BYTES_PER_SECTOR);
    if u64::from(bytes_per_sector) != CARD_SECTOR {
        return Err(refuse(BootProblem::BytesPerSector(bytes_per_sector)));
    }
    let sectors_per_cluster = u64::from(boot[BPB_SECTORS_PER_CLUSTER]);
    if !sectors_per_cluster.is_power_of_two() {
        return Err(refuse(BootProblem::SectorsPerCluster(sectors_per_cluster)));
    }
    let reserved_sectors = u64::from(u16_at(boot, BPB_RESERVED_SECTORS));
    let fat_count = u64::from(boot[BPB_FAT_COUNT]);
    let root_entries = u64::from(u16_at(boot, BPB_ROOT_ENTRIES));
    let total = match u16_at(boot, BPB_TOTAL_SECTORS_16) {
        0 => u64::from(u32_at(boot, BPB_TOTAL_SECTORS_32)),
        n => u64::from(n),
    };
    let fat_sectors = match u16_at(boot, BPB_FAT_SIZE_16) {
        0 => u64::from(u32_at(boot, BPB_FAT32_FAT_SIZE)),
        n => u64::from(n),
    };
    let root_sectors = (root_entries * DIR_ENTRY_BYTES as u64).div_ceil(CARD_SECTOR);
    let meta = reserved_sectors + fat_count * fat_sectors + root_sectors;
    if reserved_sectors == 0 || fat_count == 0 || fat_sectors == 0 || meta >= total {
        return Err(refuse(BootProblem::NoVolume {
            reserved_sectors,
            fat_count,
            fat_sectors,
            total,
        }));
    }
    let cluster_count = (total - meta) / sectors_per_cluster;
    if cluster_count < FAT16_MIN_CLUSTERS {
        return Err(refuse(BootProblem::Fat12 {
            clusters: cluster_count,
        }));
    }
    let fat32 = cluster_count >= FAT32_MIN_CLUSTERS;
    let root_start = partition.start + reserved_sectors + fat_count * fat_sectors;
    let (fsinfo_sector, backup_boot_sector, root_cluster) = if fat32 {
        (
            Some(u64::from(u16_at(boot, BPB_FAT32_FSINFO_SECTOR))),
            Some(u64::from(u16_at(boot, BPB_FAT32_BACKUP_BOOT_SECTOR))),
            u32_at(boot, BPB_FAT32_ROOT_CLUSTER),
        )
    } else {
        (None, None, 0)
    };
    Ok(Volume {
        partition,
        fat32,
        sectors_per_cluster,
        reserved_sectors,
        fsinfo_sector,
        backup_boot_sector,
        fat_count,
        fat_sectors,
        fixed_root: root_start..root_start + root_sectors,
        data_start: root_start + root_sectors,
        cluster_count,
        root_cluster,
    })
}

fn read_fat<R: Read + Seek>(card: &mut R, volume: &Volume) -> Result<Vec<u32>, LayoutError> {
    let range = volume.fat_copy(0);
    let bytes = read_at(
        card,
        range.start * CARD_SECTOR,
        ((range.end - range.start) * CARD_SECTOR) as usize,
    )?;
    let entries = (volume.cluster_count + u64::from(FIRST_CLUSTER)) as usize;
    let fat: Vec<u32> = if volume.fat32 {
        bytes
            .chunks_exact(4)
            .take(entries)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) & FAT32_ENTRY_MASK)
            .collect()
    } else {
        bytes
            .chunks_exact(2)
            .take(entries)
            .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
            .collect()
    };
    if fat.len() < entries {
        return Err(LayoutError::ShortFat {
            sector: range.start,
            entries: fat.len(),
            clusters: entries,
        });
    }
    Ok(fat)
}

struct Reader<'a, R> {
    card: &'a mut R,
    volume: &'a Volume,
    fat: &'a [u32],
    entries: Vec<Entry>,
}

impl<R: Read + Seek> Reader<'_, R> {
    /// A cluster chain, with a guard against loops and entries out of range.
    fn chain(&self, first: u32, path: &str) -> Result<Vec<u32>, LayoutError> {
        let mut clusters = Vec::new();
        let mut cluster = first;
        if cluster == 0 {
            return Ok(clusters);
        }
        while !self.volume.end_of_chain(cluster) {
            if !self.volume.clusters().contains(&cluster) {
                return Err(LayoutError::ChainOutside {
                    path: path.into(),
                    cluster,
                    end: self.volume.clusters().end,
                });
            }
            if clusters.len() as u64 > self.volume.cluster_count {
                return Err(LayoutError::ChainLoop { path: path.into() });
            }
            clusters.push(cluster);
            cluster = self.fat[cluster as usize];
        }
        Ok(clusters)
    }

    fn read_clusters(&mut self, clusters: &[u32]) -> Result<Vec<u8>, LayoutError> {
        let mut data = Vec::new();
        for &c in clusters {
            let sectors = self.volume.cluster_sectors(c);
            let bytes = ((sectors.end - sectors.start) * CARD_SECTOR) as usize;
            data.extend(read_at(self.card, sectors.start * CARD_SECTOR, bytes)?);
        }
        Ok(data)
    }

    fn walk_root(&mut self) -> Result<(), LayoutError> {
        let (clusters, data) = if self.volume.fat32 {
            let clusters = self.chain(self.volume.root_cluster, "/")?;
            let data = self.read_clusters(&clusters)?;
            (clusters, data)
        } else {
            let root = self.volume.fixed_root.clone();
            let bytes = ((root.end - root.start) * CARD_SECTOR) as usize;
            (
                Vec::new(),
                read_at(self.card, root.start * CARD_SECTOR, bytes)?,
            )
        };
        self.entries.push(Entry {
            path: "/".into(),
            directory: true,
            container: false,
            size: data.len() as u64,
            clusters,
        });
        self.walk_dir("", &data, 0)
    }

    fn walk_dir(&mut self, parent: &str, data: &[u8], depth: usize) -> Result<(), LayoutError> {
        // A directory tree deeper than this is a loop in a damaged volume.
        const MAX_DEPTH: usize = 64;
        if depth > MAX_DEPTH {
            return Err(LayoutError::TooDeep {
                path: parent.into(),
                max: MAX_DEPTH,
            });
        }
        let mut long_name: Vec<(u8, Vec<u16>)> = Vec::new();
        for raw in data.chunks_exact(DIR_ENTRY_BYTES) {
            match raw[0] {
                ENTRY_END => break,
                ENTRY_DELETED => {
                    long_name.clear();
                    continue;
                }
                _ => {}
            }
            let attr = raw[DIR_ATTR];
            if attr & ATTR_LONG_NAME == ATTR_LONG_NAME {
                let mut chars = Vec::new();
                for (start, count) in LFN_CHAR_RUNS {
                    for i in 0..count {
                        chars.push(u16::from_le_bytes([
                            raw[start + 2 * i],
                            raw[start + 2 * i + 1],
                        ]));
                    }
                }
                long_name.push((raw[0] & LFN_SEQUENCE_MASK, chars));
                continue;
            }
            let name = take_long_name(&mut long_name).unwrap_or_else(|| short_name(raw));
            if attr & ATTR_VOLUME_ID != 0 || name == "." || name == ".." {
                continue;
            }
            let path = format!("{parent}/{name}");
            let first = (u32::from(u16_at(raw, DIR_CLUSTER_HIGH)) << 16)
                | u32::from(u16_at(raw, DIR_CLUSTER_LOW));
            let clusters = self.chain(first, &path)?;
            let size = u64::from(u32_at(raw, DIR_SIZE));
            if attr & ATTR_DIRECTORY != 0 {
                let data = self.read_clusters(&clusters)?;
                self.entries.push(Entry {
                    path: path.clone(),
                    directory: true,
                    container: false,
                    size: data.len() as u64,
                    clusters,
                });
                self.walk_dir(&path, &data, depth + 1)?;
            } else {
                let container = match clusters.first() {
                    Some(&c) if size >= 2 => {
                        let start = self.volume.cluster_sectors(c).start * CARD_SECTOR;
                        let head = read_at(self.card, start, 2)?;
                        JFFS2_MAGICS.iter().any(|m| head[..] == m[..])
                    }
                    _ => false,
                };
                self.entries.push(Entry {
                    path,
                    directory: false,
                    container,
                    size,
                    clusters,
                });
            }
        }
        Ok(())
    }
}

/// The long name gathered from the entries before a short entry, in sequence order.
fn take_long_name(parts: &mut Vec<(u8, Vec<u16>)>) -> Option<String> {
    if parts.is_empty() {
        return None;
    }
    parts.sort_by_key(|(sequence, _)| *sequence);
    let units: Vec<u16> = parts
        .drain(..)
        .flat_map(|(_, chars)| chars)
        .take_while(|&c| c != 0 && c != 0xFFFF)
        .collect();
    Some(String::from_utf16_lossy(&units))
}

/// `ROOTFS  IMG` as `ROOTFS.IMG` (or `rootfs.img` with the NT lower-case flags).
fn short_name(raw: &[u8]) -> String {
    let case = raw[DIR_NT_CASE];
    let part = |bytes: &[u8], lower: bool| {
        let text = String::from_utf8_lossy(bytes).trim_end().to_string();
        if lower {
            text.to_lowercase()
        } else {
            text
        }
    };
    let base = part(&raw[..8], case & NT_LOWER_BASE != 0);
    let ext = part(&raw[8..11], case & NT_LOWER_EXT != 0);
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

fn read_at<R: Read + Seek>(card: &mut R, offset: u64, len: usize) -> Result<Vec<u8>, LayoutError> {
    let mut buf = vec![0u8; len];
    card.seek(SeekFrom::Start(offset))
        .and_then(|_| card.read_exact(&mut buf))
        .map_err(|source| LayoutError::Read {
            offset,
            len,
            source,
        })?;
    Ok(buf)
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}
