//! A FAT volume inside a partition: format with the `fatfs` crate, then copy collected files in.
//!
//! FAT32 needs at least [`FAT32_MIN_CLUSTERS`] clusters; with the smallest (512-byte) clusters
//! that is [`FAT32_MIN_BYTES`] (about 32.5 MiB). Smaller volumes fall back to FAT16 under
//! [`FatKind::Auto`]. Timestamps are the FAT epoch (1980-01-01), so images are reproducible.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::Error;
use fatfs::{FatType, FileSystem, FormatVolumeOptions, FsOptions};

use super::fat_dots;
use super::slice::Slice;

/// Bytes per sector of the volumes we write.
pub const SECTOR_BYTES: u64 = 512;
/// The spec's minimum cluster count of a FAT32 volume (fewer means FAT16 to every reader).
pub const FAT32_MIN_CLUSTERS: u64 = 65525;
/// Reserved sectors before the first FAT on FAT32 (boot sector, FSInfo, backup at 6).
const FAT32_RESERVED_SECTORS: u64 = 32;
/// Bytes per FAT32 table entry.
const FAT32_ENTRY_BYTES: u64 = 4;
/// Table entries 0 and 1 hold no cluster.
const FAT_RESERVED_ENTRIES: u64 = 2;
/// Number of FAT copies.
const FAT_COPIES: u64 = 2;
/// The smallest FAT32 volume: 512-byte clusters, two FATs, 32 reserved sectors.
pub const FAT32_MIN_BYTES: u64 = SECTOR_BYTES
    * (FAT32_RESERVED_SECTORS
        + FAT_COPIES
            * ((FAT32_MIN_CLUSTERS + FAT_RESERVED_ENTRIES) * FAT32_ENTRY_BYTES)
                .div_ceil(SECTOR_BYTES)
        + FAT32_MIN_CLUSTERS);
/// Length of a FAT volume label, space padded.
pub const LABEL_BYTES: usize = 11;
/// Characters a FAT short name (and so a label) may not contain.
const LABEL_FORBIDDEN: &[u8] = b"\"*+,./:;<=>?[\\]|";
/// Boot sector offset of `BPB_HiddSec`: sectors before the volume on its disk.
const BPB_HIDDEN_SECTORS_OFFSET: u64 = 0x1C;
/// Boot sector offset of the FAT32 `BPB_BkBootSec` (u16): sector of the backup boot sector.
const BPB_FAT32_BACKUP_SECTOR_OFFSET: u64 = 0x32;

/// Which FAT variant to format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FatKind {
    /// FAT32 when the volume is at least [`FAT32_MIN_BYTES`], else FAT16.
    #[default]
    Auto,
    Fat16,
    Fat32,
}

/// Identity of the volume: what `blkid` reports as `LABEL=` and `UUID=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeOptions {
    /// Up to 11 characters: uppercase ASCII letters, digits, space and `!#$%&'()-@^_`{}~`.
    pub label: String,
    /// The volume serial; Linux shows it as `UUID=XXXX-XXXX` (high half first).
    pub volume_id: u32,
    pub kind: FatKind,
}

/// Where a file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Bytes(Vec<u8>),
    Host(PathBuf),
}

/// Files and directories to put on the volume, keyed by their `/`-separated path in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FatContents {
    /// `None` is a directory.
    entries: BTreeMap<String, Option<Source>>,
}

/// What was formatted, for reports and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeReport {
    pub fat32: bool,
    pub bytes_per_cluster: u32,
    pub total_clusters: u32,
    pub free_clusters: u32,
}

impl FatContents {
    pub fn new() -> Self {
        Self::default()
    }

    /// An (empty) directory; parents are created as needed.
    pub fn dir(&mut self, path: &str) -> Result<&mut Self, Error> {
        let path = volume_path(path)?;
        self.entries.insert(path, None);
        Ok(self)
    }

    /// A file with the given contents.
    pub fn bytes(&mut self, path: &str, data: impl Into<Vec<u8>>) -> Result<&mut Self, Error> {
        let path = volume_path(path)?;
        self.entries.insert(path, Some(Source::Bytes(data.into())));
        Ok(self)
    }

    /// A file copied from the host when the volume is written.
    pub fn host_file(&mut self, path: &str, host: impl Into<PathBuf>) -> Result<&mut Self, Error> {
        let path = volume_path(path)?;
        self.entries.insert(path, Some(Source::Host(host.into())));
        Ok(self)
    }

    /// Every directory and regular file below `host_dir`, placed under `dest` (`""` = the root).
    /// Symlinks and special files are refused: FAT cannot hold them.
    pub fn host_tree(&mut self, dest: &str, host_dir: &Path) -> Result<&mut Self, Error> {
        for item in walkdir::WalkDir::new(host_dir)
            .min_depth(1)
            .sort_by_file_name()
        {
            let item = item.map_err(|source| Error::Walk {
                dir: host_dir.to_path_buf(),
                source,
            })?;
            let relative = item
                .path()
                .strip_prefix(host_dir)
                .expect("walkdir stays below its root");
            let relative = relative.to_str().ok_or_else(|| Error::NotUtf8 {
                path: item.path().to_path_buf(),
            })?;
            let path = format!("{dest}/{relative}");
            let kind = item.file_type();
            if kind.is_dir() {
                self.dir(&path)?;
            } else if kind.is_file() {
                self.host_file(&path, item.path())?;
            } else {
                return Err(Error::Special {
                    path: item.path().to_path_buf(),
                });
            }
        }
        Ok(self)
    }

    /// The collected paths in the order they will be written.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

/// `/a//b/` → `a/b`; refuses empty paths and `.`/`..` components.
fn volume_path(path: &str) -> Result<String, Error> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if components.is_empty() {
        return Err(Error::EmptyPath { path: path.into() });
    }
    if let Some(bad) = components.iter().find(|c| **c == "." || **c == "..") {
        return Err(Error::DotPath {
            path: path.into(),
            bad: bad.to_string(),
        });
    }
    Ok(components.join("/"))
}

/// The 11 space-padded label bytes, or an error naming the offending character.
pub fn label_bytes(label: &str) -> Result<[u8; LABEL_BYTES], Error> {
    if label.len() > LABEL_BYTES {
        return Err(Error::LabelTooLong {
            label: label.into(),
        });
    }
    if let Some(bad) = label.chars().find(|&c| {
        !c.is_ascii()
            || c.is_ascii_control()
            || c.is_ascii_lowercase()
            || LABEL_FORBIDDEN.contains(&(c as u8))
    }) {
        return Err(Error::LabelChar {
            label: label.into(),
            bad,
        });
    }
    let mut bytes = [b' '; LABEL_BYTES];
    bytes[..label.len()].copy_from_slice(label.as_bytes());
    Ok(bytes)
}

/// `UUID=` as Linux prints a FAT serial: `ABCD-1234`.
pub fn volume_uuid(volume_id: u32) -> String {
    format!("{:04X}-{:04X}", volume_id >> 16, volume_id & 0xFFFF)
}

/// The FAT variant `kind` means for a volume of `bytes`, or why it cannot be.
pub fn resolve_kind(kind: FatKind, bytes: u64) -> Result<FatType, Error> {
    match kind {
        FatKind::Auto if bytes >= FAT32_MIN_BYTES => Ok(FatType::Fat32),
        FatKind::Auto | FatKind::Fat16 => Ok(FatType::Fat16),
        FatKind::Fat32 if bytes >= FAT32_MIN_BYTES => Ok(FatType::Fat32),
        FatKind::Fat32 => Err(Error::Fat32TooSmall { bytes }),
    }
}

/// Formats `[offset, offset + len)` of `disk` and writes `contents` into it.
pub fn write_volume(
    disk: &mut File,
    offset: u64,
    len: u64,
    volume: &VolumeOptions,
    contents: &FatContents,
) -> Result<VolumeReport, Error> {
    let fat_type = resolve_kind(volume.kind, len)?;
    let label = label_bytes(&volume.label)?;
    let options = FormatVolumeOptions::new()
        .fat_type(fat_type)
        .volume_id(volume.volume_id)
        .volume_label(label);
    let step = |step: &'static str| {
        move |source| Error::Volume {
            step,
            offset,
            len,
            source,
        }
    };
    let slice = Slice::new(&mut *disk, offset, len).map_err(step("seeking to"))?;
    fatfs::format_volume(slice, options).map_err(step("formatting"))?;
    set_hidden_sectors(disk, offset, fat_type)
        .map_err(step("writing the hidden sector count of"))?;

    let slice = Slice::new(&mut *disk, offset, len).map_err(step("seeking to"))?;
    let fs =
        FileSystem::new(slice, FsOptions::new()).map_err(step("opening the freshly formatted"))?;
    copy_contents(&fs, contents)?;
    let stats = fs.stats().map_err(step("statistics of"))?;
    let report = VolumeReport {
        fat32: fs.fat_type() == FatType::Fat32,
        bytes_per_cluster: stats.cluster_size(),
        total_clusters: stats.total_clusters(),
        free_clusters: stats.free_clusters(),
    };
    fs.unmount().map_err(step("flushing"))?;
    fat_dots::repair(disk, offset, len).map_err(step("repairing '.' entries of"))?;
    Ok(report)
}

/// `fatfs` writes 0 hidden sectors; boot loaders (and fsck's consistency view) expect the
/// partition's start LBA, in the boot sector and, on FAT32, its backup.
fn set_hidden_sectors(disk: &mut File, offset: u64, fat_type: FatType) -> io::Result<()> {
    let hidden = u32::try_from(offset / SECTOR_BYTES).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "partition starts beyond LBA 2^32",
        )
    })?;
    let mut boot_sectors = vec![0u64];
    if fat_type == FatType::Fat32 {
        let mut backup = [0u8; 2];
        disk.seek(SeekFrom::Start(offset + BPB_FAT32_BACKUP_SECTOR_OFFSET))?;
        disk.read_exact(&mut backup)?;
        boot_sectors.push(u64::from(u16::from_le_bytes(backup)));
    }
    for sector in boot_sectors {
        disk.seek(SeekFrom::Start(
            offset + sector * SECTOR_BYTES + BPB_HIDDEN_SECTORS_OFFSET,
        ))?;
        disk.write_all(&hidden.to_le_bytes())?;
    }
    Ok(())
}

fn copy_contents<T: fatfs::ReadWriteSeek>(
    fs: &FileSystem<T>,
    contents: &FatContents,
) -> Result<(), Error> {
    let root = fs.root_dir();
    let on_volume = |action: &'static str, path: &str| {
        let path = path.to_string();
        move |source| Error::File {
            action,
            path,
            source,
        }
    };
    for (path, source) in &contents.entries {
        // Parents first: create_dir returns an existing directory unchanged.
        let mut parent = String::new();
        for component in path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, p)| p)
            .unwrap_or(&[])
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(component);
            root.create_dir(&parent)
                .map_err(on_volume("creating directory", &parent))?;
        }
        match source {
            None => {
                root.create_dir(path)
                    .map_err(on_volume("creating directory", path))?;
            }
            Some(source) => {
                let mut file = root
                    .create_file(path)
                    .map_err(on_volume("creating", path))?;
                file.truncate().map_err(on_volume("truncating", path))?;
                match source {
                    Source::Bytes(data) => {
                        file.write_all(data).map_err(on_volume("writing", path))?
                    }
                    Source::Host(host) => {
                        let host_file = |action: &'static str| {
                            move |source| Error::HostFile {
                                action,
                                host: host.clone(),
                                path: path.clone(),
                                source,
                            }
                        };
                        let mut from = File::open(host).map_err(host_file("opening"))?;
                        io::copy(&mut from, &mut file).map_err(host_file("copying"))?;
                    }
                }
                file.flush().map_err(on_volume("flushing", path))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat32_minimum_matches_the_spec_arithmetic() {
        // 32 reserved + 2 × 512 FAT sectors + 65525 data sectors.
        assert_eq!(FAT32_MIN_BYTES, (32 + 2 * 512 + 65525) * 512);
        assert_eq!(
            resolve_kind(FatKind::Auto, FAT32_MIN_BYTES).unwrap(),
            FatType::Fat32
        );
        assert_eq!(
            resolve_kind(FatKind::Auto, FAT32_MIN_BYTES - 512).unwrap(),
            FatType::Fat16
        );
        let error = resolve_kind(FatKind::Fat32, 8 << 20)
            .unwrap_err()
            .to_string();
        assert!(error.contains("got 8388608"), "{error}");
    }

    #[test]
    fn labels_are_padded_and_checked() {
        assert_eq!(&label_bytes("FLASHROOT").unwrap(), b"FLASHROOT  ");
        assert_eq!(&label_bytes("").unwrap(), b"           ");
        let long = label_bytes("TWELVE_CHARS").unwrap_err().to_string();
        assert!(long.contains("is 12 bytes"), "{long}");
        let lower = label_bytes("card").unwrap_err().to_string();
        assert!(lower.contains("contains 'c'"), "{lower}");
        assert!(label_bytes("A.B").is_err());
    }

    #[test]
    fn uuid_is_high_half_first() {
        assert_eq!(volume_uuid(0x1234_ABCD), "1234-ABCD");
        assert_eq!(volume_uuid(0xBEEF), "0000-BEEF");
    }

    #[test]
    fn volume_paths_are_normalised_and_checked() {
        assert_eq!(volume_path("/boot//syslinux/").unwrap(), "boot/syslinux");
        assert!(volume_path("/").is_err());
        let dotdot = volume_path("a/../b").unwrap_err().to_string();
        assert!(dotdot.contains("\"..\""), "{dotdot}");
    }
}
