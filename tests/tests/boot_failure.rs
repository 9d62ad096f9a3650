//! Issue #5, failure boots: each one checks the exact console message naming the step,
//! the object and the reason, and that the guest then reboots or halts as told by
//! `flashroot.failure=` instead of panicking or hanging.

mod flashboot;

use std::path::{Path, PathBuf};

use flashboot::*;
use flashroot_qemu::Ending;

const ERASE_64K: u32 = 64 << 10;
/// Bytes zeroed at the head of the corrupt container: its first erase block.
const CORRUPT_BYTES: usize = 64 << 10;

struct Setup {
    _dir: tempfile::TempDir,
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
        _dir: dir,
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
