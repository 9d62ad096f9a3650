//! The cached Debian root that the Debian boot tests start from: `debootstrap
//! --variant=minbase --include=systemd-sysv,udev bookworm` from the machine's own apt
//! mirror, made once and cached under `${XDG_CACHE_HOME:-~/.cache}/flashroot/debootstrap/`.
//! Shared by debian_boot, debian_user, power_cut and wear (each also includes flashboot),
//! with the card, boot and step-probe helpers of the Debian boot tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flashroot::card::{self, BootConfig, ImageOptions, Payload};
use flashroot::disk::FatDiskReport;
use flashroot_config::Config;
use flashroot_qemu::{boot, BootOptions, Disk, DiskInterface, Kernel, Outcome};

use crate::flashboot::{initramfs, FAIL_FAST};

pub const SUITE: &str = "bookworm";
/// Where apt's sources live: the machine's own mirror is the one debootstrap uses.
pub const APT_SOURCES: [&str; 2] = ["/etc/apt/sources.list.d", "/etc/apt/sources.list"];
pub const VARIANT: &str = "minbase";
/// udev: without it systemd never sees device units such as dev-ttyS0.device, and the
/// serial getty holds multi-user.target back for its 90 s job timeout.
pub const INCLUDE: &str = "systemd-sysv,udev";
/// Cache entry name: everything that changes the tree.
pub const CACHE_ENTRY: &str = "bookworm-minbase-systemd-sysv-udev";
pub const COMPLETE_MARKER: &str = ".flashroot-complete";
/// The root's JFFS2 container and the card holding it: the minbase tree compresses to
/// about 87 MiB; the rest stays free for the kernel's write reserve and the system's own
/// writes.
pub const CONTAINER_BYTES: u64 = 192 << 20;
pub const CARD_BYTES: u64 = 256 << 20;

pub fn cache_dir() -> PathBuf {
    flashroot_cache().join("debootstrap")
}

/// `${XDG_CACHE_HOME:-~/.cache}/flashroot`.
fn flashroot_cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME must be set for the debootstrap cache");
    base.join("flashroot")
}

/// The version of `package` installed in `root`, from its dpkg status file.
pub fn installed_version(root: &Path, package: &str) -> String {
    let status = fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    status
        .split("\n\n")
        .find(|stanza| stanza.lines().any(|l| l == format!("Package: {package}")))
        .and_then(|stanza| stanza.lines().find_map(|l| l.strip_prefix("Version: ")))
        .unwrap_or_else(|| panic!("{package} is not installed in {}", root.display()))
        .to_string()
}

/// Debian packages `name=version` downloaded with the host's `apt-get download` (from the
/// mirror debootstrap used) once, cached under `${XDG_CACHE_HOME:-~/.cache}/flashroot/debs/`;
/// returns their paths, in order.
pub fn cached_debs(packages: &[(&str, &str)]) -> Vec<PathBuf> {
    let cache = flashroot_cache().join("debs");
    fs::create_dir_all(&cache).unwrap();
    packages
        .iter()
        .map(|(name, version)| {
            // apt-get names the file name_version_arch.deb, the epoch's colon as %3a.
            let prefix = format!("{name}_{}_", version.replace(':', "%3a"));
            let cached = |dir: &Path| {
                fs::read_dir(dir).unwrap().find_map(|e| {
                    let path = e.unwrap().path();
                    let file = path.file_name()?.to_string_lossy().into_owned();
                    (file.starts_with(&prefix) && file.ends_with(".deb")).then_some(path)
                })
            };
            if let Some(deb) = cached(&cache) {
                return deb;
            }
            let partial = cache.join(format!(".partial-{}", std::process::id()));
            fs::create_dir_all(&partial).unwrap();
            let out = Command::new("apt-get")
                .current_dir(&partial)
                .arg("download")
                .arg(format!("{name}={version}"))
                .output()
                .expect("apt-get (Debian package apt) downloads the test's packages");
            assert!(
                out.status.success(),
                "apt-get download {name}={version} failed ({}); the tree's version must be \
                 in the host's apt lists (apt-get update):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            let downloaded = cached(&partial).unwrap_or_else(|| {
                panic!("apt-get download {name}={version} made no {prefix}*.deb")
            });
            let deb = cache.join(downloaded.file_name().unwrap());
            fs::rename(&downloaded, &deb).unwrap();
            let _ = fs::remove_dir_all(&partial);
            deb
        })
        .collect()
}

/// The Debian archive this machine's apt uses for SUITE (deb822 `.sources` files or
/// one-line `sources.list` entries), so the test fetches from where apt already does.
pub fn apt_mirror() -> String {
    let mut files: Vec<PathBuf> = Vec::new();
    for source in APT_SOURCES {
        let path = Path::new(source);
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(path)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            entries.sort();
            files.extend(entries);
        } else if path.is_file() {
            files.push(path.to_path_buf());
        }
    }
    for file in &files {
        let text = fs::read_to_string(file).unwrap_or_default();
        let name = file.to_string_lossy();
        let found = if name.ends_with(".sources") {
            deb822_mirror(&text)
        } else if name.ends_with(".list") {
            one_line_mirror(&text)
        } else {
            None
        };
        if let Some(mirror) = found {
            return mirror;
        }
    }
    panic!("no apt source for {SUITE} main in {APT_SOURCES:?}; debootstrap needs a Debian archive")
}

/// `URIs:` of the first stanza whose `Suites:` include SUITE and `Components:` main.
pub fn deb822_mirror(text: &str) -> Option<String> {
    text.split("\n\n").find_map(|stanza| {
        let field = |key: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        };
        let suites = field("Suites:")?;
        let components = field("Components:")?;
        let enabled = field("Enabled:").is_none_or(|v| v != "no");
        (enabled
            && suites.split_whitespace().any(|s| s == SUITE)
            && components.split_whitespace().any(|c| c == "main"))
        .then(|| field("URIs:"))?
        .and_then(|uris| uris.split_whitespace().next().map(str::to_string))
    })
}

/// The URL of the first `deb URL SUITE ... main` line.
pub fn one_line_mirror(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace().filter(|w| !w.starts_with('['));
        (words.next()? == "deb").then_some(())?;
        let url = words.next()?;
        let suite = words.next()?;
        (suite == SUITE && words.any(|c| c == "main")).then(|| url.to_string())
    })
}

/// The cached debootstrap tree, made on first use. Concurrent first runs each build into
/// their own partial directory; the first rename wins and the others use its result.
pub fn debootstrap_root() -> PathBuf {
    let entry = cache_dir().join(CACHE_ENTRY);
    if entry.join(COMPLETE_MARKER).is_file() {
        return entry.join("root");
    }
    fs::create_dir_all(cache_dir()).unwrap();
    let partial = cache_dir().join(format!("{CACHE_ENTRY}.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    let mirror = apt_mirror();
    let started = Instant::now();
    let out = Command::new("debootstrap")
        .arg(format!("--variant={VARIANT}"))
        .arg(format!("--include={INCLUDE}"))
        .arg(SUITE)
        .arg(partial.join("root"))
        .arg(&mirror)
        .output()
        .expect("debootstrap (Debian package debootstrap; run as root) makes the Debian root");
    assert!(
        out.status.success(),
        "debootstrap {SUITE} failed ({}); it needs root and {mirror}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(
        partial.join(COMPLETE_MARKER),
        format!("{SUITE} {VARIANT} {INCLUDE}\n"),
    )
    .unwrap();
    if fs::rename(&partial, &entry).is_err() {
        // Another run finished first.
        let _ = fs::remove_dir_all(&partial);
    }
    eprintln!(
        "debootstrap {SUITE} took {:.1} s (cached in {})",
        started.elapsed().as_secs_f64(),
        entry.display()
    );
    entry.join("root")
}

/// The cached root prepared in `prepared` as `flashroot import-root` does with `config`,
/// made for workloads that install local packages only: the mirror's package lists
/// (50 MB, minutes of apt's time under TCG) and debootstrap's downloaded .debs (which
/// only fill the container) are removed, so apt never needs `apt-get update`.
pub fn imported_offline_root(prepared: &Path, config: &flashroot_config::Config) -> PathBuf {
    let (root, _) = flashroot::rootprep::import(
        &debootstrap_root(),
        flashroot::rootprep::Target::Copy(prepared),
        config,
    )
    .expect("the Debian root imports");
    for dir in ["var/lib/apt/lists", "var/cache/apt/archives"] {
        remove_files_in(&root.join(dir));
    }
    root
}

/// Removes the regular files directly in `dir` (not its subdirectories).
fn remove_files_in(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::remove_file(entry.path()).unwrap();
        }
    }
}

/// The packages, `(name, version)`, that `apt-get install wanted...` adds to `root`: the
/// host's apt (its lists, so its bookworm versions) simulating the install against the
/// root's dpkg status, each package pinned to the version apt picked.
pub fn install_closure(root: &Path, wanted: &[&str]) -> Vec<(String, String)> {
    install_closure_with(root, wanted, &[])
}

/// [`install_closure`] with more of apt-get's options (`--no-install-recommends`).
pub fn install_closure_with(
    root: &Path,
    wanted: &[&str],
    apt_options: &[&str],
) -> Vec<(String, String)> {
    let status = root.join("var/lib/dpkg/status");
    let out = Command::new("apt-get")
        .arg("--simulate")
        .args(apt_options)
        .arg("-o")
        .arg(format!("Dir::State::status={}", status.display()))
        .arg("install")
        .args(wanted)
        .env("LC_ALL", "C")
        .output()
        .expect("apt-get (Debian package apt) resolves the test's packages");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "apt-get --simulate install {wanted:?} against {} failed ({}):\n{text}{}",
        status.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // `Inst name (version release [arch])`, or `Inst name [old] (version ...)` for an upgrade.
    let closure: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let mut words = l.strip_prefix("Inst ")?.split_whitespace();
            let name = words.next()?;
            let version = words.find_map(|w| w.strip_prefix('('))?;
            Some((name.to_string(), version.to_string()))
        })
        .collect();
    for name in wanted {
        assert!(
            closure.iter().any(|(n, _)| n == name),
            "{name} is not among the packages apt would install (already in the tree?):\n{text}"
        );
    }
    closure
}

/// A flat apt repository in `repo` (`deb [trusted=yes] file:<repo> ./`): `debs` copied
/// there, indexed in `Packages` by dpkg-scanpackages.
pub fn local_repository(repo: &Path, debs: &[PathBuf]) {
    fs::create_dir_all(repo).unwrap();
    for deb in debs {
        fs::copy(deb, repo.join(deb.file_name().unwrap()))
            .unwrap_or_else(|e| panic!("{}: {e}", deb.display()));
    }
    let out = Command::new("dpkg-scanpackages")
        .args(["--multiversion", "."])
        .current_dir(repo)
        .output()
        .expect("dpkg-scanpackages (Debian package dpkg-dev) indexes the local repository");
    assert!(
        out.status.success(),
        "dpkg-scanpackages in {} failed ({}):\n{}",
        repo.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let index = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        index.matches("\nFilename: ").count() + usize::from(index.starts_with("Filename: ")),
        debs.len(),
        "dpkg-scanpackages indexed not every package of {}:\n{index}",
        repo.display()
    );
    fs::write(repo.join("Packages"), index).unwrap();
}

/// Builds package `name` `version` into `out_dir` with dpkg-deb (`work` holds its tree):
/// `files` as /usr/share/<name>/00, 01, ..., and a postinst that records the version it
/// configured in /var/lib/<name>/configured.
pub fn build_package(name: &str, version: &str, files: &[Vec<u8>], work: &Path, out_dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let tree = work.join(format!("{name}-{version}"));
    let data = tree.join("usr/share").join(name);
    fs::create_dir_all(&data).unwrap();
    fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: flashroot \
             tests <tests@flashroot.invalid>\nDescription: flashroot test package\n"
        ),
    )
    .unwrap();
    let postinst = tree.join("DEBIAN/postinst");
    fs::write(
        &postinst,
        format!(
            "#!/bin/sh\nset -e\nmkdir -p /var/lib/{name}\necho {version} > /var/lib/{name}/configured\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&postinst, fs::Permissions::from_mode(0o755)).unwrap();
    for (i, bytes) in files.iter().enumerate() {
        fs::write(data.join(format!("{i:02}")), bytes).unwrap();
    }
    let deb = out_dir.join(format!("{name}_{version}_all.deb"));
    let out = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&tree)
        .arg(&deb)
        .output()
        .expect("dpkg-deb (Debian package dpkg) builds the test package");
    assert!(out.status.success(), "dpkg-deb failed: {out:?}");
}

/// `root` as a JFFS2 container at `image`, by flashroot's writer: 64 KiB erase blocks,
/// padded to [`CONTAINER_BYTES`].
pub fn container_image(root: &Path, image: &Path) -> flashroot::jffs2::Report {
    flashroot::jffs2::write_image(
        root,
        image,
        &flashroot::jffs2::Options {
            erase_size: 64 << 10,
            pad_to: Some(CONTAINER_BYTES),
            ..Default::default()
        },
    )
    .expect("JFFS2 image of the Debian root")
}

/// Guest memory of a Debian boot.
pub const MEMORY_MIB: u32 = 1024;
/// The serial getty that Debian starts on the console: its vhangup() of ttyS0 would cut
/// a probe's output (and with it the probe) midway. Masked by probes that print a lot.
pub const SERIAL_GETTY: &str = "serial-getty@ttyS0.service";

/// A probe that runs steps once multi-user.target is reached, with the console to itself.
pub struct StepProbeSpec<'a> {
    /// Starts each line it prints.
    pub marker: &'a str,
    /// The unit's name, e.g. `flashroot-user-probe.service`.
    pub unit: &'a str,
    /// The script's path in the root, without the leading `/`.
    pub script: &'a str,
    pub description: &'a str,
    /// The script after the shared start: `step NAME COMMAND...` runs COMMAND and prints
    /// each line of its output as `MARKER NAME| line`, then `MARKER step=NAME rc=STATUS
    /// uptime=SECONDS`.
    pub body: &'a str,
    /// What runs when the probe has ended, failed or not (ExecStopPost): a poweroff or
    /// a reboot, so that every boot ends.
    pub then: &'a str,
}

/// Installs the probe script and its unit (enabled for multi-user.target), and masks the
/// serial getty.
pub fn install_step_probe(root: &Path, spec: &StepProbeSpec<'_>) {
    use std::os::unix::fs::PermissionsExt;
    let marker = spec.marker;
    let start = format!(
        "#!/bin/sh\n\
         export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         export DEBIAN_FRONTEND=noninteractive\n\
         step() {{\n\
         \x20 name=$1; shift\n\
         \x20 \"$@\" > /run/step-probe.out 2>&1\n\
         \x20 rc=$?\n\
         \x20 sed \"s/^/{marker} $name| /\" /run/step-probe.out\n\
         \x20 read up idle < /proc/uptime\n\
         \x20 echo \"{marker} step=$name rc=$rc uptime=$up\"\n\
         }}\n"
    );
    let script = root.join(spec.script);
    fs::create_dir_all(script.parent().unwrap()).unwrap();
    fs::write(&script, format!("{start}{}", spec.body)).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let unit = format!(
        "[Unit]\nDescription={}\nAfter=multi-user.target\n\n\
         [Service]\nType=oneshot\nTimeoutStartSec=infinity\nStandardOutput=tty\n\
         StandardError=tty\nTTYPath=/dev/ttyS0\nExecStart=/{}\nExecStopPost={}\n\n\
         [Install]\nWantedBy=multi-user.target\n",
        spec.description, spec.script, spec.then
    );
    add_unit(root, spec.unit, &unit);
    mask_serial_getty(root);
}

/// Installs unit `name` with `text` in /etc/systemd/system, enabled for multi-user.target.
pub fn add_unit(root: &Path, name: &str, text: &str) {
    let units = root.join("etc/systemd/system");
    let wants = units.join("multi-user.target.wants");
    fs::create_dir_all(&wants).unwrap();
    fs::write(units.join(name), text).unwrap();
    std::os::unix::fs::symlink(format!("/etc/systemd/system/{name}"), wants.join(name)).unwrap();
}

/// Masks the serial getty (see [`SERIAL_GETTY`]).
pub fn mask_serial_getty(root: &Path) {
    std::os::unix::fs::symlink(
        "/dev/null",
        root.join("etc/systemd/system").join(SERIAL_GETTY),
    )
    .unwrap();
}

/// Boots `image` under QEMU with `initrd` and `cmdline`, within `timeout`.
pub fn boot_card_within(
    kernel: &Kernel,
    initrd: &Path,
    image: &Path,
    cmdline: String,
    timeout: Duration,
) -> Outcome {
    // The card is the whole story; -kernel/-initrd only skip the BIOS and syslinux steps
    // that card_boot covers, so that the time measured is the Debian boot.
    let mut options = BootOptions::new(&kernel.vmlinuz);
    options.initrd = Some(initrd.to_path_buf());
    options.cmdline = cmdline;
    options.disks = vec![Disk::new(image, DiskInterface::Ide)];
    options.memory_mib = MEMORY_MIB;
    options.timeout = timeout;
    boot(&options).expect("QEMU runs")
}

/// A card whose JFFS2 root is `root`, with an initramfs built from a config; made in `dir`.
pub struct DebianCard {
    pub initrd: PathBuf,
    pub image: PathBuf,
    pub boot: BootConfig,
    pub report: FatDiskReport,
    /// The root container's fill.
    pub jffs2: flashroot::jffs2::Report,
}

/// The card of `root` with the initramfs of `config_text` (the config the root was
/// imported with: its RAM directories are the init's).
pub fn debian_card(root: &Path, dir: &Path, kernel: &Kernel, config_text: &str) -> DebianCard {
    let config = Config::parse("test config", config_text).expect("test config parses");
    let rootfs = dir.join("rootfs.img");
    let jffs2 = container_image(root, &rootfs);
    let initrd = dir.join("initrd.img");
    initramfs(kernel, config_text, &initrd);
    let boot = BootConfig {
        root_label: "rootfs".into(),
        trigger: config.trigger.clone(),
        conventional_root: "/dev/sda2".into(),
        append: FAIL_FAST.into(),
        layered: false,
    };
    let image = dir.join("card.img");
    let report = card::write_image(
        &image,
        &ImageOptions {
            size: CARD_BYTES,
            label: "FLASHROOT".into(),
            serial: 0x2026_0601,
        },
        &Payload {
            kernel: kernel.vmlinuz.clone(),
            initrd: initrd.clone(),
            kver: Some(kernel.version.clone()),
            containers: vec![("rootfs.img".into(), rootfs.clone())],
            files: Vec::new(),
            boot: boot.clone(),
        },
    )
    .expect("card image");
    fs::remove_file(&rootfs).unwrap();
    DebianCard {
        initrd,
        image,
        boot,
        report,
        jffs2,
    }
}

/// What a step probe reported in one boot. The probe prints `<MARKER> phase=<n>
/// machine_id=<id> end`, then per step `<MARKER> <name>| <line>` for each output line and
/// `<MARKER> step=<name> rc=<exit status> ...`, and `<MARKER> done` at the end.
pub struct StepProbe {
    pub machine_id: String,
    pub steps: Vec<(String, i32, Vec<String>)>,
}

impl StepProbe {
    pub fn parse(console: &str, marker: &str, log: &Path) -> Self {
        let probe_lines: Vec<&str> = console
            .lines()
            .filter_map(|l| l.strip_prefix(marker).map(str::trim_start))
            .collect();
        assert!(
            probe_lines.contains(&"done"),
            "the probe {marker} did not finish; console in {}",
            log.display()
        );
        let machine_id = probe_lines
            .iter()
            .find_map(|l| l.strip_prefix("phase="))
            .and_then(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("machine_id="))
            })
            .unwrap_or_else(|| panic!("no machine_id line; console in {}", log.display()))
            .to_string();
        let mut steps = Vec::new();
        for line in &probe_lines {
            let Some(rest) = line.strip_prefix("step=") else {
                continue;
            };
            let (name, rest) = rest.split_once(" rc=").expect("step=<name> rc=<n>");
            let rc = rest.split_whitespace().next().unwrap_or_default();
            let prefix = format!("{name}| ");
            let output = probe_lines
                .iter()
                .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
                .collect();
            steps.push((name.to_string(), rc.trim().parse().unwrap(), output));
        }
        StepProbe { machine_id, steps }
    }

    /// The output of step `name`, which must have exited 0.
    pub fn ok(&self, name: &str, log: &Path) -> &[String] {
        let (_, rc, output) = self
            .steps
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no step {name}; console in {}", log.display()));
        assert_eq!(
            *rc,
            0,
            "step {name} failed:\n{}\nconsole in {}",
            output.join("\n"),
            log.display()
        );
        output
    }
}
