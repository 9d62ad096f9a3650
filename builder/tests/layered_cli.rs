//! Issue #13 from the command line: `import-root --layered` writes a squashfs base that
//! `unsquashfs` reads and an empty overlay container (`upper/`, `work/`) that our JFFS2
//! checker passes; `card --base` installs both with a failsafe entry; `reset` writes and
//! withdraws the marker on a card directory. The boot side is tests/tests/layered_root.rs.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn flashroot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flashroot"))
        .args(args)
        .output()
        .expect("the flashroot binary runs")
}

fn ok(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

fn layered_config(dir: &Path) -> String {
    let text = flashroot_config::DEFAULT_TOML.replacen(
        "# base = \"base.sqfs\"",
        "base = \"base.sqfs\"",
        1,
    );
    let path = dir.join("layered.toml");
    fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn import_root_layered_writes_a_base_and_an_empty_overlay_that_card_installs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tree = d.join("tree");
    fs::create_dir_all(tree.join("etc")).unwrap();
    fs::create_dir_all(tree.join("var/cache/apt")).unwrap();
    fs::write(tree.join("etc/hostname"), "box\n").unwrap();
    let config = layered_config(d);
    let (base, overlay) = (d.join("base.sqfs"), d.join("rootfs.img"));
    let text = ok(&flashroot(&[
        "import-root",
        tree.to_str().unwrap(),
        "--layered",
        "--base",
        base.to_str().unwrap(),
        "--image",
        overlay.to_str().unwrap(),
        "--pad",
        "1MiB",
        "-c",
        &config,
    ]));
    assert!(text.contains("zstd compression"), "{text}");
    let listing = Command::new("unsquashfs")
        .arg("-l")
        .arg(&base)
        .output()
        .expect("unsquashfs (squashfs-tools) judges the base");
    let listing = ok(&listing);
    for p in ["squashfs-root/etc/hostname", "squashfs-root/etc/fstab"] {
        assert!(listing.lines().any(|l| l == p), "{p}:\n{listing}");
    }
    assert_eq!(fs::metadata(&overlay).unwrap().len(), 1 << 20);
    ok(&flashroot(&["jffs2", "check", overlay.to_str().unwrap()]));
    let ls = ok(&flashroot(&["jffs2", "ls", overlay.to_str().unwrap()]));
    assert!(ls.contains("upper") && ls.contains("work"), "{ls}");
    assert!(!ls.contains("hostname"), "the overlay is not empty:\n{ls}");

    // Without a base in the config, --layered is refused with the reason.
    let refused = flashroot(&[
        "import-root",
        tree.to_str().unwrap(),
        "--layered",
        "--base",
        base.to_str().unwrap(),
        "--image",
        overlay.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("--layered: the config's root container has no `base`"),
        "{refused:?}"
    );

    // card --base: both files on the card, and the failsafe entry.
    let card = d.join("card");
    fs::create_dir(&card).unwrap();
    let (kernel, initrd) = (d.join("vmlinuz"), d.join("initrd.img"));
    fs::write(&kernel, b"kernel").unwrap();
    fs::write(&initrd, b"initrd").unwrap();
    ok(&flashroot(&[
        "card",
        "-c",
        &config,
        "--kernel",
        kernel.to_str().unwrap(),
        "--initrd",
        initrd.to_str().unwrap(),
        "--base",
        base.to_str().unwrap(),
        "--rootfs",
        overlay.to_str().unwrap(),
        "--dir",
        card.to_str().unwrap(),
    ]));
    assert_eq!(
        fs::read(card.join("base.sqfs")).unwrap(),
        fs::read(&base).unwrap()
    );
    assert!(card.join("rootfs.img.journal").is_file());
    let cfg = fs::read_to_string(card.join("syslinux.cfg")).unwrap();
    assert!(
        cfg.contains("LABEL failsafe\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.img root=mtd:rootfs rootfstype=jffs2 mtd flashroot.failsafe\n"),
        "{cfg}"
    );
    // A JFFS2 image is not a base.
    let wrong = flashroot(&[
        "card",
        "-c",
        &config,
        "--kernel",
        kernel.to_str().unwrap(),
        "--initrd",
        initrd.to_str().unwrap(),
        "--base",
        overlay.to_str().unwrap(),
        "--dir",
        card.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("not a squashfs image"),
        "{wrong:?}"
    );

    // reset on a card mounted here: the marker beside the container, then withdrawn.
    let dir_arg = card.to_str().unwrap();
    let text = ok(&flashroot(&[
        "reset",
        "--card",
        dir_arg,
        "--container",
        "rootfs.img",
    ]));
    assert!(text.contains("factory reset pending"), "{text}");
    assert!(card.join("rootfs.img.reset").is_file());
    ok(&flashroot(&[
        "reset",
        "--card",
        dir_arg,
        "--container",
        "rootfs.img",
        "--cancel",
    ]));
    assert!(!card.join("rootfs.img.reset").exists());
}

/// `flashroot fold --card DIR`: a card's base and overlay container (whiteout, opaque
/// directory, changed and new files in its upper/) folded on this machine; unsquashfs
/// reads the new base back, and the boot entries point at it with a rollback entry.
#[test]
fn fold_of_a_card_merges_the_overlay_into_a_new_base_with_a_rollback_entry() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = layered_config(d);
    let card = d.join("card");
    fs::create_dir(&card).unwrap();
    let tree = d.join("tree");
    for p in ["etc/old", "opt/app", "var"] {
        fs::create_dir_all(tree.join(p)).unwrap();
    }
    fs::write(tree.join("etc/old/conf"), "x").unwrap();
    fs::write(tree.join("etc/passwd"), "base").unwrap();
    fs::write(tree.join("opt/app/stale"), "s").unwrap();
    flashroot::squashfs::write_base(&tree, &card.join("base.sqfs"), &Default::default()).unwrap();
    let ov = d.join("ov");
    for p in ["upper/etc", "upper/opt/app", "upper/var/new", "work"] {
        fs::create_dir_all(ov.join(p)).unwrap();
    }
    fs::write(ov.join("upper/etc/passwd"), "changed").unwrap();
    fs::write(ov.join("upper/opt/app/fresh"), "f").unwrap();
    xattr::set(ov.join("upper/opt/app"), "trusted.overlay.opaque", b"y").unwrap();
    fs::write(ov.join("upper/var/new/file"), "n").unwrap();
    nix::sys::stat::mknod(
        &ov.join("upper/etc/old"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        0,
    )
    .expect("mknod of a whiteout (the tests run as root)");
    flashroot::jffs2::write_image(
        &ov,
        &card.join("rootfs.img"),
        &flashroot::jffs2::Options {
            erase_size: 64 << 10,
            pad_to: Some(1 << 20),
            xattrs: true,
            ..Default::default()
        },
    )
    .unwrap();
    let boot = flashroot::card::BootConfig {
        root_label: "rootfs".into(),
        trigger: "mtd".into(),
        conventional_root: "/dev/sda2".into(),
        append: String::new(),
        layered: true,
    };
    fs::write(
        card.join("syslinux.cfg"),
        flashroot::card::syslinux_cfg::render(&boot),
    )
    .unwrap();

    let text = ok(&flashroot(&[
        "fold",
        "--card",
        card.to_str().unwrap(),
        "-c",
        &config,
        "--compression",
        "gzip",
    ]));
    assert!(
        text.contains(
            "folded rootfs.img into base.sqfs: 3 entries copied, 1 deleted, 1 opaque directories"
        ),
        "{text}"
    );
    let out = d.join("unpacked");
    ok(&Command::new("unsquashfs")
        .args(["-no-progress", "-d"])
        .arg(&out)
        .arg(card.join("fold-1/base.sqfs"))
        .output()
        .expect("unsquashfs reads the folded base"));
    assert!(!out.join("etc/old").exists(), "the whiteout did not delete");
    assert_eq!(
        fs::read_to_string(out.join("etc/passwd")).unwrap(),
        "changed"
    );
    assert!(
        !out.join("opt/app/stale").exists(),
        "the opaque dir kept the base's file"
    );
    assert_eq!(fs::read_to_string(out.join("opt/app/fresh")).unwrap(), "f");
    assert_eq!(fs::read_to_string(out.join("var/new/file")).unwrap(), "n");
    assert_eq!(fs::metadata(out.join("var/new/file")).unwrap().uid(), 0);
    assert_eq!(
        fs::metadata(card.join("fold-1/rootfs.img")).unwrap().len(),
        1 << 20
    );
    assert!(card.join("fold-1/rootfs.img.journal").is_file());
    ok(&flashroot(&[
        "jffs2",
        "check",
        card.join("fold-1/rootfs.img").to_str().unwrap(),
    ]));
    let cfg = fs::read_to_string(card.join("syslinux.cfg")).unwrap();
    assert!(
        cfg.contains("mtd flashroot.base=fold-1/base.sqfs flashroot.container=fold-1/rootfs.img\n"),
        "{cfg}"
    );
    assert!(cfg.ends_with("LABEL rollback\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.img root=mtd:rootfs rootfstype=jffs2 mtd flashroot.base=base.sqfs flashroot.container=rootfs.img\n"), "{cfg}");

    // A second fold starts from fold-1, which the default entry names now.
    let text = ok(&flashroot(&[
        "fold",
        "--card",
        card.to_str().unwrap(),
        "-c",
        &config,
    ]));
    assert!(
        text.contains("folded fold-1/rootfs.img into fold-1/base.sqfs: 0 entries copied"),
        "{text}"
    );
    let cfg = fs::read_to_string(card.join("syslinux.cfg")).unwrap();
    assert!(cfg.contains("flashroot.base=fold-2/base.sqfs"), "{cfg}");
    assert_eq!(cfg.matches("LABEL rollback").count(), 1, "{cfg}");
}
