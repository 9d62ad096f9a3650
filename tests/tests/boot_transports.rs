//! The default initramfs boots from every disk transport a flash card can sit on: IDE,
//! SATA, virtio-blk, virtio-scsi, a USB stick on xHCI, EHCI, UHCI or OHCI alone, a UAS
//! disk, and an SD card on a PCI SDHCI controller. Each boot must find the card under the
//! name that transport gives it, mount the JFFS2 root from it, and have loaded the
//! transport's driver chain: the guest hands back /proc/modules, so an init that loads
//! drivers only for the hardware present is caught when it misses a link
//! (xhci -> usb-storage -> sd_mod, sdhci -> mmc_block).

use flashroot_tests::flashboot;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flashboot::*;
use flashroot_qemu::{Disk, DiskInterface, Kernel};

const ERASE_64K: u32 = 64 << 10;
/// Where the card, the initramfs and the rootfs image shared by all boots are built.
/// Inside the target directory so reruns overwrite them instead of piling up in /tmp.
const SHARED_DIR: &str = "boot_transports";

/// The real init: like [`REPORT_INIT`], reduced to the facts checked here, plus the
/// loaded modules. It writes to the LAST virtio disk, which is the harness's output disk
/// (a virtio card comes before it as /dev/vda).
const TRANSPORT_REPORT_INIT: &str = r#"#!/bin/sh
export PATH=/bin
for disk in /dev/vd?; do output=$disk; done
{
  echo "uptime=$(cat /proc/uptime)"
  echo "output=$output"
  echo "card=$(ls /run/flashroot/card 2>&1 | tr '\n' ' ')"
  echo "--- mountinfo"
  cat /proc/self/mountinfo
  echo "--- end"
  echo "--- modules"
  cat /proc/modules
  echo "--- end modules"
} > /run/report
echo "report-init: begin"
cat /run/report
echo "report-init: end"
{ printf 'FLASHROOT-OUTPUT %d\n' "$(wc -c < /run/report)"; cat /run/report; } > "$output"
sync
poweroff -f
"#;

/// What the init logs when the card has not appeared a few seconds after the coldplug
/// began, then loads every packed driver no device asked for (`init/src/execute.rs`):
/// "the card /dev/sda1 has not appeared after 4012 ms; loading the drivers no device
/// asked for: ahci uas ...".
const LAST_RESORT: &str = "loading the drivers no device asked for: ";

/// The drivers the init's last resort loaded, from the console; empty if it never fired
/// (or the init loads every module up front).
fn drivers_loaded_as_last_resort(console: &str) -> Vec<&str> {
    console
        .lines()
        .filter_map(|line| line.split_once(LAST_RESORT))
        .flat_map(|(_, list)| list.split_whitespace())
        .collect()
}

/// One way of attaching the card, and what the guest must make of it.
struct Transport {
    interface: DiskInterface,
    /// The FAT partition as the guest names it.
    card_device: &'static str,
    /// Modules (as /proc/modules names them) without which the card cannot appear.
    driver_chain: &'static [&'static str],
}

const DEFAULT_CARD_DEVICE: &str = "/dev/sda1";
/// How long the init waits for the card. USB cards showed up 4-5 s after the wait began
/// under TCG on the shared 2-core machine, half the default 10 s; a missing driver still
/// fails the boot, only later.
const CARD_TIMEOUT_SECONDS: u32 = 30;

/// The initramfs, the kernel and a pristine card, built once per test binary.
struct Shared {
    kernel: Kernel,
    initrd: PathBuf,
    card: PathBuf,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(SHARED_DIR);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        let kernel = kernel();
        let tree = root_tree(&dir, Some(TRANSPORT_REPORT_INIT));
        let image = dir.join("rootfs.img");
        jffs2_image(&tree, &image, ERASE_64K);
        let card = dir.join("card.img");
        // One size for every transport: the SD card needs a power of two.
        card_of_size(&card, &[("rootfs.img", &image)], POWER_OF_TWO_CARD_BYTES);
        let initrd = dir.join("initrd.cpio");
        initramfs(&kernel, flashroot_config::DEFAULT_TOML, &initrd);
        Shared {
            kernel,
            initrd,
            card,
        }
    })
}

/// Boots the default initramfs with the card on `transport` and checks the result.
fn boots_from(transport: &Transport) {
    let shared = shared();
    let name = format!("{:?}", transport.interface);
    // Each boot writes to its card (the JFFS2 root is read-write): a copy of its own.
    let dir = tempfile::tempdir().unwrap();
    let card_path = dir.path().join("card.img");
    std::fs::copy(&shared.card, &card_path).unwrap();
    let mut cmdline = format!("mtd {FAIL_FAST} flashroot.timeout={CARD_TIMEOUT_SECONDS}");
    if transport.card_device != DEFAULT_CARD_DEVICE {
        cmdline.push_str(&format!(" flashroot.card={}", transport.card_device));
    }
    let disks = vec![Disk::new(&card_path, transport.interface)];
    let outcome = run(&shared.kernel, &shared.initrd, disks, &cmdline);

    if !outcome.console.contains("report-init: end") {
        panic!(
            "{name}: the card at {} did not boot to the real init\n{outcome}",
            transport.card_device
        );
    }
    outcome.expect_powered_off();
    let report = Report::from_outcome(&outcome);
    let root = report.mount_at("/").unwrap_or_else(|| {
        panic!("{name}: nothing mounted at /; report:\n{}", report.text);
    });
    assert_eq!(root.fstype, "jffs2", "{name}: root {root:?}");
    let card = report
        .mount_at("/run/flashroot/card")
        .unwrap_or_else(|| panic!("{name}: the card is not kept; report:\n{}", report.text));
    assert_eq!(
        (card.fstype.as_str(), card.source.as_str()),
        ("vfat", transport.card_device),
        "{name}: the card mount {card:?}"
    );
    let loaded = report.loaded_modules();
    let missing: Vec<&str> = transport
        .driver_chain
        .iter()
        .copied()
        .filter(|m| !loaded.contains(m))
        .collect();
    assert!(
        missing.is_empty(),
        "{name}: driver chain {:?} incomplete, missing {missing:?}; loaded: {loaded:?}",
        transport.driver_chain
    );
    // Loaded by the init's last resort means the coldplug missed it; the card would then
    // boot only seconds late here but never where the last resort is slower or absent.
    let last_resort = drivers_loaded_as_last_resort(&outcome.console);
    let missed: Vec<&str> = transport
        .driver_chain
        .iter()
        .copied()
        .filter(|m| last_resort.contains(m))
        .collect();
    if !missed.is_empty() {
        panic!(
            "{name}: coldplug missed {missed:?}: loaded only by the last resort ({LAST_RESORT:?})\n{outcome}"
        );
    }
    if !last_resort.is_empty() {
        eprintln!("{name}: the last resort fired, though the chain was loaded before it");
    }
    // The init's coldplug lines and measurements, for the report (`-- --nocapture`).
    const REPORTED: [&str; 5] = [" loaded", "asked for", "found", "mounted", "init done"];
    for line in outcome
        .console
        .lines()
        .filter(|l| l.contains("flashroot:") && REPORTED.iter().any(|r| l.contains(r)))
    {
        eprintln!("{name}: {line}");
    }
    let mut sorted = loaded.clone();
    sorted.sort_unstable();
    eprintln!(
        "{name}: card {} found at {:?} s of uptime, real init at {:?} s, QEMU wall {:.1} s; {} modules loaded: {}",
        transport.card_device,
        outcome.kernel_time_of("flashroot: found"),
        report.field("uptime").and_then(|u| u.split(' ').next()),
        outcome.elapsed.as_secs_f64(),
        loaded.len(),
        sorted.join(" ")
    );
}

#[test]
fn ide() {
    boots_from(&Transport {
        interface: DiskInterface::Ide,
        card_device: DEFAULT_CARD_DEVICE,
        driver_chain: &["ata_piix", "sd_mod"],
    });
}

#[test]
fn sata_ahci() {
    boots_from(&Transport {
        interface: DiskInterface::Ahci,
        card_device: DEFAULT_CARD_DEVICE,
        driver_chain: &["ahci", "sd_mod"],
    });
}

#[test]
fn virtio_blk() {
    // The output disk is virtio-blk too, attached after the card: /dev/vdb.
    boots_from(&Transport {
        interface: DiskInterface::Virtio,
        card_device: "/dev/vda1",
        driver_chain: &["virtio_pci", "virtio_blk"],
    });
}

#[test]
fn virtio_scsi() {
    boots_from(&Transport {
        interface: DiskInterface::VirtioScsi,
        card_device: DEFAULT_CARD_DEVICE,
        driver_chain: &["virtio_pci", "virtio_scsi", "sd_mod"],
    });
}

#[test]
fn usb_on_xhci() {
    boots_from(&Transport {
        interface: DiskInterface::Usb,
        card_device: DEFAULT_CARD_DEVICE,
        driver_chain: &["xhci_pci", "usb_storage", "sd_mod"],
    });
}

#[test]
fn usb_on_ehci() {
    boots_from(&Transport {
        interface: DiskInterface::UsbEhci,
        card_device: DEFAULT_CARD_DEVICE,
        driver_chain: &["ehci_pci", "usb_storage", "sd_mod"],
    });
}

#[test]
fn uas_on_xhci() {
    boots_from(&Transport {
        interface: DiskInterface::UsbUas,
        card_device: DEFAULT_CARD_DEVICE,
        driver_chain: &["xhci_pci", "uas", "sd_mod"],
    });
}

#[test]
fn usb_on_uhci() {
    boots_from(&Transport {
        interface: DiskInterface::UsbUhci,
        card_device: DEFAULT_CARD_DEVICE,
        driver_chain: &["uhci_hcd", "usb_storage", "sd_mod"],
    });
}

#[test]
fn usb_on_ohci() {
    boots_from(&Transport {
        interface: DiskInterface::UsbOhci,
        card_device: DEFAULT_CARD_DEVICE,
        driver_chain: &["ohci_pci", "usb_storage", "sd_mod"],
    });
}

#[test]
fn sd_card_on_sdhci() {
    boots_from(&Transport {
        interface: DiskInterface::Sd,
        card_device: "/dev/mmcblk0p1",
        driver_chain: &["sdhci_pci", "mmc_block"],
    });
}

#[test]
fn last_resort_drivers_are_read_from_the_console() {
    let console = "[    3.9] flashroot: for scsi:t-0x00: loaded sd_mod\n\
        [    7.1] flashroot: the card /dev/mmcblk0p1 has not appeared after 4003 ms; \
        loading the drivers no device asked for: ahci mmc_block uas\n\
        [    7.5] flashroot: every packed driver: loaded libahci ahci mmc_block uas\n";
    assert_eq!(
        drivers_loaded_as_last_resort(console),
        ["ahci", "mmc_block", "uas"]
    );
    assert!(
        drivers_loaded_as_last_resort("[    3.9] flashroot: loaded 49 modules: ahci\n").is_empty()
    );
}

#[test]
fn proc_modules_section_is_parsed() {
    let text = "uptime=1.0 0.5\n--- mountinfo\n1 0 0:1 / / rw - jffs2 mtd0 rw\n--- end\n\
                --- modules\nsd_mod 69632 2 - Live 0x0000000000000000\n\
                usb_storage 81920 1 uas, Live 0x0000000000000000\n--- end modules\n";
    let report = Report {
        text: text.into(),
        mounts: Vec::new(),
    };
    assert_eq!(report.loaded_modules(), ["sd_mod", "usb_storage"]);
    let without = Report {
        text: "uptime=1.0 0.5\n".into(),
        mounts: Vec::new(),
    };
    assert!(without.loaded_modules().is_empty());
}
