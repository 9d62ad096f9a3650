//! Issue #15, Done-when 1 and 2: the flashroot package in a copy of the cached debootstrap
//! tree (a chroot), then Debian's real kernel package (the one the QEMU harness boots):
//! the kernel hook fills a card directory with kernel, initramfs and boot menu; with
//! flashroot-initramfs-tool, `apt-get remove initramfs-tools` succeeds and
//! /boot/initrd.img-VERSION is flashroot's, which then boots both ways under QEMU (the
//! flash card and a conventional ext4 root=UUID=); removing the kernel removes it again.

use flashroot_tests::debian_package;
use flashroot_tests::debian_root;
use flashroot_tests::flashboot;

use std::fs;
use std::path::Path;
use std::process::Command;

use debian_package::*;
use flashboot::*;

/// The card directory the hook refreshes (the package's default `CARD`).
const CARD: &str = "/run/flashroot/card";
/// What only our images hold: the init's compact config.
const OUR_CONFIG_ENTRY: &str = "etc/flashroot/flashroot.conf";

/// The entries of an initramfs, as flashroot's reader sees them: (name, data).
fn entries(image: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = fs::read(image).unwrap_or_else(|e| panic!("{}: {e}", image.display()));
    let segments = flashroot::initramfs::image::read_image(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", image.display()));
    segments
        .into_iter()
        .flat_map(|s| s.entries)
        .map(|e| (e.name, e.data))
        .collect()
}

/// The image is ours: `flashroot ls` lists it, with our /init (the init this flashroot
/// embeds, byte for byte) and the init's config.
fn assert_ours(bin: &Path, image: &Path) {
    let out = must_run(Command::new(bin).arg("ls").arg(image));
    let names = String::from_utf8_lossy(&out.stdout);
    assert!(
        names.lines().any(|l| l == "init") && names.lines().any(|l| l == OUR_CONFIG_ENTRY),
        "flashroot ls {}:\n{names}",
        image.display()
    );
    let init = entries(image)
        .into_iter()
        .find(|(name, _)| name == "init")
        .unwrap();
    assert!(
        init.1 == flashroot::EMBEDDED_INIT,
        "{}: /init is not flashroot's",
        image.display()
    );
}

fn installed(chroot: &Chroot, package: &str) -> bool {
    let (_, text) = chroot.sh(&format!("dpkg-query -W -f='${{Status}}' {package}"));
    text.trim() == "install ok installed"
}

#[test]
fn kernel_hooks_fill_the_card_replace_initramfs_tools_and_the_image_boots_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let bin = flashroot_binary();
    let debs = build_debs(&bin, &dir.path().join("debs"));
    let root = dir.path().join("root");
    copy_tree(&debian_root::debootstrap_root(), &root);

    // The kernel package and what it pulls in (initramfs-tools among them), from the
    // host's apt into a local repository inside the root, with our two packages.
    let image_package = kernel.package.clone();
    let closure =
        debian_root::install_closure_with(&root, &[&image_package], &["--no-install-recommends"]);
    assert!(
        closure.iter().any(|(n, _)| n == "initramfs-tools"),
        "the kernel pulls in initramfs-tools: {closure:?}"
    );
    let pairs: Vec<(&str, &str)> = closure
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut files = debian_root::cached_debs(&pairs);
    files.push(debs.flashroot.clone());
    files.push(debs.initramfs_tool.clone());
    debian_root::local_repository(&root.join("srv/repo"), &files);
    fs::write(
        root.join("etc/apt/sources.list"),
        "deb [trusted=yes] file:/srv/repo ./\n",
    )
    .unwrap();
    for entry in fs::read_dir(root.join("etc/apt/sources.list.d")).unwrap() {
        fs::remove_file(entry.unwrap().path()).unwrap();
    }
    // A card as the init leaves it mounted: the root container is there.
    let card = root.join(CARD.trim_start_matches('/'));
    fs::create_dir_all(&card).unwrap();
    let tiny = dir.path().join("tiny");
    fs::create_dir_all(&tiny).unwrap();
    flashroot::jffs2::write_image(
        &tiny,
        &card.join("rootfs.img"),
        &flashroot::jffs2::Options {
            erase_size: 64 << 10,
            pad_to: Some(1 << 20),
            ..Default::default()
        },
    )
    .expect("a tiny container");

    let chroot = Chroot::new(&root);
    chroot.ok("apt-get -o Acquire::Languages=none update");
    chroot.ok("dpkg -i /srv/repo/flashroot_*.deb");
    assert!(installed(&chroot, "flashroot"));

    // 1. The kernel: our postinst.d hook runs after initramfs-tools' and fills the card.
    let version = &kernel.version;
    let log = chroot.ok(&format!(
        "apt-get install -y --no-install-recommends {image_package}"
    ));
    assert!(
        log.contains("/etc/kernel/postinst.d/zz-flashroot")
            && log.contains(&format!("{CARD} boots {version}")),
        "{log}"
    );
    let vmlinuz = chroot.path(&format!("/boot/vmlinuz-{version}"));
    assert!(fs::read(card.join("vmlinuz")).unwrap() == fs::read(&vmlinuz).unwrap());
    assert_ours(&bin, &card.join("initrd.img"));
    assert_eq!(read(&card.join("flashroot.kver")).trim(), version);
    let menu = read(&card.join("syslinux.cfg"));
    assert!(
        menu.contains("KERNEL /vmlinuz") || menu.contains("vmlinuz"),
        "{menu}"
    );
    assert!(
        menu.contains("initrd.img") && menu.contains(" mtd"),
        "{menu}"
    );
    // The previous pair exists from the first install on (the fallback entry boots).
    assert!(card.join("vmlinuz.old").is_file() && card.join("initrd.old.img").is_file());
    // The switch is off: /boot/initrd.img-VERSION is initramfs-tools' own.
    let system_initrd = chroot.path(&format!("/boot/initrd.img-{version}"));
    let theirs = entries(&system_initrd);
    assert!(
        !theirs.iter().any(|(n, _)| n == OUR_CONFIG_ENTRY),
        "with SYSTEM_INITRAMFS=auto and no flashroot-initramfs-tool, initramfs-tools makes /boot's image"
    );

    // 2. The switch: flashroot-initramfs-tool in place of initramfs-tools.
    let log = chroot.ok("apt-get remove -y initramfs-tools flashroot-initramfs-tool+");
    assert!(!installed(&chroot, "initramfs-tools"), "{log}");
    assert!(installed(&chroot, "flashroot-initramfs-tool"), "{log}");
    assert!(installed(&chroot, &image_package), "{log}");
    assert_ours(&bin, &system_initrd);
    let ours = dir.path().join("initrd-from-the-hook.img");
    fs::copy(&system_initrd, &ours).unwrap();
    // The config switch decides over the package: `no` keeps /boot's image as it is.
    fs::write(&system_initrd, "not rewritten").unwrap();
    chroot.ok(&format!(
        "sed -i 's/^SYSTEM_INITRAMFS=.*/SYSTEM_INITRAMFS=no/' /etc/default/flashroot && \
         /etc/kernel/postinst.d/zz-flashroot {version} /boot/vmlinuz-{version}"
    ));
    assert_eq!(read(&system_initrd), "not rewritten");
    chroot.ok(&format!(
        "sed -i 's/^SYSTEM_INITRAMFS=.*/SYSTEM_INITRAMFS=yes/' /etc/default/flashroot && \
         /etc/kernel/postinst.d/zz-flashroot {version} /boot/vmlinuz-{version}"
    ));
    assert_ours(&bin, &system_initrd);

    // 3. Removing the kernel removes its files, our initramfs included.
    let log = chroot.ok(&format!("apt-get remove -y --purge {image_package}"));
    assert!(
        log.contains(&format!("removed /boot/initrd.img-{version}")),
        "{log}"
    );
    for gone in [
        format!("/boot/vmlinuz-{version}"),
        format!("/boot/initrd.img-{version}"),
        format!("/lib/modules/{version}"),
    ] {
        assert!(!chroot.path(&gone).exists(), "{gone} is left:\n{log}");
    }
    // And the packages go, hooks and all.
    chroot.ok("apt-get remove -y --purge flashroot-initramfs-tool flashroot");
    for gone in [
        "/usr/sbin/flashroot",
        "/etc/kernel/postinst.d/zz-flashroot",
        "/etc/kernel/postrm.d/zz-flashroot",
        "/etc/default/flashroot",
        "/usr/share/man/man8/flashroot.8.gz",
    ] {
        assert!(!chroot.path(gone).exists(), "{gone} is left");
    }
    drop(chroot);

    // 4. The hook's image boots a conventional ext4 root and the flash card.
    let tree = root_tree(dir.path(), Some(REPORT_INIT));
    let disk = dir.path().join("ext4-disk.img");
    ext4_disk(&tree, &disk);
    let outcome = run(
        &kernel,
        &ours,
        vec![ide(&disk)],
        &format!("root=UUID={EXT4_UUID} {FAIL_FAST}"),
    );
    outcome
        .expect_console(&format!("flashroot: found UUID={EXT4_UUID} at /dev/sda1"))
        .expect_powered_off();
    Report::from_outcome(&outcome).expect_mount("/", "ext4");

    let image = dir.path().join("rootfs.img");
    jffs2_image(&tree, &image, 64 << 10);
    let card_image = dir.path().join("card.img");
    flashboot::card(&card_image, &[("rootfs.img", &image)]);
    let outcome = run(
        &kernel,
        &ours,
        vec![ide(&card_image)],
        &format!("mtd {FAIL_FAST}"),
    );
    outcome.expect_powered_off();
    Report::from_outcome(&outcome).expect_mount("/", "jffs2");
}
