//! Issue #4 under QEMU: the initramfs `flashroot build` makes for the embedded default
//! config and Debian's kernel boots to our init, which loads the packed modules in the
//! builder's order, in every compression the builder writes.

use flashroot::initramfs::compression::{self, Compression};
use flashroot::initramfs::{build_archive, BuildInputs};
use flashroot_config::{Config, DEFAULT_TOML};
use flashroot_cpio::WriterOptions;
use flashroot_kmod::ModuleTree;
use flashroot_qemu::{boot, debian_kernel, BootOptions, Kernel, Outcome};

/// Fail at once instead of waiting out the default 30 s before rebooting.
const FAIL_FAST: &str = "flashroot.failure=poweroff flashroot.delay=0";
/// The card never appears (no disk): give up after a second.
const NO_CARD_TIMEOUT: &str = "flashroot.timeout=1";

fn banner() -> String {
    format!(
        "flashroot: init {} running as PID 1",
        env!("CARGO_PKG_VERSION")
    )
}

/// Builds the default initramfs with `c` and boots it with `cmdline`.
fn build_and_boot(kernel: &Kernel, c: Compression, cmdline: &str) -> Outcome {
    let config = Config::embedded_default();
    let tree = ModuleTree::load(&kernel.modules_dir, &kernel.version).expect("module tree");
    let built = build_archive(&BuildInputs {
        config: &config,
        config_text: DEFAULT_TOML,
        init: flashroot::EMBEDDED_INIT,
        modules: Some(&tree),
        extra_specs: &[],
        devices: None,
        root_fs: None,
        options: WriterOptions::default(),
    })
    .expect("the default initramfs builds");
    let image = compression::compress_archive(c, &built.archive).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let initrd = dir.path().join("initrd.img");
    std::fs::write(&initrd, &image).unwrap();
    let mut options = BootOptions::for_kernel(kernel);
    options.initrd = Some(initrd);
    options.cmdline = cmdline.into();
    let outcome = boot(&options).unwrap();
    eprintln!(
        "{}: {} bytes; banner at {:?} s guest time, QEMU wall time {:.2} s",
        compression::name(c),
        image.len(),
        outcome.kernel_time_of(&banner()),
        outcome.elapsed.as_secs_f64()
    );
    outcome
}

#[test]
fn default_gzip_initramfs_boots_and_loads_its_modules() {
    let kernel = debian_kernel().expect("Debian kernel (apt-get download linux-image-amd64)");
    let outcome = build_and_boot(
        &kernel,
        Compression::Gzip,
        &format!("mtd {FAIL_FAST} {NO_CARD_TIMEOUT}"),
    );
    outcome
        .expect_console(&banner())
        .expect_console(": loaded ")
        .expect_powered_off();
    // Coldplug loads in batches (`flashroot: for <modalias>: loaded ...`, `modules for
    // every machine: loaded ...`; without a card, at last every packed driver).
    let loaded: String = outcome
        .console
        .lines()
        .filter(|l| l.contains("flashroot: "))
        .filter_map(|l| l.split_once(": loaded ").map(|(_, rest)| rest))
        .collect::<Vec<_>>()
        .join(" ");
    for m in flashroot_tests::FLASH_BOOT_MUST_HAVE {
        assert!(
            loaded.split_whitespace().any(|w| w == m),
            "{m} not loaded: {loaded}\n{}",
            outcome.tail(40)
        );
    }
    assert!(
        !outcome.console.contains("Unknown symbol"),
        "a module loaded before its dependency:\n{}",
        outcome.tail(60)
    );
}

#[test]
fn zstd_xz_and_uncompressed_initramfs_boot_to_the_init() {
    let kernel = debian_kernel().expect("Debian kernel (apt-get download linux-image-amd64)");
    for c in [Compression::Zstd, Compression::Xz, Compression::None] {
        let outcome = build_and_boot(&kernel, c, FAIL_FAST);
        assert!(
            !outcome.console.contains("Initramfs unpacking failed"),
            "{}: the kernel could not unpack it:\n{}",
            compression::name(c),
            outcome.tail(40)
        );
        outcome.expect_console(&banner()).expect_powered_off();
    }
}
