//! Issue #13: the Debian minbase root as a layered root — a squashfs base and an empty
//! JFFS2 overlay container, as `flashroot import-root --layered` makes them — boots to
//! multi-user.target; a package installed with apt goes to the overlay and is there
//! after a reboot; each shutdown is clean (our shutdown program, no failed step, the
//! card's FAT clean).

mod debian_root;
mod flashboot;

use std::fs;
use std::path::Path;
use std::time::Duration;

use flashboot::{fsck_card, kernel, FAIL_FAST};
use flashroot::card::{self, BootConfig, ImageOptions, Payload};
use flashroot_config::Config;

const BOOT_TIMEOUT: Duration = Duration::from_secs(900);
const CARD_BYTES: u64 = 320 << 20;
const OVERLAY_BYTES: u64 = 32 << 20;
const MARKER: &str = "FLASHROOT-LAYERED";
const PACKAGE: &str = "flashroot-hello";
/// Where the test package waits in the base, for `apt-get install ./file.deb`.
const DEB_DIR: &str = "opt/flashroot-test";

fn layered_config() -> String {
    flashroot_config::DEFAULT_TOML.replacen("# base = \"base.sqfs\"", "base = \"base.sqfs\"", 1)
}

/// Phase 1 (the package is not installed): install it with apt. Both phases report the
/// filesystems of the root and its layers and the package's state.
const PROBE_BODY: &str = r#"if dpkg-query -W -f='${Status}' flashroot-hello 2>/dev/null | grep -q 'install ok installed'; then phase=2; else phase=1; fi
echo "FLASHROOT-LAYERED phase=$phase machine_id=$(cat /etc/machine-id) end"
step layers sh -c 'for m in / /run/flashroot/layers/base /run/flashroot/layers/overlay; do echo "$m $(findmnt -n -o FSTYPE,OPTIONS "$m")"; done'
step target systemctl is-active multi-user.target
if [ $phase = 1 ]; then step install apt-get install -y /opt/flashroot-test/flashroot-hello_1.0_all.deb; fi
step package sh -c 'dpkg-query -W flashroot-hello | cut -f2 && cat /var/lib/flashroot-hello/configured && ls /run/flashroot/layers/overlay/upper/usr/share/flashroot-hello | wc -l && test ! -e /run/flashroot/layers/base/usr/share/flashroot-hello && echo not-in-base'
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
        erase_size: 64 << 10,
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

    for phase in ["1", "2"] {
        let outcome = debian_root::boot_card_within(
            &kernel,
            &initrd,
            &image,
            boot.flash_cmdline(),
            BOOT_TIMEOUT,
        );
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
        assert_eq!(
            probe.ok("package", &log),
            ["1.0", "1.0", "4", "not-in-base"]
        );
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
