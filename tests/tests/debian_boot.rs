//! Issue #6: a real minimal Debian (`debootstrap --variant=minbase --include=systemd-sysv,udev`)
//! boots from the card as the JFFS2 root, to systemd's multi-user.target, and its writes
//! to /var/log land on tmpfs, not on the card.
//!
//! Issue #10, clean shutdown: the probe powers the system off (first boot) or reboots it
//! (second boot, from the same card); each time systemd-shutdown hands over to our
//! /run/initramfs/shutdown, whose steps must all show on the console, and the card's FAT
//! must come out clean: `fsck.vfat -n` on the partition finds no dirty bit, and the
//! second boot's kernel does not call the volume "not properly unmounted".
//!
//! The debootstrap tree is cached under `${XDG_CACHE_HOME:-~/.cache}/flashroot/debootstrap/`
//! keyed by suite, so a machine pays for it once (about a minute; needs root and Debian's
//! mirror). Each run then copies it through `rootprep` (as `flashroot import-root` does),
//! adds a probe unit, writes the JFFS2 container with our writer, builds the initramfs
//! with our pipeline and puts both on a card image made by `flashroot card`'s code.

use flashroot_tests::debian_root;
use flashroot_tests::flashboot;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use flashboot::{fsck_card, kernel, KERNEL_DIRTY};
use flashroot::rootprep::{self, Target};
use flashroot_config::{Config, DEFAULT_TOML};
use flashroot_qemu::{Ending, Kernel, Outcome};

/// systemd under TCG from a JFFS2 root: generous, the measured boot is far shorter.
const BOOT_TIMEOUT: Duration = Duration::from_secs(900);
/// On the kernel command line: the probe reboots instead of powering off.
const REBOOT_WORD: &str = "flashroot.test.reboot";
/// Our shutdown's log lines that every clean shutdown of this card shows.
const SHUTDOWN_STEPS: [&str; 5] = [
    "flashroot: prepared /run/initramfs/shutdown for systemd's shutdown",
    "flashroot: shutdown: /run/flashroot/containers: card /run/flashroot/card, containers: rootfs.img on /dev/nbd0 (mtd:rootfs)",
    "(jffs2) from /oldroot in ",
    "flashroot: shutdown: removed block2mtd",
    " with 0 failed steps",
];
/// The card is unmounted either by our shutdown (moved out of the old root first) or,
/// since nothing on it is held open (the card agent writes on its partition), already by
/// systemd, which our shutdown then reports.
const CARD_UNMOUNTED_BY_US: [&str; 2] = [
    "flashroot: shutdown: moved the card from /oldroot/run/flashroot/card to /card",
    "flashroot: shutdown: unmounted the card (/dev/sda1) from /card",
];
const CARD_UNMOUNTED_BY_SYSTEMD: &str =
    "flashroot: shutdown: the card is no longer mounted at /oldroot/run/flashroot/card";
/// Our shutdown reports the card agent's device released: flushed, disconnected, and the
/// agent (spared by systemd's shutdown as a root storage daemon) gone.
const NBD_RELEASED: [&str; 3] = [
    "flashroot: shutdown: flushed /dev/nbd0 (rootfs.img)",
    "flashroot: shutdown: disconnected /dev/nbd0",
    "flashroot: shutdown: the agent of /dev/nbd0 (PID ",
];
/// Printed by the probe unit once multi-user.target is reached.
const PROBE_MARKER: &str = "FLASHROOT-PROBE";
const PROBE_UNIT: &str = "flashroot-probe.service";
/// The probe: writes to /var/log and to the journal, reports the filesystem types of / and
/// of that file, how many of its journal lines the previous boot left (the journal lives
/// in the /var/log RAM directory, saved at shutdown), the guest's uptime, then powers off. `%%` is a literal `%` in a unit file.
const PROBE_UNIT_TEXT: &str = r#"[Unit]
Description=flashroot test probe (reports mounts once multi-user.target is reached)
After=multi-user.target

[Service]
Type=oneshot
StandardOutput=tty
TTYPath=/dev/ttyS0
ExecStart=/bin/sh -c 'echo probe > /var/log/flashroot-probe; echo flashroot-journal-marker | systemd-cat -t flashroot-probe; journalctl --flush; echo "FLASHROOT-PROBE root=$(stat -f -c %%T /) var_log_file=$(stat -f -c %%T /var/log/flashroot-probe) journal_before=$(journalctl -q -b -1 -t flashroot-probe 2>/dev/null | grep -c flashroot-journal-marker) uptime=$(cut -d" " -f1 /proc/uptime) end"'
ExecStopPost=/bin/sh -c 'if grep -qw flashroot.test.reboot /proc/cmdline; then systemctl --no-block reboot; else systemctl --no-block poweroff; fi'

[Install]
WantedBy=multi-user.target
"#;

#[test]
fn apt_sources_name_the_mirror() {
    let deb822 = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main\n";
    assert_eq!(
        debian_root::deb822_mirror(deb822).as_deref(),
        Some("http://mirror.example/debian")
    );
    let off = deb822.replace("Components: main\n\n", "Components: main\nEnabled: no\n\n");
    assert_eq!(debian_root::deb822_mirror(&off), None);
    let list = "# comment\ndeb-src http://src.example/debian bookworm main\ndeb [arch=amd64] http://list.example/debian bookworm main contrib\n";
    assert_eq!(
        debian_root::one_line_mirror(list).as_deref(),
        Some("http://list.example/debian")
    );
    assert_eq!(
        debian_root::one_line_mirror("deb http://x.example/debian bullseye main\n"),
        None
    );
}

/// Installs the probe unit, enabled for multi-user.target, with the console to itself.
fn add_probe(root: &Path) {
    debian_root::add_unit(root, PROBE_UNIT, PROBE_UNIT_TEXT);
    debian_root::mask_serial_getty(root);
}

/// `key=value` from the probe line.
fn probe_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Checks that our shutdown logged every step for `verb`, and nothing failed.
fn expect_shutdown_log(console: &str, verb: &str, log: &Path) {
    let ours: Vec<&str> = console
        .lines()
        .filter(|l| l.contains("flashroot: shutdown: ") || l.contains("flashroot: prepared"))
        .collect();
    eprintln!("our shutdown ({verb}):\n{}", ours.join("\n"));
    let running = format!("running as PID 1 for {verb}");
    let going = format!("flashroot: shutdown: {verb} after ");
    for step in SHUTDOWN_STEPS
        .iter()
        .chain([&running.as_str(), &going.as_str()])
    {
        assert!(
            ours.iter().any(|l| l.contains(step)),
            "{verb}: no shutdown line with {step:?}; console in {}",
            log.display()
        );
    }
    let by_us = CARD_UNMOUNTED_BY_US
        .iter()
        .all(|step| ours.iter().any(|l| l.contains(step)));
    let by_systemd = ours.iter().any(|l| l.contains(CARD_UNMOUNTED_BY_SYSTEMD));
    assert!(
        by_us || by_systemd,
        "{verb}: neither our shutdown nor systemd unmounted the card; console in {}",
        log.display()
    );
    for released in NBD_RELEASED {
        assert!(
            ours.iter().any(|l| l.contains(released)),
            "{verb}: no shutdown line with {released:?}; console in {}",
            log.display()
        );
    }
    assert!(
        !console.contains("flashroot: shutdown: error"),
        "{verb}: a shutdown step failed; console in {}",
        log.display()
    );
}

fn boot_card(kernel: &Kernel, initrd: &Path, image: &Path, cmdline: String) -> Outcome {
    debian_root::boot_card_within(kernel, initrd, image, cmdline, BOOT_TIMEOUT)
}

#[test]
fn debootstrap_minbase_boots_to_multi_user_from_the_card() {
    let source = debian_root::debootstrap_root();
    let dir = tempfile::tempdir().unwrap();
    let config = Config::embedded_default();
    let kernel = kernel();

    let prepared = dir.path().join("root");
    let (root, changes) = rootprep::import(&source, Target::Copy(&prepared), &config).unwrap();
    assert!(
        changes
            .to_string()
            .contains("replaced /var/tmp (a directory) with a symlink to /tmp"),
        "{changes}"
    );
    add_probe(&root);

    let started = Instant::now();
    let debian_root::DebianCard {
        initrd,
        image,
        boot: boot_config,
        report,
        jffs2,
    } = debian_root::debian_card(&root, dir.path(), &kernel, DEFAULT_TOML);
    let jffs2_seconds = started.elapsed().as_secs_f64();
    fs::remove_dir_all(&prepared).unwrap();

    let outcome = boot_card(&kernel, &initrd, &image, boot_config.flash_cmdline());
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian_boot-console.log");
    fs::write(&log, &outcome.console).unwrap();
    eprintln!("console: {}", log.display());

    outcome
        .expect_console("flashroot: exec /sbin/init")
        .expect_powered_off();
    // systemd colours its status lines; the harness's console text has no escape sequences.
    let console = &outcome.console;
    // The probe runs After=multi-user.target: its line proves the target was reached
    // (systemd's own status line is not printed when a getty holds the console first).
    let probe = console
        .lines()
        .find(|l| l.starts_with(PROBE_MARKER) && l.trim_end().ends_with(" end"))
        .unwrap_or_else(|| panic!("no complete probe line; console in {}", log.display()));
    assert_eq!(probe_field(probe, "root"), Some("jffs2"), "{probe}");
    assert_eq!(
        probe_field(probe, "var_log_file"),
        Some("tmpfs"),
        "writes to /var/log must land on tmpfs: {probe}"
    );
    assert_eq!(probe_field(probe, "journal_before"), Some("0"), "{probe}");
    assert!(
        console.contains(
            "RAM directory /var/log saved (shutdown) to /var/lib/flashroot/ramdir/var/log"
        ),
        "systemd's stop of flashroot-ramdirs.service saved /var/log; console in {}",
        log.display()
    );
    let uptime: f64 = probe_field(probe, "uptime")
        .and_then(|u| u.parse().ok())
        .unwrap_or_else(|| panic!("no uptime in {probe}"));
    eprintln!(
        "debian boot: multi-user.target reached at {uptime:.1} s guest uptime; QEMU wall time to \
         power-off {:.1} s; /init started at {:?} s; {}; JFFS2 image written in {jffs2_seconds:.1} s: {jffs2}",
        outcome.elapsed.as_secs_f64(),
        outcome.kernel_time_of("Run /init as init process"),
        flashboot::init_timing(&outcome.console).unwrap_or_default(),
    );

    // Clean power-off: every step of ours, and the card's FAT clean.
    expect_shutdown_log(console, "poweroff", &log);
    let fsck = fsck_card(&image, &report, dir.path());
    eprintln!("fsck.vfat -n after the poweroff:\n{fsck}");

    // The same card again, rebooted this time (QEMU's -no-reboot ends it there).
    let outcome = boot_card(
        &kernel,
        &initrd,
        &image,
        format!("{} {REBOOT_WORD}", boot_config.flash_cmdline()),
    );
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian_boot-reboot-console.log");
    fs::write(&log, &outcome.console).unwrap();
    eprintln!("console: {}", log.display());
    outcome
        .expect_console(PROBE_MARKER)
        .expect_ending(&Ending::Rebooted);
    // The first boot's journal line came back with the saved /var/log.
    let probe = outcome
        .console
        .lines()
        .find(|l| l.starts_with(PROBE_MARKER) && l.trim_end().ends_with(" end"))
        .unwrap_or_else(|| panic!("no complete probe line; console in {}", log.display()));
    assert_eq!(
        probe_field(probe, "journal_before"),
        Some("1"),
        "journalctl -b -1 shows the first boot's line: {probe}; console in {}",
        log.display()
    );
    assert!(
        !outcome.console.contains(KERNEL_DIRTY),
        "the kernel found the card dirty after our poweroff; console in {}",
        log.display()
    );
    expect_shutdown_log(&outcome.console, "reboot", &log);
    let fsck = fsck_card(&image, &report, dir.path());
    eprintln!(
        "fsck.vfat -n after the reboot:\n{fsck}QEMU wall time of the second boot to reboot {:.1} s",
        outcome.elapsed.as_secs_f64()
    );
}

/// Issue #12: locales and the machine ID on the imported Debian root, used as a person
/// would. Boot 1 installs `locales` with apt from local .debs (it is not in minbase),
/// enables en_US.UTF-8 in /etc/locale.gen and runs `locale-gen`, `localedef` and
/// `update-locale`, then reinstalls libc-bin (dpkg unpacks localedef again: the diversion
/// must hold). Boot 2, from the same card, finds the locales and the same machine ID.
const LOCALE_PROBE: &str = "LOCALE-PROBE";
const LOCALE_PROBE_UNIT: &str = "flashroot-locale-probe.service";
const LOCALE_PROBE_PATH: &str = "usr/local/sbin/flashroot-locale-probe";
/// Where the .debs wait on the root.
const LOCALE_DEBS_DIR: &str = "srv/flashroot-locale";
/// The first locale boot installs packages and compiles three locales under TCG.
const LOCALE_BOOT_TIMEOUT: Duration = Duration::from_secs(1800);
/// On the kernel command line: which boot this is.
const LOCALE_PHASE_WORD: &str = "flashroot.test.locale";
/// glibc's packages the test installs, all at the tree's libc-bin version.
const LOCALE_PACKAGES: [&str; 3] = ["libc-l10n", "locales", "libc-bin"];
/// The probe's steps (see [`debian_root::StepProbeSpec`]).
const LOCALE_PROBE_SCRIPT: &str = r#"phase=$(sed -n 's/.*flashroot\.test\.locale=\([0-9]\).*/\1/p' /proc/cmdline)
echo "LOCALE-PROBE phase=$phase machine_id=$(cat /etc/machine-id) end"
cd /@DEBS@ || echo "LOCALE-PROBE no /@DEBS@"
if [ "$phase" = 1 ]; then
  step install apt-get install -y -q -o Dpkg::Use-Pty=0 ./libc-l10n_*.deb ./locales_*.deb
  step enable sed -i 's/^# *\(en_US.UTF-8 UTF-8\)$/\1/' /etc/locale.gen
  step locale-gen locale-gen
  step localedef localedef -i de_DE -f UTF-8 de_DE.UTF-8
  step update-locale update-locale LANG=en_US.UTF-8
  step reinstall-libc-bin apt-get install -y -q -o Dpkg::Use-Pty=0 --reinstall ./libc-bin_*.deb
  step localedef-again localedef -i fr_FR -f UTF-8 fr_FR.UTF-8
  step diversion dpkg-divert --list /usr/bin/localedef
fi
step locale-a locale -a
step charmap env LC_ALL=en_US.UTF-8 locale charmap
step default-locale cat /etc/default/locale
step wrapper cat /usr/bin/localedef
sync
echo "LOCALE-PROBE done"
"#;

#[test]
fn locales_and_a_fresh_machine_id_work_on_the_card_and_survive_a_reboot() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::embedded_default();
    let kernel = kernel();
    let source = debian_root::debootstrap_root();
    let tree_machine_id = fs::read_to_string(source.join("etc/machine-id")).unwrap();
    let glibc = debian_root::installed_version(&source, "libc-bin");
    let debs = debian_root::cached_debs(&LOCALE_PACKAGES.map(|p| (p, glibc.as_str())));

    let prepared = dir.path().join("root");
    let root = debian_root::imported_offline_root(&prepared, &config);
    assert_eq!(
        fs::read_to_string(root.join("usr/bin/localedef")).unwrap(),
        rootprep::locale::LOCALEDEF_WRAPPER
    );
    assert_eq!(fs::read(root.join("etc/machine-id")).unwrap(), b"");
    let debs_dir = root.join(LOCALE_DEBS_DIR);
    fs::create_dir_all(&debs_dir).unwrap();
    for deb in &debs {
        fs::copy(deb, debs_dir.join(deb.file_name().unwrap())).unwrap();
    }
    debian_root::install_step_probe(
        &root,
        &debian_root::StepProbeSpec {
            marker: LOCALE_PROBE,
            unit: LOCALE_PROBE_UNIT,
            script: LOCALE_PROBE_PATH,
            description: "flashroot locale probe (issue #12)",
            body: &LOCALE_PROBE_SCRIPT.replace("@DEBS@", LOCALE_DEBS_DIR),
            then: "/bin/systemctl --no-block poweroff",
        },
    );
    let card = debian_root::debian_card(&root, dir.path(), &kernel, DEFAULT_TOML);
    fs::remove_dir_all(&prepared).unwrap();

    let mut probes = Vec::new();
    for phase in [1, 2] {
        let outcome = debian_root::boot_card_within(
            &kernel,
            &card.initrd,
            &card.image,
            format!("{} {LOCALE_PHASE_WORD}={phase}", card.boot.flash_cmdline()),
            LOCALE_BOOT_TIMEOUT,
        );
        let log = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("debian_boot-locale-{phase}-console.log"));
        fs::write(&log, &outcome.console).unwrap();
        eprintln!(
            "locale boot {phase}: QEMU wall time {:.1} s; console: {}",
            outcome.elapsed.as_secs_f64(),
            log.display()
        );
        outcome.expect_powered_off();
        probes.push((
            debian_root::StepProbe::parse(&outcome.console, LOCALE_PROBE, &log),
            log,
        ));
    }

    let (first, log) = &probes[0];
    first.ok("install", log);
    first.ok("enable", log);
    let generated = first.ok("locale-gen", log);
    assert!(
        generated.iter().any(|l| l.contains("en_US.UTF-8... done")),
        "locale-gen did not generate en_US.UTF-8: {generated:?}"
    );
    assert!(
        !generated.iter().any(|l| l.contains("cannot map")),
        "locale-gen hit the archive: {generated:?}"
    );
    first.ok("localedef", log);
    first.ok("update-locale", log);
    first.ok("reinstall-libc-bin", log);
    first.ok("localedef-again", log);
    assert_eq!(
        first.ok("diversion", log),
        ["local diversion of /usr/bin/localedef to /usr/bin/localedef.distrib"]
    );
    for (probe, log) in &probes {
        let locales = probe.ok("locale-a", log);
        for name in ["en_US.utf8", "de_DE.utf8"] {
            assert!(
                locales.iter().any(|l| l == name),
                "locale -a lacks {name}: {locales:?}; console in {}",
                log.display()
            );
        }
        assert_eq!(
            probe.ok("charmap", log),
            ["UTF-8"],
            "console in {}",
            log.display()
        );
        assert!(
            probe
                .ok("default-locale", log)
                .iter()
                .any(|l| l == "LANG=en_US.UTF-8"),
            "update-locale's setting is gone; console in {}",
            log.display()
        );
        assert_eq!(
            probe.ok("wrapper", log).join("\n") + "\n",
            rootprep::locale::LOCALEDEF_WRAPPER,
            "the wrapper did not survive; console in {}",
            log.display()
        );
    }
    // fr_FR was made after libc-bin's reinstall: still through the wrapper, still there.
    assert!(probes[1]
        .0
        .ok("locale-a", &probes[1].1)
        .iter()
        .any(|l| l == "fr_FR.utf8"));

    let id = &first.machine_id;
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "machine ID {id:?} on the first boot"
    );
    assert_ne!(
        id.as_str(),
        tree_machine_id.trim(),
        "the card kept the tree's machine ID"
    );
    assert_eq!(
        &probes[1].0.machine_id, id,
        "the machine ID made at first boot must be on the card at the second"
    );
}
