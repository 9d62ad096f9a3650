//! A whole-disk card image: MBR with syslinux's boot code, one active FAT32 partition at
//! 1 MiB holding the payload, and syslinux installed on it. Written to a temporary file
//! next to the target and renamed when complete.

use std::path::Path;

use super::bootloader::Tools;
use super::layout::{
    journal_of, INITRD, INITRD_OLD, JOURNAL_BYTES, KVER, KVER_OLD, SYSLINUX_CFG, VMLINUZ,
    VMLINUZ_OLD,
};
use super::payload::Payload;
use super::Error;
use crate::disk::{self, FatContents, FatDiskOptions, FatDiskReport, FatKind, VolumeOptions};

/// The default FAT volume label (what `LABEL=` matches at boot).
pub const DEFAULT_LABEL: &str = "FLASHROOT";

/// The disk's identity and size.
#[derive(Clone, Debug)]
pub struct ImageOptions {
    /// Whole image size in bytes.
    pub size: u64,
    pub label: String,
    /// FAT volume serial (`UUID=`); also used as the MBR disk signature (`PARTUUID=`).
    pub serial: u32,
}

/// Writes the card image at `image`; the payload's files go on the FAT partition.
pub fn write_image(
    image: &Path,
    options: &ImageOptions,
    payload: &Payload,
) -> Result<FatDiskReport, Error> {
    payload.check_inputs()?;
    let tools = Tools::find()?;
    crate::atomic::replace(image, |partial| {
        write_partial(partial, &tools, options, payload)
    })
}

fn write_partial(
    partial: &Path,
    tools: &Tools,
    options: &ImageOptions,
    payload: &Payload,
) -> Result<FatDiskReport, Error> {
    let contents = contents(payload)?;
    let disk_options = FatDiskOptions {
        size: options.size,
        disk_signature: options.serial,
        bootable: true,
        volume: VolumeOptions {
            label: options.label.clone(),
            volume_id: options.serial,
            kind: FatKind::Fat32,
        },
    };
    let report = disk::write_fat_disk(partial, &disk_options, &contents)?;
    tools
        .install(partial, report.partition_offset)
        .map_err(|e| Error::Syslinux {
            image: partial.to_path_buf(),
            source: Box::new(e),
        })?;
    Ok(report)
}

/// The FAT volume's files: a fresh card's previous pair is the new pair itself.
fn contents(payload: &Payload) -> Result<FatContents, Error> {
    let mut contents = FatContents::new();
    contents
        .host_file(VMLINUZ, &payload.kernel)?
        .host_file(INITRD, &payload.initrd)?
        .host_file(VMLINUZ_OLD, &payload.kernel)?
        .host_file(INITRD_OLD, &payload.initrd)?
        .bytes(SYSLINUX_CFG, payload.syslinux_cfg())?;
    if let Some(kver) = &payload.kver {
        contents
            .bytes(KVER, format!("{kver}\n"))?
            .bytes(KVER_OLD, format!("{kver}\n"))?;
    }
    for (name, host) in &payload.files {
        contents.host_file(name, host)?;
    }
    for (name, host) in &payload.containers {
        contents
            .host_file(name, host)?
            .bytes(&journal_of(name), vec![0u8; JOURNAL_BYTES as usize])?;
    }
    Ok(contents)
}
