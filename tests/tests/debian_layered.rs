//! Issue #13: the Debian minbase root as a layered root — a squashfs base and an empty
//! JFFS2 overlay container, as `flashroot import-root --layered` makes them — boots to
//! multi-user.target; a package installed with apt goes to the overlay and is there
//! after a reboot; each shutdown is clean (our shutdown program, no failed step, the
//! card's FAT clean). Then `flashroot fold` on the running system writes a base that
//! `unsquashfs -l` and the kernel read: the next boot (the card's new default entry) has
//! the package from the base with an empty overlay, and the `rollback` entry still boots
//! the state before the fold (the package in the overlay).

use flashroot_tests::debian_root;
use flashroot_tests::flashboot;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use flashboot::{fsck_card, kernel, FAIL_FAST};
use flashroot::card::{self, BootConfig, ImageOptions, Payload};
use flashroot_config::Config;
use flashroot_tests::{layered_config, LAYERED_ERASE_SIZE};

const BOOT_TIMEOUT: Duration = Duration::from_secs(900);
const CARD_BYTES: u64 = 384 << 20;
const OVERLAY_BYTES: u64 = 32 << 20;
const MARKER: &str = "FLASHROOT-LAYERED";
const PACKAGE: &str = "flashroot-hello";
/// Where the test package waits in the base, for `apt-get install ./file.deb`.
const DEB_DIR: &str = "opt/flashroot-test";

/// Phase 1 (the package is not installed): install it with apt. Phase 2 (installed, the
/// original base): fold. Phase 3: the folded base. Phase 4: the rollback entry. Every
/// phase reports the filesystems of the root and its layers and the package's state.
const PROBE_BODY: &str = r#"base=$(sed -n 's/^base\t//p' /run/flashroot/layered)
if ! dpkg-query -W -f='${Status}' flashroot-hello 2>/dev/null | grep -q 'install ok installed'; then phase=1
elif [ "$base" = base.sqfs ] && [ ! -d /run/flashroot/card/fold-1 ]; then phase=2
elif [ "$base" = fold-1/base.sqfs ]; then phase=3
else phase=4; fi
echo "FLASHROOT-LAYERED phase=$phase machine_id=$(cat /etc/machine-id) end"
step layers sh -c 'for m in / /run/flashroot/layers/base /run/flashroot/layers/overlay; do echo "$m $(findmnt -n -o FSTYPE,OPTIONS "$m")"; done'
step target systemctl is-active multi-user.target
if [ $phase = 1 ]; then step install apt-get install -y /opt/flashroot-test/flashroot-hello_1.0_all.deb; fi
step package sh -c 'dpkg-query -W flashroot-hello | cut -f2; cat /var/lib/flashroot-hello/configured; ls /run/flashroot/layers/overlay/upper/usr/share/flashroot-hello 2>/dev/null | wc -l; if [ -e /run/flashroot/layers/base/usr/share/flashroot-hello/00 ]; then echo in-base; else echo not-in-base; fi'
if [ $phase = 2 ]; then step overlay flashroot overlay --top 3; fi
if [ $phase = 2 ]; then step fold flashroot fold --compression lz4; fi
echo "FLASHROOT-LAYERED done"
"#;

#[test]
fn layered_debian_root_boots_and_keeps_an_apt_installed_package_across_a_reboot() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let config_text = layered_config();
    let config = Config::parse("layered config", &config_text).unwrap();
    let prepared = dir.path().join("root");
    let root = debian_root::imported_offline_root(&prepared, &config);
    let debs = root.join(DEB_DIR);
    fs::create_dir_all(&debs).unwrap();
    let files: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 64 << 10]).collect();
    debian_root::build_package(PACKAGE, "1.0", &files, dir.path(), &debs);
    install_fold_tools(&root);
    debian_root::install_step_probe(
        &root,
        &debian_root::StepProbeSpec {
            marker: MARKER,
            unit: "flashroot-layered-probe.service",
            script: "usr/local/sbin/flashroot-layered-probe",
            description: "flashroot layered-root probe",
            body: PROBE_BODY,
            then: "/bin/systemctl --no-block poweroff",
        },
    );

    // What `import-root --layered` writes: the base, and the empty overlay container.
    let base = dir.path().join("base.sqfs");
    let sq = flashroot::squashfs::write_base(&root, &base, &Default::default()).expect("base");
    let overlay = dir.path().join("rootfs.img");
    let options = flashroot::jffs2::Options {
        erase_size: LAYERED_ERASE_SIZE,
        pad_to: Some(OVERLAY_BYTES),
        ..Default::default()
    };
    flashroot::layered::write_empty_overlay(&overlay, &options).expect("overlay");
    fs::remove_dir_all(&prepared).unwrap();
    eprintln!("{sq}");
    let initrd = dir.path().join("initrd.img");
    flashboot::initramfs(&kernel, &config_text, &initrd);
    let boot = BootConfig {
        root_label: "rootfs".into(),
        trigger: config.trigger.clone(),
        conventional_root: "/dev/sda2".into(),
        append: FAIL_FAST.into(),
        layered: true,
    };
    let image = dir.path().join("card.img");
    let report = card::write_image(
        &image,
        &ImageOptions {
            size: CARD_BYTES,
            label: "FLASHROOT".into(),
            serial: 0x2026_1301,
        },
        &Payload {
            kernel: kernel.vmlinuz.clone(),
            initrd: initrd.clone(),
            kver: Some(kernel.version.clone()),
            containers: vec![("rootfs.img".into(), overlay.clone())],
            files: vec![("base.sqfs".into(), base.clone())],
            boot: boot.clone(),
        },
    )
    .expect("card image");
    assert!(
        boot.flash_cmdline().ends_with(&format!("mtd {FAIL_FAST}")),
        "{}",
        boot.flash_cmdline()
    );

    for phase in ["1", "2", "3", "4"] {
        let cmdline = match phase {
            "3" => entry_cmdline(&image, &report, "flashroot", dir.path()),
            "4" => entry_cmdline(&image, &report, "rollback", dir.path()),
            _ => boot.flash_cmdline(),
        };
        let outcome =
            debian_root::boot_card_within(&kernel, &initrd, &image, cmdline, BOOT_TIMEOUT);
        let log = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("debian_layered-{phase}-console.log"));
        fs::write(&log, &outcome.console).unwrap();
        eprintln!("console: {}", log.display());
        outcome.expect_powered_off();
        let probe = debian_root::StepProbe::parse(&outcome.console, MARKER, &log);
        let phase_line = outcome
            .console
            .lines()
            .find(|l| l.starts_with(&format!("{MARKER} phase=")))
            .unwrap();
        assert!(
            phase_line.starts_with(&format!("{MARKER} phase={phase} ")),
            "{phase_line}; console in {}",
            log.display()
        );
        // findmnt pads its columns: compare words.
        let layers: Vec<Vec<&str>> = probe
            .ok("layers", &log)
            .iter()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let expect = [
            ("/", "overlay", "rw,"),
            ("/run/flashroot/layers/base", "squashfs", "ro,"),
            ("/run/flashroot/layers/overlay", "jffs2", "rw,"),
        ];
        assert_eq!(layers.len(), expect.len(), "{layers:?}");
        for (words, (at, fstype, options)) in layers.iter().zip(expect) {
            assert_eq!(words[..2], [at, fstype], "{layers:?}");
            assert!(words[2].starts_with(options), "{layers:?}");
        }
        assert_eq!(probe.ok("target", &log), ["active"]);
        if phase == "1" {
            probe.ok("install", &log);
        }
        let (in_upper, in_base) = match phase {
            "3" => ("0", "in-base"),
            _ => ("4", "not-in-base"),
        };
        assert_eq!(
            probe.ok("package", &log),
            ["1.0", "1.0", in_upper, in_base],
            "phase {phase}"
        );
        if phase == "2" {
            // The overlay's real free space: the kernel's write reserve left out, as
            // `flashroot status` counts it.
            let overlay = probe.ok("overlay", &log);
            assert!(
                overlay.iter().any(|l| l
                    .starts_with("overlay filesystem /run/flashroot/layers/overlay: free: ")
                    && l.contains("for sure")
                    && l.contains("the kernel keeps")),
                "{overlay:?}"
            );
            assert!(
                overlay.iter().any(|l| l.starts_with("new files: ")),
                "{overlay:?}"
            );
            let fold = probe.ok("fold", &log);
            assert!(
                fold.iter()
                    .any(|l| l.contains("rollback boots base.sqfs with rootfs.img")),
                "{fold:?}"
            );
            let base = card_file(&image, &report, "fold-1/base.sqfs", dir.path())
                .expect("fold-1/base.sqfs on the card");
            let listing = Command::new("unsquashfs")
                .arg("-l")
                .arg(&base)
                .output()
                .expect("unsquashfs (squashfs-tools) reads the folded base");
            let text = String::from_utf8_lossy(&listing.stdout);
            assert!(listing.status.success(), "{text}");
            assert!(
                text.lines()
                    .any(|l| l == "squashfs-root/usr/share/flashroot-hello/00"),
                "the folded base lacks the package"
            );
            assert!(
                text.lines().any(|l| l == "squashfs-root/usr/bin/dpkg"),
                "the folded base lacks the base's files"
            );
        }
        let console = &outcome.console;
        for line in [
            "flashroot: layered root: overlay mounted at /root in ",
            "flashroot: prepared /run/initramfs/shutdown for systemd's shutdown",
            "flashroot: shutdown: removed block2mtd",
            " with 0 failed steps",
        ] {
            assert!(
                console.contains(line),
                "phase {phase}: console lacks {line:?}; console in {}",
                log.display()
            );
        }
        assert!(
            !console.contains("flashroot: shutdown: error"),
            "phase {phase}: a shutdown step failed; console in {}",
            log.display()
        );
        fsck_card(&image, &report, dir.path());
        eprintln!(
            "phase {phase}: QEMU wall time {:.1} s; real init at {:?} s; {}",
            outcome.elapsed.as_secs_f64(),
            outcome.kernel_time_of("flashroot: exec /sbin/init"),
            flashboot::init_timing(console).unwrap_or_default()
        );
    }
}

/// The flashroot CLI (built for this host, whose glibc is Debian 12's too) and mksquashfs
/// with its libraries (Debian's squashfs-tools and what it needs beyond minbase, unpacked),
/// so that `flashroot fold` runs in the guest.
fn install_fold_tools(root: &Path) {
    let profile_flag: &[&str] = if cfg!(debug_assertions) {
        &[]
    } else {
        &["--release"]
    };
    let built = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "flashroot", "--bin", "flashroot"])
        .args(profile_flag)
        .status()
        .expect("cargo builds the flashroot CLI");
    assert!(built.success());
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    let cli: PathBuf = target
        .join(if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        })
        .join("flashroot");
    fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    fs::copy(&cli, root.join("usr/local/bin/flashroot")).unwrap();
    let closure = debian_root::install_closure(root, &["squashfs-tools"]);
    let wanted: Vec<(&str, &str)> = closure
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    for deb in debian_root::cached_debs(&wanted) {
        // Not `dpkg-deb -x`: its tar replaces the merged-/usr symlinks (/lib -> usr/lib)
        // with directories, and the root then has no /sbin/init.
        let out = Command::new("sh")
            .arg("-c")
            .arg("dpkg-deb --fsys-tarfile \"$1\" | tar -x -C \"$2\" --keep-directory-symlink")
            .arg("sh")
            .arg(&deb)
            .arg(root)
            .output()
            .expect("dpkg-deb and tar unpack squashfs-tools");
        assert!(out.status.success(), "unpacking {}: {out:?}", deb.display());
    }
    assert!(
        root.join("sbin/init").symlink_metadata().is_ok(),
        "unpacking broke /sbin"
    );
    assert!(root.join("usr/bin/mksquashfs").is_file());
}

/// The kernel command line of `label`'s entry in the card's syslinux.cfg (without
/// `initrd=`, which the harness passes itself).
fn entry_cmdline(
    image: &Path,
    report: &flashroot::disk::FatDiskReport,
    label: &str,
    dir: &Path,
) -> String {
    let cfg = card_file(image, report, "syslinux.cfg", dir).expect("syslinux.cfg on the card");
    let cfg = fs::read_to_string(cfg).unwrap();
    let mut in_entry = false;
    for line in cfg.lines() {
        let t = line.trim();
        if let Some(l) = t.strip_prefix("LABEL ") {
            in_entry = l == label;
        } else if let (true, Some(words)) = (in_entry, t.strip_prefix("APPEND ")) {
            return words
                .split_whitespace()
                .filter(|w| !w.starts_with("initrd="))
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    panic!("no LABEL {label} entry with an APPEND line in the card's syslinux.cfg:\n{cfg}");
}

/// A file from the card's FAT volume, by mtools (copied out to `dir`).
fn card_file(
    image: &Path,
    report: &flashroot::disk::FatDiskReport,
    name: &str,
    dir: &Path,
) -> Option<PathBuf> {
    let out = dir.join(name.replace('/', "_"));
    let _ = fs::remove_file(&out);
    let copied = Command::new("mcopy")
        .arg("-n")
        .arg("-i")
        .arg(format!("{}@@{}", image.display(), report.partition_offset))
        .arg(format!("::{name}"))
        .arg(&out)
        .output()
        .expect("mcopy (Debian package mtools) reads the card");
    copied.status.success().then_some(out)
}
