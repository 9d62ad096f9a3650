//! Issue #5, flash boot end to end under QEMU: Debian's kernel and modules, an initramfs
//! from `flashroot build`'s pipeline, a FAT32 card holding a JFFS2 root made by our own
//! writer. The real init is a busybox script that hands back /proc/self/mountinfo.

mod flashboot;

use flashboot::*;

const ERASE_64K: u32 = 64 << 10;

/// Builds card + initramfs for the embedded default config in `dir`.
fn default_boot(dir: &Path) -> (flashroot_qemu::Kernel, PathBuf, PathBuf) {
    let kernel = kernel();
    let tree = root_tree(dir, Some(REPORT_INIT));
    let image = dir.join("rootfs.img");
    jffs2_image(&tree, &image, ERASE_64K);
    let card_path = dir.join("card.img");
    card(&card_path, &[("rootfs.img", &image)]);
    let initrd = dir.join("initrd.cpio");
    initramfs(&kernel, flashroot_config::DEFAULT_TOML, &initrd);
    (kernel, initrd, card_path)
}

use std::path::{Path, PathBuf};

#[test]
fn flash_boot_mounts_jffs2_root_tmpfs_overlay_and_keeps_the_card() {
    let dir = tempfile::tempdir().unwrap();
    let (kernel, initrd, card_path) = default_boot(dir.path());
    let outcome = run(
        &kernel,
        &initrd,
        vec![ide(&card_path)],
        &format!("mtd {FAIL_FAST}"),
    );
    outcome
        .expect_console("flashroot: exec /sbin/init")
        .expect_powered_off();
    let report = Report::from_outcome(&outcome);

    let root = report.expect_mount("/", "jffs2");
    assert!(root.source.starts_with("mtd"), "root source {root:?}");
    assert!(root.options.contains("noatime"), "{root:?}");
    for tmp in ["/tmp", "/var/log", "/var/lock"] {
        report.expect_mount(tmp, "tmpfs");
    }
    // /var/run is /run in the root: the initramfs' /run (tmpfs) is moved there.
    report.expect_mount("/run", "tmpfs");
    report.expect_mount("/var/cache/apt", "overlay");
    report.expect_mount("/run/flashroot/overlay/0", "tmpfs");
    report.expect_mount("/dev", "devtmpfs");
    report.expect_mount("/proc", "proc");
    report.expect_mount("/sys", "sysfs");
    let card = report.expect_mount("/run/flashroot/card", "vfat");
    assert!(
        card.super_options.starts_with("rw"),
        "the card must be read-write: {card:?}"
    );
    assert!(
        report.field("card").unwrap().contains("rootfs.img"),
        "{}",
        report.text
    );

    // The real init is PID 1 with a clean argv and environment.
    assert_eq!(report.field("pid"), Some("1"), "{}", report.text);
    assert_eq!(report.field("argv"), Some("/sbin/init "), "{}", report.text);
    let env = report.field("env").unwrap();
    assert!(
        !env.contains("flashroot") && !env.contains("console"),
        "env leaked: {env}"
    );

    // The initramfs was emptied (it held the modules: megabytes).
    let freed = outcome
        .console
        .lines()
        .find_map(|l| l.split("flashroot: freed the initramfs: ").nth(1))
        .unwrap_or_else(|| panic!("no 'freed the initramfs' line:\n{}", outcome.tail(50)));
    let kib: u64 = freed.trim().trim_end_matches(" KiB").parse().unwrap();
    assert!(kib > 1024, "only {kib} KiB freed");
    // The init's own timeline, for BENCHMARKS.md (`cargo test ... -- --nocapture`).
    for line in outcome.console.lines().filter(|l| l.contains("flashroot:")) {
        eprintln!("{line}");
    }
    eprintln!(
        "kernel ran /init at {:?} s, real init at {:?} s (guest clock); QEMU wall time {:.2} s",
        outcome.kernel_time_of("Run /init as init process"),
        outcome.kernel_time_of("report-init: begin"),
        outcome.elapsed.as_secs_f64()
    );
}
