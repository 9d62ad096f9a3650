//! Issue #12, first "Done when": the imported Debian root, booted from a card made with
//! the default config (plus one RAM directory for a database), used as a person would.
//!
//! Boot 1 points apt at a local repository on the root (`deb [trusted=yes] file:/srv/repo
//! ./`, .debs fetched on the host at the versions its apt offers for bookworm), runs
//! `apt-get update` and installs a test package, `locales` (then `locale-gen` for
//! en_US.UTF-8), man-db and sqlite3; asks `whatis ls`; opens an SQLite database in WAL
//! mode in the RAM directory [`DB_DIR`]; logs a marker to the journal; and reboots through
//! systemd. Boot 2, from the same card, finds the package, the locale, the database row,
//! the marker in `journalctl -b -1`, and a machine ID made on the card, not the tree's.
//! Every check is on what the guest's probe prints, step by step, on the console.

use flashroot_tests::debian_root;
use flashroot_tests::flashboot;

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use debian_root::StepProbe;
use flashboot::kernel;
use flashroot_config::{Config, DEFAULT_TOML};
use flashroot_qemu::Ending;

/// The RAM directory the test adds to the default config: SQLite's WAL index (`-shm`) is a
/// shared writable mapping, which JFFS2 refuses.
const DB_DIR: &str = "/var/lib/flashroot-test-db";
const DB_RAMDIR_TOML: &str = r#"
[[ramdir]]
# The test's SQLite database in WAL mode.
path = "/var/lib/flashroot-test-db"
save_minutes = 60
"#;
/// The local package the user installs from the repository.
const PACKAGE: &str = "flashroot-user-test";
const PACKAGE_VERSION: &str = "1.0";
/// What the user installs from the repository besides [`PACKAGE`] (their dependencies
/// that the minbase tree lacks come along).
const DEBIAN_PACKAGES: [&str; 3] = ["locales", "man-db", "sqlite3"];
/// Where the repository sits on the root, and its apt source.
const REPO_DIR: &str = "srv/repo";
const APT_SOURCE: &str = "deb [trusted=yes] file:/srv/repo ./";
/// man-db's complaint when its index cache sits on JFFS2.
const MANDB_FAILURE: &str = "can't create index cache";
const PROBE: &str = "USER-PROBE";
const PROBE_UNIT: &str = "flashroot-user-probe.service";
const PROBE_PATH: &str = "usr/local/sbin/flashroot-user-probe";
/// On the kernel command line: which boot this is.
const PHASE_WORD: &str = "flashroot.test.user";
/// Boot 1 installs five packages and compiles a locale under TCG; boot 2 only looks.
const FIRST_BOOT_TIMEOUT: Duration = Duration::from_secs(1800);
const SECOND_BOOT_TIMEOUT: Duration = Duration::from_secs(900);
/// When the probe is done, boot 1 reboots and boot 2 powers off.
const THEN: &str = r#"/bin/sh -c 'if grep -qw flashroot.test.user=1 /proc/cmdline; then systemctl --no-block reboot; else systemctl --no-block poweroff; fi'"#;
/// The probe's steps (see [`debian_root::StepProbeSpec`]).
const PROBE_SCRIPT: &str = r#"apt_install() { apt-get install -y -q -o Dpkg::Use-Pty=0 "$@"; }
phase=$(sed -n 's/.*flashroot\.test\.user=\([0-9]\).*/\1/p' /proc/cmdline)
echo "USER-PROBE phase=$phase machine_id=$(cat /etc/machine-id) end"
if [ "$phase" = 1 ]; then
  step sources sh -c 'echo "@SOURCE@" > /etc/apt/sources.list'
  step apt-update apt-get update
  step install-package apt_install @PACKAGE@
  step install-locales apt_install locales
  step enable-locale sed -i 's/^# *\(en_US.UTF-8 UTF-8\)$/\1/' /etc/locale.gen
  step locale-gen locale-gen
  step man-cache stat -c '%U:%G %a' /var/cache/man
  step install-man-db apt_install man-db
  step install-sqlite3 apt_install sqlite3
  step db-dir mkdir -p @DB_DIR@
  step wal sqlite3 @DB_DIR@/notes.db "pragma journal_mode=wal; create table notes(body text); insert into notes values('@MARKER@');"
  step journal logger -t flashroot-user @MARKER@
  step journal-sync journalctl --sync
  step journal-now journalctl -q -b 0 -o cat -t flashroot-user
else
  step journal-previous journalctl -q -b -1 -o cat -t flashroot-user
fi
step package dpkg-query -W -f '${Status} ${Version}\n' @PACKAGE@
step configured cat /var/lib/@PACKAGE@/configured
step locale-a locale -a
step whatis whatis ls
step db-fs stat -f -c %T @DB_DIR@
step select sqlite3 @DB_DIR@/notes.db "pragma journal_mode; select body from notes;"
sync
echo "USER-PROBE done"
"#;

/// A marker no earlier run left in a journal.
fn unique_marker() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("flashroot-user-{}-{nanos}", std::process::id())
}

#[test]
fn a_user_installs_packages_locales_man_db_and_a_wal_database_and_finds_them_after_a_reboot() {
    let dir = tempfile::tempdir().unwrap();
    let config_text = format!("{DEFAULT_TOML}{DB_RAMDIR_TOML}");
    let config = Config::parse("test config", &config_text).expect("test config parses");
    let kernel = kernel();
    let source = debian_root::debootstrap_root();
    let tree_machine_id = fs::read_to_string(source.join("etc/machine-id")).unwrap();
    let marker = unique_marker();

    // The repository: the test package and the Debian packages with what they need.
    let closure = debian_root::install_closure(&source, &DEBIAN_PACKAGES);
    eprintln!("packages for the local repository: {closure:?}");
    let pinned: Vec<(&str, &str)> = closure
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut debs = debian_root::cached_debs(&pinned);
    let built = dir.path().join("built");
    fs::create_dir_all(&built).unwrap();
    debian_root::build_package(
        PACKAGE,
        PACKAGE_VERSION,
        &[marker.clone().into_bytes()],
        dir.path(),
        &built,
    );
    debs.push(built.join(format!("{PACKAGE}_{PACKAGE_VERSION}_all.deb")));

    let prepared = dir.path().join("root");
    let root = debian_root::imported_offline_root(&prepared, &config);
    assert_eq!(fs::read(root.join("etc/machine-id")).unwrap(), b"");
    assert!(
        root.join(&DB_DIR[1..]).is_dir(),
        "import-root made {DB_DIR}"
    );
    debian_root::local_repository(&root.join(REPO_DIR), &debs);
    let script_text = PROBE_SCRIPT
        .replace("@SOURCE@", APT_SOURCE)
        .replace("@PACKAGE@", PACKAGE)
        .replace("@DB_DIR@", DB_DIR)
        .replace("@MARKER@", &marker);
    debian_root::install_step_probe(
        &root,
        &debian_root::StepProbeSpec {
            marker: PROBE,
            unit: PROBE_UNIT,
            script: PROBE_PATH,
            description: "flashroot user probe (issue #12)",
            body: &script_text,
            then: THEN,
        },
    );
    let card = debian_root::debian_card(&root, dir.path(), &kernel, &config_text);
    eprintln!("root container: {}", card.jffs2);
    fs::remove_dir_all(&prepared).unwrap();

    let mut boots = Vec::new();
    for (phase, timeout) in [(1, FIRST_BOOT_TIMEOUT), (2, SECOND_BOOT_TIMEOUT)] {
        let outcome = debian_root::boot_card_within(
            &kernel,
            &card.initrd,
            &card.image,
            format!("{} {PHASE_WORD}={phase}", card.boot.flash_cmdline()),
            timeout,
        );
        let log =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("debian_user-{phase}-console.log"));
        fs::write(&log, &outcome.console).unwrap();
        eprintln!(
            "user boot {phase}: QEMU wall time {:.1} s; console: {}",
            outcome.elapsed.as_secs_f64(),
            log.display()
        );
        let probe = StepProbe::parse(&outcome.console, PROBE, &log);
        if phase == 1 {
            outcome.expect_ending(&Ending::Rebooted);
        } else {
            outcome.expect_powered_off();
        }
        boots.push((probe, outcome.console, log));
    }

    // Boot 1: the user's steps.
    let (first, console, log) = &boots[0];
    first.ok("sources", log);
    first.ok("apt-update", log);
    let installed = first.ok("install-package", log);
    assert!(
        installed
            .iter()
            .any(|l| l.starts_with(&format!("Setting up {PACKAGE} ({PACKAGE_VERSION})"))),
        "apt-get did not set up {PACKAGE}: {installed:?}"
    );
    first.ok("install-locales", log);
    first.ok("enable-locale", log);
    let generated = first.ok("locale-gen", log);
    assert!(
        generated.iter().any(|l| l.contains("en_US.UTF-8... done")),
        "locale-gen did not generate en_US.UTF-8: {generated:?}"
    );
    assert!(
        !generated.iter().any(|l| l.contains("cannot map")),
        "locale-gen hit the archive: {generated:?}"
    );
    // man-db indexes at its own install (as the user `man`, in the cache directory the
    // package ships as man:man), and again at each later install's trigger.
    let cache = first.ok("man-cache", log).join(" ");
    for step in ["install-man-db", "install-sqlite3"] {
        let output = first.ok(step, log);
        let complaints: Vec<&String> = output
            .iter()
            .filter(|l| l.contains(MANDB_FAILURE) || l.contains("Invalid argument"))
            .collect();
        assert!(
            complaints.is_empty(),
            "{step}: man-db could not write its index: {complaints:?} (/var/cache/man before \
             man-db's install: {cache}); console in {}",
            log.display()
        );
    }
    first.ok("db-dir", log);
    assert_eq!(
        first.ok("wal", log),
        ["wal"],
        "SQLite's WAL mode in the RAM directory {DB_DIR}; console in {}",
        log.display()
    );
    first.ok("journal", log);
    first.ok("journal-sync", log);
    assert_eq!(first.ok("journal-now", log), [marker.as_str()]);
    for saved in [DB_DIR, "/var/log", "/var/cache/man"] {
        let line =
            format!("RAM directory {saved} saved (shutdown) to /var/lib/flashroot/ramdir{saved}");
        assert!(
            console.contains(&line),
            "the reboot did not save {saved}: no {line:?}; console in {}",
            log.display()
        );
    }

    // Boot 2: what boot 1 left.
    let (second, console, log) = &boots[1];
    assert_eq!(
        second.ok("journal-previous", log),
        [marker.as_str()],
        "journalctl -b -1 shows boot 1's marker; console in {}",
        log.display()
    );
    let loaded = format!("RAM directory {DB_DIR}: loaded from saved copy");
    assert!(
        console.contains(&loaded),
        "no {loaded:?}; console in {}",
        log.display()
    );

    // Both boots: the user's work is there.
    for (probe, _, log) in &boots {
        assert_eq!(
            probe.ok("package", log),
            [format!("install ok installed {PACKAGE_VERSION}")],
            "console in {}",
            log.display()
        );
        assert_eq!(probe.ok("configured", log), [PACKAGE_VERSION]);
        let locales = probe.ok("locale-a", log);
        assert!(
            locales.iter().any(|l| l == "en_US.utf8"),
            "locale -a lacks en_US.utf8: {locales:?}; console in {}",
            log.display()
        );
        let pages = probe.ok("whatis", log);
        assert!(
            pages.iter().any(|l| l.starts_with("ls (1)")),
            "whatis ls finds no ls(1): {pages:?}; console in {}",
            log.display()
        );
        assert_eq!(
            probe.ok("db-fs", log),
            ["tmpfs"],
            "{DB_DIR} is its RAM directory's tmpfs; console in {}",
            log.display()
        );
        assert_eq!(
            probe.ok("select", log),
            ["wal", marker.as_str()],
            "the database row, in WAL mode; console in {}",
            log.display()
        );
    }

    let id = &boots[0].0.machine_id;
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "machine ID {id:?} on the first boot"
    );
    assert_ne!(
        id.as_str(),
        tree_machine_id.trim(),
        "the card kept the tree's machine ID"
    );
    assert_eq!(
        &boots[1].0.machine_id, id,
        "the machine ID made at first boot must be on the card at the second"
    );
}
