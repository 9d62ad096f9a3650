//! The classic MBR partition table (sector 0 of a disk): disk signature, four primary entries.
//!
//! Linux reads only the LBA fields; CHS is filled in the conventional way (255 heads,
//! 63 sectors per track, clamped to 1023/254/63) for old firmware.

/// Size of the MBR sector.
pub const SECTOR_SIZE: usize = 512;
/// Offset of the 32-bit disk signature (`PARTUUID=<signature>-<nn>` in Linux).
pub const DISK_SIGNATURE_OFFSET: usize = 440;
/// Offset of the first of four 16-byte partition entries.
pub const PARTITION_TABLE_OFFSET: usize = 446;
/// Size of one partition entry.
pub const PARTITION_ENTRY_SIZE: usize = 16;
/// Number of primary partition entries.
pub const PRIMARY_PARTITIONS: usize = 4;
/// Offset of the boot signature `0x55 0xAA`.
pub const BOOT_SIGNATURE_OFFSET: usize = 510;
pub const BOOT_SIGNATURE: [u8; 2] = [0x55, 0xAA];
/// Status byte of the active (bootable) partition; 0x00 is inactive.
pub const STATUS_ACTIVE: u8 = 0x80;
/// Partition type: FAT32 with LBA addressing.
pub const TYPE_FAT32_LBA: u8 = 0x0C;
/// Partition type: FAT16 (>= 32 MiB) with LBA addressing.
pub const TYPE_FAT16_LBA: u8 = 0x0E;

/// Conventional CHS geometry used to fill the CHS fields.
const CHS_HEADS: u32 = 255;
const CHS_SECTORS_PER_TRACK: u32 = 63;
/// Highest encodable cylinder; beyond it CHS is clamped to 1023/254/63.
const CHS_MAX_CYLINDER: u32 = 1023;

/// One primary partition, in 512-byte sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub bootable: bool,
    pub partition_type: u8,
    pub first_lba: u32,
    pub sectors: u32,
}

/// Sector 0 of a disk: the signature and up to four primary partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mbr {
    pub disk_signature: u32,
    pub partitions: [Option<Partition>; PRIMARY_PARTITIONS],
}

impl Mbr {
    /// The 512 bytes of the sector; the boot code area is left zero.
    pub fn encode(&self) -> [u8; SECTOR_SIZE] {
        let mut sector = [0u8; SECTOR_SIZE];
        sector[DISK_SIGNATURE_OFFSET..DISK_SIGNATURE_OFFSET + 4]
            .copy_from_slice(&self.disk_signature.to_le_bytes());
        for (index, partition) in self.partitions.iter().enumerate() {
            if let Some(partition) = partition {
                let start = PARTITION_TABLE_OFFSET + index * PARTITION_ENTRY_SIZE;
                sector[start..start + PARTITION_ENTRY_SIZE].copy_from_slice(&partition.encode());
            }
        }
        sector[BOOT_SIGNATURE_OFFSET..].copy_from_slice(&BOOT_SIGNATURE);
        sector
    }
}

impl Partition {
    /// The 16-byte entry: status, CHS first, type, CHS last, LBA first, sector count (little-endian).
    pub fn encode(&self) -> [u8; PARTITION_ENTRY_SIZE] {
        let mut entry = [0u8; PARTITION_ENTRY_SIZE];
        entry[0] = if self.bootable { STATUS_ACTIVE } else { 0 };
        entry[1..4].copy_from_slice(&chs(self.first_lba));
        entry[4] = self.partition_type;
        let last_lba = self.first_lba + self.sectors.saturating_sub(1);
        entry[5..8].copy_from_slice(&chs(last_lba));
        entry[8..12].copy_from_slice(&self.first_lba.to_le_bytes());
        entry[12..16].copy_from_slice(&self.sectors.to_le_bytes());
        entry
    }
}

/// CHS triple (head, sector | cylinder high bits, cylinder low byte) for an LBA.
fn chs(lba: u32) -> [u8; 3] {
    let cylinder = lba / (CHS_HEADS * CHS_SECTORS_PER_TRACK);
    let (cylinder, head, sector) = if cylinder > CHS_MAX_CYLINDER {
        (CHS_MAX_CYLINDER, CHS_HEADS - 1, CHS_SECTORS_PER_TRACK)
    } else {
        let head = (lba / CHS_SECTORS_PER_TRACK) % CHS_HEADS;
        let sector = lba % CHS_SECTORS_PER_TRACK + 1;
        (cylinder, head, sector)
    };
    [
        head as u8,
        (sector as u8) | (((cylinder >> 8) as u8) << 6),
        cylinder as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat32_partition_at_one_mib_encodes_exactly() {
        // 64 MiB disk, partition from 1 MiB (LBA 2048) to the end.
        let partition = Partition {
            bootable: true,
            partition_type: TYPE_FAT32_LBA,
            first_lba: 2048,
            sectors: 129024,
        };
        // LBA 2048 = C0 H32 S33; LBA 131071 = C8 H40 S32 (the same values sfdisk writes).
        assert_eq!(
            partition.encode(),
            [
                0x80, 0x20, 0x21, 0x00, 0x0C, 0x28, 0x20, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0xF8,
                0x01, 0x00
            ]
        );
    }

    #[test]
    fn chs_clamps_beyond_cylinder_1023() {
        assert_eq!(chs(0), [0, 1, 0]);
        assert_eq!(chs(u32::MAX), [254, 0xFF, 0xFF]);
    }

    #[test]
    fn sector_has_signature_entry_and_magic() {
        let mbr = Mbr {
            disk_signature: 0x1234_ABCD,
            partitions: [
                None,
                Some(Partition {
                    bootable: false,
                    partition_type: TYPE_FAT16_LBA,
                    first_lba: 63,
                    sectors: 1,
                }),
                None,
                None,
            ],
        };
        let sector = mbr.encode();
        assert_eq!(&sector[440..444], &[0xCD, 0xAB, 0x34, 0x12]);
        assert!(
            sector[446..462].iter().all(|&b| b == 0),
            "entry 1 stays empty"
        );
        assert_eq!(
            &sector[462..478],
            &[0x00, 0x01, 0x01, 0x00, 0x0E, 0x01, 0x01, 0x00, 63, 0, 0, 0, 1, 0, 0, 0]
        );
        assert_eq!(&sector[510..], &[0x55, 0xAA]);
        assert!(sector[..440].iter().all(|&b| b == 0));
    }
}
