//! The first real boot: the embedded static /init alone in a newc initramfs, under Debian's
//! kernel in QEMU. Without `root=` or `mtd` it has nothing to boot, so it must print its
//! banner, report the error and carry out `flashroot.failure=poweroff` at once.

use flashroot_cpio::{NewcWriter, WriterOptions};
use flashroot_qemu::{boot, debian_kernel, BootOptions, Ending};

/// The console major/minor: without /dev/console in the archive the init has no stdio.
const CONSOLE_MAJOR: u32 = 5;
const CONSOLE_MINOR: u32 = 1;
/// Printed by the kernel just before it runs the initramfs /init.
const KERNEL_RUNS_INIT: &str = "Run /init as init process";

/// A newc archive holding `/dev/console` and `/init` = the embedded init.
fn init_only_initramfs() -> Vec<u8> {
    let mut archive = NewcWriter::new(Vec::new(), WriterOptions::default());
    archive.dir("dev", 0o755).unwrap();
    archive
        .char_dev("dev/console", 0o600, CONSOLE_MAJOR, CONSOLE_MINOR)
        .unwrap();
    archive
        .file("init", 0o755, flashroot::EMBEDDED_INIT)
        .unwrap();
    archive.finish().unwrap()
}

#[test]
fn init_without_root_reports_and_powers_off() {
    let kernel = debian_kernel().expect("Debian kernel (apt-get download linux-image-amd64)");
    let dir = tempfile::tempdir().unwrap();
    let initrd = dir.path().join("initrd.cpio");
    std::fs::write(&initrd, init_only_initramfs()).unwrap();

    let mut options = BootOptions::for_kernel(&kernel);
    options.initrd = Some(initrd);
    options.cmdline = "flashroot.failure=poweroff flashroot.delay=0".into();
    let outcome = boot(&options).unwrap();

    let banner = format!(
        "flashroot: init {} running as PID 1",
        env!("CARGO_PKG_VERSION")
    );
    outcome
        .expect_console(&banner)
        .expect_console("flashroot: error:")
        .expect_console("no root= on the kernel command line")
        .expect_console("flashroot: poweroff now")
        .expect_powered_off();
    assert!(!matches!(outcome.ending, Ending::Panicked(_)), "{outcome}");
    eprintln!(
        "kernel ran /init at {:?} s, banner at {:?} s (guest clock); QEMU wall time {:.2} s",
        outcome.kernel_time_of(KERNEL_RUNS_INIT),
        outcome.kernel_time_of(&banner),
        outcome.elapsed.as_secs_f64()
    );
}

/// Issue #2: PID 1 runs before any loader exists, so the embedded init must be a static
/// executable (not static-pie: no relocation before main). `file` is the oracle.
#[test]
fn embedded_init_is_a_static_x86_64_executable() {
    let dir = tempfile::tempdir().unwrap();
    let init = dir.path().join("init");
    std::fs::write(&init, flashroot::EMBEDDED_INIT).unwrap();
    let out = std::process::Command::new("file")
        .arg(&init)
        .output()
        .expect("`file` (Debian package file) is the oracle of this test");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "file failed: {said}");
    for fact in ["ELF 64-bit", "x86-64", "statically linked"] {
        assert!(said.contains(fact), "expected {fact:?} in: {said}");
    }
}
