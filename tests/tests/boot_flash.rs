//! Issue #5, flash boot end to end under QEMU: Debian's kernel and modules, an initramfs
//! from `flashroot build`'s pipeline, a FAT32 card holding a JFFS2 root made by our own
//! writer. The real init is a busybox script that hands back /proc/self/mountinfo.

use flashroot_tests::flashboot;

use flashboot::*;

const ERASE_64K: u32 = 64 << 10;

/// Builds card + initramfs for the embedded default config in `dir`.
fn default_boot(dir: &Path) -> (flashroot_qemu::Kernel, PathBuf, PathBuf, u64) {
    let kernel = kernel();
    let tree = root_tree(dir, Some(REPORT_INIT));
    let image = dir.join("rootfs.img");
    jffs2_image(&tree, &image, ERASE_64K);
    let card_path = dir.join("card.img");
    card(&card_path, &[("rootfs.img", &image)]);
    let initrd = dir.join("initrd.cpio");
    let archive_bytes = initramfs(&kernel, flashroot_config::DEFAULT_TOML, &initrd);
    (kernel, initrd, card_path, archive_bytes)
}

use std::path::{Path, PathBuf};

#[test]
fn flash_boot_mounts_jffs2_root_tmpfs_overlay_and_keeps_the_card() {
    let dir = tempfile::tempdir().unwrap();
    let (kernel, initrd, card_path, archive_bytes) = default_boot(dir.path());
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
    // Rust's SIGPIPE ignore must not leak through exec into the real init (the shell
    // there ignores SIGQUIT of its own accord).
    let ignored = report
        .field("sigign")
        .and_then(|m| u64::from_str_radix(m, 16).ok())
        .unwrap_or_else(|| panic!("no SigIgn mask\n{}", report.text));
    const SIGPIPE_BIT: u64 = 1 << (13 - 1);
    assert_eq!(
        ignored & SIGPIPE_BIT,
        0,
        "the real init ignores SIGPIPE: {ignored:#x}"
    );
    assert_eq!(report.field("argv"), Some("/sbin/init "), "{}", report.text);
    let env = report.field("env").unwrap();
    assert!(
        !env.contains("flashroot") && !env.contains("console"),
        "env leaked: {env}"
    );

    // The initramfs was emptied: the file bytes removed come close to the archive's size
    // (which adds only headers and padding).
    let freed = outcome
        .console
        .lines()
        .find_map(|l| l.split("flashroot: freed the initramfs: ").nth(1))
        .unwrap_or_else(|| panic!("no 'freed the initramfs' line:\n{}", outcome.tail(50)));
    let kib: u64 = freed.trim().trim_end_matches(" KiB").parse().unwrap();
    let archive_kib = archive_bytes / 1024;
    assert!(
        kib * 100 >= archive_kib * 95 && kib <= archive_kib,
        "freed {kib} KiB of a {archive_kib} KiB archive"
    );
    // The init's own timeline, for BENCHMARKS.md (`cargo test ... -- --nocapture`).
    for line in outcome.console.lines().filter(|l| l.contains("flashroot:")) {
        eprintln!("{line}");
    }
    eprintln!(
        "kernel ran /init at {:?} s, real init running at {:?} s of uptime; QEMU wall time {:.2} s",
        outcome.kernel_time_of("Run /init as init process"),
        report.field("uptime").and_then(|u| u.split(' ').next()),
        outcome.elapsed.as_secs_f64()
    );
}

const ERASE_128K: u32 = 128 << 10;
const USR_MARKER: &str = "from the usr container";

#[test]
fn two_containers_and_the_card_found_by_label() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let tree = root_tree(dir.path(), Some(REPORT_INIT));
    let usr_tree = dir.path().join("usr-tree");
    std::fs::create_dir_all(&usr_tree).unwrap();
    std::fs::write(usr_tree.join("marker"), USR_MARKER).unwrap();
    let root_image = dir.path().join("rootfs.img");
    jffs2_image(&tree, &root_image, ERASE_64K);
    let usr_image = dir.path().join("usr.img");
    jffs2_image(&usr_tree, &usr_image, ERASE_128K);
    let card_path = dir.path().join("card.img");
    card(
        &card_path,
        &[("rootfs.img", &root_image), ("images/usr.img", &usr_image)],
    );
    // Also the other way of keeping the card: lazily detached, as the classic recipe did.
    let config = flashroot_config::DEFAULT_TOML
        .replacen(
            "[[tmpfs]]",
            "[[container]]\nfile = \"images/usr.img\"\nmountpoint = \"/usr\"\nerase_size = \"128KiB\"\n\n[[tmpfs]]",
            1,
        )
        .replacen("keep = \"move\"", "keep = \"detach\"", 1);
    assert!(config.contains("keep = \"detach\""));
    let initrd = dir.path().join("initrd.cpio");
    initramfs(&kernel, &config, &initrd);

    let cmdline = format!("mtd flashroot.card=LABEL={CARD_LABEL} {FAIL_FAST}");
    let outcome = run(&kernel, &initrd, vec![ide(&card_path)], &cmdline);
    outcome
        .expect_console(&format!("flashroot: found LABEL={CARD_LABEL} at /dev/sda1"))
        .expect_console("block2mtd <device>,131072,usr -> mtd:usr")
        .expect_powered_off();
    let report = Report::from_outcome(&outcome);
    let root = report.expect_mount("/", "jffs2");
    let usr = report.expect_mount("/usr", "jffs2");
    assert_ne!(root.source, usr.source, "two MTD devices: {root:?} {usr:?}");
    assert_eq!(
        report.field("usr_marker"),
        Some(USR_MARKER),
        "{}",
        report.text
    );
}

#[test]
fn jffs2_root_persists_across_boots_and_tmpfs_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let (kernel, initrd, card_path, _) = default_boot(dir.path());
    // The card by its FAT serial, then by its MBR partition id; `quiet` as well: the
    // init's progress then goes to /dev/kmsg only.
    let partuuid = format!("{DISK_SIGNATURE:08x}-01");
    let cards = [format!("UUID={CARD_UUID}"), format!("PARTUUID={partuuid}")];
    let mut seen = Vec::new();
    for (boot, card) in cards.iter().enumerate() {
        let cmdline = format!("mtd quiet flashroot.card={card} {FAIL_FAST}");
        let outcome = run(&kernel, &initrd, vec![ide(&card_path)], &cmdline);
        outcome
            .expect_console("running as PID 1")
            .expect_powered_off();
        assert!(
            !outcome.console.contains("flashroot: mount -t"),
            "quiet, yet progress on the console:\n{}",
            outcome.tail(30)
        );
        let report = Report::from_outcome(&outcome);
        assert_eq!(
            report.field("volatile"),
            Some("absent"),
            "boot {boot}: /tmp kept a file\n{}",
            report.text
        );
        seen.push(report.field("boots_before").map(str::to_string));
    }
    // Each boot counts itself in /var/lib/boots on the JFFS2 root before powering off.
    assert_eq!(seen, [Some("0".to_string()), Some("1".to_string())]);
}

/// The write-speed benchmark's guest: 20 MB of random data (made first, on tmpfs) copied
/// to the JFFS2 root with `dd`, once plainly and once with `conv=fsync`, timed by the
/// guest's uptime; then `sync` after the plain copy.
const WRITE_SPEED_INIT: &str = r#"#!/bin/sh
export PATH=/bin
bb=/bin/busybox
up() { $bb cut -d' ' -f1 /proc/uptime; }
$bb dd if=/dev/urandom of=/tmp/src bs=64k count=320 2>/dev/null
a=$(up); $bb dd if=/tmp/src of=/plain bs=64k 2>/dev/null; b=$(up)
sync; c=$(up)
$bb rm /plain; sync; $bb sleep 1
d=$(up); $bb dd if=/tmp/src of=/fsynced bs=64k conv=fsync 2>/dev/null; e=$(up)
echo "write-speed: plain $a $b sync $c fsync $d $e end"
$bb rm /fsynced; sync
poweroff -f
"#;

/// Not a test: `bench/write-speed.sh` runs it (`--ignored`) for BENCHMARKS.md. Boots the
/// default config, or the one `FLASHROOT_BENCH_WRITES` names ("buffered": the classic
/// loop device), and prints the guest's timings.
#[test]
#[ignore = "benchmark: bench/write-speed.sh"]
fn bench_write_speed() {
    const CONTAINER: u64 = 64 << 20;
    const CARD: u64 = 128 << 20;
    let writes = std::env::var("FLASHROOT_BENCH_WRITES").unwrap_or_else(|_| "ordered".into());
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let tree = root_tree(dir.path(), Some(WRITE_SPEED_INIT));
    let image = dir.path().join("rootfs.img");
    let opts = flashroot::jffs2::Options {
        erase_size: ERASE_64K,
        pad_to: Some(CONTAINER),
        ..Default::default()
    };
    flashroot::jffs2::write_image(&tree, &image, &opts).expect("JFFS2 image");
    let card_path = dir.path().join("card.img");
    card_of_size(&card_path, &[("rootfs.img", &image)], CARD);
    let config = flashroot_config::DEFAULT_TOML.replacen(
        "writes = \"ordered\"",
        &format!("writes = \"{writes}\""),
        1,
    );
    let initrd = dir.path().join("initrd.cpio");
    initramfs(&kernel, &config, &initrd);
    let outcome = run(
        &kernel,
        &initrd,
        vec![ide(&card_path)],
        &format!("mtd {FAIL_FAST}"),
    );
    outcome.expect_powered_off();
    let line = outcome
        .console
        .lines()
        .find(|l| l.starts_with("write-speed:"))
        .unwrap_or_else(|| panic!("no write-speed line:\n{}", outcome.tail(30)));
    let v: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [a, b, c, d, e] = v[..] else {
        panic!("unexpected line {line}")
    };
    let mb = 20.97;
    println!(
        "write-speed writes={writes}: dd {:.2} s ({:.2} MB/s), dd+sync {:.2} s, dd conv=fsync {:.2} s ({:.2} MB/s)",
        b - a,
        mb / (b - a),
        c - a,
        e - d,
        mb / (e - d)
    );
}

/// A root without systemd: busybox init, set up as the README says. `/etc/rc` writes a
/// file, then asks for the clean shutdown with `kill -QUIT 1`: busybox init runs its
/// `::shutdown:` line (our program as a child: not PID 1, so it only flushes), stops every
/// process and execs its `::restart:` line as PID 1: our program pivots into
/// /run/initramfs itself and shuts down cleanly. The next boot reads the file back, and
/// neither fsck.vfat nor the kernel finds the card dirty.
const INITTAB: &str = "::sysinit:/etc/rc
::shutdown:/run/initramfs/shutdown
::restart:/run/initramfs/shutdown poweroff
";
const RC: &str = r#"#!/bin/sh
export PATH=/bin
if [ -e /var/lib/last-words ]; then
  echo "second-boot: last-words=$(cat /var/lib/last-words)"
  poweroff -f
fi
mkdir -p /var/lib
echo "written just before the shutdown" > /var/lib/last-words
HOLD_THE_ROOT
kill -QUIT 1
"#;
/// For the fault test: a loop device of our own on a file in the JFFS2 root, which no
/// shutdown step releases, keeps the root busy.
const HOLD_THE_ROOT: &str = "HOLD_THE_ROOT";
const LOOP_ON_THE_ROOT: &str =
    "dd if=/dev/zero of=/var/lib/held.img bs=1024 count=64 && losetup -f /var/lib/held.img";

/// [`root_tree`] with busybox init as /sbin/init, [`INITTAB`] and [`RC`] (with `hold`
/// run before the shutdown).
fn busybox_init_tree(dir: &Path, hold: &str) -> PathBuf {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let tree = root_tree(dir, None);
    symlink("/bin/busybox", tree.join("sbin/init")).unwrap();
    for applet in ["kill", "dd", "losetup"] {
        let link = tree.join("bin").join(applet);
        if !link.exists() {
            symlink("busybox", link).unwrap();
        }
    }
    std::fs::write(tree.join("etc/inittab"), INITTAB).unwrap();
    let rc = tree.join("etc/rc");
    std::fs::write(&rc, RC.replace(HOLD_THE_ROOT, hold)).unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o755)).unwrap();
    tree
}

/// One boot of a card with [`busybox_init_tree`]`(hold)`, and what a second boot needs.
struct BusyboxRun {
    kernel: flashroot_qemu::Kernel,
    initrd: PathBuf,
    card: PathBuf,
    report: flashroot::disk::FatDiskReport,
    cmdline: String,
    outcome: flashroot_qemu::Outcome,
}

fn boot_busybox_root(dir: &Path, hold: &str) -> BusyboxRun {
    let kernel = kernel();
    let tree = busybox_init_tree(dir, hold);
    let image = dir.join("rootfs.img");
    jffs2_image(&tree, &image, ERASE_64K);
    let card_path = dir.join("card.img");
    let report = card(&card_path, &[("rootfs.img", &image)]);
    let initrd = dir.join("initrd.cpio");
    initramfs(&kernel, flashroot_config::DEFAULT_TOML, &initrd);
    let cmdline = format!("mtd {FAIL_FAST}");
    let outcome = run(&kernel, &initrd, vec![ide(&card_path)], &cmdline);
    let ours: Vec<&str> = outcome
        .console
        .lines()
        .filter(|l| l.contains("flashroot: shutdown"))
        .collect();
    eprintln!("our shutdown:\n{}", ours.join("\n"));
    BusyboxRun {
        kernel,
        initrd,
        card: card_path,
        report,
        cmdline,
        outcome,
    }
}

#[test]
fn busybox_init_root_shuts_down_cleanly_through_our_own_pivot() {
    let dir = tempfile::tempdir().unwrap();
    let BusyboxRun {
        kernel,
        initrd,
        card: card_path,
        report,
        cmdline,
        outcome,
    } = boot_busybox_root(dir.path(), "");
    outcome.expect_powered_off();
    let console = &outcome.console;
    for line in [
        "served by the card agent (pid ",
        "bytes, direct I/O on the card's partition) as /dev/nbd0, flushed every 100 ms",
        "flashroot: shutdown: not PID 1: flushing the containers to the card only",
        "flashroot: RAM directory /var/log saved (shutdown) to /var/lib/flashroot/ramdir/var/log",
        "flashroot: shutdown: flushed /dev/nbd0 (rootfs.img)",
        "flashroot: shutdown: flushed, 0 failed steps",
        "running as PID 1 for poweroff",
        "flashroot: shutdown: stop the other processes",
        "flashroot: shutdown: pivot into /run/initramfs",
        "flashroot: shutdown: /shutdown ",
        "flashroot: shutdown: moved the card from /oldroot/run/flashroot/card to /card",
        "(jffs2) from /oldroot in ",
        "flashroot: shutdown: removed block2mtd",
        "flashroot: shutdown: the card agent of /dev/nbd0",
        "flashroot: shutdown: unmounted the card (/dev/sda1) from /card",
        " with 0 failed steps",
        "flashroot: shutdown: poweroff after ",
    ] {
        assert!(
            console.contains(line),
            "console lacks {line:?}:\n{}",
            outcome.tail(60)
        );
    }
    assert!(
        !console.contains("flashroot: shutdown: error"),
        "a shutdown step failed:\n{}",
        outcome.tail(60)
    );
    // The agent writes the container and its journal where they lie on the card, not
    // through their FAT files (it says so, on the console, when it cannot).
    assert!(
        !console.contains("so its directory entry is rewritten at each sync(2)"),
        "the card agent writes through a FAT file:\n{}",
        outcome.tail(60)
    );
    fsck_card(&card_path, &report, dir.path());

    let outcome = run(&kernel, &initrd, vec![ide(&card_path)], &cmdline);
    outcome
        .expect_console("second-boot: last-words=written just before the shutdown")
        .expect_powered_off();
    assert!(
        !outcome.console.contains(KERNEL_DIRTY),
        "the kernel found the card dirty:\n{}",
        outcome.tail(60)
    );
}

/// Issue #10 point 4: the root cannot be unmounted (a loop device on a file in it, which
/// no step releases). Each consequence is named, the machine still powers off promptly,
/// and what was written before the shutdown is on the card (only its dirty bit stays).
#[test]
fn busy_root_is_named_and_the_machine_still_powers_off() {
    let dir = tempfile::tempdir().unwrap();
    let run1 = boot_busybox_root(dir.path(), LOOP_ON_THE_ROOT);
    run1.outcome.expect_powered_off();
    let console = &run1.outcome.console;
    for line in [
        "flashroot: shutdown: error: unmount: /oldroot (jffs2, mtd:rootfs): Device or resource busy; detaching it lazily",
        "flashroot: shutdown: error: remove module: block2mtd: ",
        "(still in use: a JFFS2 mount detached lazily above keeps its MTD device)",
        "flashroot: shutdown: flushed /dev/nbd0 (rootfs.img)",
        "flashroot: shutdown: the card agent of /dev/nbd0",
        "flashroot: shutdown: unmounted the card (/dev/sda1) from /card",
        "flashroot: shutdown: poweroff after ",
    ] {
        assert!(
            console.contains(line),
            "console lacks {line:?}:\n{}",
            run1.outcome.tail(60)
        );
    }
    let done_ms: u64 = console
        .lines()
        .find_map(|l| l.split("flashroot: shutdown: done in ").nth(1))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no \"done in\" line:\n{}", run1.outcome.tail(60)));
    assert!(done_ms < 5_000, "the shutdown took {done_ms} ms");
    // The card agent holds the container, not the lazily detached root: once it is gone
    // (busybox init killed it after the flush), the card itself unmounts cleanly.
    fsck_card(&run1.card, &run1.report, dir.path());

    let outcome = run(
        &run1.kernel,
        &run1.initrd,
        vec![ide(&run1.card)],
        &run1.cmdline,
    );
    outcome
        .expect_console("second-boot: last-words=written just before the shutdown")
        .expect_powered_off();
}
