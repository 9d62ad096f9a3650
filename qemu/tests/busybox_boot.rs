//! The harness against real boots: Debian's kernel with a tiny busybox initramfs.
//! Needs busybox-static, cpio, qemu-system-x86 and apt access (or a cached kernel); a
//! missing tool fails the test.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use flashroot_qemu::{boot, debian_kernel, output_disk, BootOptions, Ending, Kernel};

const BUSYBOX: &str = "/bin/busybox";
/// Modules for a virtio disk on Debian's kernel (everything else needed is built in).
const VIRTIO_DISK_MODULES: [&str; 2] = ["virtio_pci", "virtio_blk"];
/// Printed by the kernel right before it executes the initramfs /init.
const RUN_INIT: &str = "Run /init as init process";

/// Kernel module paths (relative to the modules dir) to insmod, dependencies first.
fn load_order(kernel: &Kernel, wanted: &[&str]) -> Vec<String> {
    let dep = fs::read_to_string(kernel.modules_dir.join("modules.dep")).unwrap();
    let mut order: Vec<String> = Vec::new();
    for name in wanted {
        let line = dep
            .lines()
            .find(|line| {
                let path = line.split(':').next().unwrap();
                let file = path.rsplit('/').next().unwrap();
                file.trim_end_matches(".ko").replace('-', "_") == *name
            })
            .unwrap_or_else(|| panic!("{name} not in modules.dep"));
        let (module, deps) = line.split_once(':').unwrap();
        // modules.dep lists dependencies so that the last must be loaded first.
        for path in deps.split_whitespace().rev().chain([module]) {
            if !order.iter().any(|p| p == path) {
                order.push(path.to_owned());
            }
        }
    }
    order
}

/// A newc initramfs with busybox, the given modules and `/init` = `script`.
fn busybox_initramfs(kernel: &Kernel, dir: &Path, modules: &[&str], script: &str) -> PathBuf {
    let root = dir.join("root");
    for sub in ["bin", "dev", "proc", "sys", "modules"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    fs::copy(BUSYBOX, root.join("bin/busybox"))
        .unwrap_or_else(|e| panic!("{BUSYBOX}: {e} (install busybox-static)"));
    let mut insmods = String::new();
    for path in load_order(kernel, modules) {
        let file = path.rsplit('/').next().unwrap();
        fs::copy(
            kernel.modules_dir.join(&path),
            root.join("modules").join(file),
        )
        .unwrap();
        insmods.push_str(&format!("insmod /modules/{file}\n"));
    }
    let init = format!(
        "#!/bin/busybox sh\n/bin/busybox --install -s /bin\nexport PATH=/bin\n\
         mount -t devtmpfs dev /dev\nmount -t proc proc /proc\n{insmods}{script}\n"
    );
    fs::write(root.join("init"), init).unwrap();
    fs::set_permissions(root.join("init"), fs::Permissions::from_mode(0o755)).unwrap();
    let status = Command::new("mknod")
        .args(["-m", "600"])
        .arg(root.join("dev/console"))
        .args(["c", "5", "1"])
        .status()
        .expect("mknod (coreutils)");
    assert!(status.success(), "mknod dev/console failed (needs root)");

    let archive = dir.join("initrd.cpio");
    let list = Command::new("find")
        .arg(".")
        .current_dir(&root)
        .output()
        .expect("find");
    let mut cpio = Command::new("cpio")
        .args(["--quiet", "-o", "-H", "newc", "-F"])
        .arg(&archive)
        .current_dir(&root)
        .stdin(Stdio::piped())
        .spawn()
        .expect("cpio (install cpio)");
    use std::io::Write;
    cpio.stdin.take().unwrap().write_all(&list.stdout).unwrap();
    assert!(cpio.wait().unwrap().success(), "cpio failed");
    archive
}

fn options(kernel: &Kernel, initrd: PathBuf) -> BootOptions {
    let mut options = BootOptions::for_kernel(kernel);
    options.initrd = Some(initrd);
    options.cmdline = "quiet loglevel=4".into();
    options
}

#[test]
fn powers_off_and_hands_back_the_output_disk() {
    let kernel = debian_kernel().expect("Debian kernel");
    let dir = tempfile::tempdir().unwrap();
    let script = "echo 'guest says hello' > /report\n\
                  { printf 'FLASHROOT-OUTPUT %d\\n' $(wc -c < /report); cat /report; } > /dev/vda\n\
                  sync\npoweroff -f\n";
    let initrd = busybox_initramfs(&kernel, dir.path(), &VIRTIO_DISK_MODULES, script);
    let mut options = options(&kernel, initrd);
    options.cmdline = String::new(); // keep the printk lines: we time /init
    options.output_disk = Some(1 << 20);
    let outcome = boot(&options).unwrap();
    outcome.expect_powered_off();
    assert_eq!(outcome.expect_output(), b"guest says hello\n", "{outcome}");
    assert_eq!(
        output_disk::decode(&output_disk::encode(b"guest says hello\n")).unwrap(),
        Some(&b"guest says hello\n"[..])
    );
    // Debian's 6.1 kernel has CONFIG_PVH=y and an xz payload: the cache must extract it.
    assert_eq!(kernel.boot_image(), kernel.vmlinux.as_deref().unwrap());
    let init_at = outcome.kernel_time_of(RUN_INIT);
    assert!(init_at.is_some(), "no {RUN_INIT:?} line\n{outcome}");
    eprintln!(
        "kernel reached /init at {:.2} s guest time; whole boot {:.2} s wall",
        init_at.unwrap(),
        outcome.elapsed.as_secs_f64()
    );
}

#[test]
fn init_exit_is_a_panic_with_its_message() {
    let kernel = debian_kernel().expect("Debian kernel");
    let dir = tempfile::tempdir().unwrap();
    let initrd = busybox_initramfs(&kernel, dir.path(), &[], "exit 3");
    let outcome = boot(&options(&kernel, initrd)).unwrap();
    match &outcome.ending {
        Ending::Panicked(message) => assert!(
            message.starts_with("Attempted to kill init! exitcode=0x00000300"),
            "{outcome}"
        ),
        _ => panic!("expected a panic\n{outcome}"),
    }
}

#[test]
fn halt_is_seen_and_qemu_killed() {
    let kernel = debian_kernel().expect("Debian kernel");
    let dir = tempfile::tempdir().unwrap();
    let initrd = busybox_initramfs(&kernel, dir.path(), &[], "halt -f");
    let outcome = boot(&options(&kernel, initrd)).unwrap();
    outcome.expect_ending(&Ending::Halted);
}

#[test]
fn reboot_is_seen() {
    let kernel = debian_kernel().expect("Debian kernel");
    let dir = tempfile::tempdir().unwrap();
    let initrd = busybox_initramfs(&kernel, dir.path(), &[], "reboot -f");
    let outcome = boot(&options(&kernel, initrd)).unwrap();
    outcome.expect_ending(&Ending::Rebooted);
}

#[test]
fn a_hanging_guest_is_killed_at_the_timeout() {
    let kernel = debian_kernel().expect("Debian kernel");
    let dir = tempfile::tempdir().unwrap();
    let initrd = busybox_initramfs(&kernel, dir.path(), &[], "echo hanging now; sleep 1000");
    let mut options = options(&kernel, initrd);
    options.timeout = Duration::from_secs(20);
    let outcome = boot(&options).unwrap();
    outcome.expect_ending(&Ending::TimedOut);
    assert!(outcome.elapsed >= options.timeout, "{outcome}");
    let report = std::panic::catch_unwind(|| {
        outcome.expect_powered_off();
    })
    .unwrap_err();
    let report = report.downcast_ref::<String>().unwrap();
    assert!(
        report.contains("got TimedOut") && report.contains("hanging now"),
        "{report}"
    );
}
