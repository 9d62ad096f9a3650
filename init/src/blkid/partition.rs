//! Partition ids from an MBR (`SSSSSSSS-PP`) or a GPT (the partition GUID), as the
//! kernel and blkid give them for `PARTUUID=`.

use super::{has_boot_signature, u32_le, u64_le, uuid_in_stored_order};

/// Master boot record.
pub mod mbr {
    pub const DISK_SIGNATURE: usize = 440;
    pub const PARTITION_TABLE: usize = 446;
    pub const ENTRY_SIZE: usize = 16;
    pub const ENTRIES: usize = 4;
    pub const ENTRY_TYPE: usize = 4;
    /// The protective entry of a GPT disk.
    pub const TYPE_GPT_PROTECTIVE: u8 = 0xEE;
    pub const TYPE_EMPTY: u8 = 0;
}

/// GUID partition table header (at LBA 1) and entries.
pub mod gpt {
    pub const SIGNATURE: &[u8; 8] = b"EFI PART";
    pub const ENTRIES_LBA: usize = 72;
    pub const ENTRY_COUNT: usize = 80;
    pub const ENTRY_SIZE: usize = 84;
    pub const ENTRY_TYPE_GUID: usize = 0;
    pub const ENTRY_UNIQUE_GUID: usize = 16;
    pub const GUID_LEN: usize = 16;
    /// The smallest entry the spec allows; anything smaller is garbage.
    pub const MIN_ENTRY_SIZE: u32 = 128;
    /// More would be a corrupt header (the spec's usual count is 128).
    pub const MAX_ENTRIES: u32 = 4096;
}

/// A GPT GUID: the first three fields are stored little-endian.
pub fn format_guid(g: &[u8; 16]) -> String {
    let mut u = *g;
    u[0..4].reverse();
    u[4..6].reverse();
    u[6..8].reverse();
    uuid_in_stored_order(&u)
}

/// A partition's number (1-based, as in `sda1`) and its PARTUUID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartId {
    pub number: u32,
    pub partuuid: String,
}

/// The partition table in sector 0, if it is a plain MBR (not a GPT's protective one):
/// PARTUUIDs are `<disk signature>-<number>` in lowercase hex, as the kernel and blkid write them.
pub fn mbr_partitions(sector0: &[u8]) -> Option<Vec<PartId>> {
    if !has_boot_signature(sector0) || is_gpt_protective(sector0) {
        return None;
    }
    let signature = u32_le(sector0, mbr::DISK_SIGNATURE)?;
    let mut out = Vec::new();
    for i in 0..mbr::ENTRIES {
        let entry = mbr::PARTITION_TABLE + i * mbr::ENTRY_SIZE;
        if *sector0.get(entry + mbr::ENTRY_TYPE)? != mbr::TYPE_EMPTY {
            let number = i as u32 + 1;
            out.push(PartId {
                number,
                partuuid: format!("{signature:08x}-{number:02x}"),
            });
        }
    }
    Some(out)
}

pub fn is_gpt_protective(sector0: &[u8]) -> bool {
    (0..mbr::ENTRIES).any(|i| {
        sector0.get(mbr::PARTITION_TABLE + i * mbr::ENTRY_SIZE + mbr::ENTRY_TYPE)
            == Some(&mbr::TYPE_GPT_PROTECTIVE)
    })
}

/// Where a GPT's entries are: LBA, count and size of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GptHeader {
    pub entries_lba: u64,
    pub entry_count: u32,
    pub entry_size: u32,
}

/// Reads the header at LBA 1.
pub fn gpt_header(lba1: &[u8]) -> Option<GptHeader> {
    if lba1.get(..gpt::SIGNATURE.len())? != gpt::SIGNATURE {
        return None;
    }
    let h = GptHeader {
        entries_lba: u64_le(lba1, gpt::ENTRIES_LBA)?,
        entry_count: u32_le(lba1, gpt::ENTRY_COUNT)?,
        entry_size: u32_le(lba1, gpt::ENTRY_SIZE)?,
    };
    (h.entry_size >= gpt::MIN_ENTRY_SIZE && h.entry_count <= gpt::MAX_ENTRIES).then_some(h)
}

/// The used entries (non-zero type GUID) and their unique GUIDs.
pub fn gpt_partitions(header: &GptHeader, entries: &[u8]) -> Vec<PartId> {
    let size = header.entry_size as usize;
    let mut out = Vec::new();
    for i in 0..header.entry_count as usize {
        let Some(entry) = entries.get(i * size..(i + 1) * size) else {
            break;
        };
        let type_guid = &entry[gpt::ENTRY_TYPE_GUID..gpt::ENTRY_TYPE_GUID + gpt::GUID_LEN];
        if type_guid.iter().all(|b| *b == 0) {
            continue;
        }
        let mut guid = [0u8; 16];
        guid.copy_from_slice(
            &entry[gpt::ENTRY_UNIQUE_GUID..gpt::ENTRY_UNIQUE_GUID + gpt::GUID_LEN],
        );
        out.push(PartId {
            number: i as u32 + 1,
            partuuid: format_guid(&guid),
        });
    }
    out
}
