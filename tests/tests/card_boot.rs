//! Issue #6: the whole-disk card image from `flashroot card` boots the way a real box does,
//! with no `-kernel`/`-initrd`: SeaBIOS loads syslinux's MBR code, which boots the active
//! FAT32 partition, whose syslinux reads syslinux.cfg and loads `/vmlinuz` and
//! `/initrd.img`; our init then mounts the JFFS2 root from the same card. The root tree
//! goes through `rootprep` first, as `flashroot import-root` would prepare it.

use flashroot_tests::flashboot;

use std::path::Path;
use std::time::Duration;

use flashboot::*;
use flashroot::card::{self, BootConfig, ImageOptions, Payload};
use flashroot::rootprep::{self, Target};
use flashroot_config::{Config, DEFAULT_TOML};
use flashroot_qemu::{boot, BootOptions, Outcome};

/// Kernel, initramfs, their previous copies and an 8 MiB container fit with room to spare.
const CARD_IMAGE_BYTES: u64 = 64 << 20;
const CARD_SERIAL: u32 = 0x2026_0006;
const ERASE_64K: u32 = 64 << 10;
/// The console on the serial port (captured), and no reboot loop on panic: with no
/// -kernel, syslinux.cfg carries what the harness would otherwise put on the command line.
const CONSOLE: &str = "console=ttyS0,115200 panic=-1";

/// Boots `card` from the firmware (no -kernel), with the output disk on virtio after it.
fn firmware_boot(card: &Path, timeout: Duration) -> Outcome {
    let mut options = BootOptions::firmware();
    options.disks = vec![ide(card)];
    options.output_disk = Some(OUTPUT_BYTES);
    options.timeout = timeout;
    boot(&options).expect("QEMU runs")
}

#[test]
fn card_image_boots_through_seabios_and_syslinux_to_the_jffs2_root() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let config = Config::embedded_default();

    let tree = root_tree(dir.path(), Some(REPORT_INIT));
    let prepared = dir.path().join("flash-root");
    let (root, changes) = rootprep::import(&tree, Target::Copy(&prepared), &config).unwrap();
    assert!(changes.modifications().count() > 0, "{changes}");
    let rootfs = dir.path().join("rootfs.img");
    jffs2_image(&root, &rootfs, ERASE_64K);
    let initrd = dir.path().join("initrd.img");
    initramfs(&kernel, DEFAULT_TOML, &initrd);

    let image = dir.path().join("card.img");
    let payload = Payload {
        kernel: kernel.vmlinuz.clone(),
        initrd,
        kver: Some(kernel.version.clone()),
        containers: vec![("rootfs.img".into(), rootfs)],
        files: Vec::new(),
        boot: BootConfig {
            root_label: "rootfs".into(),
            trigger: config.trigger.clone(),
            conventional_root: "/dev/sda2".into(),
            append: format!("{CONSOLE} {FAIL_FAST}"),
            layered: false,
        },
    };
    let options = ImageOptions {
        size: CARD_IMAGE_BYTES,
        label: "FLASHROOT".into(),
        serial: CARD_SERIAL,
    };
    card::write_image(&image, &options, &payload).expect("card image");

    let outcome = firmware_boot(&image, BOOT_TIMEOUT);
    outcome
        .expect_console("SYSLINUX")
        .expect_console("Loading /vmlinuz")
        .expect_console("Loading /initrd.img")
        .expect_console(
            "Kernel command line: BOOT_IMAGE=/vmlinuz initrd=/initrd.img root=mtd:rootfs rootfstype=jffs2 mtd",
        )
        .expect_console("flashroot: exec /sbin/init")
        .expect_powered_off();
    let report = Report::from_outcome(&outcome);
    let root_mount = report.expect_mount("/", "jffs2");
    assert_eq!(root_mount.source, "mtd:rootfs", "{root_mount:?}");
    report.expect_mount("/var/log", "tmpfs");
    report.expect_mount("/tmp", "tmpfs");
    report.expect_mount("/var/cache/apt", "overlay");
    report.expect_mount("/run/flashroot/card", "vfat");
    let card_files = report.field("card").expect("card listing");
    for name in [
        "ldlinux.sys",
        "syslinux.cfg",
        "vmlinuz",
        "initrd.img",
        "vmlinuz.old",
        "rootfs.img",
    ] {
        assert!(
            card_files.contains(name),
            "{name} missing on the card: {card_files}"
        );
    }
    eprintln!(
        "firmware boot: QEMU wall time to power-off {:.2} s; kernel started /init at {:?} s; {}",
        outcome.elapsed.as_secs_f64(),
        outcome.kernel_time_of("Run /init as init process"),
        init_timing(&outcome.console).unwrap_or_default()
    );
}
