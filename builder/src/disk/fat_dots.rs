//! Repairs the `.` and `..` entries of subdirectories written by `fatfs` 0.3.6.
//!
//! That version writes a long-name (LFN) entry before every short entry, "." and ".." included,
//! so a new directory starts `[LFN ".", ".", LFN "..", ".."]`. `fsck.vfat` then reports
//! "Expected a valid '.' entry in this slot" and would rename them. After the volume is written
//! this walk moves the two short entries to slots 0 and 1 and marks slots 2 and 3 deleted.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Size of a directory entry.
const ENTRY: usize = 32;
/// The four slots fatfs fills in a new directory.
const DOT_SLOTS: usize = 4;
/// Offsets inside a directory entry.
const ENTRY_ATTR: usize = 11;
const ENTRY_CLUSTER_HIGH: usize = 20;
const ENTRY_CLUSTER_LOW: usize = 26;
/// Attribute bits.
const ATTR_LFN: u8 = 0x0F;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_VOLUME_ID: u8 = 0x08;
/// First name byte of a deleted entry, and of the end of a directory.
const DELETED: u8 = 0xE5;
const END_OF_DIRECTORY: u8 = 0x00;
/// The short names of the special entries.
const DOT_NAME: &[u8; 11] = b".          ";
const DOTDOT_NAME: &[u8; 11] = b"..         ";
/// Boot sector (BPB) field offsets.
const BPB_BYTES_PER_SECTOR: usize = 11;
const BPB_SECTORS_PER_CLUSTER: usize = 13;
const BPB_RESERVED_SECTORS: usize = 14;
const BPB_FATS: usize = 16;
const BPB_ROOT_ENTRIES: usize = 17;
const BPB_FAT_SIZE_16: usize = 22;
const BPB_FAT_SIZE_32: usize = 36;
const BPB_ROOT_CLUSTER: usize = 44;
/// FAT entries at or above these end a cluster chain.
const FAT16_CHAIN_END: u32 = 0xFFF8;
const FAT32_CHAIN_END: u32 = 0x0FFF_FFF8;
/// FAT32 entries use only the low 28 bits.
const FAT32_ENTRY_MASK: u32 = 0x0FFF_FFFF;
/// The first data cluster number.
const FIRST_CLUSTER: u32 = 2;

/// Volume geometry read from the boot sector, in bytes from the volume start.
struct Geometry {
    volume_offset: u64,
    fat_offset: u64,
    cluster_bytes: u64,
    data_offset: u64,
    fat32: bool,
    /// FAT12/16 keep the root in a fixed region: (offset, length).
    fixed_root: Option<(u64, u64)>,
    root_cluster: u32,
    max_cluster: u32,
}

/// Walks every directory of the FAT volume at `volume_offset` and repairs new-directory slots.
/// Returns how many directories were repaired.
pub fn repair(disk: &mut File, volume_offset: u64, volume_len: u64) -> io::Result<usize> {
    let mut boot = [0u8; 512];
    read_at(disk, volume_offset, &mut boot)?;
    let geometry = Geometry::parse(&boot, volume_offset, volume_len)?;
    let root = match geometry.fixed_root {
        Some((offset, len)) => {
            let mut bytes = vec![0u8; len as usize];
            read_at(disk, offset, &mut bytes)?;
            bytes
        }
        None => geometry.read_chain(disk, geometry.root_cluster)?,
    };
    let mut repaired = 0;
    let mut pending = vec![(root, true)];
    while let Some((directory, is_root)) = pending.pop() {
        for entry in directory.chunks_exact(ENTRY) {
            match entry[0] {
                END_OF_DIRECTORY => break,
                DELETED => continue,
                _ => {}
            }
            let attr = entry[ENTRY_ATTR];
            let name = &entry[..11];
            if attr == ATTR_LFN
                || attr & ATTR_VOLUME_ID != 0
                || attr & ATTR_DIRECTORY == 0
                || name == DOT_NAME
                || name == DOTDOT_NAME
            {
                continue;
            }
            let cluster = entry_cluster(entry);
            if geometry.repair_dots(disk, cluster, is_root)? {
                repaired += 1;
            }
            pending.push((geometry.read_chain(disk, cluster)?, false));
        }
    }
    Ok(repaired)
}

fn entry_cluster(entry: &[u8]) -> u32 {
    let high = u16::from_le_bytes([entry[ENTRY_CLUSTER_HIGH], entry[ENTRY_CLUSTER_HIGH + 1]]);
    let low = u16::from_le_bytes([entry[ENTRY_CLUSTER_LOW], entry[ENTRY_CLUSTER_LOW + 1]]);
    (u32::from(high) << 16) | u32::from(low)
}

fn read_at(disk: &mut File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    disk.seek(SeekFrom::Start(offset))?;
    disk.read_exact(buf)
}

fn corrupt(detail: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail)
}

impl Geometry {
    fn parse(boot: &[u8; 512], volume_offset: u64, volume_len: u64) -> io::Result<Self> {
        let u16_at = |at: usize| u64::from(u16::from_le_bytes([boot[at], boot[at + 1]]));
        let u32_at =
            |at: usize| u32::from_le_bytes([boot[at], boot[at + 1], boot[at + 2], boot[at + 3]]);
        let sector = u16_at(BPB_BYTES_PER_SECTOR);
        let cluster_bytes = sector * u64::from(boot[BPB_SECTORS_PER_CLUSTER]);
        if sector == 0 || cluster_bytes < (ENTRY * DOT_SLOTS) as u64 {
            return Err(corrupt(format!(
                "boot sector at {volume_offset}: {sector}-byte sectors, {cluster_bytes}-byte clusters"
            )));
        }
        let fat_size_16 = u16_at(BPB_FAT_SIZE_16);
        let fat32 = fat_size_16 == 0;
        let fat_sectors = if fat32 {
            u64::from(u32_at(BPB_FAT_SIZE_32))
        } else {
            fat_size_16
        };
        let fat_offset = volume_offset + u16_at(BPB_RESERVED_SECTORS) * sector;
        let root_offset = fat_offset + u64::from(boot[BPB_FATS]) * fat_sectors * sector;
        let root_len = (u16_at(BPB_ROOT_ENTRIES) * ENTRY as u64).div_ceil(sector) * sector;
        let data_offset = root_offset + root_len;
        let data_len = (volume_offset + volume_len).saturating_sub(data_offset);
        Ok(Geometry {
            volume_offset,
            fat_offset,
            cluster_bytes,
            data_offset,
            fat32,
            fixed_root: (!fat32).then_some((root_offset, root_len)),
            root_cluster: u32_at(BPB_ROOT_CLUSTER),
            max_cluster: FIRST_CLUSTER
                + u32::try_from(data_len / cluster_bytes).unwrap_or(u32::MAX),
        })
    }

    fn cluster_offset(&self, cluster: u32) -> io::Result<u64> {
        if !(FIRST_CLUSTER..self.max_cluster).contains(&cluster) {
            return Err(corrupt(format!(
                "FAT volume at {}: cluster {cluster} outside {FIRST_CLUSTER}..{}",
                self.volume_offset, self.max_cluster
            )));
        }
        Ok(self.data_offset + u64::from(cluster - FIRST_CLUSTER) * self.cluster_bytes)
    }

    fn next_cluster(&self, disk: &mut File, cluster: u32) -> io::Result<Option<u32>> {
        let next = if self.fat32 {
            let mut bytes = [0u8; 4];
            read_at(disk, self.fat_offset + u64::from(cluster) * 4, &mut bytes)?;
            u32::from_le_bytes(bytes) & FAT32_ENTRY_MASK
        } else {
            let mut bytes = [0u8; 2];
            read_at(disk, self.fat_offset + u64::from(cluster) * 2, &mut bytes)?;
            u32::from(u16::from_le_bytes(bytes))
        };
        let end = if self.fat32 {
            FAT32_CHAIN_END
        } else {
            FAT16_CHAIN_END
        };
        Ok((next >= FIRST_CLUSTER && next < end).then_some(next))
    }

    /// The bytes of a cluster chain (a directory), bounded against loops by the volume size.
    fn read_chain(&self, disk: &mut File, first: u32) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut cluster = Some(first);
        let mut steps = 0;
        while let Some(current) = cluster {
            steps += 1;
            if steps > self.max_cluster {
                return Err(corrupt(format!("cluster chain from {first} loops")));
            }
            let start = bytes.len();
            bytes.resize(start + self.cluster_bytes as usize, 0);
            read_at(disk, self.cluster_offset(current)?, &mut bytes[start..])?;
            cluster = self.next_cluster(disk, current)?;
        }
        Ok(bytes)
    }

    /// Rewrites `[LFN ".", ".", LFN "..", ".."]` at the start of `cluster` to
    /// `[".", "..", deleted, deleted]`; leaves any other layout alone. A `..` pointing at the
    /// root directory must say cluster 0 (fatfs writes the FAT32 root's real cluster).
    fn repair_dots(&self, disk: &mut File, cluster: u32, parent_is_root: bool) -> io::Result<bool> {
        let offset = self.cluster_offset(cluster)?;
        let mut slots = [0u8; ENTRY * DOT_SLOTS];
        read_at(disk, offset, &mut slots)?;
        let slot = |i: usize| &slots[i * ENTRY..(i + 1) * ENTRY];
        let fatfs_layout = slot(0)[ENTRY_ATTR] == ATTR_LFN
            && &slot(1)[..11] == DOT_NAME
            && slot(2)[ENTRY_ATTR] == ATTR_LFN
            && &slot(3)[..11] == DOTDOT_NAME;
        if !fatfs_layout {
            return Ok(false);
        }
        let mut fixed = [0u8; ENTRY * DOT_SLOTS];
        fixed[..ENTRY].copy_from_slice(slot(1));
        fixed[ENTRY..2 * ENTRY].copy_from_slice(slot(3));
        fixed[2 * ENTRY..].copy_from_slice(&slots[..2 * ENTRY]);
        fixed[2 * ENTRY] = DELETED;
        fixed[3 * ENTRY] = DELETED;
        if parent_is_root {
            let dotdot = &mut fixed[ENTRY..2 * ENTRY];
            dotdot[ENTRY_CLUSTER_HIGH..ENTRY_CLUSTER_HIGH + 2].fill(0);
            dotdot[ENTRY_CLUSTER_LOW..ENTRY_CLUSTER_LOW + 2].fill(0);
        }
        disk.seek(SeekFrom::Start(offset))?;
        disk.write_all(&fixed)?;
        Ok(true)
    }
}
