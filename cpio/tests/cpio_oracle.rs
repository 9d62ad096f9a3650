//! GNU cpio is the oracle for our newc writer: it must write the same bytes for the same
//! tree (inode numbers aside: GNU's `--reproducible` counts from 0, we count from 1), and
//! list and extract our archives with the same modes, sizes, contents, links and device
//! numbers. A missing `cpio` fails these tests; it is never skipped.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use flashroot_cpio::newc::HEADER_LEN;
use flashroot_cpio::reader::read_archive;
use flashroot_cpio::{NewcWriter, WriterOptions};

const MTIME: u32 = 1_700_000_000;
/// Offset and width of the `ino` field in a newc header.
const INO_FIELD: std::ops::Range<usize> = 6..14;

fn cpio(args: &[&str], dir: &Path, stdin: &[u8]) -> (Vec<u8>, String) {
    let mut child = Command::new("cpio")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("GNU cpio is the oracle of these tests and must be installed (apt-get install cpio): {e}"));
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "cpio {args:?} failed: {stderr}");
    (out.stdout, stderr)
}

fn run(cmd: &str, args: &[&str], dir: &Path) {
    let status = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(status.success(), "{cmd} {args:?} failed");
}

/// Replaces every header's inode number by its rank of first appearance, so archives
/// that number from 0 and from 1 compare equal when their link structure is equal.
fn renumber_inodes(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut pos = 0;
    let mut seen: Vec<u32> = Vec::new();
    while pos + HEADER_LEN <= out.len() {
        let header =
            flashroot_cpio::newc::Header::decode(out[pos..pos + HEADER_LEN].try_into().unwrap())
                .unwrap();
        let name_end = pos + HEADER_LEN + header.namesize as usize;
        let is_trailer = &out[pos + HEADER_LEN..name_end - 1] == b"TRAILER!!!";
        let rank = match seen.iter().position(|&i| i == header.ino) {
            Some(r) => r,
            None => {
                seen.push(header.ino);
                seen.len() - 1
            }
        };
        let rank = if is_trailer { 0 } else { rank };
        out[pos + INO_FIELD.start..pos + INO_FIELD.end]
            .copy_from_slice(format!("{rank:08X}").as_bytes());
        let data_start = name_end.next_multiple_of(4);
        pos = (data_start + header.filesize as usize).next_multiple_of(4);
        if is_trailer {
            break;
        }
    }
    out
}

fn big_data() -> Vec<u8> {
    (0..70_001u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn writes_what_gnu_cpio_writes_for_the_same_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir(root.join("sub")).unwrap();
    for (name, data, mode) in [
        ("sub/a", b"hello".to_vec(), 0o644),
        ("empty", vec![], 0o600),
        ("big", big_data(), 0o755),
        ("four", b"1234".to_vec(), 0o644),
    ] {
        std::fs::write(root.join(name), data).unwrap();
        std::fs::set_permissions(root.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::write(root.join("h1"), b"12345").unwrap();
    std::fs::set_permissions(root.join("h1"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::hard_link(root.join("h1"), root.join("h2")).unwrap();
    std::os::unix::fs::symlink("sub/a", root.join("link")).unwrap();
    run("mkfifo", &["-m", "0640", "fifo"], root);
    std::fs::set_permissions(root.join("sub"), std::fs::Permissions::from_mode(0o750)).unwrap();
    let names = [
        "sub", "sub/a", "empty", "big", "four", "h1", "h2", "link", "fifo",
    ];
    let mut touch = vec!["-h", "-d", "@1700000000"];
    touch.extend(names);
    run("touch", &touch, root);

    let list = names.join("\n") + "\n";
    let (gnu, _) = cpio(
        &["-o", "-H", "newc", "--reproducible", "-R", "0:0", "--quiet"],
        root,
        list.as_bytes(),
    );

    let mut w = NewcWriter::new(Vec::new(), WriterOptions { mtime: MTIME });
    w.dir("sub", 0o750).unwrap();
    w.file("sub/a", 0o644, b"hello").unwrap();
    w.file("empty", 0o600, b"").unwrap();
    w.file("big", 0o755, &big_data()).unwrap();
    w.file("four", 0o644, b"1234").unwrap();
    w.hard_links(&["h1", "h2"], 0o644, b"12345").unwrap();
    w.symlink("link", "sub/a").unwrap();
    w.fifo("fifo", 0o640).unwrap();
    let ours = w.finish().unwrap();

    // GNU cpio pads its output to 512-byte blocks; the archive proper ends at the trailer.
    let (_, gnu_len) = read_archive(&gnu, 0).unwrap();
    let gnu = &gnu[..gnu_len];
    assert!(gnu[gnu_len..].iter().all(|&b| b == 0));
    let (ours_r, gnu_r) = (renumber_inodes(&ours), renumber_inodes(gnu));
    if ours_r != gnu_r {
        let at = ours_r
            .iter()
            .zip(&gnu_r)
            .position(|(a, b)| a != b)
            .unwrap_or(ours_r.len().min(gnu_r.len()));
        panic!(
            "archives differ at byte {at} (ours {} bytes, GNU {} bytes):\nours: {:?}\nGNU:  {:?}",
            ours_r.len(),
            gnu_r.len(),
            String::from_utf8_lossy(&ours_r[at.saturating_sub(40)..(at + 40).min(ours_r.len())]),
            String::from_utf8_lossy(&gnu_r[at.saturating_sub(40)..(at + 40).min(gnu_r.len())]),
        );
    }
}

/// An archive with every kind of entry, as the builder writes them.
fn every_kind() -> Vec<u8> {
    let mut w = NewcWriter::new(Vec::new(), WriterOptions { mtime: MTIME });
    w.dir("dev", 0o755).unwrap();
    w.char_dev("dev/console", 0o600, 5, 1).unwrap();
    w.block_dev("dev/sda", 0o660, 8, 0).unwrap();
    w.block_dev("dev/big", 0o660, 259, 70_000).unwrap();
    w.file("init", 0o755, &big_data()).unwrap();
    w.file(
        "etc/flashroot/flashroot.toml",
        0o644,
        b"trigger = \"mtd\"\n",
    )
    .unwrap();
    w.hard_links(&["bin/busybox", "bin/sh"], 0o755, b"#!busybox")
        .unwrap();
    w.symlink("sbin", "bin").unwrap();
    w.fifo("run/fifo", 0o644).unwrap();
    w.dir("tmp", 0o1777).unwrap();
    w.finish().unwrap()
}

#[test]
fn gnu_cpio_lists_ours_with_modes_sizes_devices_and_links() {
    let tmp = tempfile::tempdir().unwrap();
    let (listing, _) = cpio(&["-itv", "--quiet"], tmp.path(), &every_kind());
    let listing = String::from_utf8(listing).unwrap();
    // (mode, nlink, size or "major, minor", name) as `cpio -tv` prints them.
    let lines: Vec<(String, String, String, String)> = listing
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f[0].starts_with('c') || f[0].starts_with('b') {
                (
                    f[0].into(),
                    f[1].into(),
                    format!("{} {}", f[4], f[5]),
                    f[9..].join(" "),
                )
            } else {
                (f[0].into(), f[1].into(), f[4].into(), f[8..].join(" "))
            }
        })
        .collect();
    let expected = [
        ("drwxr-xr-x", "2", "0", "dev"),
        ("crw-------", "1", "5, 1", "dev/console"),
        ("brw-rw----", "1", "8, 0", "dev/sda"),
        ("brw-rw----", "1", "259, 70000", "dev/big"),
        ("-rwxr-xr-x", "1", "70001", "init"),
        ("drwxr-xr-x", "2", "0", "etc"),
        ("drwxr-xr-x", "2", "0", "etc/flashroot"),
        ("-rw-r--r--", "1", "16", "etc/flashroot/flashroot.toml"),
        ("drwxr-xr-x", "2", "0", "bin"),
        ("-rwxr-xr-x", "2", "0", "bin/busybox"),
        ("-rwxr-xr-x", "2", "9", "bin/sh"),
        ("lrwxrwxrwx", "1", "3", "sbin -> bin"),
        ("drwxr-xr-x", "2", "0", "run"),
        ("prw-r--r--", "1", "0", "run/fifo"),
        ("drwxrwxrwt", "2", "0", "tmp"),
    ];
    let got: Vec<(&str, &str, &str, &str)> = lines
        .iter()
        .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
        .collect();
    assert_eq!(got, expected, "cpio -tv printed:\n{listing}");
}

#[test]
fn gnu_cpio_extracts_ours() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Device nodes need CAP_MKNOD to extract; their numbers are checked by the listing test.
    cpio(
        &[
            "-idm",
            "--quiet",
            "--no-absolute-filenames",
            "--nonmatching",
            "dev/*",
        ],
        dir,
        &every_kind(),
    );
    assert_eq!(std::fs::read(dir.join("init")).unwrap(), big_data());
    assert_eq!(
        std::fs::read(dir.join("etc/flashroot/flashroot.toml")).unwrap(),
        b"trigger = \"mtd\"\n"
    );
    let meta = |p: &str| std::fs::symlink_metadata(dir.join(p)).unwrap();
    assert_eq!(meta("init").mode() & 0o7777, 0o755);
    assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
    assert_eq!(meta("init").mtime(), MTIME as i64);
    assert_eq!(std::fs::read(dir.join("bin/sh")).unwrap(), b"#!busybox");
    assert_eq!(
        meta("bin/sh").ino(),
        meta("bin/busybox").ino(),
        "hard links must share an inode"
    );
    assert_eq!(meta("bin/sh").nlink(), 2);
    assert_eq!(
        std::fs::read_link(dir.join("sbin")).unwrap(),
        Path::new("bin")
    );
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(
        &meta("run/fifo").file_type()
    ));
}
