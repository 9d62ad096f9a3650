//! Disk images for cards and tests, written without root and without loop mounts.
//!
//! - [`mbr`]: the MBR sector (disk signature, partition entries).
//! - [`fat`]: a FAT32/FAT16 volume (label, serial) filled from bytes or host files.
//! - [`image`]: whole disks: MBR + one FAT partition at 1 MiB.
//! - `fat_dots`: repairs the `.`/`..` entries the `fatfs` crate writes with long names.
//! - [`slice`](mod@slice): a byte window of a file, so the FAT library sees only its partition.

mod error;
pub mod fat;
mod fat_dots;
pub mod image;
pub mod mbr;
pub mod slice;

#[cfg(test)]
mod tests;

pub use error::Error;
pub use fat::{FatContents, FatKind, Source, VolumeOptions, VolumeReport};
pub use image::{write_fat_disk, FatDiskOptions, FatDiskReport, PARTITION_OFFSET};
