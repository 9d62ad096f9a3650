//! Issue #13: a layered root — a read-only squashfs base on the card, a JFFS2 overlay
//! container holding the changes, overlayfs at `/` — boots, keeps what was written across
//! a reboot, shuts down cleanly, boots failsafe without touching the overlay, and resets
//! the overlay (also when the power is cut in the middle of the reset).

use flashroot_tests::flashboot;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use flashboot::*;
use flashroot::disk::FatDiskReport;
use flashroot_qemu::{Cut, Kernel};
use flashroot_tests::{layered_config, LAYERED_ERASE_SIZE};

/// A file only the base has.
const BASE_FILE: &str = "etc/from-base";
const BASE_TEXT: &str = "from the squashfs base\n";

/// The report init for the reset tests: what /data, /etc/keepme and the layers hold,
/// then power off at once.
const RESET_REPORT_INIT: &str = r#"#!/bin/sh
export PATH=/bin
{
  echo "data_count=$(ls /data | wc -l)"
  echo "keepme=$(cat /etc/keepme 2>&1)"
  echo "base_file=$(cat /etc/from-base 2>&1)"
  echo "overlay_top=$(ls /run/flashroot/layers/overlay | tr '\n' ' ')"
  echo "card=$(ls /run/flashroot/card | tr '\n' ' ')"
  echo "--- sums"
  sha256sum /data/* 2>/dev/null
  echo "--- mountinfo"
  cat /proc/self/mountinfo
  echo "--- end"
} > /run/report
{ printf 'FLASHROOT-OUTPUT %d\n' "$(wc -c < /run/report)"; cat /run/report; } > /dev/vda
sync
poweroff -f
"#;

/// The busybox-init root's first program: report, then (first boot of a card) write a
/// file to the root and ask for the clean shutdown, or (later boots) power off.
const RC: &str = r#"#!/bin/sh
export PATH=/bin
{
  echo "last_words=$(cat /var/lib/last-words 2>/dev/null || echo none)"
  echo "base_file=$(cat /etc/from-base 2>&1)"
  echo "layered=$(tr '\t\n' ': ' < /run/flashroot/layered)"
  echo "--- mountinfo"
  cat /proc/self/mountinfo
  echo "--- end"
} > /run/report
{ printf 'FLASHROOT-OUTPUT %d\n' "$(wc -c < /run/report)"; cat /run/report; } > /dev/vda
sync
if [ -e /var/lib/last-words ] && [ "$(cat /var/lib/last-words)" = "written to the overlay" ]; then
  poweroff -f
fi
mkdir -p /var/lib
echo "written to the overlay" > /var/lib/last-words
kill -QUIT 1
"#;
const INITTAB: &str = "::sysinit:/etc/rc
::shutdown:/run/initramfs/shutdown
::restart:/run/initramfs/shutdown poweroff
";

struct LayeredCard {
    kernel: Kernel,
    initrd: PathBuf,
    card: PathBuf,
    report: FatDiskReport,
}

impl LayeredCard {
    /// The base from `tree`, the overlay container from `overlay_tree` (its `upper/` and
    /// `work/`) or empty, on one card, with the layered config's initramfs.
    fn prepare(dir: &Path, tree: &Path, overlay_tree: Option<&Path>) -> Self {
        let kernel = kernel();
        std::fs::write(tree.join(BASE_FILE), BASE_TEXT).unwrap();
        let base = dir.join("base.sqfs");
        flashroot::squashfs::write_base(tree, &base, &Default::default()).expect("base");
        let overlay = dir.join("rootfs.img");
        match overlay_tree {
            Some(t) => {
                jffs2_image(t, &overlay, LAYERED_ERASE_SIZE);
            }
            None => {
                let options = flashroot::jffs2::Options {
                    erase_size: LAYERED_ERASE_SIZE,
                    pad_to: Some(CONTAINER_BYTES),
                    ..Default::default()
                };
                flashroot::layered::write_empty_overlay(&overlay, &options).expect("overlay");
            }
        }
        let card_path = dir.join("card.img");
        let report = card(
            &card_path,
            &[("base.sqfs", &base), ("rootfs.img", &overlay)],
        );
        let initrd = dir.join("initrd.cpio");
        initramfs(&kernel, &layered_config(), &initrd);
        LayeredCard {
            kernel,
            initrd,
            card: card_path,
            report,
        }
    }

    fn boot(&self, words: &str) -> flashroot_qemu::Outcome {
        run(
            &self.kernel,
            &self.initrd,
            vec![ide(&self.card)],
            &format!("mtd {FAIL_FAST} {words}"),
        )
    }

    /// A file from the card's FAT volume, by mtools (a missing oracle fails the test).
    fn card_file(&self, name: &str, dir: &Path) -> Option<Vec<u8>> {
        let out = dir.join("card-file.out");
        let _ = std::fs::remove_file(&out);
        let status = Command::new("mcopy")
            .arg("-n")
            .arg("-i")
            .arg(format!(
                "{}@@{}",
                self.card.display(),
                self.report.partition_offset
            ))
            .arg(format!("::{name}"))
            .arg(&out)
            .output()
            .expect("mcopy (Debian package mtools) reads the card");
        status
            .status
            .success()
            .then(|| std::fs::read(&out).unwrap())
    }
}

/// The layers and the root, as the guest's mountinfo shows them.
fn expect_layers(report: &Report, upper_fs: &str) {
    let root = report.expect_mount("/", "overlay");
    assert!(
        root.super_options
            .contains("lowerdir=/run/flashroot/layers/base,upperdir=/run/flashroot/layers/overlay/upper,workdir=/run/flashroot/layers/overlay/work"),
        "{root:?}"
    );
    let base = report.expect_mount("/run/flashroot/layers/base", "squashfs");
    assert!(base.options.starts_with("ro"), "{base:?}");
    assert!(base.source.starts_with("/dev/loop"), "{base:?}");
    let upper = report.expect_mount("/run/flashroot/layers/overlay", upper_fs);
    if upper_fs == "jffs2" {
        assert_eq!(upper.source, "mtd:rootfs", "{upper:?}");
    }
    report.expect_mount("/tmp", "tmpfs");
    report.expect_mount("/var/log", "tmpfs");
    report.expect_mount("/var/cache/apt", "overlay");
    report.expect_mount("/run/flashroot/card", "vfat");
}

#[test]
fn layered_root_boots_keeps_changes_shuts_down_cleanly_and_failsafe_leaves_the_overlay_alone() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let tree = root_tree(dir.path(), None);
    symlink("/bin/busybox", tree.join("sbin/init")).unwrap();
    std::fs::write(tree.join("etc/inittab"), INITTAB).unwrap();
    let rc = tree.join("etc/rc");
    std::fs::write(&rc, RC).unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let card = LayeredCard::prepare(dir.path(), &tree, None);

    // First boot: the layered root; a file written to it; the clean shutdown.
    let first = card.boot("");
    first.expect_powered_off();
    let report = Report::from_outcome(&first);
    expect_layers(&report, "jffs2");
    assert_eq!(report.field("last_words"), Some("none"), "{}", report.text);
    assert_eq!(report.field("base_file"), Some(BASE_TEXT.trim_end()));
    assert_eq!(
        report.field("layered"),
        Some(
            format!("card:/run/flashroot/card base:base.sqfs overlay:rootfs.img mode:layered erase_size:{LAYERED_ERASE_SIZE} ")
                .as_str()
        )
    );
    for line in [
        "flashroot: layered root: base /flash/base.sqfs on /dev/loop",
        "flashroot: layered root: overlay mounted at /root in ",
        "flashroot: shutdown: pivot into /run/initramfs",
        "flashroot: shutdown: removed block2mtd",
        "flashroot: shutdown: unmounted the card (/dev/sda1) from /card",
        " with 0 failed steps",
    ] {
        assert!(
            first.console.contains(line),
            "console lacks {line:?}:\n{}",
            first.tail(80)
        );
    }
    assert!(
        !first.console.contains("flashroot: shutdown: error"),
        "a shutdown step failed:\n{}",
        first.tail(80)
    );
    fsck_card(&card.card, &card.report, dir.path());
    // The empty overlay as written: its scan reads the first and last page of each block
    // and block 0 whole (the writer's last block, open, without a summary), all read
    // ahead; the mount reads nothing itself.
    assert_eq!(scan_read_ahead(&first), 1);

    // Second boot: the file is there, from the overlay.
    let second = card.boot("");
    second.expect_powered_off();
    // The kernel's own writes left a block partly filled and without a summary, which
    // the scan reads whole: that too was read ahead.
    assert!(scan_read_ahead(&second) >= 1, "{}", second.tail(80));
    let report = Report::from_outcome(&second);
    assert!(
        !second.console.contains(KERNEL_DIRTY),
        "the kernel found the card dirty:\n{}",
        second.tail(60)
    );
    assert_eq!(
        report.field("last_words"),
        Some("written to the overlay"),
        "{}",
        report.text
    );

    // Failsafe: the base alone, changes in RAM; the container on the card is untouched.
    let container_before = card
        .card_file("rootfs.img", dir.path())
        .expect("rootfs.img on the card");
    let failsafe = card.boot("flashroot.failsafe");
    failsafe.expect_powered_off();
    let report = Report::from_outcome(&failsafe);
    expect_layers(&report, "tmpfs");
    assert_eq!(report.field("last_words"), Some("none"), "{}", report.text);
    assert!(
        report.field("layered").is_some_and(
            |l| l.ends_with(&format!("mode:failsafe erase_size:{LAYERED_ERASE_SIZE} "))
        ),
        "{}",
        report.text
    );
    assert!(
        !failsafe.console.contains("card agent: serving"),
        "{}",
        failsafe.tail(60)
    );
    let container_after = card
        .card_file("rootfs.img", dir.path())
        .expect("rootfs.img on the card");
    assert!(
        container_before == container_after,
        "the failsafe boot changed the overlay container"
    );

    // And the next normal boot has the overlay as it was.
    let after = card.boot("");
    after.expect_powered_off();
    let report = Report::from_outcome(&after);
    assert_eq!(
        report.field("last_words"),
        Some("written to the overlay"),
        "{}",
        report.text
    );
}

/// Checks that the overlay's scan was read ahead and that the JFFS2 mount then read
/// nothing from the device itself; returns how many blocks were read ahead beyond their
/// first and last pages.
fn scan_read_ahead(boot: &flashroot_qemu::Outcome) -> u64 {
    let line = boot
        .console
        .lines()
        .find(|l| l.contains("read ahead what the JFFS2 scan reads of its "))
        .unwrap_or_else(|| panic!("no read-ahead line:\n{}", boot.tail(80)));
    let blocks = CONTAINER_BYTES / u64::from(LAYERED_ERASE_SIZE);
    assert!(line.contains(&format!("of its {blocks} blocks")), "{line}");
    let more: u64 = line
        .rsplit_once(" KiB (")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no block count in {line:?}"));
    assert!(
        boot.console
            .lines()
            .any(|l| l.contains("flashroot: mounted mtd:rootfs in ")
                && l.ends_with("; the scan read /dev/nbd0 0 times itself")),
        "the JFFS2 scan read the device itself:\n{}",
        boot.tail(80)
    );
    more
}

/// Files in the overlay's /data (the base's /data is empty).
const DATA_FILES: usize = 800;

/// The overlay tree: `upper/` with the data files and the kept file, `work/` empty.
/// Returns the tree and the data files' SHA-256 by path.
fn overlay_tree(dir: &Path) -> (PathBuf, BTreeMap<String, String>) {
    let ov = dir.join("overlay-tree");
    let upper = ov.join("upper");
    for d in ["data", "etc/flashroot"] {
        std::fs::create_dir_all(upper.join(d)).unwrap();
    }
    std::fs::create_dir_all(ov.join("work")).unwrap();
    std::fs::write(
        upper.join("etc/flashroot/reset-keep"),
        "# kept\n/etc/keepme\n",
    )
    .unwrap();
    std::fs::write(upper.join("etc/keepme"), "kept across the reset\n").unwrap();
    for i in 0..DATA_FILES {
        let text = format!("data file {i}\n").repeat(40);
        std::fs::write(upper.join(format!("data/{i:04}")), text).unwrap();
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && sha256sum data/*")
        .arg("sh")
        .arg(&upper)
        .output()
        .unwrap();
    let sums = parse_sums(&String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(sums.len(), DATA_FILES);
    (ov, sums)
}

/// `sha256sum` lines as path (without `strip`) → sum.
fn parse_sums(text: &str, strip: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (sum, path) = l.split_once("  ")?;
            Some((path.trim_start_matches(strip).to_string(), sum.to_string()))
        })
        .collect()
}

fn sums_of(report: &Report) -> BTreeMap<String, String> {
    let section = report
        .text
        .split("--- sums\n")
        .nth(1)
        .and_then(|s| s.split("--- mountinfo").next())
        .unwrap_or_default();
    parse_sums(section, "/")
}

fn reset_card(dir: &Path) -> (LayeredCard, BTreeMap<String, String>) {
    let tree = root_tree(dir, Some(RESET_REPORT_INIT));
    std::fs::create_dir_all(tree.join("data")).unwrap();
    let (ov, sums) = overlay_tree(dir);
    (LayeredCard::prepare(dir, &tree, Some(&ov)), sums)
}

#[test]
fn reset_empties_the_overlay_keeps_the_listed_file_and_boots_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (card, sums) = reset_card(dir.path());

    let before = card.boot("");
    before.expect_powered_off();
    let report = Report::from_outcome(&before);
    assert_eq!(
        sums_of(&report),
        sums,
        "the overlay's files before the reset"
    );

    let reset = card.boot("flashroot.reset");
    reset.expect_powered_off();
    let report = Report::from_outcome(&reset);
    expect_layers(&report, "jffs2");
    for line in [
        "flashroot: factory reset: wrote /flash/rootfs.img.reset (flashroot.reset)",
        "flashroot: factory reset: /flash/rootfs.img.reset is on the card: emptying the overlay",
        "flashroot: factory reset: done in ",
        "but for /etc/flashroot/reset-keep /etc/keepme (kept)",
    ] {
        assert!(
            reset.console.contains(line),
            "console lacks {line:?}:\n{}",
            reset.tail(60)
        );
    }
    assert_eq!(report.field("data_count"), Some("0"), "{}", report.text);
    assert_eq!(report.field("keepme"), Some("kept across the reset"));
    assert_eq!(report.field("base_file"), Some(BASE_TEXT.trim_end()));
    assert_eq!(
        report.field("overlay_top"),
        Some("upper work "),
        "{}",
        report.text
    );
    let card_files = report.field("card").unwrap();
    assert!(!card_files.contains("rootfs.img.reset"), "{card_files}");

    // The next boot finds no marker and the same empty overlay.
    let after = card.boot("");
    after.expect_powered_off();
    let report = Report::from_outcome(&after);
    assert!(
        !after.console.contains("factory reset"),
        "{}",
        after.tail(60)
    );
    assert_eq!(report.field("data_count"), Some("0"), "{}", report.text);
    assert_eq!(report.field("keepme"), Some("kept across the reset"));
    assert!(card.card_file("rootfs.img.reset", dir.path()).is_none());
}

/// Cuts at several points of the reset: the check boot then shows the whole old overlay
/// (every file with its content) or an empty one with the kept file, never a part.
#[test]
fn a_power_cut_during_a_reset_ends_in_the_old_overlay_or_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let (card, sums) = reset_card(dir.path());
    let pristine = dir.path().join("pristine.img");
    std::fs::copy(&card.card, &pristine).unwrap();
    let mut outcomes = Vec::new();
    let mut interrupted = 0;
    for (i, delay_ms) in [0u64, 60, 150, 300].into_iter().enumerate() {
        std::fs::copy(&pristine, &card.card).unwrap();
        let cut = Cut::after_line(
            "factory reset: /flash/rootfs.img.reset is on the card",
            Duration::from_millis(delay_ms),
        );
        let cut_boot = run_with_cut(
            &card.kernel,
            &card.initrd,
            vec![ide(&card.card)],
            &format!("mtd {FAIL_FAST} flashroot.reset"),
            Some(cut),
        );
        let cut_at = cut_boot.cut_at();
        let reset_done = cut_boot
            .console
            .contains("flashroot: factory reset: done in");
        if cut_at.is_some() && !reset_done {
            interrupted += 1;
        }
        let check = card.boot("");
        check.expect_powered_off();
        let report = Report::from_outcome(&check);
        let found = sums_of(&report);
        let outcome = if found == sums {
            "old"
        } else if found.is_empty() {
            "empty"
        } else {
            panic!(
                "cut {i} ({delay_ms} ms after the reset began, cut at {cut_at:?}): {} of {DATA_FILES} files, {} with their content, after the check boot:\n{}",
                found.len(),
                found.iter().filter(|(p, s)| sums.get(*p) == Some(*s)).count(),
                check.tail(40)
            )
        };
        assert_eq!(
            report.field("keepme"),
            Some("kept across the reset"),
            "cut {i}: {}",
            report.text
        );
        assert!(
            card.card_file("rootfs.img.reset", dir.path()).is_none(),
            "cut {i}: the marker outlived the check boot"
        );
        eprintln!(
            "cut {i}: {delay_ms} ms after the reset began (cut at {cut_at:?}, reset {}finished before the cut): {outcome}",
            if reset_done { "" } else { "not " }
        );
        outcomes.push(outcome);
    }
    // The marker is on the card before the line the cuts follow: the check boot finishes
    // each interrupted reset, so they end empty.
    assert!(outcomes.contains(&"empty"), "{outcomes:?}");
    assert!(
        interrupted >= 2,
        "only {interrupted} cuts fell inside the reset: the test did not test it"
    );
}

/// A card without its base: the boot stops with the error naming the file, after the
/// overlay container was set up (so the error is the base's, not the container's).
#[test]
fn a_missing_base_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let tree = root_tree(dir.path(), Some(RESET_REPORT_INIT));
    let good = LayeredCard::prepare(dir.path(), &tree, None);
    let overlay = dir.path().join("rootfs.img");
    card(&good.card, &[("rootfs.img", &overlay)]);
    let outcome = good.boot("");
    outcome
        .expect_console(
            "flashroot: error: attach loop device: /flash/base.sqfs: No such file or directory",
        )
        .expect_powered_off();
    assert!(
        outcome.console.contains("(mtd:rootfs) on /dev/nbd0"),
        "{}",
        outcome.tail(40)
    );
}
