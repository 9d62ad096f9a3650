//! `flashroot build` and `flashroot ls` end to end, on a small hand-written module tree:
//! archive contents, load order, reproducibility, every compression (decompressed by the
//! host's gzip/zstd/xz and listed by GNU cpio, oracles that must be installed), atomic
//! output, the CONFIG_RD_* check, gen_init_cpio specs, extra files, and concatenated images.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flashroot::initramfs::image::read_image;
use flashroot_config::load_order;
use flashroot_cpio::newc::{S_IFCHR, S_IFMT};
use flashroot_cpio::reader::Entry;
use flashroot_testsupport::modinfo::synthetic_elf;

const KVER: &str = "6.1.0-test";

fn config_text(load: &str, extra: &str) -> String {
    format!(
        r#"trigger = "mtd"
[card]
device = "/dev/sda1"
fstype = "vfat"
mountpoint = "/card"
timeout = 10
keep = "move"
keep_at = "/run/flashroot/card"
[[container]]
file = "rootfs.img"
mountpoint = "/"
erase_size = "64KiB"
[modules]
load = [{load}]
[modules.params]
loop = "max_loop=8"
[failure]
action = "poweroff"
delay = 0
[initramfs]
compression = "gzip"
{extra}
"#
    )
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let f = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let m = f.modules_dir();
        std::fs::create_dir_all(m.join("kernel/fs/fat")).unwrap();
        std::fs::create_dir_all(m.join("kernel/drivers/block")).unwrap();
        std::fs::write(
            m.join("modules.dep"),
            "kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko\nkernel/fs/fat/fat.ko:\nkernel/drivers/block/loop.ko.gz:\n",
        )
        .unwrap();
        std::fs::write(m.join("modules.builtin"), "kernel/fs/ext4/ext4.ko\n").unwrap();
        for path in [
            "kernel/fs/fat/vfat.ko",
            "kernel/fs/fat/fat.ko",
            "kernel/drivers/block/loop.ko",
        ] {
            let name = flashroot_kmod::name_from_path(path).unwrap();
            std::fs::write(m.join(path), synthetic_elf(&[("name", &name)])).unwrap();
        }
        let status = Command::new("gzip")
            .arg("-n")
            .arg(m.join("kernel/drivers/block/loop.ko"))
            .status()
            .expect("gzip must be installed");
        assert!(status.success());
        f.write("init", b"#!/bin/sh\necho test init\n");
        f.write(
            "flashroot.toml",
            config_text(r#""vfat", "loop", "ext4""#, "").as_bytes(),
        );
        f
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn modules_dir(&self) -> PathBuf {
        self.path(&format!("lib/modules/{KVER}"))
    }
    fn write(&self, p: &str, data: &[u8]) {
        std::fs::write(self.path(p), data).unwrap();
    }
    /// Runs `flashroot build` with the fixture's config, init and modules, plus `args`.
    fn build(&self, out: &str, args: &[&str]) -> Output {
        self.build_env(out, args, &[])
    }
    fn build_env(&self, out: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flashroot"));
        cmd.arg("build")
            .arg("-c")
            .arg(self.path("flashroot.toml"))
            .arg("--init")
            .arg(self.path("init"))
            .arg("--modules-dir")
            .arg(self.modules_dir())
            .arg("-o")
            .arg(self.path(out))
            .args(args)
            .env_remove("SOURCE_DATE_EPOCH");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
    fn entries(&self, out: &str) -> Vec<Entry> {
        let bytes = std::fs::read(self.path(out)).unwrap();
        read_image(&bytes)
            .unwrap()
            .into_iter()
            .flat_map(|s| s.entries)
            .collect()
    }
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "flashroot failed: {stderr}");
    stderr
}

fn entry<'a>(entries: &'a [Entry], name: &str) -> &'a Entry {
    entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the archive"))
}

#[test]
fn packs_init_console_dirs_config_and_modules_in_order() {
    let f = Fixture::new();
    let stderr = ok(&f.build("initrd.img", &[]));
    assert!(
        stderr.contains("note: ext4: built into kernel 6.1.0-test, skipped"),
        "{stderr}"
    );
    let entries = f.entries("initrd.img");
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    for dir in [
        "dev",
        "proc",
        "sys",
        "run",
        "root",
        "card",
        "etc/flashroot",
        "tmp",
    ] {
        assert!(names.contains(&dir), "missing directory {dir} in {names:?}");
    }
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(pos("lib/modules") < pos(&format!("lib/modules/{KVER}/kernel/fs/fat/fat.ko")));
    let console = entry(&entries, "dev/console");
    assert_eq!(
        (
            console.header.mode & S_IFMT,
            console.header.rdevmajor,
            console.header.rdevminor
        ),
        (S_IFCHR, 5, 1)
    );
    let init = entry(&entries, "init");
    assert_eq!(
        (init.header.mode & 0o7777, init.data.as_slice()),
        (0o755, &b"#!/bin/sh\necho test init\n"[..])
    );
    assert_eq!(
        entry(&entries, "etc/flashroot/flashroot.toml").data,
        std::fs::read(f.path("flashroot.toml")).unwrap()
    );
    let order = load_order::parse(
        &String::from_utf8(entry(&entries, "etc/flashroot/modules.order").data.clone()).unwrap(),
    )
    .unwrap();
    let got: Vec<(&str, &str, &str)> = order
        .iter()
        .map(|e| (e.name.as_str(), e.path.as_str(), e.params.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("fat", "/lib/modules/6.1.0-test/kernel/fs/fat/fat.ko", ""),
            ("vfat", "/lib/modules/6.1.0-test/kernel/fs/fat/vfat.ko", ""),
            (
                "loop",
                "/lib/modules/6.1.0-test/kernel/drivers/block/loop.ko",
                "max_loop=8"
            ),
        ]
    );
    // The gzip'ed module is packed uncompressed under its .ko name.
    assert_eq!(
        entry(
            &entries,
            "lib/modules/6.1.0-test/kernel/drivers/block/loop.ko"
        )
        .data,
        synthetic_elf(&[("name", "loop")])
    );
    for e in &entries {
        assert_eq!(
            (e.header.uid, e.header.gid, e.header.mtime),
            (0, 0, 0),
            "{}",
            e.name
        );
    }
}

#[test]
fn same_inputs_same_bytes_and_source_date_epoch_is_honoured() {
    let f = Fixture::new();
    ok(&f.build("a.img", &[]));
    ok(&f.build("b.img", &[]));
    assert_eq!(
        std::fs::read(f.path("a.img")).unwrap(),
        std::fs::read(f.path("b.img")).unwrap()
    );
    ok(&f.build_env("c.img", &[], &[("SOURCE_DATE_EPOCH", "1700000000")]));
    assert!(f
        .entries("c.img")
        .iter()
        .all(|e| e.header.mtime == 1_700_000_000));
    let out = f.build_env("d.img", &[], &[("SOURCE_DATE_EPOCH", "soon")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SOURCE_DATE_EPOCH: expected seconds"));
}

/// Decompresses with the host tool, then lists with GNU cpio.
fn oracle_list(image: &Path, decompressor: Option<&str>) -> String {
    let data = std::fs::read(image).unwrap();
    let plain = match decompressor {
        None => data,
        Some(tool) => {
            let out = Command::new(tool)
                .args(["-d", "-c"])
                .stdin(std::fs::File::open(image).unwrap())
                .output()
                .unwrap_or_else(|e| {
                    panic!("{tool} is an oracle of this test and must be installed: {e}")
                });
            assert!(
                out.status.success(),
                "{tool} -d failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
    };
    let mut child = Command::new("cpio")
        .args(["-it", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("GNU cpio is an oracle of this test and must be installed");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&plain).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_compression_is_read_by_the_host_tools_and_by_ls() {
    let f = Fixture::new();
    for (c, tool) in [
        ("gzip", Some("gzip")),
        ("zstd", Some("zstd")),
        ("xz", Some("xz")),
        ("none", None),
    ] {
        let out = format!("{c}.img");
        ok(&f.build(&out, &["--compression", c]));
        let listed = oracle_list(&f.path(&out), tool);
        let ls = Command::new(env!("CARGO_BIN_EXE_flashroot"))
            .arg("ls")
            .arg(f.path(&out))
            .output()
            .unwrap();
        assert!(
            ls.status.success(),
            "flashroot ls {c}: {}",
            String::from_utf8_lossy(&ls.stderr)
        );
        assert_eq!(
            String::from_utf8(ls.stdout).unwrap(),
            listed,
            "flashroot ls and cpio -t differ for {c}"
        );
        assert!(listed.contains("\ninit\n"), "{c}: {listed}");
    }
}

/// `lsinitramfs` (initramfs-tools) is the oracle for the plain listing.
fn lsinitramfs(image: &Path) -> String {
    let out = Command::new("lsinitramfs")
        .arg(image)
        .output()
        .unwrap_or_else(|e| panic!("lsinitramfs (initramfs-tools-core) is an oracle of this test and must be installed: {e}"));
    assert!(
        out.status.success(),
        "lsinitramfs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn flashroot_ls(image: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_flashroot"))
        .arg("ls")
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "flashroot ls: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn ls_prints_what_lsinitramfs_prints_in_every_compression_and_after_microcode() {
    let f = Fixture::new();
    let mut w = flashroot_cpio::NewcWriter::new(Vec::new(), Default::default());
    w.file("kernel/x86/microcode/AuthenticAMD.bin", 0o644, b"ucode")
        .unwrap();
    // Early archives come from GNU cpio, padded to its 512-byte blocks.
    let mut early = w.finish().unwrap();
    early.resize(early.len().next_multiple_of(512), 0);
    // Not "none": unmkinitramfs takes uncompressed archives for early parts and then fails
    // on the empty main part ("cpio: premature end of archive"), for GNU cpio's archives too.
    for c in ["gzip", "zstd", "xz"] {
        let out = format!("{c}.img");
        ok(&f.build(&out, &["--compression", c]));
        let mut combined = early.clone();
        combined.extend(std::fs::read(f.path(&out)).unwrap());
        f.write("combined.img", &combined);
        for image in [f.path(&out), f.path("combined.img")] {
            let ours = flashroot_ls(&image);
            assert_eq!(ours, lsinitramfs(&image), "{c}: {}", image.display());
            assert!(ours.contains("\ndev/console\n"), "{ours}");
        }
    }
}

#[test]
fn ls_lists_an_early_microcode_archive_followed_by_the_main_one() {
    let f = Fixture::new();
    ok(&f.build("main.img", &["--compression", "zstd"]));
    let mut w = flashroot_cpio::NewcWriter::new(Vec::new(), Default::default());
    w.file("kernel/x86/microcode/GenuineIntel.bin", 0o644, b"ucode")
        .unwrap();
    let mut image = w.finish().unwrap();
    image.extend(std::fs::read(f.path("main.img")).unwrap());
    f.write("combined.img", &image);
    let ls = Command::new(env!("CARGO_BIN_EXE_flashroot"))
        .args(["ls", "-l"])
        .arg(f.path("combined.img"))
        .output()
        .unwrap();
    let text = String::from_utf8(ls.stdout).unwrap();
    assert!(ls.status.success());
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("drwxr-xr-x   2 0        0               0 1970-01-01 00:00 kernel"),
        "{text}"
    );
    assert!(text.contains("-rw-r--r--   1 0        0               5 1970-01-01 00:00 kernel/x86/microcode/GenuineIntel.bin\n"));
    assert!(
        text.contains("crw-------   1 0        0          5,   1 1970-01-01 00:00 dev/console\n"),
        "{text}"
    );
}

#[test]
fn a_failed_build_leaves_the_previous_image_untouched() {
    let f = Fixture::new();
    f.write("initrd.img", b"previous image");
    f.write(
        "flashroot.toml",
        config_text(r#""vfat", "jffs2""#, "").as_bytes(),
    );
    let out = f.build("initrd.img", &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("module jffs2 not found for kernel 6.1.0-test"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(f.path("initrd.img")).unwrap(),
        b"previous image"
    );
    let leftovers: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn refuses_a_compression_the_kernel_cannot_unpack() {
    let f = Fixture::new();
    f.write(
        "config-6.1",
        b"CONFIG_RD_GZIP=y\nCONFIG_RD_XZ=y\n# CONFIG_RD_ZSTD is not set\n",
    );
    let kc = f.path("config-6.1");
    ok(&f.build(
        "x.img",
        &[
            "--compression",
            "xz",
            "--kernel-config",
            kc.to_str().unwrap(),
        ],
    ));
    let out = f.build(
        "z.img",
        &[
            "--compression",
            "zstd",
            "--kernel-config",
            kc.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("does not set CONFIG_RD_ZSTD=y: this kernel cannot unpack a zstd initramfs"),
        "{stderr}"
    );
}

#[test]
fn packs_gen_init_cpio_specs_extra_files_and_the_shell() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.path("extra/keys")).unwrap();
    f.write("extra/keys/a.pub", b"key");
    f.write("busybox", b"\x7fELF busybox");
    f.write("spec.txt", format!("dir /mnt 0700 0 0\nnod /dev/ttyS0 0660 0 5 c 4 64\nslink /bin/ls sh 0777 0 0\nfile /etc/motd {} 0644 0 0\n", f.path("init").display()).as_bytes());
    let extra = format!(
        "shell = \"{}\"\n[[initramfs.files]]\nsource = \"{}\"\ntarget = \"/etc/keys\"\n",
        f.path("busybox").display(),
        f.path("extra/keys").display()
    );
    f.write("flashroot.toml", config_text(r#""fat""#, &extra).as_bytes());
    ok(&f.build(
        "initrd.img",
        &["--gen-init-cpio", f.path("spec.txt").to_str().unwrap()],
    ));
    let entries = f.entries("initrd.img");
    assert_eq!(entry(&entries, "mnt").header.mode & 0o7777, 0o700);
    let tty = &entry(&entries, "dev/ttyS0").header;
    assert_eq!((tty.rdevmajor, tty.rdevminor, tty.gid), (4, 64, 0));
    assert_eq!(
        entry(&entries, "bin/ls").link_target().as_deref(),
        Some("sh")
    );
    assert_eq!(entry(&entries, "bin/sh").data, b"\x7fELF busybox");
    assert_eq!(entry(&entries, "bin/sh").header.mode & 0o7777, 0o755);
    assert_eq!(entry(&entries, "etc/keys/a.pub").data, b"key");
    assert_eq!(
        entry(&entries, "etc/motd").data,
        b"#!/bin/sh\necho test init\n"
    );

    // A spec entry that collides with what the builder packs names both.
    f.write("spec.txt", b"slink /init /bin/sh 0777 0 0\n");
    let out = f.build(
        "y.img",
        &["--gen-init-cpio", f.path("spec.txt").to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/init is added twice: by the init and by")
            && stderr.contains("spec.txt entry 1"),
        "{stderr}"
    );
}

#[test]
fn relative_host_paths_in_the_config_are_taken_from_the_config_files_directory() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.path("extra/keys")).unwrap();
    f.write("extra/keys/b.pub", b"relative key");
    f.write("busybox", b"\x7fELF relative busybox");
    f.write("spec.txt", b"dir /relative-spec 0700 0 0\n");
    let extra = "shell = \"busybox\"\ngen_init_cpio = [\"spec.txt\"]\n\
                 [[initramfs.files]]\nsource = \"extra/keys\"\ntarget = \"/etc/keys\"\n";
    f.write("flashroot.toml", config_text(r#""fat""#, extra).as_bytes());
    // The test runs in the crate's directory, where none of these relative paths exist.
    assert!(!Path::new("busybox").exists() && !Path::new("spec.txt").exists());
    ok(&f.build("initrd.img", &[]));
    let entries = f.entries("initrd.img");
    assert_eq!(entry(&entries, "bin/sh").data, b"\x7fELF relative busybox");
    assert_eq!(entry(&entries, "etc/keys/b.pub").data, b"relative key");
    assert_eq!(entry(&entries, "relative-spec").header.mode & 0o7777, 0o700);
}
