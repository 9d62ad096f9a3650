//! Write → read back over every file kind, geometry sweeps, determinism, and the peer
//! tools as oracles: jffs2dump must find nothing wrong in our images, and our checker must
//! accept mkfs.jffs2 + sumtool images and name the offset of corruption in them.

mod jffs2_common;

use std::fs;
use std::path::Path;
use std::process::Command;

use flashroot::jffs2::{
    scan, write_image, Compression, CompressionMode, Compressor, EmptyBlocks, Endian, Options,
    Times,
};
use jffs2_common::*;

fn opts(dir: &Path, erase: u32, pad_blocks: u64) -> Options {
    let table = dir.join("devtable");
    fs::write(&table, devtable_text()).unwrap();
    Options {
        erase_size: erase,
        pad_to: Some(erase as u64 * pad_blocks),
        devtable: Some(table),
        ..Options::default()
    }
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
    let fs_ = flashroot::jffs2::Fs::new(&bytes, &s);
    let entries = fs_.walk().unwrap();
    let ino = |p: &[u8]| entries.iter().find(|e| e.path == p).unwrap().ino;
    assert_eq!(ino(b"hard/a"), ino(b"hard/b"));
    assert_eq!(ino(b"hard/a"), ino(b"one-more-link"));
    assert_ne!(ino(b"hard/a"), ino(b"one"));
    assert_eq!(s.blocks_with_summary, report.blocks_used);
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
                assert_eq!(s.blocks_with_summary, r.blocks_used, "{what}");
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
        jffs2_common::TreeSpec {
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
            assert_eq!(sums, if summary { r.blocks_used } else { 0 }, "{what}");
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
    let (raw, summed) = (t.join("mk.img"), t.join("sum.img"));
    run_tool(
        Command::new("mkfs.jffs2")
            .arg("-d")
            .arg(src)
            .arg(format!("--eraseblock={erase}"))
            .arg("-o")
            .arg(&raw),
    );
    run_tool(
        Command::new("sumtool")
            .arg("-p")
            .arg(format!("--eraseblock={erase}"))
            .arg("-i")
            .arg(&raw)
            .arg("-o")
            .arg(&summed),
    );
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
        jffs2_common::TreeSpec {
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
    let e = scan(&bad, None).unwrap().check().unwrap_err();
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
    let e = scan(&bad, None).unwrap().check().unwrap_err();
    assert!(
        e.contains("bad summary data CRC") || e.contains("summary"),
        "{e}"
    );
}

#[test]
fn cli_check_rejects_corruption_with_the_offset() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    let img = t.path().join("img");
    write_image(&src, &img, &opts(t.path(), 64 << 10, 16)).unwrap();
    let exe = env!("CARGO_BIN_EXE_flashroot");
    run_tool(Command::new(exe).args(["jffs2", "check"]).arg(&img));
    let mut bytes = fs::read(&img).unwrap();
    bytes[0x100] ^= 0xFF;
    fs::write(&img, &bytes).unwrap();
    let bad = Command::new(exe)
        .args(["jffs2", "check"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("at 0x00000"), "{out}");
}

#[test]
fn too_small_pad_and_too_few_blocks_are_errors() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, FULL);
    let img = t.path().join("img");
    fs::write(&img, b"a good image from before").unwrap();
    let e = write_image(&src, &img, &opts(t.path(), 64 << 10, 8)).unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("erase blocks") && text.contains("--pad 524288 holds only 8"),
        "{text}"
    );
    assert_eq!(
        fs::read(&img).unwrap(),
        b"a good image from before",
        "a failed run keeps the old image"
    );
    let names: Vec<String> = fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains(".tmp")),
        "temporary file left behind: {names:?}"
    );

    let tiny = t.path().join("tiny");
    fs::create_dir(&tiny).unwrap();
    fs::write(tiny.join("f"), b"x").unwrap();
    let o = Options {
        pad_to: None,
        ..Options::default()
    };
    let e = format!("{:#}", write_image(&tiny, &img, &o).unwrap_err());
    assert!(e.contains("the kernel needs at least 5"), "{e}");
    let o = Options {
        pad_to: Some(4 * 65536),
        ..Options::default()
    };
    let e = format!("{:#}", write_image(&tiny, &img, &o).unwrap_err());
    assert!(e.contains("gives 4 erase blocks"), "{e}");
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
fn cli_accepts_mkfs_jffs2_spellings() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    let table = t.path().join("devtable");
    fs::write(&table, devtable_text()).unwrap();
    let exe = env!("CARGO_BIN_EXE_flashroot");
    let a = t.path().join("a.img");
    let out = run_tool(
        Command::new(exe)
            .args(["mkfs.jffs2", "-d"])
            .arg(&src)
            .args([
                "-e", "128KiB", "-p", "4MiB", "-l", "-x", "rtime", "-m", "priority", "-D",
            ])
            .arg(&table)
            .arg("-o")
            .arg(&a),
    );
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(
        report.contains("32 erase blocks of 131072 bytes"),
        "{report}"
    );
    assert!(report.contains("summary:"), "{report}");
    // The same with the long, '=' spellings and through a symlink named mkfs.jffs2.
    let link = t.path().join("mkfs.jffs2");
    std::os::unix::fs::symlink(exe, &link).unwrap();
    let b = t.path().join("b.img");
    run_tool(
        Command::new(&link)
            .arg(format!("--root={}", src.display()))
            .args([
                "--eraseblock=131072",
                "--pad=4194304",
                "--little-endian",
                "--disable-compressor=rtime",
            ])
            .arg(format!("--devtable={}", table.display()))
            .arg(format!("--output={}", b.display())),
    );
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "both spellings give the same image"
    );
    let bad = Command::new(exe)
        .args(["mkfs.jffs2", "-d"])
        .arg(&src)
        .args(["-p", "100000", "-o"])
        .arg(t.path().join("c.img"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a multiple of the erase block size"));
}

#[test]
fn cli_ls_and_extract() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    let img = t.path().join("img");
    write_image(&src, &img, &opts(t.path(), 64 << 10, 16)).unwrap();
    let exe = env!("CARGO_BIN_EXE_flashroot");
    let ls = run_tool(Command::new(exe).args(["jffs2", "ls"]).arg(&img));
    let text = String::from_utf8_lossy(&ls.stdout);
    assert!(text.contains("/dev/nvme0n1p5 [259:5]"), "{text}");
    assert!(text.contains("/link -> p4096"), "{text}");
    assert!(text.contains("/names/latin1-\\xe9t\\xe9"), "{text}");
    let out = t.path().join("out");
    run_tool(
        Command::new(exe)
            .args(["jffs2", "extract"])
            .arg(&img)
            .arg(&out),
    );
    assert_eq!(
        fs::read(out.join("p4097")).unwrap(),
        fs::read(src.join("p4097")).unwrap()
    );
    assert_eq!(
        fs::read(out.join("sparse")).unwrap(),
        fs::read(src.join("sparse")).unwrap()
    );
    assert_eq!(fs::read_link(out.join("link")).unwrap(), Path::new("p4096"));
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(out.join("sock"))
        .unwrap()
        .file_type()
        .is_socket());
    assert!(fs::symlink_metadata(out.join("dev/initctl"))
        .unwrap()
        .file_type()
        .is_fifo());
    let hard = |p: &str| std::os::unix::fs::MetadataExt::ino(&fs::metadata(out.join(p)).unwrap());
    assert_eq!(hard("hard/a"), hard("hard/b"));
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
            .any(|(_, n)| matches!(n, flashroot::jffs2::reader::Node::Xattr(_))),
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
        .filter(|(_, n)| matches!(n, flashroot::jffs2::reader::Node::Xattr(_)))
        .count();
    assert_eq!(datums, 3, "user.mime=text/plain is stored once");
    let fs_ = flashroot::jffs2::Fs::new(&bytes, &s);
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
        squash: flashroot::jffs2::Squash {
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
