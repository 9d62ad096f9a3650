//! Issue #12: `flashroot import-root` on a small Debian-like tree with a real dpkg database
//! (packages installed into it by the host's `dpkg --root`): `localedef` is diverted in
//! the tree's own database and wrapped, `/etc/machine-id` is emptied, a systemd root
//! without D-Bus gets a warning, and every change is in the report. The host's dpkg is the
//! oracle: `dpkg-divert --admindir` lists the diversion, and `dpkg --root` upgrading the
//! package that ships `localedef` leaves the wrapper in place.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use flashroot::rootprep::locale::{LOCALEDEF_DIVERTED, LOCALEDEF_WRAPPER};
use flashroot::rootprep::{self, Change, Target};
use flashroot_config::Config;
use walkdir::WalkDir;

/// The tree's machine ID, as debootstrap leaves it (newline included).
const OLD_MACHINE_ID: &str = "ce9d9c8271064cfb8897f7059f5640bf\n";
/// The fake libc-bin's localedef: prints its version and arguments, one per bracket.
fn fake_localedef(version: &str) -> String {
    format!("#!/bin/sh\nprintf 'localedef {version}'; printf ' [%s]' \"$@\"; echo\n")
}

/// Runs `command`, panicking with its output unless it succeeds; returns its stdout.
fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?} (Debian package dpkg): {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Builds a package `name` `version` with `files` (inside path, content, mode) into
/// `work` and installs it into `root` with the host's `dpkg --root`.
fn dpkg_install(root: &Path, work: &Path, name: &str, version: &str, files: &[(&str, &str, u32)]) {
    let tree = work.join(format!("{name}-{version}"));
    fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: flashroot \
             tests <tests@flashroot.invalid>\nDescription: flashroot test package\n"
        ),
    )
    .unwrap();
    for (inner, text, mode) in files {
        let path = tree.join(inner.trim_start_matches('/'));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).unwrap();
    }
    let deb = work.join(format!("{name}_{version}_all.deb"));
    run(Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&tree)
        .arg(&deb));
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .arg("-i")
        .arg(&deb));
}

/// What the import must handle in a Debian root:
fn fixture(root: &Path, work: &Path, with_dbus: bool) {
    for dir in [
        "usr/bin",
        "usr/lib/systemd",
        "etc",
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
    ] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    // The /usr merge, as in bookworm.
    symlink("usr/bin", root.join("bin")).unwrap();
    symlink("usr/lib", root.join("lib")).unwrap();
    fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    // A diversion debootstrap's dash makes, which ours must not disturb.
    fs::write(
        root.join("var/lib/dpkg/diversions"),
        "/bin/sh\n/bin/sh.distrib\ndash\n",
    )
    .unwrap();
    dpkg_install(
        root,
        work,
        "libc-bin",
        "1.0",
        &[("/usr/bin/localedef", &fake_localedef("1.0"), 0o755)],
    );
    fs::write(root.join("usr/lib/systemd/systemd"), "").unwrap();
    let machine_id = root.join("etc/machine-id");
    fs::write(&machine_id, OLD_MACHINE_ID).unwrap();
    fs::set_permissions(&machine_id, fs::Permissions::from_mode(0o444)).unwrap();
    if with_dbus {
        fs::write(root.join("usr/bin/dbus-daemon"), "").unwrap();
        fs::create_dir_all(root.join("var/lib/dbus")).unwrap();
        fs::write(root.join("var/lib/dbus/machine-id"), OLD_MACHINE_ID).unwrap();
    }
}

/// Every path with its type, mode and content (or link target).
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let meta = e.path().symlink_metadata().unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", fs::read_link(e.path()).unwrap().display())
            } else if meta.is_file() {
                format!("{:?}", fs::read(e.path()).unwrap())
            } else {
                "dir".into()
            };
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            (rel, format!("{:o} {what}", meta.permissions().mode()))
        })
        .collect()
}

/// The report's lines from the first one about `/usr/bin/localedef` on: the Debian steps.
fn debian_lines(report: &rootprep::Report) -> Vec<String> {
    let lines: Vec<String> = report.changes.iter().map(|c| c.to_string()).collect();
    let first = lines
        .iter()
        .position(|l| l.contains("/usr/bin/localedef"))
        .unwrap_or_else(|| panic!("no line about /usr/bin/localedef:\n{report}"));
    lines[first..].to_vec()
}

/// `dpkg-divert --list` of the tree's database, sorted.
fn diversions(root: &Path) -> Vec<String> {
    let out = run(Command::new("dpkg-divert")
        .env("LC_ALL", "C")
        .arg("--admindir")
        .arg(root.join("var/lib/dpkg"))
        .arg("--list"));
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

const LOCALEDEF_LINES: [&str; 2] = [
    "diverted /usr/bin/localedef to /usr/bin/localedef.distrib (dpkg-divert --local --rename: \
     package upgrades install there and leave /usr/bin/localedef alone)",
    "wrote /usr/bin/localedef (mode 0755; runs the real localedef with --no-archive: each \
     locale becomes a directory under /usr/lib/locale, as JFFS2 cannot map locale-archive \
     shared and writable)",
];
const MACHINE_ID_LINE: &str = "emptied /etc/machine-id: removed 33 bytes (systemd writes a new \
     machine ID into it at first boot, so no two cards made from this root share one)";
const DBUS_WARNING: &str = "this systemd root has no D-Bus system bus (neither \
     /usr/bin/dbus-daemon nor /usr/bin/dbus-broker): hostnamectl, timedatectl, localectl and \
     loginctl fail until package dbus is installed (apt-get install dbus) and the system \
     rebooted";

#[test]
fn debian_root_gets_the_locale_wrapper_an_empty_machine_id_and_a_dbus_warning() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("debootstrap");
    let dest = work.path().join("flash");
    fixture(&source, work.path(), false);
    let before = snapshot(&source);

    let (root, report) =
        rootprep::import(&source, Target::Copy(&dest), &Config::embedded_default()).unwrap();

    assert_eq!(snapshot(&source), before, "the source must not change");
    let warning = format!("warning: {DBUS_WARNING}");
    assert_eq!(
        debian_lines(&report),
        [
            LOCALEDEF_LINES[0],
            LOCALEDEF_LINES[1],
            MACHINE_ID_LINE,
            &warning
        ],
        "report:\n{report}"
    );
    assert_eq!(report.warnings().collect::<Vec<_>>(), [DBUS_WARNING]);
    assert!(!report
        .modifications()
        .any(|c| matches!(c, Change::Warning(_))));

    // The wrapper in place, the real localedef beside it, both executable.
    let bin = root.join("usr/bin");
    assert_eq!(
        fs::read_to_string(bin.join("localedef")).unwrap(),
        LOCALEDEF_WRAPPER
    );
    assert_eq!(mode(&bin.join("localedef")), 0o755);
    assert_eq!(
        fs::read_to_string(root.join(LOCALEDEF_DIVERTED.trim_start_matches('/'))).unwrap(),
        fake_localedef("1.0")
    );
    let leftovers: Vec<String> = fs::read_dir(&bin)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // dpkg knows the diversion, next to dash's.
    assert_eq!(
        diversions(&root),
        [
            "diversion of /bin/sh to /bin/sh.distrib by dash",
            "local diversion of /usr/bin/localedef to /usr/bin/localedef.distrib",
        ]
    );

    // The machine ID: present, empty, still read-only.
    let machine_id = root.join("etc/machine-id");
    assert_eq!(fs::read(&machine_id).unwrap(), b"");
    assert_eq!(mode(&machine_id), 0o444);
    assert!(!root.join("var/lib/dbus").exists());
}

#[test]
fn the_wrapper_is_posix_sh_and_passes_every_argument_after_no_archive() {
    let work = tempfile::tempdir().unwrap();
    let real = work.path().join("localedef.distrib");
    fs::write(&real, fake_localedef("1.0")).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o755)).unwrap();
    // The same wrapper, pointed at this fake instead of the root's real one.
    let wrapper = work.path().join("localedef");
    fs::write(
        &wrapper,
        LOCALEDEF_WRAPPER.replace(LOCALEDEF_DIVERTED, &real.display().to_string()),
    )
    .unwrap();
    for shell in ["dash", "sh"] {
        run(Command::new(shell).arg("-n").arg(&wrapper));
        let out = run(Command::new(shell).arg(&wrapper).args([
            "-i",
            "de_DE",
            "-f",
            "UTF-8",
            "a name with spaces",
        ]));
        assert_eq!(
            out, "localedef 1.0 [--no-archive] [-i] [de_DE] [-f] [UTF-8] [a name with spaces]\n",
            "{shell}"
        );
    }
}

#[test]
fn an_upgrade_of_the_package_owning_localedef_keeps_the_wrapper() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    fixture(&root, work.path(), false);
    rootprep::import(&root, Target::InPlace, &Config::embedded_default()).unwrap();

    dpkg_install(
        &root,
        work.path(),
        "libc-bin",
        "2.0",
        &[("/usr/bin/localedef", &fake_localedef("2.0"), 0o755)],
    );
    assert_eq!(
        fs::read_to_string(root.join("usr/bin/localedef")).unwrap(),
        LOCALEDEF_WRAPPER,
        "dpkg must leave the wrapper alone"
    );
    assert_eq!(
        fs::read_to_string(root.join("usr/bin/localedef.distrib")).unwrap(),
        fake_localedef("2.0"),
        "the new localedef goes to the diverted name"
    );
    let status = fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    assert!(status.contains("Package: libc-bin\n"), "{status}");
    assert!(status.contains("Version: 2.0\n"), "{status}");
}

#[test]
fn second_import_of_a_debian_root_changes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("src");
    let dest = work.path().join("flash");
    fixture(&source, work.path(), false);
    let config = Config::embedded_default();
    rootprep::import(&source, Target::Copy(&dest), &config).unwrap();
    let prepared = snapshot(&dest);

    let (_, report) = rootprep::import(&dest, Target::InPlace, &config).unwrap();
    let changed: Vec<&Change> = report.modifications().collect();
    assert!(changed.is_empty(), "got {changed:?}");
    assert_eq!(
        debian_lines(&report),
        [
            "kept /usr/bin/localedef: already flashroot's wrapper adding --no-archive".to_string(),
            "kept /etc/machine-id: already empty: systemd writes a new machine ID into it at first boot"
                .into(),
            format!("warning: {DBUS_WARNING}"),
        ]
    );
    assert_eq!(snapshot(&dest), prepared);
}

#[test]
fn a_copied_dbus_machine_id_becomes_a_symlink_and_dbus_silences_the_warning() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    fixture(&root, work.path(), true);
    let (_, report) =
        rootprep::import(&root, Target::InPlace, &Config::embedded_default()).unwrap();
    assert_eq!(
        debian_lines(&report)[2..],
        [
            MACHINE_ID_LINE,
            "replaced /var/lib/dbus/machine-id (a file) with a symlink to /etc/machine-id",
            "kept /usr/bin/dbus-daemon: the D-Bus system bus that hostnamectl and timedatectl need",
        ],
        "report:\n{report}"
    );
    assert_eq!(report.warnings().count(), 0);
    assert_eq!(
        fs::read_link(root.join("var/lib/dbus/machine-id")).unwrap(),
        Path::new("/etc/machine-id")
    );
}

#[test]
fn a_systemd_root_without_machine_id_gets_an_empty_one() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    fixture(&root, work.path(), false);
    fs::remove_file(root.join("etc/machine-id")).unwrap();
    let (_, report) =
        rootprep::import(&root, Target::InPlace, &Config::embedded_default()).unwrap();
    assert_eq!(
        debian_lines(&report)[2],
        "wrote /etc/machine-id (mode 0444; empty: systemd writes a new machine ID into it at \
         first boot; a missing one would also start its first-boot mode)"
    );
    assert_eq!(fs::read(root.join("etc/machine-id")).unwrap(), b"");
    assert_eq!(mode(&root.join("etc/machine-id")), 0o444);
}

#[test]
fn a_machine_id_symlink_is_an_error_naming_it() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    fixture(&root, work.path(), false);
    fs::remove_file(root.join("etc/machine-id")).unwrap();
    symlink("/run/machine-id", root.join("etc/machine-id")).unwrap();
    let err = rootprep::import(&root, Target::InPlace, &Config::embedded_default()).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        format!(
            "preparing root {}: /etc/machine-id must be a regular file (systemd writes the new \
             machine ID into it), but it is a symlink to /run/machine-id",
            root.display()
        )
    );
}

#[test]
fn localedef_diverted_by_a_package_is_an_error_naming_it() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    fixture(&root, work.path(), false);
    run(Command::new("dpkg-divert")
        .arg("--root")
        .arg(&root)
        .args(["--package", "other", "--divert", "/usr/bin/localedef.other"])
        .args(["--rename", "--add", "/usr/bin/localedef"]));
    let err = rootprep::import(&root, Target::InPlace, &Config::embedded_default()).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        format!(
            "preparing root {r}: /usr/bin/localedef in {r} is already diverted to \
             /usr/bin/localedef.other by other; flashroot needs a local diversion to \
             /usr/bin/localedef.distrib (dpkg-divert --root {r} --list /usr/bin/localedef)",
            r = root.display()
        )
    );
}

#[test]
fn a_wrapper_without_its_diversion_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    fixture(&root, work.path(), false);
    fs::write(root.join("usr/bin/localedef"), LOCALEDEF_WRAPPER).unwrap();
    let err = rootprep::import(&root, Target::InPlace, &Config::embedded_default()).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        format!(
            "preparing root {r}: /usr/bin/localedef in {r} is flashroot's wrapper, but dpkg \
             records no diversion of it, so the real program is gone; reinstall its package, \
             then import again",
            r = root.display()
        )
    );
    assert_eq!(
        diversions(&root),
        ["diversion of /bin/sh to /bin/sh.distrib by dash"]
    );
}

#[test]
fn cli_counts_the_warning() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("src");
    let dest = work.path().join("out");
    fixture(&source, work.path(), false);
    let output = Command::new(env!("CARGO_BIN_EXE_flashroot"))
        .arg("import-root")
        .arg(&source)
        .arg("-o")
        .arg(&dest)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("warning: {DBUS_WARNING}\n")),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(&format!(
            "flash-ready root: {} (19 changes, 1 warning)\n",
            dest.display()
        )),
        "{stdout}"
    );
}
