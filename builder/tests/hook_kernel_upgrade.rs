//! The installed kernel hook, run the way Debian runs it (`run-parts --arg=VERSION
//! --arg=/boot/vmlinuz-VERSION /etc/kernel/postinst.d`), against a fake kernel upgrade into
//! a card directory. A fake `flashroot` stands in for `flashroot build`: it records its
//! arguments and writes a recognisable initramfs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const OLD_KVER: &str = "6.1.0-1-amd64";
const NEW_KVER: &str = "6.1.0-2-amd64";

struct Machine {
    _dir: tempfile::TempDir,
    root: PathBuf,
    card: PathBuf,
    boot: PathBuf,
    args_log: PathBuf,
}

/// A root with a card holding the old pair, a fake flashroot and a new kernel in /boot.
fn machine(fake_build_fails: bool) -> Machine {
    machine_with(fake_build_fails, &[])
}

/// [`machine`] with further `install-hook` arguments.
fn machine_with(fake_build_fails: bool, install_args: &[&str]) -> Machine {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let card = dir.path().join("card");
    let boot = dir.path().join("boot");
    for d in [&root, &card, &boot] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(card.join("vmlinuz"), "kernel 1").unwrap();
    fs::write(card.join("initrd.img"), "initrd 1").unwrap();
    fs::write(card.join("flashroot.kver"), format!("{OLD_KVER}\n")).unwrap();
    fs::write(boot.join(format!("vmlinuz-{NEW_KVER}")), "kernel 2").unwrap();
    let args_log = dir.path().join("flashroot-args");
    let fake = dir.path().join("fake-flashroot");
    let status = if fake_build_fails { 3 } else { 0 };
    // Writes "initrd for <kver>" to the -o file, like a real build would write an archive.
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nkver=\nout=\n\
             while [ $# -gt 0 ]; do case \"$1\" in --kver) kver=$2; shift;; -o) out=$2; shift;; esac; shift; done\n\
             echo \"initrd for $kver\" > \"$out\"\nexit {status}\n",
            args_log.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flashroot"))
        .arg("install-hook")
        .arg("--root")
        .arg(&root)
        .arg("--card")
        .arg(&card)
        .arg("--flashroot")
        .arg(&fake)
        .arg("--config")
        .arg(dir.path().join("no-such-config.toml"))
        .args(install_args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Machine {
        _dir: dir,
        root,
        card,
        boot,
        args_log,
    }
}

/// Runs the postinst.d hooks as Debian's kernel packages do.
fn upgrade(m: &Machine, kver: &str) -> Output {
    Command::new("run-parts")
        .arg("--report")
        .arg(format!("--arg={kver}"))
        .arg(format!(
            "--arg={}",
            m.boot.join(format!("vmlinuz-{kver}")).display()
        ))
        .arg(m.root.join("etc/kernel/postinst.d"))
        .output()
        .expect("run-parts (Debian package debianutils) is needed to run the hook as Debian does")
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn card_files(card: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(card)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn installed_hook_is_executable_and_bakes_its_settings() {
    let m = machine(false);
    let hook = m.root.join("etc/kernel/postinst.d/zz-flashroot");
    let mode = fs::metadata(&hook).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    let script = fs::read_to_string(&hook).unwrap();
    assert!(script.starts_with("#!/bin/sh\n"), "{script}");
    assert!(
        script.contains(&format!("CARD='{}'\n", m.card.display())),
        "{script}"
    );
}

#[test]
fn upgrade_installs_new_pair_and_keeps_previous() {
    let m = machine(false);
    let out = upgrade(&m, NEW_KVER);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read(&m.card, "vmlinuz"), "kernel 2");
    assert_eq!(
        read(&m.card, "initrd.img"),
        format!("initrd for {NEW_KVER}\n")
    );
    assert_eq!(read(&m.card, "vmlinuz.old"), "kernel 1");
    assert_eq!(read(&m.card, "initrd.old.img"), "initrd 1");
    assert_eq!(read(&m.card, "flashroot.kver"), format!("{NEW_KVER}\n"));
    assert_eq!(read(&m.card, "flashroot.kver.old"), format!("{OLD_KVER}\n"));
    assert_eq!(
        card_files(&m.card),
        [
            "flashroot.kver",
            "flashroot.kver.old",
            "initrd.img",
            "initrd.old.img",
            "vmlinuz",
            "vmlinuz.old"
        ],
        "no partial files may remain"
    );
    let card = m.card.display();
    assert_eq!(
        fs::read_to_string(&m.args_log).unwrap(),
        format!("build --kver {NEW_KVER} -o {card}/initrd.img.flashroot-new\n"),
        "the config file does not exist, so no -c"
    );
    assert!(
        stdout.contains(&format!(
            "flashroot kernel hook: {card} boots {NEW_KVER}; previous: {OLD_KVER}"
        )),
        "{stdout}"
    );

    // Reinstalling the same version (dpkg-reconfigure) must not push the previous pair out.
    fs::write(
        m.boot.join(format!("vmlinuz-{NEW_KVER}")),
        "kernel 2 rebuilt",
    )
    .unwrap();
    let again = upgrade(&m, NEW_KVER);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(read(&m.card, "vmlinuz"), "kernel 2 rebuilt");
    assert_eq!(read(&m.card, "vmlinuz.old"), "kernel 1");
    assert_eq!(read(&m.card, "flashroot.kver.old"), format!("{OLD_KVER}\n"));
}

#[test]
fn failed_build_leaves_the_card_unchanged() {
    let m = machine(true);
    let before: Vec<(String, String)> = card_files(&m.card)
        .into_iter()
        .map(|n| (n.clone(), read(&m.card, &n)))
        .collect();
    let out = upgrade(&m, NEW_KVER);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("flashroot kernel hook: `")
            && stderr.contains("failed; the card is unchanged"),
        "{stderr}"
    );
    let after: Vec<(String, String)> = card_files(&m.card)
        .into_iter()
        .map(|n| (n.clone(), read(&m.card, &n)))
        .collect();
    assert_eq!(after, before);
}

#[test]
fn missing_card_is_named() {
    let m = machine(false);
    fs::remove_dir_all(&m.card).unwrap();
    let out = upgrade(&m, NEW_KVER);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "flashroot kernel hook: card directory {} is missing (is the card mounted?)",
            m.card.display()
        )),
        "{stderr}"
    );
    assert!(!m.args_log.exists(), "no build without a card");
}

#[test]
fn install_binary_puts_flashroot_into_the_root_for_the_hook() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let out = Command::new(env!("CARGO_BIN_EXE_flashroot"))
        .arg("install-hook")
        .arg("--root")
        .arg(&root)
        .args(["--card", "/run/flashroot/card", "--install-binary"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = root.join("usr/local/bin/flashroot");
    assert_eq!(
        fs::read(&installed).unwrap(),
        fs::read(env!("CARGO_BIN_EXE_flashroot")).unwrap()
    );
    let script = read(&root.join("etc/kernel/postinst.d"), "zz-flashroot");
    assert!(
        script.contains("FLASHROOT='/usr/local/bin/flashroot'\nCARD='/run/flashroot/card'\nCONFIG='/etc/flashroot/flashroot.toml'\n"),
        "{script}"
    );
}

#[test]
fn a_host_only_hook_builds_host_only() {
    for (args, expected) in [(&["--host-only"][..], true), (&[][..], false)] {
        let m = machine_with(false, args);
        let out = upgrade(&m, NEW_KVER);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let build = read(m.args_log.parent().unwrap(), "flashroot-args");
        assert_eq!(build.contains("--host-only"), expected, "{args:?}: {build}");
        assert!(
            build.starts_with(&format!("build --kver {NEW_KVER} -o ")),
            "{build}"
        );
    }
}
