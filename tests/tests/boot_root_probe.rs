//! Issue #12 point 4: the **default** image boots a conventional root. Its ext4 module is
//! packed but loaded only once a root's superblock says ext4 (not on a flash boot); a
//! root whose filesystem is not packed stops the boot with a message naming it, and
//! adding that module to `[modules] extra`, as the message says, boots it.

use flashroot_tests::flashboot;

use std::path::Path;
use std::process::Command;

use flashboot::*;

const ERASE_64K: u32 = 64 << 10;

/// The report init with /proc/modules in its report, to tell what the boot loaded.
fn modules_report_init() -> String {
    let section = format!(
        "  echo \"{}\"\n  cat /proc/modules\n  echo \"{MODULES_END}\"\n  echo \"--- mountinfo\"",
        MODULES_BEGIN.trim_end()
    );
    let init = REPORT_INIT.replacen("  echo \"--- mountinfo\"", &section, 1);
    assert_ne!(
        init, REPORT_INIT,
        "REPORT_INIT has no mountinfo section any more"
    );
    init
}

fn default_image(kernel: &flashroot_qemu::Kernel, dir: &Path) -> std::path::PathBuf {
    let initrd = dir.join("default.cpio");
    initramfs(kernel, flashroot_config::DEFAULT_TOML, &initrd);
    initrd
}

/// A whole-disk squashfs of `tree` (no partition table: root=/dev/sda).
fn squashfs_disk(tree: &Path, out: &Path) {
    let st = Command::new("mksquashfs")
        .arg(tree)
        .arg(out)
        .args(["-noappend", "-quiet", "-all-root"])
        .output()
        .expect("mksquashfs (squashfs-tools) is required for this test");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}

#[test]
fn default_image_boots_ext4_by_uuid_and_loads_ext4_only_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let tree = root_tree(dir.path(), Some(&modules_report_init()));
    let initrd = default_image(&kernel, dir.path());

    // root=UUID= of an ext4 partition, no rootfstype.
    let disk = dir.path().join("ext4-disk.img");
    ext4_disk(&tree, &disk);
    let outcome = run(
        &kernel,
        &initrd,
        vec![ide(&disk)],
        &format!("root=UUID={EXT4_UUID} {FAIL_FAST}"),
    );
    outcome
        .expect_console(&format!("flashroot: found UUID={EXT4_UUID} at /dev/sda1"))
        .expect_console("flashroot: /dev/sda1: ext4 superblock")
        .expect_console("flashroot: for the ext4 filesystem: loaded")
        .expect_console("flashroot: /dev/sda1 is ext4")
        .expect_console("flashroot: exec /sbin/init")
        .expect_powered_off();
    let report = Report::from_outcome(&outcome);
    let root = report.expect_mount("/", "ext4");
    assert_eq!(root.source, "/dev/sda1", "{root:?}");
    let loaded = report.loaded_modules();
    for m in ["ext4", "jbd2", "mbcache"] {
        assert!(loaded.contains(&m), "{m} not loaded: {loaded:?}");
    }

    // The same image's flash boot never loads ext4.
    let image = dir.path().join("rootfs.img");
    jffs2_image(&tree, &image, ERASE_64K);
    let card_path = dir.path().join("card.img");
    card(&card_path, &[("rootfs.img", &image)]);
    let outcome = run(
        &kernel,
        &initrd,
        vec![ide(&card_path)],
        &format!("mtd {FAIL_FAST}"),
    );
    outcome.expect_powered_off();
    let report = Report::from_outcome(&outcome);
    report.expect_mount("/", "jffs2");
    let loaded = report.loaded_modules();
    assert!(loaded.contains(&"jffs2"), "{loaded:?}");
    for m in ["ext4", "jbd2"] {
        assert!(
            !loaded.contains(&m),
            "{m} loaded on a flash boot: {loaded:?}"
        );
    }
}

#[test]
fn a_root_filesystem_the_image_lacks_is_named_and_extra_adds_it() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let tree = root_tree(dir.path(), Some(REPORT_INIT));
    let disk = dir.path().join("root.sqfs");
    squashfs_disk(&tree, &disk);
    let initrd = default_image(&kernel, dir.path());

    // Probed: the superblock says squashfs, which the default image does not pack.
    let outcome = run(
        &kernel,
        &initrd,
        vec![ide(&disk)],
        &format!("root=/dev/sda {FAIL_FAST}"),
    );
    outcome
        .expect_console("flashroot: /dev/sda: squashfs superblock")
        .expect_console(
            "flashroot: error: mount: /dev/sda on /root (no type, ro): squashfs is not in this initramfs: add it to [modules] extra",
        )
        .expect_powered_off();
    assert!(
        !outcome.console.contains("exec /sbin/init"),
        "{}",
        outcome.tail(30)
    );

    // Named: rootfstype= of a type neither packed nor built in.
    let outcome = run(
        &kernel,
        &initrd,
        vec![ide(&disk)],
        &format!("root=/dev/sda rootfstype=xfs {FAIL_FAST}"),
    );
    outcome
        .expect_console(
            "flashroot: error: mount: /dev/sda on /root (xfs, ro): xfs is not in this initramfs: add it to [modules] extra",
        )
        .expect_powered_off();

    // What the message says to do.
    let fixed = dir.path().join("with-squashfs.cpio");
    initramfs(&kernel, &config_with_extra_modules(&["squashfs"]), &fixed);
    let outcome = run(
        &kernel,
        &fixed,
        vec![ide(&disk)],
        &format!("root=/dev/sda {FAIL_FAST}"),
    );
    outcome
        .expect_console("flashroot: for the squashfs filesystem: loaded squashfs")
        .expect_console("flashroot: exec /sbin/init")
        .expect_powered_off();
    let report = Report::from_outcome(&outcome);
    assert_eq!(report.expect_mount("/", "squashfs").source, "/dev/sda");
}
