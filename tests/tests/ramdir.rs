//! Issue #12: RAM directories. The default config keeps /var/log on tmpfs and saves it to
//! the JFFS2 root; a saved copy is loaded at the next boot, and a power cut during a save
//! leaves the previous copy whole.
//!
//! Each check boots the busybox root of the flash-boot tests twice: a boot that fills
//! /var/log/set with files of one version, asks the keeper to save (SIGUSR1), and is cut
//! (QEMU killed); then a boot that reports what /var/log holds.

use flashroot_tests::flashboot;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use flashboot::*;
use flashroot_qemu::{Cut, Kernel};

/// Files the workload writes, and bytes each.
const FILES: usize = 64;
/// Random, so JFFS2 cannot compress them: a save writes about a MiB.
const FILE_BYTES: usize = 16 << 10;

const RAMDIR_INIT: &str = r#"#!/bin/sh
export PATH=/bin
store=/var/lib/flashroot/ramdir/var/log
fill() {
  mkdir -p /var/log/set
  i=0
  while [ $i -lt @FILES@ ]; do
    { echo "version $1 file $i"; dd if=/dev/urandom bs=@FILE_BYTES@ count=1 2>/dev/null; } > /var/log/set/$i
    i=$((i + 1))
  done
  (cd /var/log/set && sha256sum * > ../sums)
}
save() {
  kill -USR1 "$(cat /run/flashroot/ramdirs.pid)"
  echo "ramdir: saving $1"
  while [ "$(readlink $store/current)" != "gen.$1" ]; do sleep 0.1; done
  echo "ramdir: saved $1"
}
case "$1" in
save1)
  fill 1; save 1
  sleep 600 ;;
save2)
  fill 1; save 1
  fill 2; save 2
  sleep 600 ;;
check)
  {
    echo "mount=$(awk '$2 == "/var/log" { print $3 }' /proc/mounts)"
    echo "current=$(readlink $store/current)"
    echo "bad_sums=$(cd /var/log/set && sha256sum -c ../sums 2>&1 | grep -vc ': OK$')"
    echo "--- versions"
    for f in /var/log/set/*; do head -n 1 "$f"; done | sort | uniq -c
    echo "--- end"
  } > /run/report 2>&1
  { printf 'FLASHROOT-OUTPUT %d\n' "$(wc -c < /run/report)"; cat /run/report; } > /dev/vda
  sync
  poweroff -f ;;
esac
"#;

fn ramdir_init() -> String {
    RAMDIR_INIT
        .replace("@FILES@", &FILES.to_string())
        .replace("@FILE_BYTES@", &FILE_BYTES.to_string())
}

struct RamCard {
    dir: tempfile::TempDir,
    kernel: Kernel,
    initrd: std::path::PathBuf,
    card: std::path::PathBuf,
}

impl RamCard {
    fn prepare() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kernel = kernel();
        let tree = root_tree(dir.path(), Some(&ramdir_init()));
        let image = dir.path().join("rootfs.img");
        jffs2_image(&tree, &image, 64 << 10);
        let card_path = dir.path().join("card.img");
        card(&card_path, &[("rootfs.img", &image)]);
        let initrd = dir.path().join("initrd.cpio");
        initramfs(&kernel, flashroot_config::DEFAULT_TOML, &initrd);
        RamCard {
            dir,
            kernel,
            initrd,
            card: card_path,
        }
    }

    /// A copy of the card runs `workload` until `cut`; then a check boot reports.
    fn cut_and_check(&self, workload: &str, cut: Cut, name: &str) -> Checked {
        let card = self.dir.path().join(format!("card-{name}.img"));
        std::fs::copy(&self.card, &card).unwrap();
        let cmdline = |words: &str| format!("mtd {FAIL_FAST} -- {words}");
        let cut_boot = run_with_cut(
            &self.kernel,
            &self.initrd,
            vec![ide(&card)],
            &cmdline(workload),
            Some(cut.clone()),
        );
        assert!(
            cut_boot.cut_at().is_some(),
            "{name}: the power was not cut at {cut:?}\n{cut_boot}"
        );
        let check = run(
            &self.kernel,
            &self.initrd,
            vec![ide(&card)],
            &cmdline("check"),
        );
        let report = Report::from_outcome(&check);
        let keeper: Vec<&str> = cut_boot
            .console
            .lines()
            .filter(|l| l.contains("ramdir: sav") || l.contains("RAM directory /var/log saved"))
            .collect();
        eprintln!("{name}: {keeper:#?}");
        let saves_finished = keeper
            .iter()
            .filter(|l| l.starts_with("ramdir: saved"))
            .count();
        let _ = std::fs::remove_file(&card);
        Checked::read(
            &report,
            saves_finished,
            &format!(
                "{name}\ncut boot:\n{}\ncheck boot:\n{check}",
                cut_boot.tail(40)
            ),
        )
    }
}

/// What the check boot found.
struct Checked {
    mount: String,
    current: String,
    /// Files whose checksum differs from the one saved with them (or a broken list).
    bad_sums: String,
    /// "version N" → how many files of /var/log/set carry it.
    versions: BTreeMap<String, usize>,
    /// Saves the cut boot had seen finish when it was cut.
    saves_finished: usize,
    context: String,
}

impl Checked {
    fn read(report: &Report, saves_finished: usize, context: &str) -> Self {
        let versions = report
            .text
            .split("--- versions\n")
            .nth(1)
            .and_then(|rest| rest.split("--- end").next())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (count, what) = l.trim().split_once(' ')?;
                let version = what.rsplit_once(" file ")?.0.to_string();
                Some((version, count.parse().ok()?))
            })
            .fold(BTreeMap::new(), |mut m, (v, n): (String, usize)| {
                *m.entry(v).or_default() += n;
                m
            });
        Checked {
            mount: report.field("mount").unwrap_or_default().to_string(),
            current: report.field("current").unwrap_or_default().to_string(),
            bad_sums: report.field("bad_sums").unwrap_or_default().to_string(),
            versions,
            saves_finished,
            context: format!("{context}\nreport:\n{}", report.text),
        }
    }

    /// Every file of the set, all of one version: the one returned.
    fn whole_version(&self) -> u32 {
        assert_eq!(
            self.mount, "tmpfs",
            "/var/log is a RAM directory\n{}",
            self.context
        );
        assert_eq!(
            self.versions.len(),
            1,
            "files of several versions, or none: {:?}\n{}",
            self.versions,
            self.context
        );
        assert_eq!(
            self.bad_sums, "0",
            "files differ from their checksums\n{}",
            self.context
        );
        let (version, count) = self.versions.iter().next().unwrap();
        assert_eq!(*count, FILES, "{version}: files missing\n{}", self.context);
        version
            .strip_prefix("version ")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{version:?}\n{}", self.context))
    }
}

/// A saved RAM directory survives a power cut and is loaded into tmpfs at the next boot.
#[test]
fn a_saved_ram_directory_is_loaded_after_a_power_cut() {
    let card = RamCard::prepare();
    let checked = card.cut_and_check(
        "save1",
        Cut::after_line("ramdir: saved 1", Duration::from_secs(1)),
        "saved",
    );
    assert_eq!(checked.whole_version(), 1);
    assert_eq!(checked.current, "gen.1", "{}", checked.context);
}

/// A cut anywhere in a save leaves one whole copy, the old one or the new: never a mix,
/// never a missing or damaged file. The cuts are spread over the first 1.5 s after the
/// save was asked for (a save of the set takes about 500 ms under TCG); the first ones
/// land before it ends.
#[test]
fn a_power_cut_during_a_save_leaves_a_whole_copy() {
    let card = RamCard::prepare();
    let mut seen = Vec::new();
    for ms in [0u64, 150, 300, 450, 700, 1500] {
        let delay = Duration::from_millis(ms);
        let checked = card.cut_and_check(
            "save2",
            Cut::after_line("ramdir: saving 2", delay),
            &format!("cut {ms} ms after the save was asked for"),
        );
        let version = checked.whole_version();
        assert!(
            [1, 2].contains(&version),
            "version {version}\n{}",
            checked.context
        );
        seen.push((ms, checked.saves_finished == 2, version));
    }
    eprintln!("cuts (ms after the request, the save had finished, version loaded): {seen:?}");
    assert!(
        seen.iter().any(|(_, finished, _)| !finished),
        "no cut landed during the save: {seen:?}"
    );
}

#[test]
fn the_init_script_has_every_placeholder_filled() {
    assert!(!ramdir_init().contains('@'));
    assert!(Path::new(BUSYBOX).exists(), "busybox-static is installed");
}
