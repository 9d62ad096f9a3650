//! A FAT16 or FAT32 volume's layout, from its boot sector, and a file's cluster chain,
//! read from the first FAT. The card agent uses it to find where a container lies on the
//! card: asking the kernel (FIBMAP) once per cluster costs seconds for a large container
//! in small clusters under emulation, reading the chain costs a few reads. FAT12 volumes
//! (at most 4084 clusters) are left to FIBMAP. The boot sector's field offsets are
//! [`crate::blkid`]'s.

use std::io;

use crate::blkid::fat::{
    BYTES_PER_SECTOR, FAT_SIZE_16, FAT_SIZE_32, NUMBER_OF_FATS, RESERVED_SECTORS, ROOT_ENTRIES,
    SECTORS_PER_CLUSTER, TOTAL_SECTORS_16, TOTAL_SECTORS_32,
};
use crate::blkid::{self, SECTOR};

const DIR_ENTRY_BYTES: u64 = 32;
/// The first data cluster's number.
const FIRST_CLUSTER: u32 = 2;
/// The cluster counts that decide the FAT type (Microsoft's FAT specification).
const MAX_FAT12_CLUSTERS: u64 = 4084;
const MAX_FAT16_CLUSTERS: u64 = 65524;
/// FAT32 entries hold 28 bits.
const FAT32_MASK: u32 = 0x0FFF_FFFF;
/// How much of the FAT is read at a time.
const READ_CHUNK: u64 = 64 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FatBits {
    Fat16,
    Fat32,
}

/// Where the first FAT and the clusters lie on the volume, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub bits: FatBits,
    pub cluster_bytes: u64,
    fat_start: u64,
    data_start: u64,
    clusters: u32,
}

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    blkid::u16_le(b, at).map(u64::from)
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    blkid::u32_le(b, at).map(u64::from)
}

impl Layout {
    /// The layout of a FAT16 or FAT32 boot sector; None for FAT12 or anything else.
    pub fn parse(boot: &[u8]) -> Option<Self> {
        blkid::probe_fat(boot)?;
        let sector = u16_at(boot, BYTES_PER_SECTOR)?;
        let per_cluster = u64::from(*boot.get(SECTORS_PER_CLUSTER)?);
        let reserved = u16_at(boot, RESERVED_SECTORS)?;
        let fats = u64::from(*boot.get(NUMBER_OF_FATS)?);
        let root_sectors = (u16_at(boot, ROOT_ENTRIES)? * DIR_ENTRY_BYTES).div_ceil(sector);
        let fat_size = match u16_at(boot, FAT_SIZE_16)? {
            0 => u32_at(boot, FAT_SIZE_32)?,
            n => n,
        };
        let total = match u16_at(boot, TOTAL_SECTORS_16)? {
            0 => u32_at(boot, TOTAL_SECTORS_32)?,
            n => n,
        };
        if per_cluster == 0 || !per_cluster.is_power_of_two() || fats == 0 || reserved == 0 {
            return None;
        }
        let data_sectors = reserved + fats * fat_size + root_sectors;
        let clusters = total.checked_sub(data_sectors)? / per_cluster;
        let bits = if clusters <= MAX_FAT12_CLUSTERS {
            return None;
        } else if clusters <= MAX_FAT16_CLUSTERS {
            FatBits::Fat16
        } else {
            FatBits::Fat32
        };
        Some(Self {
            bits,
            cluster_bytes: per_cluster * sector,
            fat_start: reserved * sector,
            data_start: data_sectors * sector,
            clusters: u32::try_from(clusters).ok()?,
        })
    }

    /// The volume offset of cluster `n`'s first byte.
    pub fn offset_of(&self, n: u32) -> u64 {
        self.data_start + u64::from(n - FIRST_CLUSTER) * self.cluster_bytes
    }

    /// The cluster starting at volume offset `offset`, if one does.
    pub fn cluster_at(&self, offset: u64) -> Option<u32> {
        let into = offset.checked_sub(self.data_start)?;
        if into % self.cluster_bytes != 0 {
            return None;
        }
        let n = u32::try_from(into / self.cluster_bytes).ok()? + FIRST_CLUSTER;
        self.is_data(n).then_some(n)
    }

    fn is_data(&self, n: u32) -> bool {
        (FIRST_CLUSTER..self.clusters + FIRST_CLUSTER).contains(&n)
    }

    fn entry_bytes(&self) -> u64 {
        match self.bits {
            FatBits::Fat16 => 2,
            FatBits::Fat32 => 4,
        }
    }

    /// The `count` clusters of the chain starting at `first`, in file order, reading the
    /// first FAT through `read(volume offset, buffer)`. An entry that does not name a
    /// data cluster before the chain's end is an error: the volume is not what its boot
    /// sector says, or the file is shorter than its size.
    pub fn chain(
        &self,
        first: u32,
        count: usize,
        mut read: impl FnMut(u64, &mut [u8]) -> io::Result<()>,
    ) -> io::Result<Vec<u32>> {
        let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        if !self.is_data(first) {
            return Err(bad(format!("cluster {first} is not a data cluster")));
        }
        let fat_bytes = u64::from(self.clusters + FIRST_CLUSTER) * self.entry_bytes();
        let mut chunk = vec![0u8; READ_CHUNK as usize];
        let mut chunk_at: Option<u64> = None;
        let mut chain = Vec::with_capacity(count);
        let mut n = first;
        loop {
            chain.push(n);
            if chain.len() == count {
                return Ok(chain);
            }
            let at = u64::from(n) * self.entry_bytes();
            let start = at - at % READ_CHUNK;
            if chunk_at != Some(start) {
                let len =
                    READ_CHUNK.min(fat_bytes.next_multiple_of(SECTOR as u64) - start) as usize;
                read(self.fat_start + start, &mut chunk[..len])?;
                chunk_at = Some(start);
            }
            let i = (at - start) as usize;
            let next = match self.bits {
                FatBits::Fat16 => u32::from(u16::from_le_bytes([chunk[i], chunk[i + 1]])),
                FatBits::Fat32 => {
                    u32::from_le_bytes(chunk[i..i + 4].try_into().unwrap()) & FAT32_MASK
                }
            };
            if !self.is_data(next) {
                return Err(bad(format!(
                    "the chain ends at cluster {n} (entry {next:#x}) after {} of {count} clusters",
                    chain.len()
                )));
            }
            n = next;
        }
    }
}

#[cfg(test)]
mod tests;
