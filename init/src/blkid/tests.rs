use std::process::Command;

use super::partition::mbr;
use super::*;

/// A FAT boot sector with the fields the probe reads; everything else zero.
fn fat_sector(fat32: bool, id: u32, label: &[u8; 11], fs_type: &[u8; 8]) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[fat::BYTES_PER_SECTOR..][..2].copy_from_slice(&512u16.to_le_bytes());
    let ebr = if fat32 {
        fat::EBR_FAT32
    } else {
        b[fat::ROOT_ENTRIES..][..2].copy_from_slice(&512u16.to_le_bytes());
        b[fat::FAT_SIZE_16..][..2].copy_from_slice(&32u16.to_le_bytes());
        fat::EBR_FAT16
    };
    b[ebr + fat::EBR_SIGNATURE] = fat::SIGNATURE_FULL;
    b[ebr + fat::EBR_VOLUME_ID..][..4].copy_from_slice(&id.to_le_bytes());
    b[ebr + fat::EBR_LABEL..][..11].copy_from_slice(label);
    b[ebr + fat::EBR_FS_TYPE..][..8].copy_from_slice(fs_type);
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

#[test]
fn fat32_label_and_serial() {
    let b = fat_sector(true, 0x1234_ABCD, b"FLASHROOT  ", b"FAT32   ");
    assert_eq!(
        probe(&b),
        Some(FsInfo {
            kind: FsKind::Fat32,
            uuid: Some("1234-ABCD".into()),
            label: Some("FLASHROOT".into())
        })
    );
}

#[test]
fn fat16_fields_sit_at_36() {
    let b = fat_sector(false, 0x0BAD_CAFE, b"CARD       ", b"FAT16   ");
    let info = probe_fat(&b).unwrap();
    assert_eq!(info.kind, FsKind::Fat12or16);
    assert_eq!(info.uuid.as_deref(), Some("0BAD-CAFE"));
    assert_eq!(info.label.as_deref(), Some("CARD"));
}

#[test]
fn no_name_is_no_label() {
    let b = fat_sector(true, 1, b"NO NAME    ", b"FAT32   ");
    assert_eq!(probe_fat(&b).unwrap().label, None);
}

#[test]
fn not_fat_without_signature_or_type() {
    let mut b = fat_sector(true, 1, b"X          ", b"FAT32   ");
    b[511] = 0;
    assert_eq!(probe_fat(&b), None);
    let b = fat_sector(true, 1, b"X          ", b"NTFS    ");
    assert_eq!(probe_fat(&b), None);
    assert_eq!(probe(&[0u8; 100]), None);
}

/// An ext superblock with the given feature words; everything else zero.
fn ext_volume(compat: u32, incompat: u32, ro_compat: u32) -> Vec<u8> {
    let mut b = vec![0u8; 2048];
    let sb = ext::SUPERBLOCK;
    b[sb + ext::MAGIC..][..2].copy_from_slice(&ext::MAGIC_VALUE.to_le_bytes());
    b[sb + ext::FEATURE_COMPAT..][..4].copy_from_slice(&compat.to_le_bytes());
    b[sb + ext::FEATURE_INCOMPAT..][..4].copy_from_slice(&incompat.to_le_bytes());
    b[sb + ext::FEATURE_RO_COMPAT..][..4].copy_from_slice(&ro_compat.to_le_bytes());
    b
}

#[test]
fn ext_uuid_and_label() {
    let mut b = ext_volume(0, ext::INCOMPAT_FILETYPE, ext::RO_COMPAT_SPARSE_SUPER);
    let sb = ext::SUPERBLOCK;
    let uuid: Vec<u8> = (0u8..16).map(|i| i * 0x11).collect();
    b[sb + ext::UUID..][..16].copy_from_slice(&uuid);
    b[sb + ext::LABEL..][..6].copy_from_slice(b"debian");
    assert_eq!(
        probe(&b),
        Some(FsInfo {
            kind: FsKind::Ext2,
            uuid: Some("00112233-4455-6677-8899-aabbccddeeff".into()),
            label: Some("debian".into())
        })
    );
}

/// blkid's rule: a feature ext3 lacks makes ext4, else a journal makes ext3.
#[test]
fn ext_generation_follows_the_feature_flags() {
    let kind = |c, i, r| ext::probe(&ext_volume(c, i, r)).map(|f| f.kind);
    let j = ext::COMPAT_HAS_JOURNAL;
    assert_eq!(kind(0, 0, 0), Some(FsKind::Ext2));
    assert_eq!(kind(j, ext::INCOMPAT_FILETYPE, 0), Some(FsKind::Ext3));
    assert_eq!(kind(j, ext::INCOMPAT_RECOVER, 0), Some(FsKind::Ext3));
    for incompat in [
        ext::INCOMPAT_EXTENTS,
        ext::INCOMPAT_64BIT,
        ext::INCOMPAT_FLEX_BG,
    ] {
        assert_eq!(kind(j, incompat, 0), Some(FsKind::Ext4), "{incompat:#x}");
        assert_eq!(
            kind(0, incompat, 0),
            Some(FsKind::Ext4),
            "no journal, {incompat:#x}"
        );
    }
    assert_eq!(kind(0, 0, ext::RO_COMPAT_HUGE_FILE), Some(FsKind::Ext4));
    assert_eq!(
        kind(j, ext::INCOMPAT_JOURNAL_DEV, 0),
        None,
        "an external journal is no filesystem"
    );
    assert_eq!(
        kind(0, ext::INCOMPAT_RECOVER, 0),
        None,
        "recover without a journal"
    );
}

#[test]
fn ext_metadata_csum_must_match() {
    let mut b = ext_volume(0, ext::INCOMPAT_EXTENTS, ext::RO_COMPAT_METADATA_CSUM);
    let sb = ext::SUPERBLOCK;
    assert_eq!(ext::probe(&b), None, "checksum 0 is wrong");
    let c = crc::update(crc::CASTAGNOLI, !0, &b[sb..sb + ext::CHECKSUM]);
    b[sb + ext::CHECKSUM..][..4].copy_from_slice(&c.to_le_bytes());
    assert_eq!(ext::probe(&b).map(|f| f.kind), Some(FsKind::Ext4));
}

#[test]
fn ext_without_csum_needs_a_sane_block_size() {
    let mut b = ext_volume(0, 0, 0);
    b[ext::SUPERBLOCK + ext::LOG_BLOCK_SIZE..][..4].copy_from_slice(&300u32.to_le_bytes());
    assert_eq!(ext::probe(&b), None);
}

#[test]
fn squashfs_before_version_4_is_not_mountable() {
    let mut b = vec![0u8; 512];
    b[..4].copy_from_slice(squashfs::MAGIC_VALUE);
    b[squashfs::VERSION_MAJOR..][..2].copy_from_slice(&4u16.to_le_bytes());
    assert_eq!(
        probe(&b),
        Some(FsInfo {
            kind: FsKind::Squashfs,
            uuid: None,
            label: None
        })
    );
    b[squashfs::VERSION_MAJOR..][..2].copy_from_slice(&3u16.to_le_bytes());
    assert_eq!(probe(&b), None);
}

#[test]
fn btrfs_is_found_64k_in_and_its_crc_is_checked() {
    let at = btrfs::SUPERBLOCK as usize;
    let mut b = vec![0u8; at + btrfs::SUPERBLOCK_LEN];
    let sb = &mut b[at..];
    sb[btrfs::MAGIC..][..8].copy_from_slice(btrfs::MAGIC_VALUE);
    sb[btrfs::SECTOR_SIZE..][..4].copy_from_slice(&4096u32.to_le_bytes());
    sb[btrfs::FSID..][..16].copy_from_slice(&[0xAB; 16]);
    sb[btrfs::LABEL..][..4].copy_from_slice(b"data");
    assert_eq!(probe(&b), None, "wrong CRC");
    let c = crc::crc32c(&b[at + btrfs::CSUM_LEN..]);
    b[at..at + 4].copy_from_slice(&c.to_le_bytes());
    assert_eq!(
        probe(&b),
        Some(FsInfo {
            kind: FsKind::Btrfs,
            uuid: Some("abababab-abab-abab-abab-abababababab".into()),
            label: Some("data".into())
        })
    );
    assert_eq!(probe(&b[..at + 100]), None, "a short read is no superblock");
}

fn mbr(signature: u32, types: [u8; 4]) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[mbr::DISK_SIGNATURE..][..4].copy_from_slice(&signature.to_le_bytes());
    for (i, t) in types.iter().enumerate() {
        b[mbr::PARTITION_TABLE + i * mbr::ENTRY_SIZE + mbr::ENTRY_TYPE] = *t;
    }
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

#[test]
fn mbr_partuuids_are_signature_dash_number() {
    let parts = mbr_partitions(&mbr(0x0BAD_CAFE, [0x0C, 0, 0x83, 0])).unwrap();
    assert_eq!(
        parts,
        [
            PartId {
                number: 1,
                partuuid: "0badcafe-01".into()
            },
            PartId {
                number: 3,
                partuuid: "0badcafe-03".into()
            }
        ]
    );
}

#[test]
fn protective_mbr_defers_to_gpt() {
    assert_eq!(
        mbr_partitions(&mbr(1, [mbr::TYPE_GPT_PROTECTIVE, 0, 0, 0])),
        None
    );
}

#[test]
fn gpt_unique_guids_in_mixed_endian() {
    let mut h = vec![0u8; 512];
    h[..8].copy_from_slice(gpt::SIGNATURE);
    h[gpt::ENTRIES_LBA..][..8].copy_from_slice(&2u64.to_le_bytes());
    h[gpt::ENTRY_COUNT..][..4].copy_from_slice(&2u32.to_le_bytes());
    h[gpt::ENTRY_SIZE..][..4].copy_from_slice(&128u32.to_le_bytes());
    let header = gpt_header(&h).unwrap();
    assert_eq!(
        header,
        GptHeader {
            entries_lba: 2,
            entry_count: 2,
            entry_size: 128
        }
    );
    let mut entries = vec![0u8; 256];
    // Entry 1 unused (zero type); entry 2 used.
    entries[128] = 0xAF;
    let guid: [u8; 16] = [
        0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE,
        0xFF,
    ];
    entries[128 + gpt::ENTRY_UNIQUE_GUID..][..16].copy_from_slice(&guid);
    assert_eq!(
        gpt_partitions(&header, &entries),
        [PartId {
            number: 2,
            partuuid: "00112233-4455-6677-8899-aabbccddeeff".into()
        }]
    );
}

#[test]
fn gpt_header_rejects_garbage() {
    assert_eq!(gpt_header(&[0u8; 512]), None);
    let mut h = vec![0u8; 512];
    h[..8].copy_from_slice(gpt::SIGNATURE);
    h[gpt::ENTRY_SIZE..][..4].copy_from_slice(&16u32.to_le_bytes());
    assert_eq!(gpt_header(&h), None, "entries smaller than 128 bytes");
}

/// Peer tool as oracle: mkfs.fat writes the volume, blkid reads it; we must agree.
/// A missing tool fails the test.
#[test]
fn agrees_with_mkfs_fat_and_blkid() {
    let dir = std::env::temp_dir().join(format!("flashroot-blkid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (fat_bits, size_kib) in [("16", 8192), ("32", 65536)] {
        let img = dir.join(format!("fat{fat_bits}.img"));
        let _ = std::fs::remove_file(&img);
        let st = Command::new("mkfs.fat")
            .args([
                "-C",
                "-s",
                "1",
                "-F",
                fat_bits,
                "-i",
                "C0FFEE42",
                "-n",
                "FLASHROOT",
            ])
            .arg(&img)
            .arg(size_kib.to_string())
            .output()
            .expect("mkfs.fat (dosfstools) is required for this test");
        assert!(
            st.status.success(),
            "mkfs.fat: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        let out = Command::new("blkid")
            .args(["-p", "-o", "export"])
            .arg(&img)
            .output()
            .expect("blkid (util-linux) is required for this test");
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(str::to_string)
        };
        let bytes = std::fs::read(&img).unwrap();
        let ours = probe(&bytes).unwrap_or_else(|| panic!("FAT{fat_bits}: not recognised"));
        assert_eq!(ours.uuid.clone(), field("UUID"), "FAT{fat_bits}: {text}");
        assert_eq!(ours.label, field("LABEL"), "FAT{fat_bits}: {text}");
        let kind = if fat_bits == "32" {
            FsKind::Fat32
        } else {
            FsKind::Fat12or16
        };
        assert_eq!(ours.kind, kind);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kernel_names_of_probed_filesystems() {
    assert_eq!(FsKind::Fat32.fs_type(), "vfat");
    assert_eq!(FsKind::Fat12or16.fs_type(), "vfat");
    assert_eq!(FsKind::Ext2.fs_type(), "ext2");
    assert_eq!(FsKind::Ext4.fs_type(), "ext4");
    assert_eq!(FsKind::Squashfs.fs_type(), "squashfs");
}

/// mkfs.fat as the oracle of the cluster size it was told to use.
#[test]
fn fat_cluster_size_is_what_mkfs_fat_chose() {
    let dir = std::env::temp_dir().join(format!("flashroot-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (sectors, fat_bits) in [("4", "16"), ("16", "16"), ("1", "32")] {
        let img = dir.join(format!("s{sectors}.img"));
        let _ = std::fs::remove_file(&img);
        let st = Command::new("mkfs.fat")
            .args(["-C", "-s", sectors, "-F", fat_bits])
            .arg(&img)
            .arg("65536")
            .output()
            .expect("mkfs.fat (dosfstools) is required for this test");
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let bytes = std::fs::read(&img).unwrap();
        let want = 512 * sectors.parse::<u32>().unwrap();
        assert_eq!(fat_cluster_bytes(&bytes), Some(want), "-s {sectors}");
    }
    let ext = vec![0u8; 4096];
    assert_eq!(fat_cluster_bytes(&ext), None);
    std::fs::remove_dir_all(&dir).unwrap();
}
