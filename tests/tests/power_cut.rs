//! Issue #10, point 1: the power-cut harness. A card boots a workload that reports its
//! progress on the console; the host cuts the power (SIGKILL to QEMU: what QEMU wrote to
//! the card image survives, the guest's caches do not) at a chosen or random point, then
//! boots the same card again to read back what survived, and judges it against what the
//! host knows: the console lines' arrival times and the checksums of the files it wrote.
//!
//! The short tests here run a few cuts; `power_cut_benchmark` (ignored, run by
//! `bench/power-cut.sh`) runs many at random points and prints a results table.
//! Seeds: `POWER_CUT_SEED` fixes the random cut points (printed with every result).
//! `POWER_CUT_KEEP=dir` keeps each card as the cut left it (before the check boot), and
//! the card before any cut as `pristine-<workload>.img`.

use flashroot_tests::debian_root;
use flashroot_tests::flashboot;

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use flashboot::*;
use flashroot_qemu::{Cut, Kernel, Outcome};
use flashroot_tests::Rng;

const ERASE_64K: u32 = 64 << 10;
/// The issue's bound: a record whose `commit N` line reached the host this long before
/// the cut was committed (fsync returned) at least this long before it, and must survive.
const COMMIT_MARGIN: Duration = Duration::from_millis(500);
/// Files written at mkfs time and never modified; the host knows their SHA-256.
const KEPT_FILES: usize = 40;
const KEPT_BYTES: usize = 32 << 10;
/// One scratch file follows each kept file in the image (names sort `NN.keep`,
/// `NN.scratch`), so each erase block mkfs wrote holds both; the churn workload
/// rewrites the scratch files, which leaves every such block partly obsolete and makes
/// the garbage collector copy kept nodes out before it erases the block.
const SCRATCH_BYTES: usize = 32 << 10;
/// The churn workload rewrites in pages of this size.
const PAGE: usize = 4096;
/// Free erase blocks left beyond the kernel's write reserve once the ballast (a kept
/// file too) fills the rest: few, so the churn's writes keep the garbage collector busy.
const HEADROOM_BLOCKS: u64 = 4;
/// Payload bytes per erase block the ballast may count on (a 64 KiB block also holds
/// node headers and a summary).
const BALLAST_BYTES_PER_BLOCK: u64 = 60 << 10;
/// The content of the kept and scratch files; fixed, so every card is the same.
const DATA_SEED: u64 = 0x00C0_FFEE_DA7A;
/// The random cut points' seed unless `POWER_CUT_SEED` says otherwise.
const DEFAULT_CUT_SEED: u64 = 10;
/// Zeros in a commit record, for a record of about 200 bytes.
const RECORD_PAD: usize = 180;

/// The real init of every power-cut boot: the workload is the first word after `--` on
/// the kernel command line. `@SCRATCH_PAGES@` and `@RECORD_PAD@` are filled in by
/// [`power_cut_init`].
const POWER_CUT_INIT: &str = r#"#!/bin/sh
export PATH=/bin
# Write a record, fsync it, rename it over the last one, fsync the directory: when
# `commit N` is printed, record N is committed as applications understand it.
# (busybox 1.35's `sync FILE` is fsync(FILE), `sync -d FILE` fdatasync; a directory
# opens read-only like any file.)
commit_loop() {
  mkdir -p /var/lib/commit && cd /var/lib/commit || poweroff -f
  pad=$(printf "%0@RECORD_PAD@d" 0)
  n=0
  while :; do
    n=$((n + 1))
    # Only a commit whose every step succeeded is announced: a full filesystem (JFFS2's
    # ENOSPC) fails commits that were never made, and the same N is tried again.
    until echo "seq=$n pad=$pad end" > record.tmp && sync record.tmp &&
        mv record.tmp record && sync .; do
      echo "commit $n failed"
      sleep 0.2
    done
    echo "commit $n"
  done
}
# Rewrite the scratch files, page by page, round and round: `churn N` after each file.
churn_loop() {
  n=0
  while :; do
    for f in /data/*.scratch; do
      dd if=/dev/urandom of="$f" bs=@PAGE@ count=@SCRATCH_PAGES@ conv=notrunc 2>/dev/null ||
        echo "churn: rewriting $f failed"
      n=$((n + 1))
      echo "churn $n"
    done
  done
}
case "$1" in
commit)
  commit_loop ;;
commit-gc)
  # Commits while the garbage collector never rests: neither writer ever pauses.
  churn_loop > /dev/null &
  commit_loop ;;
churn)
  echo "churn start: $(df -k / | tail -n 1)"
  churn_loop ;;
check)
  {
    if [ -e /var/lib/commit/record ]; then
      echo "record=$(cat /var/lib/commit/record)"
    else
      echo "record=absent"
    fi
    echo "--- sha256"
    cd /data && sha256sum *
    echo "--- end"
  } > /run/report 2>&1
  { printf 'FLASHROOT-OUTPUT %d\n' "$(wc -c < /run/report)"; cat /run/report; } > /dev/vda
  sync
  echo "power-cut check: reported"
  poweroff -f ;;
*)
  echo "power-cut init: unknown workload '$1'"
  poweroff -f ;;
esac
"#;

fn power_cut_init() -> String {
    POWER_CUT_INIT
        .replace("@SCRATCH_PAGES@", &(SCRATCH_BYTES / PAGE).to_string())
        .replace("@PAGE@", &PAGE.to_string())
        .replace("@RECORD_PAD@", &RECORD_PAD.to_string())
}

/// The local package the apt workload installs (versions 1.0 and 2.0, each with
/// [`PACKAGE_FILES`] files of random bytes and a postinst).
const PACKAGE: &str = "flashroot-cut-test";
const PACKAGE_FILES: usize = 64;
const PACKAGE_FILE_BYTES: usize = 16 << 10;
/// Where the Debian root keeps the package files.
const PACKAGE_DIR: &str = "srv/flashroot-cut";
/// The Debian workload's init, in place of systemd.
const DEBIAN_INIT_PATH: &str = "sbin/power-cut-init";

/// The Debian root's init for the apt workload and its check (dash; no busybox there):
/// `init=/sbin/power-cut-init -- apt|check`. `@PACKAGE@` and `@DIR@` are filled in.
/// Powers off through sysrq: there is no systemd running to ask.
const DEBIAN_CUT_INIT: &str = r#"#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive
cd /@DIR@ || { echo "power-cut init: no /@DIR@"; echo o > /proc/sysrq-trigger; sleep 60; }
case "$1" in
apt)
  echo "apt start"
  n=0
  while :; do
    for step in "install ./@PACKAGE@_1.0_all.deb" "install ./@PACKAGE@_2.0_all.deb" "purge @PACKAGE@"; do
      apt-get -y -qq -o Dpkg::Use-Pty=0 $step 2>&1 || echo "apt: '$step' failed"
      n=$((n + 1))
      echo "apt $n"
    done
  done ;;
check)
  {
    echo "package=$(dpkg-query -W -f='${db:Status-Status} ${Version}' @PACKAGE@ 2>/dev/null || echo unknown)"
    audit=$(dpkg --audit 2>&1)
    if [ -z "$audit" ]; then echo "audit=clean"; else echo "audit=dirty"; fi
    echo "--- audit"
    echo "$audit"
    echo "--- end audit"
    if [ -n "$audit" ]; then
      dpkg --configure -a > /run/repair.log 2>&1
      echo "configure_status=$?"
      tail -n 20 /run/repair.log
      if [ -z "$(dpkg --audit 2>&1)" ]; then echo "audit_after_configure=clean"; else echo "audit_after_configure=dirty"; fi
      if [ -n "$(dpkg --audit 2>&1)" ]; then
        # What dpkg --audit advises for a package left half-installed: remove it.
        dpkg --remove --force-remove-reinstreq @PACKAGE@ > /run/remove.log 2>&1
        echo "remove_status=$?"
        tail -n 20 /run/remove.log
      fi
      final=$(dpkg --audit 2>&1)
      if [ -z "$final" ]; then echo "audit_final=clean"; else echo "audit_final=dirty"; echo "$final"; fi
    fi
  } > /run/report 2>&1
  { printf 'FLASHROOT-OUTPUT %d\n' "$(wc -c < /run/report)"; cat /run/report; } > /dev/vda
  sync
  echo "power-cut check: reported"
  echo o > /proc/sysrq-trigger ;;
*)
  echo "power-cut init: unknown workload '$1'"
  echo o > /proc/sysrq-trigger ;;
esac
sleep 60
"#;

fn debian_cut_init() -> String {
    DEBIAN_CUT_INIT
        .replace("@PACKAGE@", PACKAGE)
        .replace("@DIR@", PACKAGE_DIR)
}

/// What the guest does until the power goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    /// The fsync commit loop: `commit N` after record N is fsynced and renamed in place.
    Commit,
    /// The commit loop while the churn runs beside it: the garbage collector never rests
    /// and the kernel's writes never pause.
    CommitGc,
    /// Garbage-collection churn: `churn N` after each rewrite of a scratch file.
    Churn,
    /// A Debian root (systemd replaced by [`DEBIAN_CUT_INIT`]) where apt-get installs,
    /// upgrades and purges a local package in a loop: `apt N` after each step.
    Apt,
}

impl Workload {
    const ALL: [Workload; 4] = [
        Workload::Commit,
        Workload::CommitGc,
        Workload::Churn,
        Workload::Apt,
    ];

    fn word(self) -> &'static str {
        match self {
            Workload::Commit => "commit",
            Workload::CommitGc => "commit-gc",
            Workload::Churn => "churn",
            Workload::Apt => "apt",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.word() == word.trim())
    }

    /// The first word of the workload's progress lines (`commit N`).
    fn progress_word(self) -> &'static str {
        match self {
            Workload::CommitGc => "commit",
            other => other.word(),
        }
    }

    /// The console line the random cuts count from: the 20th commit, or the churn's or
    /// apt loop's start (the boot itself takes a varying few seconds).
    fn start_line(self) -> &'static str {
        match self {
            Workload::Commit | Workload::CommitGc => "commit 20",
            Workload::Churn => "churn start",
            Workload::Apt => "apt start",
        }
    }

    /// A cut `min..max` seconds after [`Self::start_line`], drawn from `rng`.
    fn random_cut(self, rng: &mut Rng, min: f64, max: f64) -> Cut {
        let delay = min + (max - min) * rng.unit();
        Cut::after_line(self.start_line(), Duration::from_secs_f64(delay))
    }
}

/// The seed of the random cut points: `POWER_CUT_SEED`, else [`DEFAULT_CUT_SEED`].
fn cut_seed() -> u64 {
    env_or("POWER_CUT_SEED", DEFAULT_CUT_SEED)
}

/// A pristine card for power-cut runs and what the host knows about it. Each run boots
/// a copy, so every cut starts from the same card.
struct CutCard {
    dir: tempfile::TempDir,
    kernel: Kernel,
    initrd: PathBuf,
    card: PathBuf,
    /// SHA-256 (hex) of each never-modified file in /data, by name.
    kept: BTreeMap<String, String>,
    /// SHA-256 of each scratch file as mkfs wrote it: one that differs after a cut shows
    /// that the churn reached the card.
    scratch: BTreeMap<String, String>,
    /// How full mkfs left the container, for the results.
    fill: String,
    /// Kernel parameters that start the power-cut init (empty: /sbin/init is it).
    init_param: String,
}

impl CutCard {
    /// Builds the initramfs from `config_text` (the durability mode is the config's) and a
    /// card whose 8 MiB JFFS2 root holds busybox, the power-cut init, the kept and scratch
    /// files and a ballast that leaves [`HEADROOM_BLOCKS`] free beyond the write reserve.
    fn prepare(config_text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kernel = kernel();
        let tree = root_tree(dir.path(), Some(&power_cut_init()));
        let data = tree.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let mut rng = Rng(DATA_SEED);
        for i in 0..KEPT_FILES {
            std::fs::write(data.join(format!("{i:02}.keep")), rng.bytes(KEPT_BYTES)).unwrap();
            std::fs::write(
                data.join(format!("{i:02}.scratch")),
                rng.bytes(SCRATCH_BYTES),
            )
            .unwrap();
        }
        let image = dir.path().join("rootfs.img");
        let without_ballast = jffs2_image(&tree, &image, ERASE_64K);
        let spare_blocks = without_ballast
            .blocks_free
            .checked_sub(without_ballast.reserve_blocks + HEADROOM_BLOCKS)
            .unwrap_or_else(|| panic!("the container is too small: {without_ballast:?}"));
        // Random bytes do not compress: the ballast takes as much flash as it has bytes.
        let ballast = rng.bytes((spare_blocks * BALLAST_BYTES_PER_BLOCK) as usize);
        std::fs::write(data.join("ballast.keep"), ballast).unwrap();
        let report = jffs2_image(&tree, &image, ERASE_64K);
        assert!(
            report.blocks_free >= report.reserve_blocks + HEADROOM_BLOCKS / 2,
            "the ballast left too little room to write: {report:?}"
        );
        let card_path = dir.path().join("card.img");
        card(&card_path, &[("rootfs.img", &image)]);
        let initrd = dir.path().join("initrd.cpio");
        initramfs(&kernel, config_text, &initrd);
        let sums = host_sha256(&data);
        let (kept, scratch) = sums
            .into_iter()
            .partition(|(name, _)| name.ends_with(".keep"));
        let fill = format!(
            "{} kept files (the ballast one of them), {} scratch files; container {} of {} \
             erase blocks used, {} free, kernel write reserve {}",
            KEPT_FILES + 1,
            KEPT_FILES,
            report.blocks_used,
            report.blocks_total,
            report.blocks_free,
            report.reserve_blocks
        );
        eprintln!("power-cut card: {fill}");
        CutCard {
            dir,
            kernel,
            initrd,
            card: card_path,
            kept,
            scratch,
            fill,
            init_param: String::new(),
        }
    }

    /// Builds the initramfs from `config_text` and a card whose JFFS2 root is the cached
    /// Debian minbase root prepared as `flashroot import-root` does, plus the power-cut
    /// init (started by `init=`, in place of systemd) and two versions of a local package.
    fn prepare_debian(config_text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kernel = kernel();
        let config = flashroot_config::Config::parse("power-cut config", config_text)
            .expect("the config parses");
        let prepared = dir.path().join("debian-root");
        let root = debian_root::imported_offline_root(&prepared, &config);
        let init = root.join(DEBIAN_INIT_PATH);
        std::fs::write(&init, debian_cut_init()).unwrap();
        std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755)).unwrap();
        let packages = root.join(PACKAGE_DIR);
        std::fs::create_dir_all(&packages).unwrap();
        let mut rng = Rng(DATA_SEED);
        for version in ["1.0", "2.0"] {
            let files: Vec<Vec<u8>> = (0..PACKAGE_FILES)
                .map(|_| rng.bytes(PACKAGE_FILE_BYTES))
                .collect();
            debian_root::build_package(PACKAGE, version, &files, dir.path(), &packages);
        }
        let image = dir.path().join("rootfs.img");
        let report = debian_root::container_image(&root, &image);
        std::fs::remove_dir_all(&prepared).unwrap();
        let card_path = dir.path().join("card.img");
        card_of_size(
            &card_path,
            &[("rootfs.img", &image)],
            debian_root::CARD_BYTES,
        );
        std::fs::remove_file(&image).unwrap();
        let initrd = dir.path().join("initrd.cpio");
        initramfs(&kernel, config_text, &initrd);
        let fill = format!(
            "Debian minbase root: container {} of {} erase blocks used, {} free",
            report.blocks_used, report.blocks_total, report.blocks_free
        );
        eprintln!("power-cut card: {fill}");
        CutCard {
            dir,
            kernel,
            initrd,
            card: card_path,
            kept: BTreeMap::new(),
            scratch: BTreeMap::new(),
            fill,
            init_param: format!("init=/{DEBIAN_INIT_PATH}"),
        }
    }

    /// The card for `workload`'s root.
    fn for_workload(workload: Workload, config_text: &str) -> Self {
        match workload {
            Workload::Commit | Workload::CommitGc | Workload::Churn => Self::prepare(config_text),
            Workload::Apt => Self::prepare_debian(config_text),
        }
    }

    /// The command line of a boot running `words` (a workload, or `check`).
    fn cmdline(&self, words: &str) -> String {
        format!("mtd {FAIL_FAST} {} -- {words}", self.init_param)
    }

    /// One cut: a fresh copy of the card runs `workload` until `cut`, then a check boot
    /// of that copy reports what survived.
    fn cut_and_check(&self, workload: Workload, cut: Cut, seed: u64, index: usize) -> Verdict {
        let run_card = self
            .dir
            .path()
            .join(format!("card-{}-{index}.img", workload.word()));
        std::fs::copy(&self.card, &run_card).unwrap();
        let cut_boot = run_with_cut(
            &self.kernel,
            &self.initrd,
            vec![ide(&run_card)],
            &self.cmdline(workload.word()),
            Some(cut.clone()),
        );
        let Some(cut_at) = cut_boot.cut_at() else {
            panic!(
                "{} (seed {seed}): the power was not cut at {cut:?}; the workload never got \
                 there\n{cut_boot}",
                workload.word()
            )
        };
        if let Some(keep) = std::env::var_os("POWER_CUT_KEEP") {
            // For forensics: the card as the cut left it, before the check boot mounts it.
            let kept = Path::new(&keep).join(format!(
                "{}-seed{seed}-{index}-after-cut.img",
                workload.word()
            ));
            std::fs::create_dir_all(Path::new(&keep)).unwrap();
            std::fs::copy(&run_card, &kept)
                .unwrap_or_else(|e| panic!("cannot keep the card as {}: {e}", kept.display()));
            let pristine = Path::new(&keep).join(format!("pristine-{}.img", workload.word()));
            if !pristine.exists() {
                std::fs::copy(&self.card, &pristine).unwrap();
            }
        }
        let check_boot = run(
            &self.kernel,
            &self.initrd,
            vec![ide(&run_card)],
            &self.cmdline("check"),
        );
        let verdict = Verdict::judge(self, workload, seed, cut, cut_at, &cut_boot, &check_boot);
        let _ = std::fs::remove_file(&run_card);
        eprintln!("{verdict}");
        verdict
    }
}

/// `sha256sum` of every file in `dir`, by file name: the host's own checksums.
fn host_sha256(dir: &Path) -> BTreeMap<String, String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let output = Command::new("sha256sum")
        .args(&names)
        .current_dir(dir)
        .output()
        .expect("sha256sum (coreutils) runs");
    assert!(output.status.success(), "sha256sum failed: {output:?}");
    parse_sha256sum(&String::from_utf8_lossy(&output.stdout))
}

/// `<hex>  <name>` lines into a map by name.
fn parse_sha256sum(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once("  "))
        .map(|(sum, name)| (name.trim().to_owned(), sum.trim().to_owned()))
        .collect()
}

/// The commit record the check boot found.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Record {
    Absent,
    /// Well-formed, with its sequence number.
    Seq(u64),
    /// Present but not a record the workload wrote whole.
    Torn(String),
}

impl Record {
    fn parse(field: &str) -> Self {
        if field == "absent" {
            return Record::Absent;
        }
        let pad = "0".repeat(RECORD_PAD);
        field
            .strip_prefix("seq=")
            .and_then(|rest| rest.strip_suffix(&format!(" pad={pad} end")))
            .and_then(|seq| seq.parse().ok())
            .map_or_else(|| Record::Torn(field.to_owned()), Record::Seq)
    }

    fn seq(&self) -> u64 {
        match self {
            Record::Seq(n) => *n,
            Record::Absent | Record::Torn(_) => 0,
        }
    }
}

/// The highest N of the `<word> N` progress lines among `lines`.
fn last_progress<'a>(lines: impl Iterator<Item = &'a str>, word: &str) -> Option<u64> {
    lines
        .filter_map(|line| {
            line.trim()
                .strip_prefix(word)?
                .strip_prefix(' ')?
                .parse()
                .ok()
        })
        .max()
}

/// dpkg's state after a cut, as the Debian check boot found it.
#[derive(Clone, Debug)]
struct Dpkg {
    /// `dpkg-query` status and version of the test package, or `unknown`.
    package: String,
    /// `dpkg --audit` printed nothing.
    audit_clean: bool,
    /// The audit came out clean after `dpkg --configure -a` (run only after a dirty audit):
    /// the issue's criterion.
    configure_repaired: Option<bool>,
    /// The audit came out clean after dpkg's own documented recovery: `dpkg --configure
    /// -a`, then removing a package left half-installed, as `dpkg --audit` advises. A cut
    /// during an unpack leaves the package half-installed even on storage that loses
    /// nothing, which `--configure -a` cannot finish; a damaged database stays dirty.
    recovered: Option<bool>,
}

impl Dpkg {
    /// Clean, or made clean by `dpkg --configure -a`.
    fn clean_or_configurable(&self) -> bool {
        self.audit_clean || self.configure_repaired == Some(true)
    }

    /// Clean, or made clean by dpkg's own recovery.
    fn recoverable(&self) -> bool {
        self.audit_clean || self.recovered == Some(true)
    }
}

/// What one cut did to the card, judged by the host.
struct Verdict {
    workload: Workload,
    seed: u64,
    cut: Cut,
    cut_at: Duration,
    /// The last progress number seen at all, and the last seen [`COMMIT_MARGIN`] before
    /// the cut.
    progress: Option<u64>,
    committed: Option<u64>,
    /// The check boot ran and reported.
    bootable: bool,
    /// The commit record (busybox roots).
    record: Option<Record>,
    /// dpkg's state (the Debian root).
    dpkg: Option<Dpkg>,
    /// Never-modified files whose checksum differs from the host's, or that are missing.
    corrupted: Vec<String>,
    /// Anything the workload wrote reached the card: a record, a rewritten scratch file.
    reached_card: bool,
    /// `commit N failed` lines: commits that failed in the guest (a full filesystem), not
    /// losses.
    failed_commits: usize,
    report: String,
    check_tail: String,
}

impl Verdict {
    fn judge(
        card: &CutCard,
        workload: Workload,
        seed: u64,
        cut: Cut,
        cut_at: Duration,
        cut_boot: &Outcome,
        check_boot: &Outcome,
    ) -> Self {
        let word = workload.progress_word();
        let progress = last_progress(cut_boot.lines.iter().map(|(_, l)| l.as_str()), word);
        let failed_commits = cut_boot
            .lines
            .iter()
            .filter(|(_, l)| l.starts_with("commit ") && l.trim_end().ends_with(" failed"))
            .count();
        let committed = last_progress(cut_boot.lines_before_cut(COMMIT_MARGIN), word);
        let report = check_boot
            .output
            .as_deref()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
        let field = |key: &str| -> Option<String> {
            let prefix = format!("{key}=");
            report
                .as_deref()?
                .lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_owned))
        };
        let dpkg = field("audit").map(|audit| Dpkg {
            package: field("package").unwrap_or_default(),
            audit_clean: audit == "clean",
            configure_repaired: field("audit_after_configure").map(|after| after == "clean"),
            recovered: field("audit_final").map(|after| after == "clean"),
        });
        let (record, corrupted, reached_card) = match &report {
            None => (None, Vec::new(), false),
            Some(_) if workload == Workload::Apt => {
                // The package is in dpkg's database (installed, half-done, or removed but
                // not purged): an apt step reached the card.
                let known = dpkg.as_ref().is_some_and(|d| d.package != "unknown");
                (None, Vec::new(), known)
            }
            Some(text) => {
                let record = field("record").map_or_else(
                    || Record::Torn("no record line".into()),
                    |r| Record::parse(&r),
                );
                let sums = parse_sha256sum(
                    text.split("--- sha256\n")
                        .nth(1)
                        .and_then(|rest| rest.split("--- end").next())
                        .unwrap_or_default(),
                );
                let corrupted = card
                    .kept
                    .iter()
                    .filter(|(name, sum)| sums.get(*name) != Some(*sum))
                    .map(|(name, _)| name.clone())
                    .collect();
                let scratch_changed = card
                    .scratch
                    .iter()
                    .any(|(name, sum)| sums.get(name) != Some(sum));
                let reached = match workload {
                    Workload::Commit | Workload::CommitGc => record != Record::Absent,
                    Workload::Churn | Workload::Apt => scratch_changed,
                };
                (Some(record), corrupted, reached)
            }
        };
        Verdict {
            workload,
            seed,
            cut,
            cut_at,
            progress,
            committed,
            bootable: report.is_some(),
            record,
            dpkg,
            corrupted,
            reached_card,
            failed_commits,
            report: report.unwrap_or_default(),
            check_tail: check_boot.tail(30),
        }
    }

    /// Committed records lost: how far the surviving record falls short of the last one
    /// committed [`COMMIT_MARGIN`] before the cut (0 for the churn workload).
    fn lost_commits(&self) -> u64 {
        match (self.workload, &self.record) {
            (Workload::Commit | Workload::CommitGc, Some(record)) => {
                self.committed.unwrap_or(0).saturating_sub(record.seq())
            }
            _ => 0,
        }
    }

    /// Each broken promise, in words; empty when the cut did no harm.
    fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        if !self.bootable {
            failures.push("the card no longer boots to the check script".into());
        }
        if let Some(Record::Torn(text)) = &self.record {
            failures.push(format!("the commit record is torn: {text:?}"));
        }
        if let Some(dpkg) = self.dpkg.as_ref().filter(|d| !d.recoverable()) {
            failures.push(format!(
                "dpkg --audit finds problems that neither dpkg --configure -a nor removing the \
                 half-installed package repairs (package {})",
                dpkg.package
            ));
        }
        if self.lost_commits() > 0 {
            failures.push(format!(
                "record {} was committed at least {} ms before the cut, but the card holds {}",
                self.committed.unwrap_or(0),
                COMMIT_MARGIN.as_millis(),
                match &self.record {
                    Some(Record::Seq(n)) => format!("record {n}"),
                    _ => "no record".into(),
                }
            ));
        }
        if !self.corrupted.is_empty() {
            failures.push(format!(
                "never-modified files differ from the host's checksums: {}",
                self.corrupted.join(", ")
            ));
        }
        failures
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} seed {} cut {:.2} s after {:?} (at {:.2} s): last progress line {:?}, last \
             {} ms before the cut {:?}, boots {}, record {:?}, dpkg {:?}, reached the card {}, \
             corrupted {:?}, failed commits {}",
            self.workload.word(),
            self.seed,
            self.cut.delay.as_secs_f64(),
            self.cut.after.as_deref().unwrap_or("the start"),
            self.cut_at.as_secs_f64(),
            self.progress,
            COMMIT_MARGIN.as_millis(),
            self.committed,
            self.bootable,
            self.record,
            self.dpkg,
            self.reached_card,
            self.corrupted,
            self.failed_commits
        )
    }
}

/// The check report without the checksum lines that say nothing: kept files equal to the
/// host's, and scratch files (rewritten or not, their content is the workload's). Both are
/// counted; a kept file that differs stays, as does every other line.
fn condensed_report(
    report: &str,
    kept: &BTreeMap<String, String>,
    scratch_files: &BTreeMap<String, String>,
) -> String {
    let (mut intact, mut scratch) = (0, 0);
    let mut out = String::new();
    for line in report.lines() {
        match line.split_once("  ") {
            Some((sum, name)) if kept.get(name.trim()).map(String::as_str) == Some(sum) => {
                intact += 1
            }
            Some((_, name)) if scratch_files.contains_key(name.trim()) => scratch += 1,
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    format!(
        "{out}(left out: {intact} checksum lines of kept files equal to the host's, {scratch} of \
         scratch files)"
    )
}

/// Panics naming every cut that broke a promise, with its seed, cut point and the
/// guest's report.
fn assert_no_harm(card: &CutCard, verdicts: &[Verdict]) {
    let failed: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.failures().is_empty())
        .map(|v| {
            format!(
                "{v}\n  {}\n  --- check report ---\n{}\n  --- check boot console tail ---\n{}",
                v.failures().join("\n  "),
                condensed_report(&v.report, &card.kept, &card.scratch),
                v.check_tail
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} power cuts did harm:\n{}",
        failed.len(),
        verdicts.len(),
        failed.join("\n\n")
    );
}

#[test]
fn committed_records_survive_a_power_cut() {
    let seed = cut_seed();
    let card = CutCard::prepare(flashroot_config::DEFAULT_TOML);
    let mut rng = Rng(seed);
    // The issue's case (3 s after the 20th commit), and one random point.
    let cuts = [
        Cut::after_line(Workload::Commit.start_line(), Duration::from_secs(3)),
        Workload::Commit.random_cut(&mut rng, 0.5, 8.0),
    ];
    let verdicts: Vec<Verdict> = cuts
        .into_iter()
        .enumerate()
        .map(|(i, cut)| card.cut_and_check(Workload::Commit, cut, seed, i))
        .collect();
    assert_no_harm(&card, &verdicts);
}

/// A writer that never pauses while the garbage collector never rests: new records land
/// in blocks whose erase the agent holds, and no flush is ever quiet. An agent that waited
/// for a pause in all writes (or 30 s) lost everything since the collector's first erase
/// in every cut 8-12 s in (seeds 11-15: 276-310 records committed 0.5 s before the cut); it must lose nothing committed
/// 0.5 s before the cut, nor any file never modified.
#[test]
fn commits_survive_a_cut_while_garbage_collection_never_rests() {
    let seed = cut_seed();
    let card = CutCard::prepare(flashroot_config::DEFAULT_TOML);
    let mut rng = Rng(seed);
    let cut = Workload::CommitGc.random_cut(&mut rng, 8.0, 12.0);
    let verdict = card.cut_and_check(Workload::CommitGc, cut, seed, 0);
    assert_no_harm(&card, &[verdict]);
}

#[test]
fn garbage_collection_cut_leaves_never_modified_files_intact() {
    let seed = cut_seed();
    let card = CutCard::prepare(flashroot_config::DEFAULT_TOML);
    let mut rng = Rng(seed);
    // Late enough that the kernel's writeback (first at ~10 s of uptime) is under way.
    let verdicts: Vec<Verdict> = (0..3)
        .map(|i| {
            let cut = Workload::Churn.random_cut(&mut rng, 5.0, 35.0);
            card.cut_and_check(Workload::Churn, cut, seed, i)
        })
        .collect();
    assert_no_harm(&card, &verdicts);
}

#[test]
fn debian_root_cut_during_apt_boots_and_dpkg_is_clean_or_repairable() {
    let seed = cut_seed();
    let card = CutCard::prepare_debian(flashroot_config::DEFAULT_TOML);
    let mut rng = Rng(seed);
    // One cut (a Debian cut costs two Debian boots) within the first few apt steps (each
    // takes about 6 s here).
    let cut = Workload::Apt.random_cut(&mut rng, 5.0, 40.0);
    let verdict = card.cut_and_check(Workload::Apt, cut, seed, 0);
    assert_no_harm(&card, &[verdict]);
}

/// `name` from the environment, or `default`.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a valid value")),
        Err(_) => default,
    }
}

/// The benchmark: `CUTS` cuts (default 50) per workload of `WORKLOADS` (default
/// `commit,churn,apt`), each at a random point 0.5..`CUT_MAX_SECS` (default 40) seconds
/// after the workload's start line, seeded by `POWER_CUT_SEED`, with the initramfs built
/// from the config file `POWER_CUT_CONFIG` (default: the embedded default config), e.g.
/// to compare durability modes. Prints one line per cut and a results table, also written
/// to `POWER_CUT_TABLE` if set. Measures; asserts only that every cut happened.
#[test]
#[ignore = "the power-cut benchmark, minutes per workload: bench/power-cut.sh runs it"]
fn power_cut_benchmark() {
    let cuts: usize = env_or("CUTS", 50);
    let max_delay: f64 = env_or("CUT_MAX_SECS", 40.0);
    let workloads: Vec<Workload> = env_or("WORKLOADS", "commit,churn,apt".to_owned())
        .split(',')
        .map(|w| Workload::parse(w).unwrap_or_else(|| panic!("unknown workload {w:?}")))
        .collect();
    let seed = cut_seed();
    let (config_text, config_name) = match std::env::var("POWER_CUT_CONFIG") {
        Ok(path) => (
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("POWER_CUT_CONFIG={path}: {e}")),
            path,
        ),
        Err(_) => (
            flashroot_config::DEFAULT_TOML.to_owned(),
            "the embedded default".to_owned(),
        ),
    };
    let started = std::time::Instant::now();
    let mut rng = Rng(seed);
    let mut table = String::from(
        "| workload | cuts | reached the card | lost committed records (> 0.5 s) | \
         cuts losing records | corrupted never-modified files | cuts corrupting | dpkg not \
         clean | dpkg not repaired by --configure -a | dpkg not recoverable | unbootable cards \
         |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut cards: Vec<String> = Vec::new();
    for workload in workloads {
        let card = CutCard::for_workload(workload, &config_text);
        let verdicts: Vec<Verdict> = (0..cuts)
            .map(|i| {
                let cut = workload.random_cut(&mut rng, 0.5, max_delay);
                card.cut_and_check(workload, cut, seed, i)
            })
            .collect();
        let count = |judge: &dyn Fn(&Verdict) -> bool| verdicts.iter().filter(|v| judge(v)).count();
        let dash = || "–".to_owned();
        let lost: u64 = verdicts.iter().map(Verdict::lost_commits).sum();
        let corrupted: usize = verdicts.iter().map(|v| v.corrupted.len()).sum();
        let (lost, losing) = match workload {
            Workload::Commit | Workload::CommitGc => (
                lost.to_string(),
                count(&|v| v.lost_commits() > 0).to_string(),
            ),
            Workload::Churn | Workload::Apt => (dash(), dash()),
        };
        let (corrupted, corrupting) = match workload {
            Workload::Commit | Workload::CommitGc | Workload::Churn => (
                corrupted.to_string(),
                count(&|v| !v.corrupted.is_empty()).to_string(),
            ),
            Workload::Apt => (dash(), dash()),
        };
        let dpkg_count = |judge: &dyn Fn(&Dpkg) -> bool| {
            count(&|v| v.dpkg.as_ref().is_some_and(judge)).to_string()
        };
        let (unclean, unconfigured, unrecoverable) = match workload {
            Workload::Apt => (
                dpkg_count(&|d| !d.audit_clean),
                dpkg_count(&|d| !d.clean_or_configurable()),
                dpkg_count(&|d| !d.recoverable()),
            ),
            Workload::Commit | Workload::CommitGc | Workload::Churn => (dash(), dash(), dash()),
        };
        table.push_str(&format!(
            "| {} | {cuts} | {} | {lost} | {losing} | {corrupted} | {corrupting} | {unclean} | \
             {unconfigured} | {unrecoverable} | {} |\n",
            workload.word(),
            count(&|v| v.reached_card),
            count(&|v| !v.bootable),
        ));
        cards.push(format!("{}: {}", workload.word(), card.fill));
    }
    let summary = format!(
        "{table}\nseed {seed}, cut points 0.5..{max_delay} s after each workload's start line, \
         config {config_name}, wall time {:.0} s.\nCards: {}\n",
        started.elapsed().as_secs_f64(),
        cards.join("; ")
    );
    eprintln!("\n{summary}");
    if let Ok(path) = std::env::var("POWER_CUT_TABLE") {
        std::fs::write(&path, &summary).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
    }
}

#[test]
fn records_and_progress_are_read_strictly() {
    let pad = "0".repeat(RECORD_PAD);
    assert_eq!(Record::parse("absent"), Record::Absent);
    assert_eq!(
        Record::parse(&format!("seq=42 pad={pad} end")),
        Record::Seq(42)
    );
    let torn = format!("seq=42 pad={}", &pad[..50]);
    assert_eq!(Record::parse(&torn), Record::Torn(torn.clone()));
    let lines = [
        "commit 1",
        "[  3.1] random: crng",
        "commit 2",
        "commit 2x",
        "churn 9",
    ];
    assert_eq!(last_progress(lines.into_iter(), "commit"), Some(2));
    assert_eq!(last_progress(lines.into_iter(), "churn"), Some(9));
    assert_eq!(last_progress(["commit"].into_iter(), "commit"), None);
    let sums = parse_sha256sum("ab12  00.keep\ncd34  ballast.keep\n");
    assert_eq!(sums.get("ballast.keep").map(String::as_str), Some("cd34"));
    // The same seed gives the same data and cut points on every machine.
    assert_eq!(Rng(7).bytes(20), Rng(7).bytes(20));
    assert_ne!(Rng(7).bytes(20), Rng(8).bytes(20));
    let unit = Rng(3).unit();
    assert!((0.0..1.0).contains(&unit), "{unit}");
}

#[test]
fn init_scripts_have_every_placeholder_filled() {
    for script in [power_cut_init(), debian_cut_init()] {
        assert!(!script.contains('@'), "{script}");
        assert!(script.starts_with("#!/bin/sh\n"), "{script}");
    }
    assert!(power_cut_init().contains("bs=4096 count=8 "));
}

#[test]
fn failure_reports_keep_only_the_lines_that_say_something() {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect()
    };
    let kept = map(&[("00.keep", "aa"), ("01.keep", "bb")]);
    let scratch = map(&[("00.scratch", "cc")]);
    let report = "record=absent\n--- sha256\naa  00.keep\nzz  00.scratch\n00  01.keep\n--- end\n";
    assert_eq!(
        condensed_report(report, &kept, &scratch),
        "record=absent\n--- sha256\n00  01.keep\n--- end\n(left out: 1 checksum lines of kept \
         files equal to the host's, 1 of scratch files)"
    );
}
