//! Issue #15: the Debian packages `packaging/deb/build` makes. What `flashroot` puts where
//! (`dpkg-deb -c`), that two builds give the same bytes, that the man pages render with
//! `man -l` and that bash finds the completion after sourcing it.

use flashroot_tests::debian_package;

use std::path::Path;
use std::process::Command;

use debian_package::*;

/// Every path the flashroot package must ship.
const SHIPPED: &[&str] = &[
    "/usr/sbin/flashroot",
    "/etc/flashroot/flashroot.toml",
    "/etc/default/flashroot",
    "/etc/kernel/postinst.d/zz-flashroot",
    "/etc/kernel/postrm.d/zz-flashroot",
    "/usr/share/man/man8/flashroot.8.gz",
    "/usr/share/man/man8/flashroot-build.8.gz",
    "/usr/share/man/man8/flashroot-status.8.gz",
    "/usr/share/man/man8/flashroot-mkfs.jffs2.8.gz",
    "/usr/share/bash-completion/completions/flashroot",
    "/usr/share/zsh/vendor-completions/_flashroot",
    "/usr/share/fish/vendor_completions.d/flashroot.fish",
    "/usr/share/doc/flashroot/copyright",
];

fn field(deb: &Path, name: &str) -> String {
    let out = must_run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn packages_ship_binary_docs_completions_hooks_and_conffile_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let bin = flashroot_binary();
    let debs = build_debs(&bin, &dir.path().join("a"));
    let again = build_debs(&bin, &dir.path().join("b"));
    for (one, two) in [
        (&debs.flashroot, &again.flashroot),
        (&debs.initramfs_tool, &again.initramfs_tool),
    ] {
        assert!(
            std::fs::read(one).unwrap() == std::fs::read(two).unwrap(),
            "two builds of {} differ",
            one.display()
        );
    }

    let paths = listing(&debs.flashroot);
    for wanted in SHIPPED {
        assert!(
            paths.iter().any(|p| p == wanted),
            "{wanted} is not in {}:\n{}",
            debs.flashroot.display(),
            paths.join("\n")
        );
    }
    // One page per visible subcommand, none for the hidden `generate` or clap's `help`.
    let pages: Vec<&String> = paths.iter().filter(|p| p.ends_with(".8.gz")).collect();
    assert!(pages.len() >= 10, "{pages:?}");
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("flashroot-help") || p.contains("flashroot-generate")),
        "{pages:?}"
    );
    // No clash with mtd-utils: no mkfs.jffs2 of our own on the PATH.
    assert!(
        !paths.iter().any(|p| p.ends_with("/mkfs.jffs2")),
        "{paths:?}"
    );

    let conffiles = {
        let x = dir.path().join("control");
        must_run(
            Command::new("dpkg-deb")
                .arg("-e")
                .arg(&debs.flashroot)
                .arg(&x),
        );
        read(&x.join("conffiles"))
    };
    for conffile in [
        "/etc/flashroot/flashroot.toml",
        "/etc/default/flashroot",
        "/etc/kernel/postinst.d/zz-flashroot",
        "/etc/kernel/postrm.d/zz-flashroot",
    ] {
        assert!(conffiles.lines().any(|l| l == conffile), "{conffiles}");
    }
    let depends = field(&debs.flashroot, "Depends");
    assert!(depends.contains("libc6 (>= 2."), "{depends}");
    assert!(!depends.contains("mtd-utils"), "{depends}");
    assert!(field(&debs.flashroot, "Suggests").contains("mtd-utils"));
    assert_eq!(
        field(&debs.initramfs_tool, "Provides"),
        "linux-initramfs-tool"
    );
    assert_eq!(field(&debs.initramfs_tool, "Conflicts"), "initramfs-tools");
    assert!(field(&debs.initramfs_tool, "Depends").starts_with("flashroot (= "));
    // The packaged config is the annotated default, byte for byte.
    let x = dir.path().join("x");
    must_run(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&debs.flashroot)
            .arg(&x),
    );
    assert_eq!(
        read(&x.join("etc/flashroot/flashroot.toml")),
        read(&top().join("config/flashroot.toml"))
    );
}

#[test]
fn man_pages_render_and_bash_completes_flashroot() {
    let dir = tempfile::tempdir().unwrap();
    let debs = build_debs(&flashroot_binary(), &dir.path().join("debs"));
    let x = dir.path().join("x");
    must_run(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&debs.flashroot)
            .arg(&x),
    );
    let man8 = x.join("usr/share/man/man8");
    for (page, says) in [
        ("flashroot.8.gz", "status"),
        ("flashroot-build.8.gz", "--host-only"),
        ("flashroot-status.8.gz", "--json"),
    ] {
        let out = must_run(
            Command::new("man")
                .arg("-l")
                .arg(man8.join(page))
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "100")
                .env("LC_ALL", "C.UTF-8"),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("NAME"), "{page}:\n{text}");
        assert!(text.contains("SYNOPSIS"), "{page}:\n{text}");
        assert!(
            text.contains(says),
            "{page} does not mention {says}:\n{text}"
        );
    }
    let completion = x.join("usr/share/bash-completion/completions/flashroot");
    let out = must_run(Command::new("bash").arg("-c").arg(format!(
        "source '{}' && complete -p flashroot && _flashroot_words() {{ COMP_WORDS=(flashroot sta); COMP_CWORD=1; COMP_LINE='flashroot sta'; COMP_POINT=13; $(complete -p flashroot | sed -n 's/.*-F \\([^ ]*\\) .*/\\1/p') flashroot sta flashroot; printf '%s\\n' \"${{COMPREPLY[@]}}\"; }}; _flashroot_words",
        completion.display()
    )));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.starts_with("complete ") && l.ends_with(" flashroot")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "status"),
        "completing `flashroot sta` gives no `status`:\n{text}"
    );
}
