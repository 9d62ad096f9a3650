//! `flashroot import-root` on a small debootstrap-like fixture tree: the source stays
//! untouched, the copy is flash-ready, and every change is reported.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use flashroot::rootprep::{self, fstab, Change, Target};
use flashroot_config::Config;
use walkdir::WalkDir;

/// A root shaped like `debootstrap --variant=minbase` leaves it, in miniature.
fn fixture(root: &Path) {
    for dir in [
        "dev/pts",
        "proc/self",
        "sys",
        "run/lock",
        "tmp",
        "var/tmp",
        "var/log/apt",
        "var/cache/apt/archives/partial",
        "etc",
        "usr/bin",
    ] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::write(root.join("dev/console-placeholder"), b"").unwrap();
    fs::write(root.join("proc/self/status"), b"stale").unwrap();
    fs::write(root.join("tmp/leftover"), b"x").unwrap();
    fs::write(root.join("var/tmp/cache"), b"x").unwrap();
    fs::write(root.join("var/log/dpkg.log"), b"install\n").unwrap();
    fs::write(root.join("var/log/apt/history.log"), b"h\n").unwrap();
    fs::write(root.join("var/cache/apt/pkgcache.bin"), vec![0u8; 100]).unwrap();
    fs::write(root.join("var/cache/apt/srcpkgcache.bin"), vec![0u8; 50]).unwrap();
    fs::write(root.join("var/cache/apt/archives/lock"), b"").unwrap();
    fs::write(
        root.join("var/cache/apt/archives/hello_1_amd64.deb"),
        vec![0u8; 10],
    )
    .unwrap();
    fs::write(
        root.join("etc/fstab"),
        "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n",
    )
    .unwrap();
    fs::write(root.join("usr/bin/true"), b"#!/bin/sh\n").unwrap();
    symlink("/run", root.join("var/run")).unwrap();
    symlink("/run/lock", root.join("var/lock")).unwrap();
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o755)).unwrap();
}

/// Every path with its type, mode and content (or link target): changes to any show up.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let meta = e.path().symlink_metadata().unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", fs::read_link(e.path()).unwrap().display())
            } else if meta.is_file() {
                format!("{:?}", fs::read(e.path()).unwrap())
            } else {
                "dir".into()
            };
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            (rel, format!("{:o} {what}", meta.permissions().mode()))
        })
        .collect()
}

fn lines(report: &rootprep::Report) -> Vec<String> {
    report.changes.iter().map(|c| c.to_string()).collect()
}

#[test]
fn copy_is_prepared_and_source_untouched() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("debootstrap");
    let dest = work.path().join("flash");
    fixture(&source);
    let before = snapshot(&source);

    let config = Config::embedded_default();
    let (root, report) = rootprep::import(&source, Target::Copy(&dest), &config).unwrap();

    assert_eq!(root, dest);
    assert_eq!(snapshot(&source), before, "the source must not change");
    let got = lines(&report);
    let expected = vec![
        format!("copied {} to {}", source.display(), dest.display()),
        "emptied /dev: removed 2 entries (the init mounts a filesystem there)".to_string(),
        "emptied /proc: removed 1 entries (the init mounts a filesystem there)".into(),
        "changed mode of /proc from 0755 to 0555".into(),
        "changed mode of /sys from 0755 to 0555".into(),
        "emptied /run: removed 1 entries (the init mounts a filesystem there)".into(),
        "emptied /tmp: removed 1 entries (the init mounts a filesystem there)".into(),
        "changed mode of /tmp from 0755 to 1777".into(),
        "replaced /var/tmp (a directory) with a symlink to /tmp".into(),
        "kept /var/lock: resolves to /run/lock, inside /run, which is mounted at boot anyway".into(),
        "kept /var/run: resolves to /run, inside /run, which is mounted at boot anyway".into(),
        "kept /var/log: a RAM directory: the first boot loads it into tmpfs, saves go to /var/lib/flashroot/ramdir/var/log".into(),
        "created /var/cache/man (mode 0755)".into(),
        "kept /var/cache/man: a RAM directory: the first boot loads it into tmpfs, saves go to /var/lib/flashroot/ramdir/var/cache/man".into(),
        "removed /var/cache/apt/pkgcache.bin (100 bytes; apt regenerates it)".into(),
        "removed /var/cache/apt/srcpkgcache.bin (50 bytes; apt regenerates it)".into(),
        "removed /var/cache/apt/archives/hello_1_amd64.deb (10 bytes; a downloaded package, as after apt-get clean)".into(),
        "kept /var/cache/apt: the read-only lower layer of its overlay; writes go to tmpfs".into(),
        "added to /etc/fstab: mtd:rootfs / jffs2 noatime 0 0".into(),
        "added to /etc/fstab: tmpfs /tmp tmpfs nosuid,nodev,mode=1777 0 0".into(),
        "kept /usr/bin/localedef: no dpkg database (/var/lib/dpkg/status): not a Debian root"
            .into(),
    ];
    assert_eq!(got, expected, "report:\n{report}");

    for dir in ["dev", "proc", "sys", "run", "tmp"] {
        let entries = fs::read_dir(dest.join(dir)).unwrap().count();
        assert_eq!(entries, 0, "{dir} must be empty");
    }
    // A RAM directory keeps its files: the first boot loads them into its tmpfs.
    assert_eq!(fs::read_dir(dest.join("var/log")).unwrap().count(), 2);
    assert_eq!(
        fs::read_link(dest.join("var/tmp")).unwrap(),
        Path::new("/tmp")
    );
    assert_eq!(
        fs::read_link(dest.join("var/run")).unwrap(),
        Path::new("/run")
    );
    assert!(dest.join("var/cache/apt/archives/partial").is_dir());
    assert!(dest.join("var/cache/apt/archives/lock").is_file());
    assert!(dest.join("usr/bin/true").is_file());
    let fstab_text = fs::read_to_string(dest.join("etc/fstab")).unwrap();
    assert_eq!(
        fstab_text,
        format!(
            "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n{}\nmtd:rootfs / jffs2 noatime 0 0\n\
             tmpfs /tmp tmpfs nosuid,nodev,mode=1777 0 0\n{}\n",
            fstab::BEGIN_MARKER,
            fstab::END_MARKER
        )
    );
}

#[test]
fn second_import_in_place_changes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("src");
    let dest = work.path().join("flash");
    fixture(&source);
    let config = Config::embedded_default();
    rootprep::import(&source, Target::Copy(&dest), &config).unwrap();
    let prepared = snapshot(&dest);

    let (_, report) = rootprep::import(&dest, Target::InPlace, &config).unwrap();
    let changed: Vec<&Change> = report.modifications().collect();
    assert!(
        changed.is_empty(),
        "a prepared root needs no change, got {changed:?}"
    );
    assert_eq!(snapshot(&dest), prepared);
}

#[test]
fn copy_refuses_a_non_empty_target_by_name() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("src");
    let dest = work.path().join("busy");
    fixture(&source);
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("precious"), b"x").unwrap();
    let err =
        rootprep::import(&source, Target::Copy(&dest), &Config::embedded_default()).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        format!(
            "target {} is not empty; give a new or empty directory",
            dest.display()
        )
    );
    assert!(dest.join("precious").is_file());
}

#[test]
fn a_file_where_a_mount_dir_belongs_is_an_error_naming_it() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("proc"), b"oops").unwrap();
    let err = rootprep::import(&root, Target::InPlace, &Config::embedded_default()).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        format!(
            "preparing root {}: /proc must be a directory (the init mounts a filesystem there), but it is a file",
            root.display()
        )
    );
}

#[test]
fn cli_prints_the_report_and_leaves_the_source_alone() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("src");
    let dest = work.path().join("out");
    fixture(&source);
    let before = snapshot(&source);
    let output = Command::new(env!("CARGO_BIN_EXE_flashroot"))
        .arg("import-root")
        .arg(&source)
        .arg("-o")
        .arg(&dest)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("replaced /var/tmp (a directory) with a symlink to /tmp\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(&format!(
            "flash-ready root: {} (15 changes)\n",
            dest.display()
        )),
        "{stdout}"
    );
    assert_eq!(snapshot(&source), before);
}

#[test]
fn cli_requires_a_target() {
    let output = Command::new(env!("CARGO_BIN_EXE_flashroot"))
        .args(["import-root", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--output <DIR>"), "{stderr}");
    assert!(stderr.contains("--in-place"), "{stderr}");
}

#[test]
fn cli_writes_the_prepared_root_straight_into_a_jffs2_image() {
    use flashroot::jffs2::{scan, Fs};
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("src");
    fixture(&source);
    let before = snapshot(&source);
    let image = work.path().join("rootfs.img");
    let output = Command::new(env!("CARGO_BIN_EXE_flashroot"))
        .arg("import-root")
        .arg(&source)
        .arg("--image")
        .arg(&image)
        .args(["--pad", "1MiB"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("\n1048576 bytes: 16 erase blocks of 65536 bytes")
            && stdout.ends_with(&format!(
                "flash-ready JFFS2 image: {} (15 changes to the root)\n",
                image.display()
            )),
        "{stdout}"
    );
    assert_eq!(snapshot(&source), before, "the source must not change");
    let leftovers: Vec<_> = fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".flashroot-root-"))
        .collect();
    assert!(leftovers.is_empty(), "scratch copy left: {leftovers:?}");

    // Read it back: the prepared layout, not the source's.
    let bytes = fs::read(&image).unwrap();
    assert_eq!(bytes.len(), 1 << 20);
    let scanned = scan(&bytes, Some(64 << 10)).unwrap();
    let entries = Fs::new(&bytes, &scanned).walk().unwrap();
    let path_of = |p: &str| entries.iter().find(|e| e.path == p.as_bytes());
    let var_tmp = path_of("var/tmp").expect("var/tmp in the image");
    assert_eq!(var_tmp.mode & 0o170000, 0o120000, "var/tmp is a symlink");
    assert!(
        path_of("var/log/dpkg.log").is_some(),
        "a RAM directory's files are kept: the first boot loads them"
    );
    assert!(path_of("tmp/leftover").is_none());
    assert!(path_of("usr/bin/true").is_some());
    let tmp = path_of("tmp").unwrap();
    assert_eq!(tmp.mode & 0o7777, 0o1777);
}
