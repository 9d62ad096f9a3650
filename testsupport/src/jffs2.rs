//! Shared helpers of the JFFS2 tests (the jffs2 crate's, the builder's CLI tests, the
//! kernel mount test): a source tree with every file kind,
//! what reading its image back must give (computed from the source with std only, not
//! with the writer's own tree code), and the oracles (jffs2dump, mkfs.jffs2, sumtool).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use flashroot_jffs2::tree::Tree;
use flashroot_jffs2::{scan, write_tree, Fs, Options, Report};

/// What one path must read back as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Dir,
    File(Vec<u8>),
    Symlink(Vec<u8>),
    Device(u32, u32),
    Fifo,
    Socket,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    pub mode: u32,
    pub uid: u16,
    pub gid: u16,
    pub mtime: u32,
    pub content: Content,
}

/// Deterministic pseudo-random bytes (xorshift), incompressible.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Text-like compressible bytes.
pub fn text(len: usize) -> Vec<u8> {
    b"The quick brown fox jumps over the lazy dog 0123456789\n"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

pub fn set_mtime(p: &Path, secs: u64) {
    let f = fs::File::options()
        .write(true)
        .open(p)
        .or_else(|_| fs::File::open(p))
        .unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

/// Which parts of the full tree to build.
#[derive(Clone, Copy, Debug)]
pub struct TreeSpec {
    /// Add a file of several MiB.
    pub big: bool,
    /// Add a directory with this many entries.
    pub wide: usize,
    /// Add a socket (mkfs.jffs2 cannot store them).
    pub socket: bool,
    /// Reverse the creation order (the image must not change).
    pub reverse: bool,
}

pub const FULL: TreeSpec = TreeSpec {
    big: true,
    wide: 1100,
    socket: true,
    reverse: false,
};
pub const SMALL: TreeSpec = TreeSpec {
    big: false,
    wide: 30,
    socket: true,
    reverse: false,
};

/// One part of the tree, created under the given root.
type Step = Box<dyn Fn(&Path)>;

/// Builds the test tree under `root` (created). Devices and fifos come from the device
/// table `devtable_text()` instead, so no root rights are needed for them.
pub fn make_tree(root: &Path, spec: TreeSpec) {
    fs::create_dir_all(root).unwrap();
    let mut steps: Vec<Step> = Vec::new();
    for (name, len) in [
        ("empty", 0usize),
        ("one", 1),
        ("p4095", 4095),
        ("p4096", 4096),
        ("p4097", 4097),
    ] {
        steps.push(Box::new(move |r: &Path| {
            fs::write(r.join(name), text(len)).unwrap()
        }));
    }
    steps.push(Box::new(|r: &Path| {
        fs::write(r.join("noise"), noise(7, 10_000)).unwrap();
        // Sparse: a hole, 3 bytes of data, a long hole, data, a trailing hole.
        let f = fs::File::create(r.join("sparse")).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(b"abc", 20_000).unwrap();
        f.write_all_at(&noise(3, 5000), 200_000).unwrap();
        f.set_len(300_000).unwrap();
        fs::write(r.join("zeros"), vec![0u8; 9000]).unwrap();
    }));
    if spec.big {
        steps.push(Box::new(|r: &Path| {
            let mut big = text(3 << 20);
            big[1 << 20..(1 << 20) + 200_000].copy_from_slice(&noise(11, 200_000));
            fs::write(r.join("big"), big).unwrap();
        }));
    }
    steps.push(Box::new(|r: &Path| {
        std::os::unix::fs::symlink("p4096", r.join("link")).unwrap();
        std::os::unix::fs::symlink("/does/not/exist", r.join("dangling")).unwrap();
        fs::create_dir(r.join("hard")).unwrap();
        fs::write(r.join("hard/a"), b"linked twice\n").unwrap();
        fs::hard_link(r.join("hard/a"), r.join("hard/b")).unwrap();
        fs::hard_link(r.join("hard/a"), r.join("one-more-link")).unwrap();
    }));
    steps.push(Box::new(|r: &Path| {
        let mut d = r.join("deep");
        for i in 0..40 {
            d = d.join(format!("level{i}"));
        }
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("bottom"), b"deep\n").unwrap();
    }));
    steps.push(Box::new(|r: &Path| {
        let d = r.join("names");
        fs::create_dir(&d).unwrap();
        fs::write(
            d.join(OsStr::from_bytes(b"latin1-\xe9t\xe9")),
            b"not utf-8\n",
        )
        .unwrap();
        fs::write(d.join(OsStr::from_bytes(&[b'n'; 254])), b"longest name\n").unwrap();
        fs::write(d.join("sp ace\ttab"), b"").unwrap();
        let m = d.join("modes");
        fs::write(&m, b"#!/bin/sh\n").unwrap();
        fs::set_permissions(&m, fs::Permissions::from_mode(0o4751)).unwrap();
        let p = d.join("private");
        fs::write(&p, b"secret").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    }));
    let wide = spec.wide;
    steps.push(Box::new(move |r: &Path| {
        let d = r.join("wide");
        fs::create_dir(&d).unwrap();
        for i in 0..wide {
            fs::write(d.join(format!("entry-{i:05}")), format!("{i}\n")).unwrap();
        }
    }));
    fs::create_dir_all(root.join("dev")).unwrap();
    if spec.socket {
        steps.push(Box::new(|r: &Path| {
            let l = std::os::unix::net::UnixListener::bind(r.join("sock")).unwrap();
            drop(l);
        }));
    }
    if spec.reverse {
        steps.reverse();
    }
    for s in &steps {
        s(root);
    }
    // Fixed times everywhere (children before parents: writing a child changes the parent).
    let mut all: Vec<PathBuf> = walk(root)
        .into_keys()
        .map(|p| root.join(OsStr::from_bytes(&p)))
        .collect();
    all.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for (i, p) in all.iter().enumerate() {
        if !fs::symlink_metadata(p).unwrap().file_type().is_symlink() {
            if fs::symlink_metadata(p)
                .unwrap()
                .file_type()
                .is_socket_like()
            {
                continue;
            }
            set_mtime(p, 1_700_000_000 + i as u64);
        }
    }
    set_mtime(root, 1_600_000_000);
}

trait SocketLike {
    fn is_socket_like(&self) -> bool;
}

impl SocketLike for fs::FileType {
    fn is_socket_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_socket()
    }
}

/// The device table the tests pass with `-D`.
pub fn devtable_text() -> &'static str {
    "# devices beyond 8-bit numbers and fifos, without root rights\n\
     /dev/console c 600 0 5 5 1 0 0 -\n\
     /dev/nvme0n1p5 b 660 0 6 259 5 0 0 -\n\
     /dev/big c 644 0 0 4095 1048575 0 0 -\n\
     /dev/tty c 620 0 5 4 0 0 1 3\n\
     /dev/initctl p 600 0 0 - - - - -\n\
     /etc d 755 0 0 - - - - -\n\
     /etc/owned d 700 1000 1000 - - - - -\n"
}

/// Relative paths (raw bytes) of everything under `root`, root itself as "".
pub fn walk(root: &Path) -> BTreeMap<Vec<u8>, fs::Metadata> {
    let mut out = BTreeMap::new();
    out.insert(Vec::new(), fs::symlink_metadata(root).unwrap());
    fn rec(root: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, fs::Metadata>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            let is_dir = m.is_dir();
            out.insert(rel, m);
            if is_dir {
                rec(root, &p, out);
            }
        }
    }
    rec(root, root, &mut out);
    out
}

/// What the image of `root` (plus `devtable_text()` when `with_devtable`) must hold.
pub fn expected(root: &Path, with_devtable: bool) -> BTreeMap<Vec<u8>, Expect> {
    let mut out = BTreeMap::new();
    for (rel, m) in walk(root) {
        let p = root.join(OsStr::from_bytes(&rel));
        let ft = m.file_type();
        use std::os::unix::fs::FileTypeExt;
        let content = if ft.is_dir() {
            Content::Dir
        } else if ft.is_symlink() {
            Content::Symlink(fs::read_link(&p).unwrap().as_os_str().as_bytes().to_vec())
        } else if ft.is_file() {
            Content::File(fs::read(&p).unwrap())
        } else if ft.is_fifo() {
            Content::Fifo
        } else if ft.is_socket() {
            Content::Socket
        } else {
            panic!("unexpected file type at {}", p.display())
        };
        out.insert(
            rel,
            Expect {
                mode: m.mode(),
                uid: m.uid() as u16,
                gid: m.gid() as u16,
                mtime: m.mtime() as u32,
                content,
            },
        );
    }
    if with_devtable {
        let dev = |mode: u32, uid: u16, gid: u16, content: Content| Expect {
            mode,
            uid,
            gid,
            mtime: 0,
            content,
        };
        out.insert(
            b"dev/console".to_vec(),
            dev(0o020600, 0, 5, Content::Device(5, 1)),
        );
        out.insert(
            b"dev/nvme0n1p5".to_vec(),
            dev(0o060660, 0, 6, Content::Device(259, 5)),
        );
        out.insert(
            b"dev/big".to_vec(),
            dev(0o020644, 0, 0, Content::Device(4095, 1_048_575)),
        );
        for i in 0..3u32 {
            out.insert(
                format!("dev/tty{i}").into_bytes(),
                dev(0o020620, 0, 5, Content::Device(4, i)),
            );
        }
        out.insert(b"dev/initctl".to_vec(), dev(0o010600, 0, 0, Content::Fifo));
        out.insert(b"etc".to_vec(), dev(0o040755, 0, 0, Content::Dir));
        out.insert(
            b"etc/owned".to_vec(),
            dev(0o040700, 1000, 1000, Content::Dir),
        );
    }
    out
}

/// Reads an image back into the same shape as [`expected`], panicking on any problem.
pub fn read_back(image: &[u8], erase: Option<u32>) -> BTreeMap<Vec<u8>, Expect> {
    let s = scan(image, erase).unwrap();
    if let Err(e) = s.check() {
        panic!("the image has problems:\n{e}");
    }
    let fs = Fs::new(image, &s);
    let mut out = BTreeMap::new();
    for e in fs.walk().unwrap() {
        let content = match e.mode & 0o170000 {
            0o040000 => Content::Dir,
            0o100000 => Content::File(fs.data(e.ino).unwrap()),
            0o120000 => Content::Symlink(fs.data(e.ino).unwrap()),
            0o020000 | 0o060000 => {
                let (a, b) = fs.device(e.ino).unwrap();
                Content::Device(a, b)
            }
            0o010000 => Content::Fifo,
            0o140000 => Content::Socket,
            other => panic!("unknown type {other:o}"),
        };
        out.insert(
            e.path,
            Expect {
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                mtime: e.mtime,
                content,
            },
        );
    }
    out
}

/// Compares maps entry by entry, naming the first path that differs (contents by length
/// and first differing offset, not by dumping megabytes).
pub fn assert_same(got: &BTreeMap<Vec<u8>, Expect>, want: &BTreeMap<Vec<u8>, Expect>, what: &str) {
    for (path, w) in want {
        let shown = path.escape_ascii().to_string();
        let g = got
            .get(path)
            .unwrap_or_else(|| panic!("{what}: /{shown} is missing from the image"));
        if let (Content::File(a), Content::File(b)) = (&g.content, &w.content) {
            if a != b {
                let at = a
                    .iter()
                    .zip(b)
                    .position(|(x, y)| x != y)
                    .unwrap_or(a.len().min(b.len()));
                panic!(
                    "{what}: /{shown}: {} bytes read back, {} expected, first difference at {at}",
                    a.len(),
                    b.len()
                );
            }
        }
        assert_eq!(g, w, "{what}: /{shown}");
    }
    for path in got.keys() {
        assert!(
            want.contains_key(path),
            "{what}: /{} is in the image but not in the tree",
            path.escape_ascii()
        );
    }
}

/// The mtd-utils way to an image of `src` in `erase`-byte blocks, in `dir`: `mkfs.jffs2`
/// (with `mkfs_args` too) to `mk.img`, then `sumtool -p` to `sum.img`; returns both paths.
pub fn mkfs_jffs2_and_sumtool(
    dir: &Path,
    src: &Path,
    erase: u32,
    mkfs_args: &[String],
) -> (std::path::PathBuf, std::path::PathBuf) {
    let (raw, summed) = (dir.join("mk.img"), dir.join("sum.img"));
    run_tool(
        Command::new("mkfs.jffs2")
            .arg("-d")
            .arg(src)
            .arg(format!("--eraseblock={erase}"))
            .args(mkfs_args)
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
    (raw, summed)
}

/// Runs a command that must succeed: our CLI or a peer tool. A missing tool fails the
/// test (peer tools are part of the test setup: scripts/setup installs them).
pub fn run_tool(cmd: &mut Command) -> std::process::Output {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e} (scripts/setup installs the oracles)"));
    assert!(
        out.status.success(),
        "{shown} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `jffs2dump -c` output for an image.
pub fn jffs2dump(image: &Path, big_endian: bool) -> String {
    let mut cmd = Command::new("jffs2dump");
    // -v also prints the summary nodes.
    cmd.arg("-cv");
    if big_endian {
        cmd.arg("-b");
    }
    cmd.arg(image);
    let out = run_tool(&mut cmd);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// jffs2dump's complaints (its messages start "Wrong …" or "Unknown …").
pub fn jffs2dump_complaints(dump: &str) -> Vec<&str> {
    dump.lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("Wrong") || l.starts_with("Unknown") || l.contains("error")
        })
        .collect()
}

/// Writes the image of directory `src` to the file `out` (tests only: the builder's
/// `write_image` is the atomic one).
pub fn write_image(src: &Path, out: &Path, opts: &Options) -> flashroot_jffs2::Result<Report> {
    let tree = Tree::collect(src, opts)?;
    let file =
        fs::File::create(out).map_err(|e| flashroot_jffs2::Error::io(out, "cannot create", e))?;
    write_tree(&tree, std::io::BufWriter::new(file), opts)
}

/// Image options for `erase`-byte blocks, padded to `pad_blocks` of them, with the device
/// table of [`devtable_text`] written into `dir`.
pub fn options_with_devtable(dir: &Path, erase: u32, pad_blocks: u64) -> Options {
    let table = dir.join("devtable");
    fs::write(&table, devtable_text()).unwrap();
    Options {
        erase_size: erase,
        pad_to: Some(erase as u64 * pad_blocks),
        devtable: Some(table),
        ..Options::default()
    }
}
