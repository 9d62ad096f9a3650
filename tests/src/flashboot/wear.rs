//! Wear boots: a card booted under QEMU with every guest write traced
//! (`-d trace:blk_co_pwritev`), a busybox workload as the real init, and the trace mapped
//! onto the card's regions by `flashroot::wear`. Shared by the wear test and bench/wear.sh.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flashroot::wear::WearReport;
use flashroot_qemu::{boot, BootOptions, Kernel, Outcome};

use super::*;

/// Applets the workloads need beyond [`super::APPLETS`].
const WORKLOAD_APPLETS: &[&str] = &["sleep", "mv", "rm"];
/// Console markers around the workload; `uptime=` is the guest's seconds since boot.
pub const START: &str = "wear-workload: start";
pub const END: &str = "wear-workload: end";

/// A named workload, run for `seconds` of guest time by a busybox script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// A 100-byte line appended every 0.2 s, a small state file renamed into place every
    /// second: an application keeping a journal and a status.
    Appends,
    /// A service logging 20 lines of ~120 bytes every 0.5 s to a persistent log on the
    /// JFFS2 root (not the /var/log tmpfs), with a `sync` every 5 s.
    Logger,
    /// A Debian root (`init=` [`APT_INIT_PATH`] in place of systemd) where apt-get
    /// installs [`APT_PACKAGES`] from local .debs, upgrades them and purges them, in a loop
    /// while the time lasts (at least once): dpkg's fsyncs, its status database and
    /// apt's logs.
    Apt,
}

/// The local packages of the apt workload (versions 1.0 and 2.0), in [`APT_DIR`].
pub const APT_PACKAGES: [&str; 3] = ["flashroot-wear-a", "flashroot-wear-b", "flashroot-wear-c"];
pub const APT_DIR: &str = "srv/flashroot-wear";
/// The Debian root's workload script, started by `init=/sbin/wear-init`.
pub const APT_INIT_PATH: &str = "sbin/wear-init";

impl Workload {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "appends" => Some(Self::Appends),
            "logger" => Some(Self::Logger),
            "apt" => Some(Self::Apt),
            _ => None,
        }
    }

    /// Whether the workload runs on a Debian root (else on the busybox test root).
    pub fn needs_debian(self) -> bool {
        self == Self::Apt
    }

    /// The /sbin/init script: marker, workload, `sync`, marker, `poweroff -f`.
    pub fn init_script(self, seconds: u32) -> String {
        let body = match self {
            Self::Apt => return apt_script(seconds),
            Self::Appends => format!(
                r#"mkdir -p /var/lib/app
i=0
while [ $i -lt {rounds} ]; do
  printf '%06d %092d\n' $i 0 >> /var/lib/app/journal
  if [ $((i % 5)) -eq 0 ]; then
    echo "state $i" > /var/lib/app/state.new
    mv /var/lib/app/state.new /var/lib/app/state
  fi
  sleep 0.2
  i=$((i + 1))
done"#,
                rounds = seconds * 5
            ),
            Self::Logger => format!(
                r#"mkdir -p /var/lib/service
i=0
while [ $i -lt {rounds} ]; do
  j=0
  while [ $j -lt 20 ]; do
    printf 'svc[%06d.%02d] request served in 12 ms, status 200, bytes 5120, client 10.0.0.7 ok\n' $i $j >> /var/lib/service/service.log
    j=$((j + 1))
  done
  if [ $((i % 10)) -eq 9 ]; then sync; fi
  sleep 0.5
  i=$((i + 1))
done"#,
                rounds = seconds * 2
            ),
        };
        format!(
            "#!/bin/sh\nexport PATH=/bin\nread up idle < /proc/uptime\necho \"{START} uptime=$up\"\n\
             {body}\nsync\nread up idle < /proc/uptime\necho \"{END} uptime=$up\"\npoweroff -f\n"
        )
    }
}

/// The apt workload's init on the Debian root (dash; no busybox there). Powers off
/// through sysrq: no systemd runs to ask, and `sync` has put everything on the card.
fn apt_script(seconds: u32) -> String {
    let versions = |v: &str| {
        APT_PACKAGES
            .iter()
            .map(|p| format!("./{p}_{v}_all.deb"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        r#"#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive
cd /{APT_DIR} || echo "wear-workload: no /{APT_DIR}"
read up idle < /proc/uptime
echo "{START} uptime=$up"
start=${{up%%.*}}
now=$start
while :; do
  for step in "install {v1}" "install {v2}" "purge {names}"; do
    apt-get -y -qq -o Dpkg::Use-Pty=0 $step 2>&1 || echo "wear-workload: apt-get $step failed"
  done
  read up idle < /proc/uptime
  now=${{up%%.*}}
  [ $((now - start)) -lt {seconds} ] || break
done
sync
sleep 2
read up idle < /proc/uptime
echo "{END} uptime=$up"
echo o > /proc/sysrq-trigger
sleep 60
"#,
        v1 = versions("1.0"),
        v2 = versions("2.0"),
        names = APT_PACKAGES.join(" "),
    )
}

/// How the root reaches the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    /// The embedded default config (ordered card agent, `noatime,lazytime` card mount).
    Flashroot,
    /// `writes = "buffered"`, card `options = []`: loop device, page cache, plain vfat.
    Classic,
    /// The same root as ext4 on the card's partition, booted with `root=`.
    Ext4,
}

impl Recipe {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "flashroot" => Some(Self::Flashroot),
            "classic" => Some(Self::Classic),
            "ext4" => Some(Self::Ext4),
            _ => None,
        }
    }

    /// The config text of the initramfs.
    pub fn config(self) -> String {
        match self {
            Self::Flashroot => flashroot_config::DEFAULT_TOML.to_string(),
            Self::Classic => classic_config(),
            Self::Ext4 => config_with_extra_modules(&["ext4"]),
        }
    }
}

/// The default config turned into the classic recipe; panics if a line it replaces moved.
pub fn classic_config() -> String {
    let mut text = flashroot_config::DEFAULT_TOML.to_string();
    for (from, to) in [
        ("writes = \"ordered\"", "writes = \"buffered\""),
        ("options = [\"noatime\", \"lazytime\"]", "options = []"),
    ] {
        assert!(
            text.contains(from),
            "the default config has no `{from}` line any more"
        );
        text = text.replacen(from, to, 1);
    }
    text
}

/// One traced boot and what it left behind.
pub struct WearRun {
    pub outcome: Outcome,
    pub card: PathBuf,
    pub trace: PathBuf,
    /// Guest uptime at the end marker: the run's length for rates per hour.
    pub guest_seconds: f64,
}

impl WearRun {
    pub fn report(&self) -> WearReport {
        flashroot::wear::analyse(&self.card, &self.trace, None, Some(self.guest_seconds))
            .unwrap_or_else(|e| panic!("wear report: {e}"))
    }
}

/// Builds the card for `recipe` in `dir`, boots it with write tracing and runs `workload`
/// for `seconds`. Only the card is attached (no output disk), so the trace holds the
/// writes of one block backend: the card's.
pub fn traced_run(
    kernel: &Kernel,
    dir: &Path,
    recipe: Recipe,
    workload: Workload,
    seconds: u32,
) -> WearRun {
    assert!(
        !workload.needs_debian(),
        "{workload:?} runs on a Debian root: tests/wear.rs builds that card"
    );
    let tree = root_tree(dir, Some(&workload.init_script(seconds)));
    for applet in WORKLOAD_APPLETS {
        let link = tree.join("bin").join(applet);
        if !link.exists() {
            symlink("busybox", link).unwrap();
        }
    }
    let card_path = dir.join("card.img");
    let cmdline = match recipe {
        Recipe::Ext4 => {
            ext4_disk(&tree, &card_path);
            format!("root=UUID={EXT4_UUID} rw {FAIL_FAST}")
        }
        Recipe::Flashroot | Recipe::Classic => {
            let image = dir.join("rootfs.img");
            jffs2_image(&tree, &image, 64 << 10);
            card(&card_path, &[("rootfs.img", &image)]);
            format!("mtd {FAIL_FAST}")
        }
    };
    traced_boot(kernel, dir, recipe, &card_path, cmdline, seconds)
}

/// Boots `card_path` (made for `recipe`) with an initramfs of the recipe's config,
/// tracing every write to it, and waits for the workload's end marker (it runs about
/// `seconds`).
pub fn traced_boot(
    kernel: &Kernel,
    dir: &Path,
    recipe: Recipe,
    card_path: &Path,
    cmdline: String,
    seconds: u32,
) -> WearRun {
    let initrd = dir.join("initrd.cpio");
    initramfs(kernel, &recipe.config(), &initrd);
    let trace = dir.join("trace.log");
    let mut options = BootOptions::for_kernel(kernel);
    options.initrd = Some(initrd);
    options.cmdline = cmdline;
    options.disks = vec![ide(card_path)];
    options.output_disk = None;
    options.timeout = BOOT_TIMEOUT + Duration::from_secs(u64::from(seconds) * 3);
    options.extra_qemu_args = vec![
        "-d".into(),
        "trace:blk_co_pwritev".into(),
        "-D".into(),
        trace.to_string_lossy().into_owned(),
    ];
    let outcome = boot(&options).expect("QEMU runs");
    outcome.expect_console(START).expect_powered_off();
    let guest_seconds = outcome
        .console
        .lines()
        .find_map(|l| l.split(&format!("{END} uptime=")).nth(1))
        .and_then(|t| t.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no `{END} uptime=` line:\n{}", outcome.tail(40)));
    WearRun {
        outcome,
        card: card_path.to_path_buf(),
        trace,
        guest_seconds,
    }
}
