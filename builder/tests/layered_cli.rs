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
