//! Module resolution against Debian's real 6.1 kernel package (fetched and cached by the
//! harness): the flash-boot set of the embedded default config resolves; crc-t10dif's
//! softdep brings crct10dif_generic or crct10dif-pclmul; nls_ascii is there; and kmod's
//! `modprobe --show-depends` is the oracle for every module's prerequisites and their
//! order. A missing modprobe fails the test.

use std::collections::BTreeSet;
use std::process::Command;

use flashroot_config::Config;
use flashroot_kmod::{resolve, ModuleTree};
use flashroot_qemu::debian_kernel;
use flashroot_tests::FLASH_BOOT_MUST_HAVE as MUST_HAVE;

/// `modprobe --show-depends NAME` against the unpacked package: the module paths it
/// would insmod, in its order (the module itself last, unless post softdeps follow).
fn modprobe_show_depends(root: &std::path::Path, kver: &str, name: &str) -> Vec<String> {
    let out = Command::new("modprobe")
        .arg("-d")
        .arg(root)
        .args(["-S", kver, "--show-depends", name])
        .output()
        .unwrap_or_else(|e| {
            panic!("modprobe (kmod) is the oracle of this test and must be installed: {e}")
        });
    assert!(
        out.status.success(),
        "modprobe --show-depends {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("insmod "))
        .map(|p| p.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn default_flash_boot_set_resolves_like_modprobe() {
    let kernel = debian_kernel().expect("Debian kernel (apt-get download linux-image-amd64)");
    let tree = ModuleTree::load(&kernel.modules_dir, &kernel.version).unwrap();
    let config = Config::embedded_default();
    let r = resolve(&tree, &config.modules.wanted()).unwrap();
    let names = r.names();
    eprintln!(
        "{} modules for {}: {}",
        names.len(),
        kernel.version,
        names.join(" ")
    );
    for notes in &r.notes {
        eprintln!("note: {notes}");
    }
    for m in MUST_HAVE {
        assert!(names.contains(&m), "{m} missing from {names:?}");
    }
    let crc = names.iter().position(|n| *n == "crc_t10dif").unwrap();
    let impls: Vec<usize> = ["crct10dif_generic", "crct10dif_pclmul"]
        .iter()
        .filter_map(|i| names.iter().position(|n| n == i))
        .collect();
    assert!(
        !impls.is_empty(),
        "no crct10dif implementation in {names:?}"
    );
    assert!(
        impls.iter().all(|&i| i < crc),
        "crct10dif implementations must load before crc_t10dif: {names:?}"
    );

    // Every module's prerequisites per modprobe come before it in our order.
    let position = |path: &str| -> Option<usize> {
        let rel = path.strip_prefix(&format!("{}/", kernel.modules_dir.display()))?;
        r.modules.iter().position(|m| m.source_path == rel)
    };
    let ours: BTreeSet<&str> = r.modules.iter().map(|m| m.source_path.as_str()).collect();
    for (i, m) in r.modules.iter().enumerate() {
        let insmods = modprobe_show_depends(&kernel.root, &kernel.version, &m.name);
        let own = insmods
            .iter()
            .position(|p| p.ends_with(&format!("/{}", m.source_path)))
            .unwrap_or_else(|| panic!("modprobe does not list {} itself: {insmods:?}", m.name));
        for pre in &insmods[..own] {
            let at = position(pre).unwrap_or_else(|| {
                panic!(
                    "{}: modprobe loads {pre} first, which we do not pack ({ours:?})",
                    m.name
                )
            });
            assert!(
                at < i,
                "{}: modprobe loads {pre} before it, we load it after",
                m.name
            );
        }
    }
    // And every name asked for (or an alias of it) is in the set, as modprobe resolves it.
    for wanted in config.modules.wanted() {
        let insmods = modprobe_show_depends(&kernel.root, &kernel.version, &wanted);
        assert!(
            !insmods.is_empty() || tree.lookup(&wanted) == flashroot_kmod::tree::Lookup::Builtin,
            "{wanted}"
        );
        for p in insmods {
            assert!(
                position(&p).is_some(),
                "{wanted}: modprobe loads {p}, which we do not pack"
            );
        }
    }
}

/// Issue #12: in the default image ext4 (for ext2, ext3 and ext4) waits for a root that
/// needs it, while vfat, jffs2 and overlay are `filesystem` modules the flash plan names;
/// host-only adds this machine's root filesystem (here btrfs, which the default lacks).
#[test]
fn filesystem_modules_wait_for_their_mount_and_host_only_adds_the_root_type() {
    use flashroot::initramfs::{build_archive, BuildInputs};
    use flashroot_config::load_order::LoadWhen;
    use flashroot_cpio::WriterOptions;

    let kernel = debian_kernel().expect("Debian kernel (apt-get download linux-image-amd64)");
    let tree = ModuleTree::load(&kernel.modules_dir, &kernel.version).unwrap();
    let config = Config::embedded_default();
    let build = |root_fs: Option<&str>| {
        build_archive(&BuildInputs {
            config: &config,
            config_text: flashroot_config::DEFAULT_TOML,
            init: b"#!/bin/sh\n",
            modules: Some(&tree),
            extra_specs: &[],
            devices: None,
            root_fs,
            options: WriterOptions::default(),
        })
        .expect("the default initramfs builds")
    };
    let generic = build(None);
    let entry = |built: &flashroot::initramfs::BuildOutput, name: &str| {
        built
            .load_order
            .iter()
            .find(|e| e.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not packed: {:?}", built.load_order))
    };
    let ext4 = entry(&generic, "ext4");
    assert_eq!(ext4.when, LoadWhen::Filesystem);
    assert_eq!(ext4.filesystems, ["ext4", "ext3", "ext2"]);
    for need in ["jbd2", "mbcache", "crc16"] {
        assert!(ext4.needs.iter().any(|n| n == need), "{:?}", ext4.needs);
        assert_eq!(entry(&generic, need).when, LoadWhen::Dependency, "{need}");
    }
    assert!(
        ext4.needs.iter().any(|n| n.starts_with("crc32c")),
        "the crypto-crc32c softdep: {:?}",
        ext4.needs
    );
    for fs in ["vfat", "jffs2", "overlay"] {
        assert_eq!(entry(&generic, fs).when, LoadWhen::Filesystem, "{fs}");
    }
    assert!(!generic.load_order.iter().any(|e| e.name == "btrfs"));

    let host_only = build(Some("btrfs"));
    let btrfs = entry(&host_only, "btrfs");
    assert_eq!(
        (btrfs.when, btrfs.filesystems.clone()),
        (LoadWhen::Filesystem, vec!["btrfs".to_string()])
    );
    assert!(
        host_only
            .notes
            .iter()
            .any(|n| n == "host-only: this machine's root is btrfs: packing btrfs"),
        "{:?}",
        host_only.notes
    );
    // A type the config packs already is not packed twice; one the kernel builds in is noted.
    let ext = build(Some("ext4"));
    assert_eq!(ext.load_order.len(), generic.load_order.len());
    let tmpfs = build(Some("tmpfs"));
    assert!(
        tmpfs
            .notes
            .iter()
            .any(|n| n.starts_with("host-only: this machine's root is tmpfs")),
        "{:?}",
        tmpfs.notes
    );
}
