//! Issue #5, normal boot: without the trigger word the same initramfs mounts `root=`
//! (here `UUID=` of an ext4 partition, type probed) and switches to it; with `mtd` the
//! very same image does the flash boot.

use flashroot_tests::flashboot;

use flashboot::*;

const ERASE_64K: u32 = 64 << 10;

#[test]
fn one_initramfs_boots_ext4_by_uuid_and_jffs2_from_the_card() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let tree = root_tree(dir.path(), Some(REPORT_INIT));
    let initrd = dir.path().join("initrd.cpio");
    initramfs(&kernel, &config_with_extra_modules(&["ext4"]), &initrd);

    // Normal boot: the ext4 disk first (sda), no card.
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
        .expect_console("flashroot: /dev/sda1 is ext4")
        .expect_console("flashroot: exec /sbin/init")
        .expect_powered_off();
    let report = Report::from_outcome(&outcome);
    let root = report.expect_mount("/", "ext4");
    assert_eq!(root.source, "/dev/sda1", "{root:?}");
    assert!(
        root.options.starts_with("ro"),
        "read-only without `rw`, as the kernel does: {root:?}"
    );
    assert!(
        report.mount_at("/tmp").is_none(),
        "no flash-boot tmpfs in a normal boot:\n{}",
        report.text
    );
    assert!(
        report.mount_at("/run/flashroot/card").is_none(),
        "{}",
        report.text
    );
    report.expect_mount("/dev", "devtmpfs");
    report.expect_mount("/run", "tmpfs");
    assert_eq!(report.field("pid"), Some("1"));

    // The same initramfs, flash boot.
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
    Report::from_outcome(&outcome).expect_mount("/", "jffs2");
}
