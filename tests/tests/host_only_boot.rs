//! Coldplug and host-only, end to end under QEMU. Boot 1: the generic default initramfs
//! (every disk driver packed) on QEMU's PIIX IDE machine; coldplug must load the drivers
//! of that machine only, and the real init hands back the machine's modaliases. Boot 2:
//! an initramfs built host-only from those modaliases (`flashroot build --devices`) packs
//! only the drivers the machine needs, is smaller, and boots the same machine. In between,
//! `flashroot.modules=all` makes the generic image load every packed module at once.

use flashroot_tests::flashboot;

use std::path::Path;

use flashboot::*;
use flashroot::initramfs::{build_archive, BuildInputs};
use flashroot_config::Config;
use flashroot_cpio::WriterOptions;
use flashroot_kmod::ModuleTree;

const ERASE_64K: u32 = 64 << 10;

/// The real init: hands back the machine's modaliases, /proc/modules and mountinfo.
const DEVICES_INIT: &str = r#"#!/bin/sh
export PATH=/bin
{
  echo "--- modalias"
  cat /sys/bus/*/devices/*/modalias
  echo "--- modules"
  cat /proc/modules
  echo "--- mountinfo"
  cat /proc/self/mountinfo
  echo "--- end"
} > /run/report
{ printf 'FLASHROOT-OUTPUT %d\n' "$(wc -c < /run/report)"; cat /run/report; } > /dev/vda
sync
poweroff -f
"#;

/// The lines of one `--- name` section of the report.
fn section(report: &str, name: &str) -> Vec<String> {
    report
        .split(&format!("--- {name}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} section in the report:\n{report}"))
        .lines()
        .take_while(|l| !l.starts_with("--- "))
        .map(str::to_string)
        .collect()
}

fn loaded_modules(report: &str) -> Vec<String> {
    section(report, "modules")
        .iter()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Builds the default image (host-only for `devices`); returns the packed modules' names.
fn archive(kernel: &flashroot_qemu::Kernel, devices: Option<&[String]>, out: &Path) -> Vec<String> {
    let text = flashroot_config::DEFAULT_TOML;
    let config = Config::parse("default", text).unwrap();
    let tree = ModuleTree::load(&kernel.modules_dir, &kernel.version).unwrap();
    let built = build_archive(&BuildInputs {
        config: &config,
        config_text: text,
        init: flashroot::EMBEDDED_INIT,
        modules: Some(&tree),
        extra_specs: &[],
        devices,
        root_fs: None,
        options: WriterOptions::default(),
    })
    .expect("initramfs builds");
    std::fs::write(out, &built.archive).unwrap();
    built.load_order.into_iter().map(|e| e.name).collect()
}

#[test]
fn coldplug_loads_this_machines_drivers_and_host_only_packs_only_them() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let tree = root_tree(dir.path(), Some(DEVICES_INIT));
    let image = dir.path().join("rootfs.img");
    jffs2_image(&tree, &image, ERASE_64K);
    let card_path = dir.path().join("card.img");
    card(&card_path, &[("rootfs.img", &image)]);
    let cmdline = format!("mtd {FAIL_FAST}");

    // Boot 1: the generic image.
    let generic = dir.path().join("generic.cpio");
    let generic_modules = archive(&kernel, None, &generic);
    let outcome = run(&kernel, &generic, vec![ide(&card_path)], &cmdline);
    outcome
        .expect_console("flashroot: exec /sbin/init")
        .expect_powered_off();
    assert!(
        !outcome.console.contains("has not appeared"),
        "the card came only after the last resort:\n{}",
        outcome.tail(50)
    );
    let report = String::from_utf8_lossy(outcome.expect_output()).into_owned();
    let loaded = loaded_modules(&report);
    for needed in [
        "ata_piix",
        "libata",
        "sd_mod",
        "vfat",
        "loop",
        "block2mtd",
        "jffs2",
    ] {
        assert!(
            loaded.iter().any(|m| m == needed),
            "{needed} not loaded: {loaded:?}"
        );
    }
    // Packed, but no device of this machine asked for them.
    for unused in [
        "ahci",
        "xhci_hcd",
        "ehci_hcd",
        "usb_storage",
        "sdhci_pci",
        "mmc_core",
        "virtio_scsi",
    ] {
        assert!(
            !loaded.iter().any(|m| m == unused),
            "{unused} loaded on a machine without its device: {loaded:?}"
        );
    }
    let devices = section(&report, "modalias");
    eprintln!("the IDE machine's modaliases:\n{}", devices.join("\n"));
    assert!(
        devices
            .iter()
            .any(|d| d.starts_with("pci:v00008086d00007010")),
        "no PIIX IDE controller among the modaliases: {devices:?}"
    );

    // The same image with `flashroot.modules=all` loads every packed module at once.
    let outcome = run(
        &kernel,
        &generic,
        vec![ide(&card_path)],
        &format!("{cmdline} flashroot.modules=all"),
    );
    outcome
        .expect_console("flashroot: load every module listed in")
        .expect_powered_off();
    let all = loaded_modules(&String::from_utf8_lossy(outcome.expect_output()));
    for m in [
        "ata_piix",
        "ahci",
        "xhci_hcd",
        "usb_storage",
        "sdhci_pci",
        "virtio_scsi",
    ] {
        assert!(
            all.iter().any(|l| l == m),
            "{m} not loaded with flashroot.modules=all: {all:?}"
        );
    }
    // Every packed module but the CPU-accelerated ones QEMU's default CPU lacks the
    // instructions for: crct10dif_pclmul (PCLMULQDQ) and crc32c_intel (SSE4.2, packed for
    // ext4's crypto-crc32c softdep).
    let refused: Vec<&String> = generic_modules
        .iter()
        .filter(|m| !all.contains(m))
        .collect();
    assert!(
        refused
            .iter()
            .all(|m| ["crct10dif_pclmul", "crc32c_intel"].contains(&m.as_str())),
        "{} of {} modules loaded; not loaded: {refused:?}",
        all.len(),
        generic_modules.len()
    );

    // Boot 2: host-only for this machine, from the modaliases it reported.
    let host_only = dir.path().join("host-only.cpio");
    let host_only_modules = archive(&kernel, Some(&devices), &host_only).len();
    assert!(
        host_only_modules < generic_modules.len(),
        "host-only packs {host_only_modules} modules, the generic image {}",
        generic_modules.len()
    );
    let (generic_bytes, host_only_bytes) = (
        std::fs::metadata(&generic).unwrap().len(),
        std::fs::metadata(&host_only).unwrap().len(),
    );
    assert!(
        host_only_bytes < generic_bytes,
        "{host_only_bytes} vs {generic_bytes}"
    );
    let listing = String::from_utf8_lossy(&std::fs::read(&host_only).unwrap()).into_owned();
    for absent in ["xhci-hcd.ko", "sdhci-pci.ko", "ahci.ko"] {
        assert!(!listing.contains(absent), "host-only image packs {absent}");
    }

    let outcome = run(&kernel, &host_only, vec![ide(&card_path)], &cmdline);
    outcome
        .expect_console("flashroot: exec /sbin/init")
        .expect_powered_off();
    let report = String::from_utf8_lossy(outcome.expect_output()).into_owned();
    let root = section(&report, "mountinfo")
        .iter()
        .filter_map(|l| parse_mountinfo_line(l))
        .find(|m| m.mount_point == "/")
        .expect("a root mount");
    assert_eq!(root.fstype, "jffs2", "{root:?}");
    assert!(loaded_modules(&report).iter().any(|m| m == "ata_piix"));
}
