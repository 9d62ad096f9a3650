//! Whole disk images: an MBR with one FAT partition starting at 1 MiB.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use super::fat::{self, FatContents, VolumeOptions, VolumeReport};
use super::mbr::{Mbr, Partition, TYPE_FAT16_LBA, TYPE_FAT32_LBA};
use super::Error;

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
) -> Result<FatDiskReport, Error> {
    if !options.size.is_multiple_of(SECTOR_BYTES) {
        return Err(Error::DiskSize { size: options.size });
    }
    let Some(partition_bytes) = options
        .size
        .checked_sub(PARTITION_OFFSET)
        .filter(|b| *b > 0)
    else {
        return Err(Error::NoRoom {
            size: options.size,
            offset: PARTITION_OFFSET,
        });
    };
    let in_image = |e: Error| Error::InImage {
        image: image.to_path_buf(),
        source: Box::new(e),
    };
    let fat_type = fat::resolve_kind(options.volume.kind, partition_bytes).map_err(in_image)?;
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
        .map_err(image_io("writing the MBR of", image))?;
    let volume = fat::write_volume(
        &mut disk,
        PARTITION_OFFSET,
        partition_bytes,
        &options.volume,
        contents,
    )
    .map_err(in_image)?;
    disk.sync_all().map_err(image_io("syncing", image))?;
    Ok(FatDiskReport {
        partition_offset: PARTITION_OFFSET,
        partition_bytes,
        volume,
        uuid: fat::volume_uuid(options.volume.volume_id),
        partuuid: format!("{:08x}-01", options.disk_signature),
    })
}

/// Creates (truncating) `image` with `size` bytes of zeros, sparse where the filesystem allows.
/// A failed file operation on `image`: "{action} {image}: {error}".
fn image_io(action: impl Into<String>, image: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let (action, image) = (action.into(), image.to_path_buf());
    move |source| Error::Image {
        action,
        image,
        source,
    }
}

fn create_sized(image: &Path, size: u64) -> Result<File, Error> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(image)
        .map_err(image_io("creating disk image", image))?;
    file.set_len(size).map_err(|source| Error::Resize {
        image: image.to_path_buf(),
        size,
        source,
    })?;
    Ok(file)
}

fn sectors(bytes: u64, image: &Path) -> Result<u32, Error> {
    u32::try_from(bytes / SECTOR_BYTES).map_err(|_| Error::TooManySectors {
        image: image.to_path_buf(),
        bytes,
    })
}
