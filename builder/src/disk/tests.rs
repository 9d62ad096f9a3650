//! Disk images checked by the peer tools that read them: `fsck.vfat`, mtools, `blkid`,
//! e2fsprogs. A missing tool fails the test (it names the package to install).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::*;
use flashroot_testsupport::oracle::{blkid_field, tool};

const MIB: u64 = 1 << 20;

/// Copies the partition out (sparsely) so tools without an offset option can check it.
fn extract_partition(image: &Path, report: &FatDiskReport, to: &Path) {
    let mut from = File::open(image).unwrap();
    from.seek(SeekFrom::Start(report.partition_offset)).unwrap();
    let mut out = File::create(to).unwrap();
    out.set_len(report.partition_bytes).unwrap();
    let mut chunk = vec![0u8; MIB as usize];
    let mut left = report.partition_bytes;
    while left > 0 {
        let n = chunk.len().min(left as usize);
        from.read_exact(&mut chunk[..n]).unwrap();
        if chunk[..n].iter().any(|&b| b != 0) {
            out.write_all(&chunk[..n]).unwrap();
        } else {
            out.seek(SeekFrom::Current(n as i64)).unwrap();
        }
        left -= n as u64;
    }
}

fn fsck_partition(image: &Path, report: &FatDiskReport, scratch: &Path) -> String {
    let partition = scratch.join("partition.img");
    extract_partition(image, report, &partition);
    tool(
        "fsck.vfat",
        "dosfstools",
        &["-n", partition.to_str().unwrap()],
    )
}

fn options(size: u64, kind: FatKind) -> FatDiskOptions {
    FatDiskOptions {
        size,
        disk_signature: 0xCAFE_0001,
        bootable: true,
        volume: VolumeOptions {
            label: "FLASHROOT".into(),
            volume_id: 0x1234_ABCD,
            kind,
        },
    }
}

#[test]
fn fat32_card_is_readable_by_mtools_blkid_and_fsck() {
    let dir = tempfile::tempdir().unwrap();
    let host_file = dir.path().join("vmlinuz");
    std::fs::write(&host_file, vec![0xA5u8; 300_000]).unwrap();
    let mut contents = FatContents::new();
    contents
        .bytes("/flashroot/root.jffs2", b"not really jffs2".to_vec())
        .unwrap()
        .host_file("boot/vmlinuz", &host_file)
        .unwrap()
        .bytes("a/deeply/nested/Long File Name.txt", b"hello\n".to_vec())
        .unwrap()
        .dir("empty")
        .unwrap();
    let image = dir.path().join("card.img");
    let report = write_fat_disk(&image, &options(64 * MIB, FatKind::Auto), &contents).unwrap();

    assert!(report.volume.fat32, "64 MiB must be FAT32: {report:?}");
    assert_eq!(report.partition_offset, MIB);
    assert_eq!(report.partition_bytes, 63 * MIB);
    assert_eq!(report.uuid, "1234-ABCD");
    assert_eq!(report.partuuid, "cafe0001-01");

    // fsck.vfat -n exits non-zero on any finding; it also counts what it saw.
    let fsck = fsck_partition(&image, &report, dir.path());
    assert!(fsck.contains(" 10 files,"), "fsck.vfat summary: {fsck}");

    let mdir = tool(
        "mdir",
        "mtools",
        &["-i", &format!("{}@@1M", image.display()), "-b", "-/", "::/"],
    );
    for expected in [
        "::/flashroot/root.jffs2",
        "::/boot/vmlinuz",
        "::/a/deeply/nested/Long File Name.txt",
        "::/empty/",
    ] {
        assert!(mdir.contains(expected), "mdir lacks {expected}:\n{mdir}");
    }
    let spec = format!("{}@@1M", image.display());
    let text = tool(
        "mtype",
        "mtools",
        &["-i", &spec, "::/a/deeply/nested/Long File Name.txt"],
    );
    assert_eq!(text, "hello\n");
    let copied = dir.path().join("vmlinuz.back");
    tool(
        "mcopy",
        "mtools",
        &["-i", &spec, "::/boot/vmlinuz", copied.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read(&copied).unwrap(),
        std::fs::read(&host_file).unwrap()
    );

    let disk = tool(
        "blkid",
        "util-linux",
        &["-p", "-o", "export", image.to_str().unwrap()],
    );
    assert_eq!(
        blkid_field(&disk, "PTTYPE").as_deref(),
        Some("dos"),
        "{disk}"
    );
    assert_eq!(
        blkid_field(&disk, "PTUUID").as_deref(),
        Some("cafe0001"),
        "{disk}"
    );
    let volume = tool(
        "blkid",
        "util-linux",
        &[
            "-p",
            "-o",
            "export",
            "-O",
            "1048576",
            image.to_str().unwrap(),
        ],
    );
    assert_eq!(
        blkid_field(&volume, "TYPE").as_deref(),
        Some("vfat"),
        "{volume}"
    );
    assert_eq!(
        blkid_field(&volume, "VERSION").as_deref(),
        Some("FAT32"),
        "{volume}"
    );
    assert_eq!(
        blkid_field(&volume, "LABEL").as_deref(),
        Some("FLASHROOT"),
        "{volume}"
    );
    assert_eq!(
        blkid_field(&volume, "UUID").as_deref(),
        Some("1234-ABCD"),
        "{volume}"
    );

    let mut mbr = [0u8; 512];
    File::open(&image).unwrap().read_exact(&mut mbr).unwrap();
    assert_eq!(mbr[446], 0x80, "bootable flag");
    assert_eq!(mbr[450], 0x0C, "FAT32 LBA type");
}

#[test]
fn geometry_sweep_passes_fsck() {
    // Around the FAT32 minimum, the 260 MiB cluster-size step, and small FAT16 disks.
    let dir = tempfile::tempdir().unwrap();
    let fat32_min_disk = (fat::FAT32_MIN_BYTES + PARTITION_OFFSET).next_multiple_of(512);
    let cases = [
        (4 * MIB, FatKind::Auto, false),
        (16 * MIB, FatKind::Auto, false),
        (fat32_min_disk - 512, FatKind::Auto, false),
        (fat32_min_disk, FatKind::Auto, true),
        (fat32_min_disk, FatKind::Fat16, false),
        (100 * MIB, FatKind::Fat32, true),
        (300 * MIB, FatKind::Auto, true),
    ];
    for (size, kind, fat32) in cases {
        let image = dir.path().join(format!("sweep-{size}.img"));
        let mut contents = FatContents::new();
        contents
            .bytes("/probe/file.bin", vec![7u8; 70_000])
            .unwrap();
        let report = write_fat_disk(&image, &options(size, kind), &contents)
            .unwrap_or_else(|e| panic!("size {size} kind {kind:?}: {e:#}"));
        assert_eq!(
            report.volume.fat32, fat32,
            "size {size} kind {kind:?}: {report:?}"
        );
        let fsck = fsck_partition(&image, &report, dir.path());
        assert!(
            !fsck.contains("Fixing"),
            "size {size} kind {kind:?}: {fsck}"
        );
        let mut mbr = [0u8; 512];
        File::open(&image).unwrap().read_exact(&mut mbr).unwrap();
        let expected_type = if fat32 {
            mbr::TYPE_FAT32_LBA
        } else {
            mbr::TYPE_FAT16_LBA
        };
        assert_eq!(mbr[450], expected_type, "size {size} kind {kind:?}");
    }
}

#[test]
fn too_small_or_misaligned_disks_are_refused_with_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("bad.img");
    let contents = FatContents::new();
    let error = write_fat_disk(&image, &options(MIB, FatKind::Auto), &contents).unwrap_err();
    assert!(
        format!("{error:#}").contains("disk size 1048576 leaves no room"),
        "{error:#}"
    );
    let error =
        write_fat_disk(&image, &options(8 * MIB + 1, FatKind::Auto), &contents).unwrap_err();
    assert!(format!("{error:#}").contains("not a multiple"), "{error:#}");
    let error = write_fat_disk(&image, &options(16 * MIB, FatKind::Fat32), &contents).unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("bad.img") && text.contains("FAT32"), "{text}");
}

#[test]
fn full_volume_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("full.img");
    let mut contents = FatContents::new();
    contents.bytes("big.bin", vec![1u8; 4 << 20]).unwrap();
    let error = write_fat_disk(&image, &options(4 * MIB, FatKind::Auto), &contents).unwrap_err();
    assert!(format!("{error:#}").contains("/big.bin"), "{error:#}");
}

#[test]
fn host_tree_copies_directories_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/empty")).unwrap();
    std::fs::write(tree.join("sub/x.txt"), b"x").unwrap();
    let mut contents = FatContents::new();
    contents.host_tree("/data", &tree).unwrap();
    let paths: Vec<&str> = contents.paths().collect();
    assert_eq!(paths, ["data/sub", "data/sub/empty", "data/sub/x.txt"]);
}
