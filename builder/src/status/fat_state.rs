//! The FAT volume's dirty flag, as Linux keeps it: bit 0 of the boot sector's "state"
//! byte (`BS_Reserved1`), set by `fat_set_state` when the volume is mounted read-write and
//! cleared at a clean unmount (or a remount read-only). `fsck.vfat` reports it as "Dirty
//! bit is set. Fs was not properly unmounted".

use serde::Serialize;

/// The boot sector's length, and how much of it this reads.
pub const BOOT_SECTOR_BYTES: usize = 512;
/// `BPB_FATSz16`: 0 on FAT32, whose FAT size lives in `BPB_FATSz32`.
const FAT_SIZE_16_OFFSET: usize = 0x16;
/// The state byte: after the FAT32 BPB extension, or right after the FAT12/16 BPB.
const STATE_OFFSET_FAT32: usize = 0x41;
const STATE_OFFSET_FAT16: usize = 0x25;
/// `FAT_STATE_DIRTY` in the kernel's fs/fat/fat.h.
const STATE_DIRTY: u8 = 0x01;
/// Every FAT boot sector ends with 0x55 0xAA.
const SIGNATURE_OFFSET: usize = 510;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FatKind {
    Fat16,
    Fat32,
}

/// The dirty flag and the FAT kind it was read for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FatState {
    pub kind: FatKind,
    pub dirty: bool,
}

/// Reads the flag from a boot sector; None if `sector` is no FAT boot sector.
pub fn parse(sector: &[u8]) -> Option<FatState> {
    if sector.len() < BOOT_SECTOR_BYTES
        || sector[SIGNATURE_OFFSET..SIGNATURE_OFFSET + 2] != [0x55, 0xAA]
    {
        return None;
    }
    let fat16_size =
        u16::from_le_bytes([sector[FAT_SIZE_16_OFFSET], sector[FAT_SIZE_16_OFFSET + 1]]);
    let (kind, offset) = if fat16_size == 0 {
        (FatKind::Fat32, STATE_OFFSET_FAT32)
    } else {
        (FatKind::Fat16, STATE_OFFSET_FAT16)
    };
    Some(FatState {
        kind,
        dirty: sector[offset] & STATE_DIRTY != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sector(fat16_size: u16, state_at: usize, state: u8) -> Vec<u8> {
        let mut s = vec![0u8; BOOT_SECTOR_BYTES];
        s[FAT_SIZE_16_OFFSET..FAT_SIZE_16_OFFSET + 2].copy_from_slice(&fat16_size.to_le_bytes());
        s[state_at] = state;
        s[510] = 0x55;
        s[511] = 0xAA;
        s
    }

    #[test]
    fn fat32_and_fat16_state_bytes() {
        assert_eq!(
            parse(&sector(0, 0x41, 1)),
            Some(FatState {
                kind: FatKind::Fat32,
                dirty: true
            })
        );
        assert_eq!(
            parse(&sector(0, 0x41, 0)),
            Some(FatState {
                kind: FatKind::Fat32,
                dirty: false
            })
        );
        assert_eq!(
            parse(&sector(200, 0x25, 1)),
            Some(FatState {
                kind: FatKind::Fat16,
                dirty: true
            })
        );
        // The FAT16 offset is not read on FAT32.
        assert!(!parse(&sector(0, 0x25, 1)).unwrap().dirty);
    }

    #[test]
    fn no_signature_is_no_fat() {
        let mut s = sector(0, 0x41, 1);
        s[511] = 0;
        assert_eq!(parse(&s), None);
        assert_eq!(parse(&[0u8; 100]), None);
    }

    /// Our own card writer's FAT32 and FAT16 volumes: the state byte is where this reads it.
    #[test]
    fn card_images_by_our_writer_are_clean() {
        use crate::disk::{
            write_fat_disk, FatContents, FatDiskOptions, FatKind as Kind, VolumeOptions,
        };
        let dir = tempfile::tempdir().unwrap();
        for (kind, size, expected) in [
            (Kind::Fat32, 64u64 << 20, FatKind::Fat32),
            (Kind::Fat16, 32 << 20, FatKind::Fat16),
        ] {
            let image = dir.path().join("card.img");
            let options = FatDiskOptions {
                size,
                disk_signature: 1,
                bootable: false,
                volume: VolumeOptions {
                    label: "CARD".into(),
                    volume_id: 2,
                    kind,
                },
            };
            let report = write_fat_disk(&image, &options, &FatContents::new()).unwrap();
            let bytes = std::fs::read(&image).unwrap();
            let start = report.partition_offset as usize;
            assert_eq!(
                parse(&bytes[start..start + BOOT_SECTOR_BYTES]),
                Some(FatState {
                    kind: expected,
                    dirty: false
                }),
                "{kind:?}"
            );
        }
    }
}
