//! Peer tools as oracles: each filesystem's own mkfs writes a volume, util-linux blkid
//! reads it, and our probe must agree on type, UUID and label. A missing tool fails the
//! test (`scripts/setup` installs them all).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

const UUID: &str = "3b5e1f0a-9c2d-4e7f-8a6b-1c0d2e3f4a5b";

/// One volume to make: the tool, its package (for the failure message), its arguments
/// before the image path, the image size, and what blkid and we must both say.
struct Case {
    tool: &'static str,
    package: &'static str,
    args: Vec<String>,
    size: u64,
    kind: FsKind,
    label: Option<&'static str>,
    /// A byte under the superblock's checksum: flipping it must make the probe refuse.
    checksummed: Option<u64>,
}

impl Case {
    fn new(
        tool: &'static str,
        package: &'static str,
        args: &[&str],
        mib: u64,
        kind: FsKind,
    ) -> Self {
        Case {
            tool,
            package,
            args: args.iter().map(|a| a.to_string()).collect(),
            size: mib << 20,
            kind,
            label: None,
            checksummed: None,
        }
    }

    fn checksummed(mut self, at: u64) -> Self {
        self.checksummed = Some(at);
        self
    }

    fn label(mut self, label: &'static str) -> Self {
        self.label = Some(label);
        self
    }
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("flashroot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn run(tool: &str, package: &str, args: &[String]) {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} ({package}) is required for this test: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// blkid's low-level probe of an image: its TYPE, UUID and LABEL.
fn blkid(img: &Path) -> (Option<String>, Option<String>, Option<String>) {
    let out = Command::new("blkid")
        .args(["-p", "-o", "export"])
        .arg(img)
        .output()
        .expect("blkid (util-linux) is required for this test");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
    };
    (field("TYPE"), field("UUID"), field("LABEL"))
}

/// Our probe over the image file, reading only what it asks for (as at boot).
fn probe_file(img: &Path) -> Option<FsInfo> {
    let f = File::open(img).unwrap();
    probe_volume(|offset, len| {
        let mut buf = vec![0u8; len];
        let n = f.read_at(&mut buf, offset).ok()?;
        buf.truncate(n);
        Some(buf)
    })
}

fn check(dir: &Path, i: usize, case: &Case) {
    let img = dir.join(format!("{i}.img"));
    File::create(&img).unwrap().set_len(case.size).unwrap();
    let mut args = case.args.clone();
    args.push(img.display().to_string());
    run(case.tool, case.package, &args);
    let what = format!("{} {:?}", case.tool, case.args);
    let ours = probe_file(&img).unwrap_or_else(|| panic!("{what}: not recognised"));
    let (kind, uuid, label) = blkid(&img);
    assert_eq!(ours.kind, case.kind, "{what}");
    assert_eq!(
        Some(ours.kind.fs_type()),
        kind.as_deref(),
        "{what}: blkid's TYPE"
    );
    assert_eq!(ours.uuid, uuid, "{what}: blkid's UUID");
    assert_eq!(ours.label, label, "{what}: blkid's LABEL");
    assert_eq!(ours.label.as_deref(), case.label, "{what}: the label given");
    if let Some(at) = case.checksummed {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .open(&img)
            .unwrap();
        let mut byte = [0u8];
        f.read_exact_at(&mut byte, at).unwrap();
        f.write_all_at(&[byte[0] ^ 0x40], at).unwrap();
        assert_eq!(
            probe_file(&img),
            None,
            "{what}: a corrupt superblock at byte {at}"
        );
    }
}

#[test]
fn agrees_with_mkfs_ext2_ext3_ext4_and_blkid() {
    let dir = scratch("mkfs-ext");
    let e2 = "e2fsprogs";
    let cases = [
        Case::new(
            "mkfs.ext2",
            e2,
            &["-q", "-F", "-U", UUID, "-L", "boot"],
            16,
            FsKind::Ext2,
        )
        .label("boot"),
        Case::new("mkfs.ext3", e2, &["-q", "-F", "-U", UUID], 16, FsKind::Ext3),
        // Debian's default ext4: extents, 64bit, flex_bg, metadata_csum (checked).
        Case::new(
            "mkfs.ext4",
            e2,
            &["-q", "-F", "-U", UUID, "-L", "debian-root"],
            16,
            FsKind::Ext4,
        )
        .label("debian-root")
        .checksummed((ext::SUPERBLOCK + ext::UUID) as u64),
        // An ext4 of older tools: no checksum, so the block size is what is checked.
        Case::new(
            "mkfs.ext4",
            e2,
            &[
                "-q",
                "-F",
                "-O",
                "^metadata_csum,^64bit",
                "-U",
                UUID,
                "-L",
                "old",
            ],
            16,
            FsKind::Ext4,
        )
        .label("old"),
        // ext3 with one ext4 feature is ext4 (the ext4 driver must mount it).
        Case::new(
            "mkfs.ext3",
            e2,
            &["-q", "-F", "-O", "extent", "-U", UUID],
            16,
            FsKind::Ext4,
        ),
    ];
    for (i, case) in cases.iter().enumerate() {
        check(&dir.0, i, case);
    }
}

#[test]
fn agrees_with_mkfs_btrfs_and_blkid() {
    let dir = scratch("mkfs-btrfs");
    let case = Case::new(
        "mkfs.btrfs",
        "btrfs-progs",
        &["-q", "-f", "-U", UUID, "-L", "pool"],
        128,
        FsKind::Btrfs,
    )
    .label("pool")
    .checksummed(btrfs::SUPERBLOCK + btrfs::FSID as u64);
    check(&dir.0, 0, &case);
}

#[test]
fn agrees_with_mkfs_xfs_and_blkid() {
    let dir = scratch("mkfs-xfs");
    let xfs = "xfsprogs";
    let cases = [
        // Version 5: the superblock CRC is checked.
        Case::new(
            "mkfs.xfs",
            xfs,
            &["-q", "-f", "-m", &format!("uuid={UUID}"), "-L", "srv"],
            320,
            FsKind::Xfs,
        )
        .label("srv")
        .checksummed(xfs::UUID as u64),
        // 4 KiB sectors: the CRC covers the whole sector.
        Case::new(
            "mkfs.xfs",
            xfs,
            &["-q", "-f", "-s", "size=4096", "-m", &format!("uuid={UUID}")],
            320,
            FsKind::Xfs,
        )
        // Past the 512 bytes a 512-byte-sector CRC would cover.
        .checksummed(1024),
    ];
    for (i, case) in cases.iter().enumerate() {
        check(&dir.0, i, case);
    }
}

#[test]
fn agrees_with_mkfs_f2fs_and_blkid() {
    let dir = scratch("mkfs-f2fs");
    let f2 = "f2fs-tools";
    let cases = [
        Case::new(
            "mkfs.f2fs",
            f2,
            &["-q", "-f", "-U", UUID, "-l", "cardroot"],
            128,
            FsKind::F2fs,
        )
        .label("cardroot"),
        // With the superblock checksum feature, the CRC is checked.
        Case::new(
            "mkfs.f2fs",
            f2,
            &["-q", "-f", "-O", "sb_checksum", "-U", UUID],
            128,
            FsKind::F2fs,
        )
        .checksummed((f2fs::SUPERBLOCK + f2fs::UUID) as u64),
    ];
    for (i, case) in cases.iter().enumerate() {
        check(&dir.0, i, case);
    }
}

#[test]
fn agrees_with_mksquashfs_and_blkid() {
    let dir = scratch("mksquashfs");
    let tree = dir.0.join("tree");
    std::fs::create_dir_all(tree.join("sbin")).unwrap();
    std::fs::write(tree.join("sbin/init"), b"#!/bin/sh\n").unwrap();
    let img = dir.0.join("root.sqfs");
    run(
        "mksquashfs",
        "squashfs-tools",
        &[
            tree.display().to_string(),
            img.display().to_string(),
            "-noappend".into(),
            "-quiet".into(),
        ],
    );
    let ours = probe_file(&img).expect("squashfs not recognised");
    assert_eq!(ours.kind, FsKind::Squashfs);
    let (kind, uuid, label) = blkid(&img);
    assert_eq!(kind.as_deref(), Some("squashfs"));
    assert_eq!(
        (ours.uuid, ours.label),
        (uuid, label),
        "squashfs has neither"
    );
}

/// A volume made by one mkfs over another keeps no trace the probe would take for the
/// old one: mkfs.ext4 over a FAT volume is ext4, mkfs.fat over ext4 is FAT.
#[test]
fn the_newest_filesystem_wins_over_the_remains_of_the_old() {
    let dir = scratch("mkfs-over");
    let img = dir.0.join("v.img");
    File::create(&img).unwrap().set_len(32 << 20).unwrap();
    let path = img.display().to_string();
    run(
        "mkfs.fat",
        "dosfstools",
        &["-F".into(), "32".into(), path.clone()],
    );
    run(
        "mkfs.ext4",
        "e2fsprogs",
        &["-q".into(), "-F".into(), path.clone()],
    );
    assert_eq!(probe_file(&img).map(|f| f.kind), Some(FsKind::Ext4));
    run("mkfs.fat", "dosfstools", &["-F".into(), "32".into(), path]);
    assert_eq!(probe_file(&img).map(|f| f.kind), Some(FsKind::Fat32));
}
