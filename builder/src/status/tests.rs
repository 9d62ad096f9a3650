//! `gather` on a hand-made system tree: a loop-device container, its MTD device, the JFFS2
//! root, a RAM directory with a saved copy, and the errors for a system flashroot did not boot.

use std::fs;
use std::path::Path;

use super::{gather, human, jffs2_at, Route, StatusError, System};

fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path.trim_start_matches('/'));
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(file, text).unwrap();
}

/// A box booted with `writes = "buffered"`: the root container on /dev/loop0.
fn buffered_box(root: &Path) {
    write(
        root,
        "/run/flashroot/containers",
        "container\trootfs.img\t/dev/loop0\trootfs\t-\ncard\t/run/flashroot/card\n",
    );
    // Mount points are real directories of the tree, so statfs works on them.
    for dir in ["run/flashroot/card", "tmp", "var/log"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    write(
        root,
        "/proc/self/mountinfo",
        "20 1 31:0 / / rw,noatime - jffs2 mtd:rootfs rw\n\
         21 20 0:5 / /dev rw - devtmpfs udev rw\n\
         22 20 0:20 / /tmp rw - tmpfs tmpfs rw\n\
         23 20 0:21 / /var/log rw - tmpfs tmpfs rw\n\
         24 20 8:1 / /run/flashroot/card rw - vfat /dev/sda1 rw\n",
    );
    write(
        root,
        "/sys/block/loop0/loop/backing_file",
        "/run/flashroot/card/rootfs.img\n",
    );
    write(root, "/sys/block/loop0/loop/dio", "0\n");
    write(root, "/sys/class/mtd/mtd0/name", "rootfs\n");
    write(root, "/sys/class/mtd/mtd0/size", "8388608\n");
    write(root, "/sys/class/mtd/mtd0/erasesize", "65536\n");
    write(root, "/sys/class/mtd/mtd0ro/name", "rootfs\n");
    write(root, "/proc/sys/vm/dirty_expire_centisecs", "3000\n");
    write(root, "/proc/sys/vm/dirty_writeback_centisecs", "500\n");
    write(root, "/run/flashroot/ramdirs", "/var/log\n");
    write(root, "/run/flashroot/ramdirs.pid", "4242\n");
    write(
        root,
        "/proc/4242/cmdline",
        "flashroot-ramdirs\0/root\0/var/log=15\0",
    );
    let store = root.join("var/lib/flashroot/ramdir/var/log");
    fs::create_dir_all(store.join("gen.3")).unwrap();
    std::os::unix::fs::symlink("gen.3", store.join("current")).unwrap();
}

fn system(root: &Path) -> System {
    System {
        root: root.to_path_buf(),
        near_enospc_bytes: 1 << 60,
    }
}

#[test]
fn a_buffered_loop_box_is_reported_from_its_files() {
    let dir = tempfile::tempdir().unwrap();
    buffered_box(dir.path());
    let status = gather(&system(dir.path())).unwrap();

    assert_eq!(status.card.mount.as_deref(), Some("/run/flashroot/card"));
    assert_eq!(status.card.device.as_deref(), Some("/dev/sda1"));
    // No /dev/sda1 in the tree: named as a warning, not an error.
    assert!(
        status.warnings.iter().any(|w| w.contains("dev/sda1")),
        "{:?}",
        status.warnings
    );

    let c = &status.containers[0];
    assert_eq!(c.route, Route::Loop);
    assert_eq!(
        c.writes_to.as_deref(),
        Some("/run/flashroot/card/rootfs.img")
    );
    assert_eq!(c.direct_io, Some(false));
    let mtd = c.mtd.as_ref().unwrap();
    assert_eq!(
        (mtd.name.as_str(), mtd.size_bytes, mtd.erase_bytes),
        ("mtd0", 8 << 20, 65536)
    );

    let j = &status.jffs2[0];
    assert_eq!(j.mountpoint, "/");
    assert_eq!(j.container.as_deref(), Some("rootfs.img"));
    let space = j.space.unwrap();
    assert_eq!(space.reserve_bytes, 5 * 65536);

    // /dev is the system's; /tmp and the RAM directory are flashroot's.
    let points: Vec<&str> = status
        .ram_mounts
        .iter()
        .map(|m| m.mountpoint.as_str())
        .collect();
    assert_eq!(points, ["/tmp", "/var/log"]);
    assert!(status.ram_mounts[1].ramdir);

    let r = &status.ramdirs[0];
    assert_eq!((r.path.as_str(), r.mounted), ("/var/log", true));
    assert_eq!(r.save_minutes, Some(15));
    assert_eq!(r.saved_copy, Some(3));
    assert!(r.last_save_age_seconds.is_some_and(|age| age < 600));
    assert_eq!(status.durability.ramdir_keeper_pid, Some(4242));

    assert_eq!(status.durability.writes, "buffered");
    assert_eq!(
        status.durability.loss_window,
        "about 35 s of container writes (loop devices), fsync included"
    );
    // The threshold is far above any free space here.
    assert!(status.near_enospc.near);

    let text = human(&status);
    for says in [
        "container rootfs.img: loop device /dev/loop0",
        "writes to /run/flashroot/card/rootfs.img, through the page cache",
        "mtd0 (rootfs): 8MiB, erase block 64KiB",
        "RAM directory /var/log: last saved ",
        "saved every 15 min",
        "durability: buffered writes",
        "warning: the root is near ENOSPC",
    ] {
        assert!(text.contains(says), "{says:?} missing from:\n{text}");
    }
}

/// `flashroot overlay`'s one mount: the same geometry and free space as the full report,
/// the MTD device found by the mount's source alone.
#[test]
fn one_jffs2_mount_is_reported_as_the_full_report_has_it() {
    let dir = tempfile::tempdir().unwrap();
    buffered_box(dir.path());
    let system = system(dir.path());
    let full = gather(&system).unwrap();
    let one = jffs2_at(&system, "/").unwrap().expect("the root's JFFS2");
    assert_eq!(one.geometry, full.jffs2[0].geometry);
    assert_eq!(one.space, full.jffs2[0].space);
    assert!(
        jffs2_at(&system, "/tmp").unwrap().is_none(),
        "tmpfs is no JFFS2"
    );
}

#[test]
fn a_system_flashroot_did_not_boot_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = gather(&system(dir.path())).unwrap_err();
    assert!(matches!(err, StatusError::NotFlashroot { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}/run/flashroot/containers is missing: this system was not booted from a card by flashroot's init",
            dir.path().display()
        )
    );
    write(dir.path(), "/run/flashroot/containers", "disk\tx\n");
    let err = gather(&system(dir.path())).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}/run/flashroot/containers: line 1: unknown record kind \"disk\"",
            dir.path().display()
        )
    );
}
