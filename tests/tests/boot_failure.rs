//! Issue #5, failure boots: each one checks the exact console message naming the step,
//! the object and the reason, and that the guest then reboots or halts as told by
//! `flashroot.failure=` instead of panicking or hanging.

use flashroot_tests::flashboot;

use std::path::{Path, PathBuf};

use flashboot::*;
use flashroot_qemu::Ending;

const ERASE_64K: u32 = 64 << 10;
/// Bytes zeroed at the head of the corrupt container: its first erase block.
const CORRUPT_BYTES: usize = 64 << 10;

struct Setup {
    dir: tempfile::TempDir,
    kernel: flashroot_qemu::Kernel,
    initrd: PathBuf,
    card: PathBuf,
}

/// A card holding `rootfs.img` (64 KiB erase blocks, with the report init) and
/// `corrupt.img` (the same image with its first block zeroed), and the default initramfs.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let tree = root_tree(dir.path(), Some(REPORT_INIT));
    let image = dir.path().join("rootfs.img");
    jffs2_image(&tree, &image, ERASE_64K);
    let mut bytes = std::fs::read(&image).unwrap();
    bytes[..CORRUPT_BYTES].fill(0);
    let corrupt = dir.path().join("corrupt.img");
    std::fs::write(&corrupt, bytes).unwrap();
    let card_path = dir.path().join("card.img");
    card(
        &card_path,
        &[("rootfs.img", &image), ("corrupt.img", &corrupt)],
    );
    let initrd = dir.path().join("initrd.cpio");
    initramfs(&kernel, flashroot_config::DEFAULT_TOML, &initrd);
    Setup {
        dir,
        kernel,
        initrd,
        card: card_path,
    }
}

/// Boots with `params` and the given failure action, and checks the console shows
/// `flashroot: error: <message>` and the guest ended as the action says.
fn expect_failure(params: &str, action: &str, message: &str) -> flashroot_qemu::Outcome {
    let s = setup();
    run_failure(&s, &s.card, params, action, message)
}

fn run_failure(
    s: &Setup,
    card: &Path,
    params: &str,
    action: &str,
    message: &str,
) -> flashroot_qemu::Outcome {
    let cmdline = format!("mtd {params} flashroot.failure={action} flashroot.delay=0");
    let outcome = run(&s.kernel, &s.initrd, vec![ide(card)], &cmdline);
    let ending = match action {
        "reboot" => Ending::Rebooted,
        "halt" => Ending::Halted,
        _ => Ending::PoweredOff,
    };
    outcome
        .expect_console(&format!("flashroot: error: {message}"))
        .expect_console(&format!("flashroot: {action} now"))
        .expect_ending(&ending);
    outcome
}

#[test]
fn no_card_within_the_timeout_lists_the_devices_seen() {
    let outcome = expect_failure(
        "flashroot.card=LABEL=NOPE flashroot.timeout=2",
        "reboot",
        "wait for the card: LABEL=NOPE: not found within 2s; block devices seen: ",
    );
    // The list names the card that is there, with what identifies it.
    outcome.expect_console("/dev/sda1 fat32 LABEL=FLASHROOT UUID=1234-ABCD PARTUUID=cafe0001-01");
}

#[test]
fn a_card_behind_a_controller_without_a_packed_driver_names_the_controller() {
    let s = setup();
    // The default config without the SATA driver; the card on QEMU's ICH9 AHCI controller.
    let config = flashroot_config::DEFAULT_TOML.replacen("\"ahci\", ", "", 1);
    assert_ne!(
        config,
        flashroot_config::DEFAULT_TOML,
        "no ahci in the default config"
    );
    let initrd = s.dir.path().join("no-ahci.cpio");
    initramfs(&s.kernel, &config, &initrd);
    let cmdline = "mtd flashroot.timeout=2 flashroot.failure=poweroff flashroot.delay=0";
    let outcome = run(
        &s.kernel,
        &initrd,
        vec![flashroot_qemu::Disk::new(
            &s.card,
            flashroot_qemu::DiskInterface::Ahci,
        )],
        cmdline,
    );
    outcome
        .expect_console("flashroot: error: wait for the card: /dev/sda1: not found within 2s")
        .expect_console("storage devices without a driver: ")
        // ICH9 AHCI: vendor 8086, device 2922, class 01 06 01.
        .expect_console("pci:v00008086d00002922")
        .expect_console("bc01sc06i01")
        .expect_ending(&Ending::PoweredOff);
}

#[test]
fn container_file_missing() {
    expect_failure(
        "flashroot.container=missing.img",
        "halt",
        "open container: /flash/missing.img: No such file or directory",
    );
}

#[test]
fn erase_size_mismatch() {
    expect_failure(
        "flashroot.erasesize=128KiB",
        "reboot",
        "check container: /flash/rootfs.img: erase size mismatch: configured 128KiB, but the image was made with 64KiB erase blocks",
    );
}

#[test]
fn corrupt_container() {
    expect_failure(
        "flashroot.container=corrupt.img",
        "halt",
        "check container: /flash/corrupt.img: not a JFFS2 image: expected the magic 0x1985 at offset 0, but found 0x0000",
    );
}

#[test]
fn missing_real_init() {
    expect_failure(
        "init=/sbin/missing",
        "reboot",
        "find the real init: /sbin/missing in the new root: No such file or directory",
    );
}

/// Stands in for an interactive shell: it says it ran and exits, as a user would.
const RESCUE_SCRIPT: &str = "#!/bin/busybox sh\necho \"rescue-shell: ran as $0, PATH=$PATH\"\n";
const RESCUE_LINE: &str = "rescue-shell: ran as /bin/sh, PATH=/sbin:/bin:/usr/sbin:/usr/bin";

#[test]
fn rescue_shell_at_a_break_point_and_before_the_failure_action() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup();
    let script = s.dir.path().join("rescue.sh");
    std::fs::write(&script, RESCUE_SCRIPT).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!(
        "{}\n[[initramfs.files]]\nsource = \"{BUSYBOX}\"\ntarget = \"/bin/busybox\"\n",
        flashroot_config::DEFAULT_TOML.replacen(
            "shell = \"\"",
            &format!("shell = {:?}", script.display().to_string()),
            1
        )
    );
    let initrd = s.dir.path().join("initrd-shell.cpio");
    initramfs(&s.kernel, &config, &initrd);
    let with_shell = Setup { initrd, ..s };
    let outcome = run_failure(
        &with_shell,
        &with_shell.card,
        "flashroot.break=premount flashroot.container=missing.img",
        "reboot",
        "open container: /flash/missing.img: No such file or directory",
    );
    let console = &outcome.console;
    let at_break = console
        .find("flashroot: break at premount")
        .expect("the break point is logged");
    let error = console.find("flashroot: error: open container").unwrap();
    let shells: Vec<usize> = console.match_indices(RESCUE_LINE).map(|(i, _)| i).collect();
    assert_eq!(
        shells.len(),
        2,
        "the shell runs at the break and on failure:\n{}",
        outcome.tail(40)
    );
    assert!(
        at_break < shells[0] && shells[0] < error && error < shells[1],
        "{}",
        outcome.tail(40)
    );
    outcome.expect_console(
        "flashroot: starting the rescue shell /bin/sh; the reboot follows when it exits",
    );
}
