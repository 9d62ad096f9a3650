//! Issue #3: the kernel is the judge of our JFFS2 images. One QEMU boot of Debian's
//! kernel mounts eight images written by `flashroot::jffs2` (erase sizes 16, 64, 128 and
//! 256 KiB, each with zlib and with no compression) through block2mtd, hands back a
//! manifest of every mounted tree, makes the kernel write, delete, remount and read
//! back, and hands back dmesg. The host compares each manifest with the same manifest
//! computed from the source tree and fails on any JFFS2 complaint in the kernel log.
//!
//! Needs busybox-static, coreutils' md5sum, qemu-system-x86 and Debian's kernel (cached
//! or fetched with apt); a missing tool fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use flashroot::jffs2::mode::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFMT, S_IFREG};
use flashroot::jffs2::{write_image, Compression, CompressionMode, Compressor, Options};
use flashroot_cpio::{NewcWriter, WriterOptions};
use flashroot_kmod::{resolve, ModuleTree};
use flashroot_qemu::{boot, debian_kernel, BootOptions, Disk, Kernel};
use flashroot_testsupport::jffs2 as jffs2_common;
use jffs2_common::{devtable_text, expected, make_tree, text, walk, Content, FULL};

const KIB: u32 = 1024;
/// block2mtd erase sizes the issue asks for.
const ERASE_SIZES: [u32; 4] = [16 * KIB, 64 * KIB, 128 * KIB, 256 * KIB];
/// Every container is at least this big: room for the tree uncompressed (3 MiB file)
/// plus what the kernel writes, and at least 32 erase blocks at 256 KiB.
const CONTAINER_BASE: u64 = 8 << 20;
/// Containers differ in size by this much so the guest finds each image's disk by its
/// size rather than trusting the probe order; a multiple of every erase size.
const CONTAINER_STEP: u64 = 256 << 10;
const SECTOR: u64 = 512;
/// Room for 16 manifests and dmesg; its size also differs from every container.
const OUTPUT_BYTES: u64 = 16 << 20;
/// Eight mounts, sixteen manifests and 1.5 MB of writes per image under TCG.
const BOOT_TIMEOUT: Duration = Duration::from_secs(600);
const BUSYBOX: &str = "/bin/busybox";
/// The virtio disk driver (modules on Debian), block2mtd and JFFS2 with what they need.
const MODULES: [&str; 4] = ["virtio_pci", "virtio_blk", "block2mtd", "jffs2"];
/// What the kernel writes into each mounted image: a file of random bytes of this size.
const WRITTEN_PATH: &[u8] = b"kernel-wrote/random";
const WRITTEN_DIR: &[u8] = b"kernel-wrote";
const WRITTEN_BYTES: u64 = 1_500_000;
/// Appended to p4097 by the guest (`echo appended >> p4097`).
const APPENDED_PATH: &[u8] = b"p4097";
const APPENDED: &[u8] = b"appended\n";
/// Deleted by the guest: the several-MiB file and ten entries of the wide directory.
const DELETED_BIG: &[u8] = b"big";
const DELETED_WIDE: usize = 10;
/// Mode of the directory and file the guest creates (umask 022).
const NEW_DIR_MODE: u32 = S_IFDIR | 0o755;
const NEW_FILE_MODE: u32 = S_IFREG | 0o644;
/// Words in dmesg lines that mention JFFS2 which mean the kernel disliked an image.
const COMPLAINTS: [&str; 7] = [
    "crc", "wrong", "error", "warning", "summary", "corrupt", "failed",
];
/// EINTR from block2mtd: umount stops the GC thread while it erases blocks. Images padded
/// with bare 0xFF (`--empty-blocks=erased`) have every free block erase-pending and showed
/// 54-203 of these; the cleanmarker default shows none. About the unmount, not the image:
/// counted and shown.
const INTERRUPTED_ERASE: &str = "failed immediately: errno -4";
/// The JFFS2 banner at module load ("version 2.2. (NAND) (SUMMARY) ...") is no complaint.
const BANNER: &str = "jffs2: version";
/// fs/jffs2/fs.c, jffs2_iget: "Root dir gets i_nlink 3 for some reason".
const ROOT_EXTRA_NLINK: u32 = 1;
/// At most this many differing lines are shown per image and mount.
const MAX_DIFF_LINES: usize = 40;
/// Set to a path to keep the guest's whole report there (for debugging).
const KEEP_REPORT_ENV: &str = "JFFS2_KERNEL_REPORT";

/// The shell the guest runs for every image: `check_image INDEX SECTORS ERASE_BYTES`.
const GUEST_FUNCTIONS: &str = r#"
manifest() {
  echo "@@ manifest $1"
  find . -exec stat -c '%f %u %g %s %h %Y %t %T %i %n' {} +
  echo "@@ md5"
  find . -type f -exec md5sum {} +
  echo "@@ links"
  find . -type l | while IFS= read -r l; do echo "$l"; readlink "$l"; done
  echo "@@ end"
}
disk_of() {
  for d in /sys/block/vd*; do
    if [ "$(cat $d/size)" = "$1" ]; then echo /dev/${d##*/}; return; fi
  done
}
check_image() {
  dev=$(disk_of $2)
  if [ -z "$dev" ]; then echo "@@ FAIL image $1: no disk of $2 sectors"; return; fi
  echo "$dev,$3" > /sys/module/block2mtd/parameters/block2mtd || { echo "@@ FAIL image $1: block2mtd $dev,$3"; return; }
  mtd=mtd$(( $(grep -c '^mtd' /proc/mtd) - 1 ))
  echo "@@ image $1 $dev $mtd"
  mkdir -p /mnt/$1
  mount -t jffs2 $mtd /mnt/$1 || { echo "@@ FAIL image $1: mount $mtd"; return; }
  cd /mnt/$1
  manifest before
  rm big wide/entry-0000[0-9] || echo "@@ FAIL image $1: rm"
  mkdir kernel-wrote || echo "@@ FAIL image $1: mkdir"
  dd if=/dev/urandom of=kernel-wrote/random bs=1000 count=1500 2>/dev/null || echo "@@ FAIL image $1: dd"
  echo appended >> p4097 || echo "@@ FAIL image $1: append"
  sync
  echo "@@ written $(md5sum < kernel-wrote/random)"
  cd /
  umount /mnt/$1 || { echo "@@ FAIL image $1: umount"; return; }
  mount -t jffs2 $mtd /mnt/$1 || { echo "@@ FAIL image $1: remount $mtd"; return; }
  cd /mnt/$1
  manifest after
  cd /
  umount /mnt/$1 || echo "@@ FAIL image $1: final umount"
}
"#;

/// One image of the boot.
#[derive(Clone, Debug)]
struct ImageSpec {
    index: usize,
    erase_size: u32,
    zlib: bool,
    bytes: u64,
}

impl ImageSpec {
    fn all() -> Vec<ImageSpec> {
        let mut out = Vec::new();
        for erase_size in ERASE_SIZES {
            for zlib in [true, false] {
                let index = out.len();
                out.push(ImageSpec {
                    index,
                    erase_size,
                    zlib,
                    bytes: CONTAINER_BASE + CONTAINER_STEP * (index as u64 + 1),
                });
            }
        }
        out
    }

    fn describe(&self) -> String {
        format!(
            "image {} ({} KiB erase blocks, {}, {} bytes)",
            self.index,
            self.erase_size / KIB,
            if self.zlib { "zlib" } else { "no compression" },
            self.bytes
        )
    }

    fn compression(&self) -> Compression {
        if self.zlib {
            Compression::only(CompressionMode::Priority, &[Compressor::Zlib])
        } else {
            Compression::none()
        }
    }
}

/// What `stat`, `md5sum` and `readlink` say about one path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    nlink: u32,
    mtime: u32,
    /// Major and minor for devices, (0, 0) otherwise.
    rdev: (u32, u32),
    md5: Option<String>,
    target: Option<Vec<u8>>,
}

/// Rows by path relative to the mount point (the root is the empty path), and the
/// inode number of every path (compared only as hard-link groups).
#[derive(Clone, Debug, Default)]
struct Manifest {
    rows: BTreeMap<Vec<u8>, Row>,
    inodes: BTreeMap<Vec<u8>, u64>,
}

impl Manifest {
    /// Paths of regular files grouped by inode, groups of two or more only.
    fn hard_link_groups(&self) -> BTreeSet<Vec<Vec<u8>>> {
        let mut by_inode: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
        for (path, row) in &self.rows {
            if let (S_IFREG, Some(&inode)) = (row.mode & S_IFMT, self.inodes.get(path)) {
                by_inode.entry(inode).or_default().push(path.clone());
            }
        }
        by_inode.into_values().filter(|g| g.len() > 1).collect()
    }
}

fn shown(path: &[u8]) -> String {
    format!("/{}", path.escape_ascii())
}

/// `./a/b` → `a/b`, `.` → the empty path.
fn relative(path: &[u8]) -> Vec<u8> {
    if path == b"." {
        Vec::new()
    } else {
        path.strip_prefix(b"./")
            .unwrap_or_else(|| panic!("guest path {} does not start with ./", shown(path)))
            .to_vec()
    }
}

fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// Parses one `manifest` section of the guest's report (between `@@ manifest` and
/// `@@ end`, header excluded).
fn parse_manifest(section: &[u8], what: &str) -> Manifest {
    let stat_end = find(section, b"@@ md5\n").unwrap_or_else(|| panic!("{what}: no md5 part"));
    let md5_end = find(section, b"@@ links\n").unwrap_or_else(|| panic!("{what}: no links part"));
    let mut m = Manifest::default();
    for line in lines(&section[..stat_end]) {
        let mut fields = line.splitn(10, |&b| b == b' ');
        let mut next = |name: &str| {
            let f = fields.next().unwrap_or_else(|| {
                panic!("{what}: stat line {:?} has no {name}", line.escape_ascii())
            });
            std::str::from_utf8(f).unwrap().to_owned()
        };
        let hex = |s: String| u32::from_str_radix(&s, 16).unwrap();
        let dec = |s: String| s.parse::<u64>().unwrap();
        let mode = hex(next("mode"));
        let uid = dec(next("uid")) as u32;
        let gid = dec(next("gid")) as u32;
        let size = dec(next("size"));
        let nlink = dec(next("nlink")) as u32;
        let mtime = dec(next("mtime")) as u32;
        let major = hex(next("major"));
        let minor = hex(next("minor"));
        let inode = dec(next("inode"));
        let path = relative(fields.next().expect("stat line has a path"));
        let is_dev = matches!(mode & S_IFMT, S_IFCHR | S_IFBLK);
        m.inodes.insert(path.clone(), inode);
        m.rows.insert(
            path,
            Row {
                mode,
                uid,
                gid,
                size,
                nlink,
                mtime,
                rdev: if is_dev { (major, minor) } else { (0, 0) },
                md5: None,
                target: None,
            },
        );
    }
    for line in lines(&section[stat_end + 7..md5_end]) {
        let (hash, path) = (&line[..32], relative(&line[34..]));
        let row = m.rows.get_mut(&path).unwrap_or_else(|| {
            panic!("{what}: md5sum of {} which stat did not list", shown(&path))
        });
        row.md5 = Some(String::from_utf8(hash.to_vec()).unwrap());
    }
    let link_lines: Vec<&[u8]> = lines(&section[md5_end + 9..]).collect();
    assert!(
        link_lines.len().is_multiple_of(2),
        "{what}: links part has an odd number of lines"
    );
    for pair in link_lines.chunks(2) {
        let path = relative(pair[0]);
        let row = m.rows.get_mut(&path).unwrap_or_else(|| {
            panic!(
                "{what}: readlink of {} which stat did not list",
                shown(&path)
            )
        });
        row.target = Some(pair[1].to_vec());
    }
    m
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// md5 of each file, by coreutils' md5sum (an oracle independent of busybox), in order.
fn host_md5(files: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for chunk in files.chunks(500) {
        let run = Command::new("md5sum")
            .arg("-z")
            .arg("--")
            .args(chunk)
            .output()
            .expect("md5sum (coreutils) runs");
        assert!(run.status.success(), "md5sum failed: {run:?}");
        out.extend(
            run.stdout
                .split(|&b| b == 0)
                .filter(|r| !r.is_empty())
                .map(|r| String::from_utf8(r[..32].to_vec()).unwrap()),
        );
    }
    assert_eq!(out.len(), files.len(), "md5sum printed one hash per file");
    out
}

fn md5_of_bytes(dir: &Path, bytes: &[u8]) -> String {
    let tmp = dir.join("md5-input");
    fs::write(&tmp, bytes).unwrap();
    host_md5(&[tmp]).remove(0)
}

/// The manifest the mounted image of `src` (plus the device table) must give.
fn host_manifest(src: &Path) -> Manifest {
    let want = expected(src, true);
    let meta = walk(src);
    let mut m = Manifest::default();
    let mut files = Vec::new();
    for (path, e) in &want {
        let (size, rdev, target) = match &e.content {
            Content::File(data) => {
                files.push(path.clone());
                (data.len() as u64, (0, 0), None)
            }
            Content::Symlink(t) => (t.len() as u64, (0, 0), Some(t.clone())),
            Content::Device(a, b) => (0, (*a, *b), None),
            Content::Dir | Content::Fifo | Content::Socket => (0, (0, 0), None),
        };
        let nlink = match (&e.content, meta.get(path)) {
            // A directory: ".", its name in the parent and ".." of each subdirectory.
            (Content::Dir, _) if path.is_empty() => 2 + subdirs(&want, path) + ROOT_EXTRA_NLINK,
            (Content::Dir, _) => 2 + subdirs(&want, path),
            (_, Some(md)) => md.nlink() as u32,
            (_, None) => 1, // from the device table
        };
        if let Some(md) = meta.get(path) {
            m.inodes.insert(path.clone(), md.ino());
        } else {
            // Device table entries are never hard links: a unique fake inode.
            m.inodes
                .insert(path.clone(), u64::MAX - m.inodes.len() as u64);
        }
        m.rows.insert(
            path.clone(),
            Row {
                mode: e.mode,
                uid: e.uid as u32,
                gid: e.gid as u32,
                size,
                nlink,
                mtime: e.mtime,
                rdev,
                md5: None,
                target,
            },
        );
    }
    let host_paths: Vec<PathBuf> = files
        .iter()
        .map(|p| src.join(OsStr::from_bytes(p)))
        .collect();
    for (path, hash) in files.iter().zip(host_md5(&host_paths)) {
        m.rows.get_mut(path).unwrap().md5 = Some(hash);
    }
    m
}

fn subdirs(want: &BTreeMap<Vec<u8>, jffs2_common::Expect>, dir: &[u8]) -> u32 {
    let prefix = if dir.is_empty() {
        Vec::new()
    } else {
        [dir, b"/"].concat()
    };
    want.iter()
        .filter(|(p, e)| {
            e.content == Content::Dir
                && !p.is_empty()
                && p.starts_with(&prefix)
                && !p[prefix.len()..].contains(&b'/')
        })
        .count() as u32
}

/// What the manifest after the guest's writes and remount must be, given `before` (the
/// source tree's manifest) and the hash the guest saw right after writing.
fn after_writes(before: &Manifest, written_md5: &str, got: &Manifest, dir: &Path) -> Manifest {
    let mut m = before.clone();
    m.rows.remove(DELETED_BIG);
    for i in 0..DELETED_WIDE {
        m.rows.remove(format!("wide/entry-{i:05}").as_bytes());
    }
    let root = m.rows.get_mut(&b""[..]).unwrap();
    root.nlink += 1;
    m.rows.insert(
        WRITTEN_DIR.to_vec(),
        Row {
            mode: NEW_DIR_MODE,
            uid: 0,
            gid: 0,
            size: 0,
            nlink: 2,
            mtime: 0,
            rdev: (0, 0),
            md5: None,
            target: None,
        },
    );
    m.rows.insert(
        WRITTEN_PATH.to_vec(),
        Row {
            mode: NEW_FILE_MODE,
            uid: 0,
            gid: 0,
            size: WRITTEN_BYTES,
            nlink: 1,
            mtime: 0,
            rdev: (0, 0),
            md5: Some(written_md5.to_owned()),
            target: None,
        },
    );
    let appended = [text(4097), APPENDED.to_vec()].concat();
    let row = m.rows.get_mut(APPENDED_PATH).unwrap();
    row.size = appended.len() as u64;
    row.md5 = Some(md5_of_bytes(dir, &appended));
    // The kernel stamps what it changed with the guest's clock: not ours to predict.
    for touched in [&b""[..], b"wide", WRITTEN_DIR, WRITTEN_PATH, APPENDED_PATH] {
        if let (Some(w), Some(g)) = (m.rows.get_mut(touched), got.rows.get(touched)) {
            w.mtime = g.mtime;
        }
    }
    m
}

/// Every difference between `got` and `want`, one line each (empty when equal).
fn diff(got: &Manifest, want: &Manifest) -> String {
    let mut out = String::new();
    for (path, w) in &want.rows {
        match got.rows.get(path) {
            None => writeln!(out, "{}: missing from the mounted tree", shown(path)).unwrap(),
            Some(g) if g != w => writeln!(
                out,
                "{}:\n    mounted {}\n    source  {}",
                shown(path),
                describe(g),
                describe(w)
            )
            .unwrap(),
            Some(_) => {}
        }
    }
    for path in got.rows.keys().filter(|p| !want.rows.contains_key(*p)) {
        writeln!(
            out,
            "{}: in the mounted tree but not the source",
            shown(path)
        )
        .unwrap();
    }
    let (g, w) = (got.hard_link_groups(), want.hard_link_groups());
    if g != w {
        let show = |s: &BTreeSet<Vec<Vec<u8>>>| {
            s.iter()
                .map(|grp| grp.iter().map(|p| shown(p)).collect::<Vec<_>>().join(" = "))
                .collect::<Vec<_>>()
                .join("; ")
        };
        writeln!(out, "hard links: mounted {}, source {}", show(&g), show(&w)).unwrap();
    }
    out
}

/// The first [`MAX_DIFF_LINES`] lines of a diff, and how many more there are.
fn first_lines(diff: &str) -> String {
    let all: Vec<&str> = diff.lines().collect();
    let mut out = all[..all.len().min(MAX_DIFF_LINES)].join("\n");
    out.push('\n');
    if all.len() > MAX_DIFF_LINES {
        writeln!(out, "... and {} more lines", all.len() - MAX_DIFF_LINES).unwrap();
    }
    out
}

fn describe(r: &Row) -> String {
    format!(
        "mode {:06o} uid {} gid {} size {} nlink {} mtime {} rdev {}:{} md5 {} target {}",
        r.mode,
        r.uid,
        r.gid,
        r.size,
        r.nlink,
        r.mtime,
        r.rdev.0,
        r.rdev.1,
        r.md5.as_deref().unwrap_or("-"),
        r.target
            .as_deref()
            .map(|t| t.escape_ascii().to_string())
            .unwrap_or_else(|| "-".into())
    )
}

/// A newc initramfs: busybox, the resolved modules (uncompressed by the builder's
/// resolver) and `/init`, which loads them in order and then runs `script`.
fn initramfs(kernel: &Kernel, script: &str, out: &Path) {
    let tree = ModuleTree::load(&kernel.modules_dir, &kernel.version).expect("module tree");
    let wanted: Vec<String> = MODULES.iter().map(|m| m.to_string()).collect();
    let resolution = resolve(&tree, &wanted).expect("modules resolve");
    let file = fs::File::create(out).unwrap();
    let mut cpio = NewcWriter::new(std::io::BufWriter::new(file), WriterOptions::default());
    for dir in ["bin", "dev", "proc", "sys", "mnt", "tmp", "modules"] {
        cpio.dir(dir, 0o755).unwrap();
    }
    cpio.char_dev("dev/console", 0o600, 5, 1).unwrap();
    let busybox =
        fs::read(BUSYBOX).unwrap_or_else(|e| panic!("{BUSYBOX}: {e} (install busybox-static)"));
    cpio.file("bin/busybox", 0o755, &busybox).unwrap();
    let mut insmods = String::new();
    for m in &resolution.modules {
        let path = format!("modules/{}.ko", m.name);
        cpio.file(&path, 0o644, &m.data).unwrap();
        writeln!(
            insmods,
            "insmod /{path} || echo \"@@ FAIL insmod {}\"",
            m.name
        )
        .unwrap();
    }
    let init = format!(
        "#!/bin/busybox sh\n/bin/busybox --install -s /bin\nexport PATH=/bin\n\
         mount -t devtmpfs dev /dev\nmount -t proc proc /proc\nmount -t sysfs sys /sys\n\
         {insmods}{script}"
    );
    cpio.file("init", 0o755, init.as_bytes()).unwrap();
    cpio.finish().unwrap();
}

/// The guest's main script: every image, then dmesg, framed onto the output disk.
fn guest_script(images: &[ImageSpec]) -> String {
    let mut s = String::from(GUEST_FUNCTIONS);
    s.push_str("{\n");
    for im in images {
        writeln!(
            s,
            "check_image {} {} {}",
            im.index,
            im.bytes / SECTOR,
            im.erase_size
        )
        .unwrap();
    }
    s.push_str("echo '@@ proc/mtd'\ncat /proc/mtd\necho '@@ dmesg'\ndmesg\n} > /tmp/report 2>&1\n");
    writeln!(
        s,
        "out=$(disk_of {})\n\
         {{ printf 'FLASHROOT-OUTPUT %d\\n' \"$(wc -c < /tmp/report)\"; cat /tmp/report; }} > $out\n\
         sync\npoweroff -f",
        OUTPUT_BYTES / SECTOR
    )
    .unwrap();
    s
}

/// The text between `start` and the next `@@ end` line.
fn section<'a>(report: &'a [u8], start: &[u8]) -> Option<&'a [u8]> {
    let from = find(report, start)? + start.len();
    let rest = &report[from..];
    let to = find(rest, b"@@ end\n")?;
    Some(&rest[..to])
}

/// The guest's report split per image: from `@@ image N` to the next image or `@@ proc/mtd`.
fn image_part(report: &[u8], index: usize) -> Option<&[u8]> {
    let start = find(report, format!("@@ image {index} ").as_bytes())?;
    let rest = &report[start..];
    let end = find(&rest[1..], b"@@ image ")
        .map(|e| e + 1)
        .or_else(|| find(rest, b"@@ proc/mtd"))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// dmesg lines that mention JFFS2 and one of the [`COMPLAINTS`].
fn jffs2_complaints(dmesg: &str) -> Vec<&str> {
    dmesg
        .lines()
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            lower.contains("jffs2")
                && !lower.contains(BANNER)
                && COMPLAINTS.iter().any(|c| lower.contains(c))
                && !l.contains(INTERRUPTED_ERASE)
        })
        .collect()
}

#[test]
fn debian_kernel_mounts_writes_and_reads_back_our_images() {
    let kernel = debian_kernel().expect("Debian kernel (apt-get download linux-image-amd64)");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, FULL);
    let table = dir.path().join("devtable");
    fs::write(&table, devtable_text()).unwrap();
    let want = host_manifest(&src);

    let images = ImageSpec::all();
    let mut disks = Vec::new();
    let mut originals = Vec::new();
    for im in &images {
        let path = dir.path().join(format!("image-{}.jffs2", im.index));
        let opts = Options {
            erase_size: im.erase_size,
            pad_to: Some(im.bytes),
            compression: im.compression(),
            devtable: Some(table.clone()),
            ..Options::default()
        };
        let report =
            write_image(&src, &path, &opts).unwrap_or_else(|e| panic!("{}: {e:#}", im.describe()));
        eprintln!("{}: {} blocks used", im.describe(), report.blocks_used);
        originals.push(fs::read(&path).unwrap());
        disks.push(Disk::virtio(path));
    }
    let initrd = dir.path().join("initrd.cpio");
    initramfs(&kernel, &guest_script(&images), &initrd);

    let mut options = BootOptions::for_kernel(&kernel);
    options.initrd = Some(initrd);
    options.cmdline = "loglevel=4".into();
    options.disks = disks;
    options.output_disk = Some(OUTPUT_BYTES);
    options.timeout = BOOT_TIMEOUT;
    let outcome = boot(&options).expect("QEMU runs");
    // Not asserted: how much of each container the kernel rewrote (card wear).
    for ((im, disk), before) in images.iter().zip(&options.disks).zip(&originals) {
        let after = fs::read(&disk.path).unwrap();
        let block = im.erase_size as usize;
        let changed = before
            .chunks(block)
            .zip(after.chunks(block))
            .filter(|(a, b)| a != b)
            .count();
        eprintln!(
            "{}: the kernel changed {changed} of {} erase blocks",
            im.describe(),
            before.len() / block
        );
    }
    outcome.expect_powered_off();
    let report = outcome.expect_output().to_vec();
    if let Some(keep) = std::env::var_os(KEEP_REPORT_ENV) {
        fs::write(&keep, &report).unwrap();
    }
    eprintln!(
        "boot with {} images: {:.1} s wall",
        images.len(),
        outcome.elapsed.as_secs_f64()
    );

    let mut failures = String::new();
    for line in lines(&report).filter(|l| l.starts_with(b"@@ FAIL")) {
        writeln!(failures, "guest: {}", String::from_utf8_lossy(line)).unwrap();
    }
    for im in &images {
        let what = im.describe();
        let Some(part) = image_part(&report, im.index) else {
            writeln!(failures, "{what}: the guest never reached it").unwrap();
            continue;
        };
        let Some(before) = section(part, b"@@ manifest before\n") else {
            writeln!(failures, "{what}: no manifest of the first mount").unwrap();
            continue;
        };
        let got = parse_manifest(before, &what);
        let d = diff(&got, &want);
        if !d.is_empty() {
            write!(failures, "{what}, first mount:\n{}", first_lines(&d)).unwrap();
        }
        let written = find(part, b"@@ written ")
            .map(|at| String::from_utf8_lossy(&part[at + 11..at + 11 + 32]).into_owned());
        let (Some(written), Some(after)) = (written, section(part, b"@@ manifest after\n")) else {
            writeln!(failures, "{what}: no manifest after writing and remounting").unwrap();
            continue;
        };
        let got = parse_manifest(after, &what);
        let d = diff(&got, &after_writes(&want, &written, &got, dir.path()));
        if !d.is_empty() {
            write!(
                failures,
                "{what}, after write/delete/remount:\n{}",
                first_lines(&d)
            )
            .unwrap();
        }
    }
    let text = String::from_utf8_lossy(&report);
    let dmesg = text.split("@@ dmesg\n").nth(1).unwrap_or_default();
    assert!(
        dmesg.contains("block2mtd"),
        "no dmesg in the report:\n{}",
        outcome
    );
    let interrupted = dmesg
        .lines()
        .filter(|l| l.contains(INTERRUPTED_ERASE))
        .count();
    eprintln!("erases of free blocks interrupted by umount (EINTR): {interrupted}");
    for line in jffs2_complaints(dmesg) {
        writeln!(failures, "kernel: {line}").unwrap();
    }
    assert!(
        failures.is_empty(),
        "the kernel disagrees with our images:\n{failures}\n--- /proc/mtd:\n{}",
        text.split("@@ proc/mtd\n")
            .nth(1)
            .and_then(|t| t.split("@@ dmesg").next())
            .unwrap_or("(none)")
    );
}

#[test]
fn complaint_filter_keeps_warnings_and_skips_the_banner() {
    let dmesg = "[    1.0] jffs2: version 2.2. (NAND) (SUMMARY)  (c) 2001-2006 Red Hat, Inc.\n\
                 [    2.0] block2mtd: mtd0: [d: /dev/vda] erase_size = 16KiB [16384]\n\
                 [    3.0] jffs2: Node CRC ffffffff != calculated CRC 12345678 for node at 00001000\n\
                 [    4.0] jffs2: jffs2_sum_scan_sumnode(): Summary node crc error\n\
                 [    5.0] jffs2: Erase block at 0x00010000 has wrong erase size\n\
                 [    6.0] jffs2: Erase at 0x001f0000 failed immediately: errno -4\n\
                 [    7.0] jffs2: Erase at 0x001f0000 failed immediately: errno -5\n";
    assert_eq!(
        jffs2_complaints(dmesg),
        vec![
            "[    3.0] jffs2: Node CRC ffffffff != calculated CRC 12345678 for node at 00001000",
            "[    4.0] jffs2: jffs2_sum_scan_sumnode(): Summary node crc error",
            "[    5.0] jffs2: Erase block at 0x00010000 has wrong erase size",
            "[    7.0] jffs2: Erase at 0x001f0000 failed immediately: errno -5",
        ]
    );
}

#[test]
fn guest_manifest_parses_raw_names() {
    let section = b"41ed 0 0 0 3 1600000000 0 0 1 .\n\
                    81a4 0 0 4 1 1700000001 0 0 2 ./sp ace\ttab\n\
                    81a4 0 0 1 1 1700000002 0 0 3 ./latin1-\xe9t\xe9\n\
                    61b0 0 6 0 1 0 103 5 4 ./dev/nvme0n1p5\n\
                    a1ff 0 0 5 1 1700000003 0 0 5 ./link\n\
                    @@ md5\n\
                    0123456789abcdef0123456789abcdef  ./sp ace\ttab\n\
                    @@ links\n\
                    ./link\n\
                    p4096\n";
    let m = parse_manifest(section, "fixture");
    assert_eq!(m.rows.len(), 5);
    assert_eq!(m.rows[&b""[..]].nlink, 3);
    let spaced = &m.rows[&b"sp ace\ttab"[..]];
    assert_eq!(spaced.mode, 0o100644);
    assert_eq!(
        spaced.md5.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert!(m.rows.contains_key(&b"latin1-\xe9t\xe9"[..]));
    let dev = &m.rows[&b"dev/nvme0n1p5"[..]];
    assert_eq!((dev.mode, dev.gid, dev.rdev), (0o060660, 6, (259, 5)));
    assert_eq!(m.rows[&b"link"[..]].target.as_deref(), Some(&b"p4096"[..]));
    assert_eq!(m.inodes[&b"link"[..]], 5);
}
