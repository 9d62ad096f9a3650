//! The wear pipeline on small synthetic cards written by flashroot's own FAT writer (and
//! fragmented with the `fatfs` crate), with traces written by hand.

// Regions are lists of extents; a list of one extent is what is meant.
#![allow(clippy::single_range_in_vec_init)]

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::path::Path;

use fatfs::{FileSystem, FsOptions};

use super::fat_layout::{read_layout, CARD_SECTOR};
use super::regions::{RegionKind, RegionMap};
use super::*;
use crate::disk::slice::Slice;
use crate::disk::{
    write_fat_disk, FatContents, FatDiskOptions, FatKind, VolumeOptions, PARTITION_OFFSET,
};

/// A container's first bytes: a JFFS2 cleanmarker header (magic 0x1985, little-endian).
const JFFS2_HEAD: [u8; 4] = [0x85, 0x19, 0x03, 0x20];

/// Data whose every 512-byte sector is distinct, so a sector read back names its offset.
fn numbered(tag: u8, bytes: usize) -> Vec<u8> {
    let mut data: Vec<u8> = (0..bytes)
        .map(|i| {
            let sector = (i / 512) as u32;
            [tag, (sector >> 8) as u8, sector as u8, 0xA5][i % 4]
        })
        .collect();
    if tag == b'C' {
        data[..4].copy_from_slice(&JFFS2_HEAD);
    }
    data
}

fn card(dir: &Path, size: u64, kind: FatKind) -> std::path::PathBuf {
    let image = dir.join("card.img");
    let mut contents = FatContents::new();
    contents
        .bytes("rootfs.img", numbered(b'C', 64 << 10))
        .unwrap()
        .bytes("boot/notes-with-a-long-name.txt", numbered(b'N', 3000))
        .unwrap()
        .bytes("KERNEL", numbered(b'K', 20 << 10))
        .unwrap();
    let options = FatDiskOptions {
        size,
        disk_signature: 0x1234_5678,
        bootable: false,
        volume: VolumeOptions {
            label: "WEARTEST".into(),
            volume_id: 0xABCD_0001,
            kind,
        },
    };
    write_fat_disk(&image, &options, &contents).unwrap();
    image
}

/// Appends to `usr.img` around a file written in between, so its chain has two pieces.
fn fragment(image: &Path) {
    let disk = OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .unwrap();
    let len = disk.metadata().unwrap().len() - PARTITION_OFFSET;
    let fs = FileSystem::new(
        Slice::new(disk, PARTITION_OFFSET, len).unwrap(),
        FsOptions::new(),
    )
    .unwrap();
    {
        let root = fs.root_dir();
        let data = numbered(b'C', 24 << 10);
        let mut usr = root.create_file("usr.img").unwrap();
        usr.write_all(&data[..8 << 10]).unwrap();
        usr.flush().unwrap();
        let mut gap = root.create_file("gap.bin").unwrap();
        gap.write_all(&numbered(b'G', 6 << 10)).unwrap();
        gap.flush().unwrap();
        usr.write_all(&data[8 << 10..]).unwrap();
        usr.flush().unwrap();
    }
    fs.unmount().unwrap();
}

fn read_sector(image: &Path, sector: u64) -> Vec<u8> {
    let mut f = std::fs::File::open(image).unwrap();
    let mut buf = vec![0u8; CARD_SECTOR as usize];
    f.seek(SeekFrom::Start(sector * CARD_SECTOR)).unwrap();
    f.read_exact(&mut buf).unwrap();
    buf
}

fn region<'a>(map: &'a RegionMap, name: &str) -> &'a regions::Region {
    map.regions
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| {
            let names: Vec<&str> = map.regions.iter().map(|r| r.name.as_str()).collect();
            panic!("no region {name:?} in {names:?}")
        })
}

/// Each file's region, read back sector by sector in region order, is the file.
fn assert_file_sectors(image: &Path, map: &RegionMap, name: &str, data: &[u8]) {
    let r = region(map, name);
    let mut read = Vec::new();
    for s in r.sectors() {
        read.extend(read_sector(image, s));
    }
    assert!(
        read.len() >= data.len(),
        "{name}: {} sectors",
        r.sector_count()
    );
    assert!(
        read[..data.len()] == *data,
        "{name}: sectors in chain order differ from the file"
    );
}

#[test]
fn fat32_and_fat16_cards_map_every_sector_to_one_region() {
    for (size, kind) in [(40u64 << 20, FatKind::Fat32), (20 << 20, FatKind::Fat16)] {
        let dir = tempfile::tempdir().unwrap();
        let image = card(dir.path(), size, kind);
        fragment(&image);
        let layout = read_layout(&image).unwrap();
        assert_eq!(layout.volume.fat32, kind == FatKind::Fat32, "{kind:?}");
        let map = RegionMap::from_layout(&layout);
        let context = format!("{kind:?} card of {size} bytes");
        assert_eq!(map.card_sectors, size / CARD_SECTOR, "{context}");
        for s in 0..map.card_sectors {
            assert!(
                map.region_of(s).is_some(),
                "{context}: sector {s} has no region"
            );
        }
        let total: u64 = map.regions.iter().map(|r| r.sector_count()).sum();
        assert_eq!(
            total, map.card_sectors,
            "{context}: regions overlap or leave gaps"
        );

        assert_eq!(region(&map, "MBR").extents, [0..1], "{context}");
        let p = PARTITION_OFFSET / CARD_SECTOR;
        assert_eq!(
            region(&map, "before partition").extents,
            [1..p],
            "{context}"
        );
        assert_eq!(region(&map, "boot sector").extents, [p..p + 1], "{context}");
        assert_eq!(read_sector(&image, p)[510..], [0x55, 0xAA], "{context}");
        if kind == FatKind::Fat32 {
            assert_eq!(region(&map, "FSInfo").extents, [p + 1..p + 2], "{context}");
            assert_eq!(read_sector(&image, p + 1)[..4], *b"RRaA", "{context}");
            assert_eq!(
                region(&map, "backup boot sector").extents,
                [p + 6..p + 7],
                "{context}"
            );
        }
        let fat1 = region(&map, "FAT 1");
        let fat2 = region(&map, "FAT 2");
        assert_eq!(fat1.sector_count(), fat2.sector_count(), "{context}");
        assert_eq!(fat1.extents[0].end, fat2.extents[0].start, "{context}");
        // FAT entry 0 holds the media byte 0xF8.
        assert_eq!(
            read_sector(&image, fat1.extents[0].start)[0],
            0xF8,
            "{context}"
        );

        assert_file_sectors(
            &image,
            &map,
            "container /rootfs.img",
            &numbered(b'C', 64 << 10),
        );
        let usr = region(&map, "container /usr.img");
        assert!(
            usr.extents.len() >= 2,
            "{context}: usr.img is not fragmented: {usr:?}"
        );
        assert_file_sectors(
            &image,
            &map,
            "container /usr.img",
            &numbered(b'C', 24 << 10),
        );
        assert_file_sectors(
            &image,
            &map,
            "file /boot/notes-with-a-long-name.txt",
            &numbered(b'N', 3000),
        );
        assert_eq!(
            region(&map, "file /KERNEL").kind,
            RegionKind::File,
            "{context}"
        );
        assert_eq!(
            region(&map, "file /gap.bin").kind,
            RegionKind::File,
            "{context}"
        );
        assert_eq!(
            region(&map, "dir /boot").kind,
            RegionKind::Directory,
            "{context}"
        );
        assert_eq!(
            region(&map, "dir /").kind,
            RegionKind::Directory,
            "{context}"
        );
        assert!(
            region(&map, "free space").sector_count() > 1000,
            "{context}"
        );
    }
}

#[test]
fn a_trace_becomes_the_region_table() {
    let dir = tempfile::tempdir().unwrap();
    let image = card(dir.path(), 40 << 20, FatKind::Fat32);
    fragment(&image);
    let map = RegionMap::from_layout(&read_layout(&image).unwrap());
    let usr = region(&map, "container /usr.img").clone();
    let root_dir = region(&map, "dir /").extents[0].start;
    // The second piece of usr.img: file offset 8 KiB onwards.
    let second_piece = usr.extents[1].start;
    assert_eq!(usr.offset_of(second_piece), Some(8 << 10));
    let mut trace = String::new();
    let line = |offset: u64, bytes: u64| {
        format!("blk_co_pwritev blk 0x5600 bs 0x5700 offset {offset} bytes {bytes} flags 0x0\n")
    };
    // The root directory sector 5 times, usr.img's first 4 KiB twice, its 9th KiB 6 times.
    for _ in 0..5 {
        trace += &line(root_dir * CARD_SECTOR, 512);
    }
    for _ in 0..2 {
        trace += &line(usr.extents[0].start * CARD_SECTOR, 4096);
    }
    for _ in 0..6 {
        trace += &line(second_piece * CARD_SECTOR + 512, 100);
    }
    let trace_path = dir.path().join("trace.log");
    std::fs::write(&trace_path, trace).unwrap();
    let report = analyse(&image, &trace_path, None, Some(1800.0)).unwrap();
    assert_eq!(report.requests, 13);

    let wear = |name: &str| report.regions.iter().find(|r| r.name == name).unwrap();
    let usr = wear("container /usr.img");
    assert_eq!(usr.writes, 2 * 8 + 6);
    assert_eq!(usr.sectors_written, 9);
    let hot = usr.hottest.unwrap();
    assert_eq!(
        (hot.sector, hot.offset, hot.writes),
        (second_piece + 1, (8 << 10) + 512, 6)
    );
    assert_eq!(usr.hottest_per_hour, Some(12.0));
    // Mean of the written sectors: 22 / 9; the hottest has 6.
    let ratio = usr.hot_spot_ratio.unwrap();
    assert!((ratio - 6.0 / (22.0 / 9.0)).abs() < 1e-9, "{ratio}");

    let root = wear("dir /");
    assert_eq!((root.writes, root.hottest.unwrap().writes), (5, 5));
    assert_eq!(root.hot_spot_ratio, None, "only containers have a ratio");
    let (outside, h) = report.hottest_outside_containers().unwrap();
    assert_eq!((outside.name.as_str(), h.writes), ("dir /", 5));
    assert_eq!(wear("FAT 1").writes, 0);

    let table = report.table();
    assert!(
        table.starts_with("13 write requests; run of 1800 s\n"),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("container /usr.img")
            && l.split_whitespace().rev().take(3).collect::<Vec<_>>() == ["2.45", "12", "6"]),
        "{table}"
    );
}

#[test]
fn a_card_without_a_fat_partition_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("blank.img");
    let mut sector = vec![0u8; 4096];
    sector[510..512].copy_from_slice(&[0x55, 0xAA]);
    std::fs::write(&image, sector).unwrap();
    let error = read_layout(&image).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{}: the MBR has no FAT partition (types 01, 04, 06, 0B, 0C, 0E)",
            image.display()
        )
    );
}

#[test]
fn the_heat_map_is_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let image = card(dir.path(), 40 << 20, FatKind::Fat32);
    let map = RegionMap::from_layout(&read_layout(&image).unwrap());
    let root_dir = region(&map, "dir /").extents[0].start;
    let trace_path = dir.path().join("trace.log");
    std::fs::write(
        &trace_path,
        format!(
            "blk_co_pwritev blk 0x1 bs 0x2 offset {} bytes 512 flags 0x0\n",
            root_dir * 512
        ),
    )
    .unwrap();
    let report = analyse(&image, &trace_path, None, None).unwrap();
    let png = dir.path().join("wear.png");
    heatmap::write_png(&report, &map, "test card", &png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(bytes[..8], *b"\x89PNG\r\n\x1a\n");
}

#[test]
fn colours_run_from_grey_through_yellow_to_dark_red() {
    use plotters::style::RGBColor;
    assert_eq!(heatmap::color(0, 10), RGBColor(225, 225, 225));
    assert_eq!(heatmap::color(10, 10), RGBColor(128, 0, 38));
    assert_eq!(heatmap::color(1, 1), RGBColor(128, 0, 38));
    let RGBColor(_, g_low, _) = heatmap::color(1, 1000);
    let RGBColor(_, g_high, _) = heatmap::color(100, 1000);
    assert!(g_low > g_high, "more writes, darker");
}

#[test]
fn a_card_with_ext4_instead_of_fat_is_one_partition_region() {
    use crate::disk::mbr::{Mbr, Partition};
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("ext4-card.img");
    let mbr = Mbr {
        disk_signature: 1,
        partitions: [
            Some(Partition {
                bootable: false,
                partition_type: 0x83,
                first_lba: 2048,
                sectors: 4096,
            }),
            None,
            None,
            None,
        ],
    };
    let mut disk = vec![0u8; 8192 * 512];
    disk[..512].copy_from_slice(&mbr.encode());
    std::fs::write(&image, disk).unwrap();
    let map = RegionMap::read(&image).unwrap();
    let names: Vec<(&str, RegionKind, u64)> = map
        .regions
        .iter()
        .map(|r| (r.name.as_str(), r.kind, r.sector_count()))
        .collect();
    assert_eq!(
        names,
        [
            ("MBR", RegionKind::Mbr, 1),
            ("outside partitions", RegionKind::Unpartitioned, 2047 + 2048),
            ("partition 1 (type 83)", RegionKind::Partition, 4096),
        ]
    );
    assert_eq!(map.region_of(6144), Some(1), "the tail after the partition");
}
