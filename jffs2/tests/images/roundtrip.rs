//! Write → read back over every file kind, geometry sweeps, determinism, and the peer
//! tools as oracles: jffs2dump must find nothing wrong in our images, and our checker must
//! accept mkfs.jffs2 + sumtool images and name the offset of corruption in them.

use std::fs;
use std::path::Path;

use flashroot_jffs2::{
    scan, Compression, CompressionMode, Compressor, EmptyBlocks, Endian, Options, Times,
};
use flashroot_testsupport::jffs2::*;

fn opts(dir: &Path, erase: u32, pad_blocks: u64) -> Options {
    options_with_devtable(dir, erase, pad_blocks)
}

#[test]
fn every_file_kind_reads_back() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, FULL);
    let o = opts(t.path(), 64 << 10, 128);
    let img = t.path().join("img");
    let report = write_image(&src, &img, &o).unwrap();
    let bytes = fs::read(&img).unwrap();
    assert_eq!(bytes.len() as u64, 128 * 65536);
    assert_eq!(report.image_bytes, bytes.len() as u64);
    assert_eq!(report.blocks_total, 128);
    assert_eq!(report.blocks_used + report.blocks_free, 128);
    assert!(report.hole_bytes >= 200_000, "{report}");
    assert!(report.compression_ratio() < 0.5, "{report}");
    assert!(report.writable(), "{report}");
    let got = read_back(&bytes, None);
    assert_same(&got, &expected(&src, true), "64KiB zlib");

    // Hard links: one inode, several names.
    let s = scan(&bytes, None).unwrap();
    let fs_ = flashroot_jffs2::Fs::new(&bytes, &s);
    let entries = fs_.walk().unwrap();
    let ino = |p: &[u8]| entries.iter().find(|e| e.path == p).unwrap().ino;
    assert_eq!(ino(b"hard/a"), ino(b"hard/b"));
    assert_eq!(ino(b"hard/a"), ino(b"one-more-link"));
    assert_ne!(ino(b"hard/a"), ino(b"one"));
    // Every used block but the last, which stays open as the kernel leaves one it has
    // not filled.
    assert_eq!(s.blocks_with_summary, report.blocks_used - 1);
    assert_eq!(s.blocks_empty, report.blocks_free);
}

#[test]
fn sweep_erase_sizes_and_compressions() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    let want = expected(&src, true);
    for erase_kib in [16u32, 64, 128, 256] {
        for (cname, compression) in [
            ("zlib", Compression::default()),
            ("none", Compression::none()),
            (
                "rtime",
                Compression::only(CompressionMode::Priority, &[Compressor::Rtime]),
            ),
            (
                "lzo",
                Compression::only(CompressionMode::Size, &[Compressor::Lzo, Compressor::Zlib]),
            ),
        ] {
            for endian in [Endian::Little, Endian::Big] {
                let what = format!("erase {erase_kib} KiB, {cname}, {endian:?}");
                let erase = erase_kib << 10;
                let o = Options {
                    compression: compression.clone(),
                    endian,
                    ..opts(t.path(), erase, (4 << 20) / erase as u64)
                };
                let img = t.path().join("img");
                let r = write_image(&src, &img, &o).unwrap_or_else(|e| panic!("{what}: {e:#}"));
                let bytes = fs::read(&img).unwrap();
                let s = scan(&bytes, None).unwrap();
                assert_eq!(
                    (s.erase_size, s.endian),
                    (erase, endian),
                    "{what}: detected geometry"
                );
                assert_eq!(s.blocks_with_summary, r.blocks_used - 1, "{what}");
                assert_same(&read_back(&bytes, None), &want, &what);
                if cname == "none" {
                    assert_eq!(r.stored_bytes, r.data_bytes, "{what}: {r}");
                }
            }
        }
    }
}

#[test]
fn same_tree_gives_identical_bytes_whatever_the_creation_order() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    make_tree(&a, SMALL);
    make_tree(
        &b,
        TreeSpec {
            reverse: true,
            ..SMALL
        },
    );
    let o = Options {
        times: Times::ClampTo(1_650_000_000),
        ..opts(t.path(), 64 << 10, 64)
    };
    write_image(&a, &t.path().join("a.img"), &o).unwrap();
    write_image(&b, &t.path().join("b.img"), &o).unwrap();
    let (x, y) = (
        fs::read(t.path().join("a.img")).unwrap(),
        fs::read(t.path().join("b.img")).unwrap(),
    );
    assert!(
        x == y,
        "images differ at byte {:?}",
        x.iter().zip(&y).position(|(p, q)| p != q)
    );
    // SOURCE_DATE_EPOCH-style clamping reached every time stamp.
    let got = read_back(&x, None);
    assert!(got.values().all(|e| e.mtime <= 1_650_000_000));
    assert!(got.values().any(|e| e.mtime == 1_650_000_000));
}

#[test]
fn jffs2dump_finds_nothing_wrong_in_our_images() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    for (endian, big) in [(Endian::Little, false), (Endian::Big, true)] {
        for summary in [true, false] {
            let what = format!("{endian:?}, summary {summary}");
            let o = Options {
                endian,
                summary,
                ..opts(t.path(), 16 << 10, 256)
            };
            let img = t.path().join("img");
            let r = write_image(&src, &img, &o).unwrap();
            let dump = jffs2dump(&img, big);
            assert_eq!(jffs2dump_complaints(&dump), Vec::<&str>::new(), "{what}");
            let sums = dump
                .lines()
                .filter(|l| l.contains("Sum Node Offset"))
                .count() as u64;
            // Every used block but the last has a summary.
            assert_eq!(sums, if summary { r.blocks_used - 1 } else { 0 }, "{what}");
            let dirents = dump
                .lines()
                .filter(|l| l.trim_start().starts_with("Dirent"))
                .count();
            // One dirent per name (hard links included), none for the root.
            assert_eq!(dirents, expected(&src, true).len() - 1, "{what}");
            // The oracle can fail: a flipped bit in a dirent is reported.
            let mut bytes = fs::read(&img).unwrap();
            let at = dump
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("Dirent     node at 0x"))
                .map(|rest| usize::from_str_radix(&rest[..8], 16).unwrap())
                .expect("a dirent in the dump");
            bytes[at + 20] ^= 0x10;
            let bad = t.path().join("bad");
            fs::write(&bad, &bytes).unwrap();
            assert!(
                !jffs2dump_complaints(&jffs2dump(&bad, big)).is_empty(),
                "{what}: jffs2dump missed a corrupt dirent"
            );
        }
    }
}

/// mkfs.jffs2 cannot store sockets or large device numbers: build the tree it can.
fn mtd_utils_image(t: &Path, src: &Path, erase: u32, blocks: u64) -> Vec<u8> {
    let (_, summed) = mkfs_jffs2_and_sumtool(t, src, erase, &[]);
    let mut bytes = fs::read(&summed).unwrap();
    // sumtool drops empty blocks: pad again with 0xFF, as users must.
    bytes.resize((erase as u64 * blocks) as usize, 0xFF);
    bytes
}

#[test]
fn check_accepts_mkfs_jffs2_and_sumtool_images_and_names_corruption() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(
        &src,
        TreeSpec {
            socket: false,
            ..FULL
        },
    );
    let erase = 64 << 10;
    let bytes = mtd_utils_image(t.path(), &src, erase, 128);
    let s = scan(&bytes, None).unwrap();
    assert_eq!(
        s.erase_size, erase,
        "erase size found from sumtool's summaries"
    );
    assert!(
        s.blocks_with_summary >= 5,
        "sumtool wrote summaries: {}",
        s.blocks_with_summary
    );
    let mut want = expected(&src, false);
    // mkfs.jffs2 writes no inode for the root: the kernel's default applies.
    let root = want.get_mut(&Vec::new()).unwrap();
    (root.mode, root.mtime) = (0o040755, 0);
    // mkfs.jffs2 gives each dirent its child's mtime, and the kernel takes a directory's
    // mtime from its newest dirent: directory times come out wrong in its images (ours
    // give dirents the directory's own time), so they are not compared here.
    let mut got = read_back(&bytes, None);
    for e in want.values_mut().chain(got.values_mut()) {
        if e.content == Content::Dir {
            e.mtime = 0;
        }
    }
    assert_same(&got, &want, "mkfs.jffs2 + sumtool");

    // One flipped bit in the middle of the data, and one in a summary record.
    let mut bad = bytes.clone();
    bad[70_001] ^= 0x01;
    let e = scan(&bad, None).unwrap().check().unwrap_err().to_string();
    assert!(e.starts_with("at 0x000"), "{e}");
    let off = u64::from_str_radix(&e[5..13], 16).unwrap();
    assert!(
        off <= 70_001 && 70_001 - off < 5000,
        "reported {off:#x} for a flip at 70001: {e}"
    );
    let mut bad = bytes.clone();
    let marker = erase as usize - 8;
    let sum_at = u32::from_le_bytes(bad[marker..marker + 4].try_into().unwrap()) as usize;
    bad[sum_at + 40] ^= 0x80;
    let e = scan(&bad, None).unwrap().check().unwrap_err().to_string();
    assert!(
        e.contains("bad summary data CRC") || e.contains("summary"),
        "{e}"
    );
}

#[test]
fn full_image_warns_that_writes_would_fail() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    let img = t.path().join("img");
    let r = write_image(&src, &img, &opts(t.path(), 16 << 10, 64)).unwrap();
    let used = r.blocks_used;
    let r = write_image(&src, &img, &opts(t.path(), 16 << 10, used.max(5))).unwrap();
    assert!(!r.writable(), "{r}");
    assert!(r.reserve_warning().unwrap().contains("ENOSPC"));
}

#[test]
fn erased_padding_and_no_cleanmarkers() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    let img = t.path().join("img");
    let want = expected(&src, true);
    for (empty, cleanmarker) in [
        (EmptyBlocks::Erased, Some(12)),
        (EmptyBlocks::Cleanmarker, None),
    ] {
        let o = Options {
            empty_blocks: empty,
            cleanmarker,
            ..opts(t.path(), 64 << 10, 32)
        };
        let r = write_image(&src, &img, &o).unwrap();
        let bytes = fs::read(&img).unwrap();
        let last = &bytes[bytes.len() - 65536..];
        assert!(
            last.iter().all(|&b| b == 0xFF),
            "{empty:?} {cleanmarker:?}: free blocks are bare 0xFF"
        );
        let first = &bytes[..4];
        assert_eq!(first == [0x85, 0x19, 0x03, 0x20], cleanmarker.is_some());
        assert_same(
            &read_back(&bytes, None),
            &want,
            &format!("{empty:?} {cleanmarker:?}"),
        );
        assert_eq!(scan(&bytes, None).unwrap().blocks_empty, r.blocks_free);
    }
}

#[test]
fn xattrs_only_with_the_option() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    // The same pair on two files shares one datum; a third file has two attributes.
    for (file, name, value) in [
        ("one", "user.mime", &b"text/plain"[..]),
        ("p4095", "user.mime", b"text/plain"),
        ("p4096", "user.checksum", &[0u8, 1, 2, 255]),
        ("p4096", "trusted.note", b""),
    ] {
        xattr::set(src.join(file), name, value).unwrap_or_else(|e| {
            panic!("setting {name} on {file} (does the test filesystem support xattrs?): {e}")
        });
    }
    let img = t.path().join("img");
    let base = opts(t.path(), 16 << 10, 64);
    write_image(&src, &img, &base).unwrap();
    let bytes = fs::read(&img).unwrap();
    let s = scan(&bytes, None).unwrap();
    assert!(
        !s.nodes
            .iter()
            .any(|(_, n)| matches!(n, flashroot_jffs2::reader::Node::Xattr(_))),
        "no xattr nodes without the option"
    );

    let o = Options {
        xattrs: true,
        ..base
    };
    write_image(&src, &img, &o).unwrap();
    let bytes = fs::read(&img).unwrap();
    assert_same(
        &read_back(&bytes, None),
        &expected(&src, true),
        "with xattrs",
    );
    let s = scan(&bytes, None).unwrap();
    let datums = s
        .nodes
        .iter()
        .filter(|(_, n)| matches!(n, flashroot_jffs2::reader::Node::Xattr(_)))
        .count();
    assert_eq!(datums, 3, "user.mime=text/plain is stored once");
    let fs_ = flashroot_jffs2::Fs::new(&bytes, &s);
    let ino = |p: &[u8]| {
        fs_.walk()
            .unwrap()
            .into_iter()
            .find(|e| e.path == p)
            .unwrap()
            .ino
    };
    assert_eq!(
        fs_.xattrs(ino(b"one")).unwrap(),
        vec![(b"user.mime".to_vec(), b"text/plain".to_vec())]
    );
    assert_eq!(
        fs_.xattrs(ino(b"p4096")).unwrap(),
        vec![
            (b"trusted.note".to_vec(), Vec::new()),
            (b"user.checksum".to_vec(), vec![0, 1, 2, 255])
        ]
    );
    assert_eq!(fs_.xattrs(ino(b"p4097")).unwrap(), vec![]);
    assert_eq!(
        jffs2dump_complaints(&jffs2dump(&img, false)),
        Vec::<&str>::new()
    );
}

#[test]
fn squash_and_faketime_options() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    fs::set_permissions(
        src.join("one"),
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    std::os::unix::fs::chown(src.join("one"), Some(1234), Some(4321)).unwrap();
    let img = t.path().join("img");
    let o = Options {
        squash: flashroot_jffs2::Squash {
            owners: true,
            perms: true,
        },
        times: Times::Zero,
        ..opts(t.path(), 64 << 10, 16)
    };
    write_image(&src, &img, &o).unwrap();
    let got = read_back(&fs::read(&img).unwrap(), None);
    assert!(
        got.values().all(|e| e.uid == 0 && e.gid == 0),
        "owners squashed"
    );
    assert!(
        got.values().all(|e| e.mode & 0o022 == 0),
        "group/other write removed"
    );
    assert!(got.values().all(|e| e.mtime == 0), "times zeroed");
    assert_eq!(got[&b"one".to_vec()].mode, 0o100644);
    // Without squashing the owner survives.
    write_image(&src, &img, &opts(t.path(), 64 << 10, 16)).unwrap();
    let got = read_back(&fs::read(&img).unwrap(), None);
    let one = &got[&b"one".to_vec()];
    assert_eq!((one.uid, one.gid, one.mode), (1234, 4321, 0o100666));
}
