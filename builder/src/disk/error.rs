//! The one error type of disk images: each variant names the image, the volume (offset
//! and length), the path on the volume or the host file involved.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::fat::{FAT32_MIN_BYTES, FAT32_MIN_CLUSTERS, LABEL_BYTES, SECTOR_BYTES};

#[derive(Debug)]
pub enum Error {
    /// A path on the volume that names no file.
    EmptyPath { path: String },
    /// A path on the volume with a `.` or `..` component (`bad`).
    DotPath { path: String, bad: String },
    /// Walking a host tree (`dir`) failed.
    Walk {
        dir: PathBuf,
        source: walkdir::Error,
    },
    /// A host path that is not UTF-8.
    NotUtf8 { path: PathBuf },
    /// A host file that FAT cannot store (symlink, device...).
    Special { path: PathBuf },
    /// A label longer than the 11 bytes a FAT label holds.
    LabelTooLong { label: String },
    /// A label with a character FAT labels refuse.
    LabelChar { label: String, bad: char },
    /// FAT32 asked for a volume of `bytes`, too small for it.
    Fat32TooSmall { bytes: u64 },
    /// A step (`step`: "formatting", "flushing"...) on the FAT volume of `len` bytes at `offset`.
    Volume {
        step: &'static str,
        offset: u64,
        len: u64,
        source: io::Error,
    },
    /// `action` ("creating", "writing"...) `/path` on the FAT volume failed.
    File {
        action: &'static str,
        path: String,
        source: io::Error,
    },
    /// Reading the host file `host` for `/path` failed (`action`: "opening", "copying").
    HostFile {
        action: &'static str,
        host: PathBuf,
        path: String,
        source: io::Error,
    },
    /// A disk size that is no multiple of the sector.
    DiskSize { size: u64 },
    /// A disk size with no room for a partition after the first MiB.
    NoRoom { size: u64, offset: u64 },
    /// More sectors than an MBR can address.
    TooManySectors { image: PathBuf, bytes: u64 },
    /// A file operation on the image (`action`: "creating disk image", "syncing"...).
    Image {
        action: String,
        image: PathBuf,
        source: io::Error,
    },
    /// The image could not be given its size.
    Resize {
        image: PathBuf,
        size: u64,
        source: io::Error,
    },
    /// An error about the volume inside disk image `image`.
    InImage { image: PathBuf, source: Box<Error> },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyPath { path } => write!(f, "volume path {path:?} names no file"),
            Self::DotPath { path, bad } => {
                write!(f, "volume path {path:?} contains {bad:?}; give a plain path")
            }
            Self::Walk { dir, source } => write!(f, "walking {}: {source}", dir.display()),
            Self::NotUtf8 { path } => write!(f, "{} is not UTF-8", path.display()),
            Self::Special { path } => write!(
                f,
                "{} is neither a regular file nor a directory; FAT cannot store it",
                path.display()
            ),
            Self::LabelTooLong { label } => write!(
                f,
                "FAT volume label {label:?} is {} bytes; at most {LABEL_BYTES} fit",
                label.len()
            ),
            Self::LabelChar { label, bad } => write!(
                f,
                "FAT volume label {label:?} contains {bad:?}; use uppercase ASCII letters, digits, space or !#$%&'()-@^_`{{}}~"
            ),
            Self::Fat32TooSmall { bytes } => write!(
                f,
                "a FAT32 volume needs at least {FAT32_MIN_BYTES} bytes ({FAT32_MIN_CLUSTERS} clusters of {SECTOR_BYTES}), got {bytes}"
            ),
            Self::Volume {
                step,
                offset,
                len,
                source,
            } => write!(
                f,
                "{step} the FAT volume of {len} bytes at offset {offset}: {source}"
            ),
            Self::File {
                action,
                path,
                source,
            } => {
                let hint = if *action == "writing" { " (is it full?)" } else { "" };
                write!(f, "{action} /{path} on the FAT volume{hint}: {source}")
            }
            Self::HostFile {
                action: "copying",
                host,
                path,
                source,
            } => write!(
                f,
                "writing /{path} on the FAT volume (is it full?): copying {}: {source}",
                host.display()
            ),
            Self::HostFile {
                action,
                host,
                path,
                source,
            } => write!(f, "{action} {} for /{path}: {source}", host.display()),
            Self::DiskSize { size } => write!(
                f,
                "disk size {size} is not a multiple of the {SECTOR_BYTES}-byte sector"
            ),
            Self::NoRoom { size, offset } => write!(
                f,
                "disk size {size} leaves no room for a partition after the first {offset} bytes"
            ),
            Self::TooManySectors { image, bytes } => write!(
                f,
                "disk image {}: {bytes} bytes exceed the MBR's 2^32-sector limit",
                image.display()
            ),
            Self::Image {
                action,
                image,
                source,
            } => write!(f, "{action} {}: {source}", image.display()),
            Self::Resize {
                image,
                size,
                source,
            } => write!(
                f,
                "sizing disk image {} to {size} bytes: {source}",
                image.display()
            ),
            Self::InImage { image, source } => {
                write!(f, "disk image {}: {source}", image.display())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Walk { source, .. } => Some(source),
            Self::Volume { source, .. }
            | Self::File { source, .. }
            | Self::HostFile { source, .. }
            | Self::Image { source, .. }
            | Self::Resize { source, .. } => Some(source),
            Self::InImage { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}
