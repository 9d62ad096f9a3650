//! Whole disk images: an MBR with one FAT partition starting at 1 MiB.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::fat::{self, FatContents, VolumeOptions, VolumeReport};
use super::mbr::{Mbr, Partition, TYPE_FAT16_LBA, TYPE_FAT32_LBA};

/// Where the partition starts: 1 MiB, the alignment every modern partitioner uses.
pub const PARTITION_OFFSET: u64 = 1 << 20;
/// MBR sector size.
const SECTOR_BYTES: u64 = 512;

/// One boot's worth of card: disk size, partition flags and the volume identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatDiskOptions {
    /// Size of the whole image in bytes (a multiple of 512); the partition fills it after 1 MiB.
    pub size: u64,
    /// The MBR disk signature: Linux's `PARTUUID=<signature as 8 hex digits>-01`.
    pub disk_signature: u32,
    /// Set the active flag on the partition (some BIOSes boot only active partitions).
    pub bootable: bool,
    pub volume: VolumeOptions,
}

/// What [`write_fat_disk`] wrote, with the identifiers a kernel command line would use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatDiskReport {
    pub partition_offset: u64,
    pub partition_bytes: u64,
    pub volume: VolumeReport,
    /// `UUID=` of the FAT volume, e.g. `1234-ABCD`.
    pub uuid: String,
    /// `PARTUUID=` of the partition, e.g. `cafe0001-01`.
    pub partuuid: String,
}

/// Writes a sparse disk image at `image` (replacing it) holding `contents` on one FAT partition.
pub fn write_fat_disk(
    image: &Path,
    options: &FatDiskOptions,
    contents: &FatContents,
) -> Result<FatDiskReport> {
    if !options.size.is_multiple_of(SECTOR_BYTES) {
        bail!(
            "disk size {} is not a multiple of the {SECTOR_BYTES}-byte sector",
            options.size
        );
    }
    let Some(partition_bytes) = options
        .size
        .checked_sub(PARTITION_OFFSET)
        .filter(|b| *b > 0)
    else {
        bail!(
            "disk size {} leaves no room for a partition after the first {PARTITION_OFFSET} bytes",
            options.size
        );
    };
    let fat_type = fat::resolve_kind(options.volume.kind, partition_bytes)
        .with_context(|| format!("disk image {}", image.display()))?;
    let mbr = Mbr {
        disk_signature: options.disk_signature,
        partitions: [
            Some(Partition {
                bootable: options.bootable,
                partition_type: if fat_type == fatfs::FatType::Fat32 {
                    TYPE_FAT32_LBA
                } else {
                    TYPE_FAT16_LBA
                },
                first_lba: sectors(PARTITION_OFFSET, image)?,
                sectors: sectors(partition_bytes, image)?,
            }),
            None,
            None,
            None,
        ],
    };

    let mut disk = create_sized(image, options.size)?;
    disk.seek(SeekFrom::Start(0))
        .and_then(|_| disk.write_all(&mbr.encode()))
        .with_context(|| format!("writing the MBR of {}", image.display()))?;
    let volume = fat::write_volume(
        &mut disk,
        PARTITION_OFFSET,
        partition_bytes,
        &options.volume,
        contents,
    )
    .with_context(|| format!("disk image {}", image.display()))?;
    disk.sync_all()
        .with_context(|| format!("syncing {}", image.display()))?;
    Ok(FatDiskReport {
        partition_offset: PARTITION_OFFSET,
        partition_bytes,
        volume,
        uuid: fat::volume_uuid(options.volume.volume_id),
        partuuid: format!("{:08x}-01", options.disk_signature),
    })
}

/// A zero-filled (sparse) image of `size` bytes, e.g. an extra disk or an output disk.
pub fn write_raw_disk(image: &Path, size: u64) -> Result<()> {
    create_sized(image, size).map(drop)
}

/// Creates (truncating) `image` with `size` bytes of zeros, sparse where the filesystem allows.
fn create_sized(image: &Path, size: u64) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(image)
        .with_context(|| format!("creating disk image {}", image.display()))?;
    file.set_len(size)
        .with_context(|| format!("sizing disk image {} to {size} bytes", image.display()))?;
    Ok(file)
}

fn sectors(bytes: u64, image: &Path) -> Result<u32> {
    u32::try_from(bytes / SECTOR_BYTES).with_context(|| {
        format!(
            "disk image {}: {bytes} bytes exceed the MBR's 2^32-sector limit",
            image.display()
        )
    })
}
