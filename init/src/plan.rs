//! The pure planner: config + command line in, the ordered list of steps out. The init
//! executes exactly this list and `flashroot plan` prints it, so a dry run on the host
//! shows what a boot will do.

use std::fmt;
use std::time::Duration;

use flashroot_config::load_order::LOAD_ORDER_PATH;
use flashroot_config::{parse_size, Config, DeviceRef, EraseSize, KeepCard};
use nix::mount::MsFlags;

use crate::cmdline::Cmdline;
use crate::error::BootError;
use crate::failure::{self, Policy};
use crate::options;

/// Where the real root is assembled before switch_root.
pub const NEW_ROOT: &str = "/root";
/// The real init when `init=` is not given.
pub const DEFAULT_INIT: &str = "/sbin/init";
/// Mounts of the initramfs that move into the new root at switch_root.
pub const MOVED_MOUNTS: [&str; 4] = ["/dev", "/proc", "/sys", "/run"];
/// Overlays keep their upper and work directories on a tmpfs under here (inside /run,
/// which moves into the new root, so they stay visible there).
pub const OVERLAY_TMPFS_DIR: &str = "/run/flashroot/overlay";
pub const OVERLAY_UPPER: &str = "upper";
pub const OVERLAY_WORK: &str = "work";

const KEY_CARD: &str = "flashroot.card";
const KEY_CONTAINER: &str = "flashroot.container";
const KEY_ERASE_SIZE: &str = "flashroot.erasesize";
const KEY_TIMEOUT: &str = "flashroot.timeout";
const KEY_BREAK: &str = "flashroot.break";
const FLASHROOT_PREFIX: &str = "flashroot.";
const KNOWN_FLASHROOT_KEYS: &[&str] = &[
    KEY_CARD,
    KEY_CONTAINER,
    KEY_ERASE_SIZE,
    KEY_TIMEOUT,
    KEY_BREAK,
    failure::KEY_ACTION,
    failure::KEY_DELAY,
];

/// Points where `flashroot.break=` stops in the rescue shell; the boot goes on when it exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakPoint {
    /// After the early mounts, before loading modules.
    Top,
    /// After loading modules, before waiting for the card or the root device.
    Premount,
    /// Everything mounted at /root, before switch_root.
    Bottom,
}

impl BreakPoint {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "top" | "modules" => Some(Self::Top),
            "" | "premount" => Some(Self::Premount),
            "bottom" | "init" => Some(Self::Bottom),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Top => "top",
            Self::Premount => "premount",
            Self::Bottom => "bottom",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The trigger word is on the command line: JFFS2 containers on a FAT card.
    Flash,
    /// No trigger: mount `root=` like the kernel would.
    Normal,
}

/// What a mount mounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A block device found at boot (and waited for by an earlier step).
    Device(DeviceRef),
    /// A name the filesystem understands as is: `tmpfs`, `mtd:rootfs`, `mtd0`.
    Name(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Device(d) => d.fmt(f),
            Self::Name(n) => f.write_str(n),
        }
    }
}

/// Where a mount goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A path in the initramfs, e.g. `/flash` or `/root`.
    Initramfs(String),
    /// A path of the real root, resolved at boot inside [`NEW_ROOT`] (symlinks such as
    /// Debian's /var/run -> /run are followed inside the root).
    InRoot(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Initramfs(p) => f.write_str(p),
            Self::InRoot(p) if p == "/" => f.write_str(NEW_ROOT),
            Self::InRoot(p) => write!(f, "{NEW_ROOT}{p}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub source: Source,
    pub target: Target,
    /// None: try each filesystem the kernel knows, as the kernel does for `root=`.
    pub fstype: Option<String>,
    pub flags: MsFlags,
    pub data: String,
}

/// One JFFS2 container: checked, attached to a loop device, turned into an MTD device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerSetup {
    /// The image file inside the initramfs, e.g. `/flash/rootfs.img`.
    pub file: String,
    pub erase_size: EraseSize,
    /// The MTD name block2mtd gives it; mounted as `mtd:<label>`.
    pub label: String,
}

/// What happens to the card's mount at switch_root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeepCardStep {
    /// The card's mountpoint in the initramfs.
    pub mountpoint: String,
    pub how: KeepCard,
    /// With [`KeepCard::Move`]: the path in the new root.
    pub keep_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Switch {
    pub new_root: String,
    pub init: String,
    /// argv[1..] of the real init: the command line's words after `--`.
    pub args: Vec<String>,
    pub card: Option<KeepCardStep>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Break(BreakPoint),
    LoadModules {
        list: String,
    },
    /// `rootdelay=`: a plain wait before looking for the root device.
    Sleep {
        seconds: u32,
    },
    /// Waits for a block device; None waits forever (`rootwait`), saying so periodically.
    WaitDevice {
        device: DeviceRef,
        timeout: Option<Duration>,
    },
    Mount(Mount),
    Container(ContainerSetup),
    /// An overlay at `target`: lower is the directory itself, upper and work live on a
    /// tmpfs mounted at `tmpfs_dir`.
    Overlay {
        target: Target,
        tmpfs_dir: String,
        size: Option<String>,
    },
    SwitchRoot(Switch),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Break(b) => write!(f, "break at {} (rescue shell, if one is packed)", b.name()),
            Self::LoadModules { list } => write!(f, "load the modules listed in {list}"),
            Self::Sleep { seconds } => write!(f, "sleep {seconds}s (rootdelay)"),
            Self::WaitDevice { device, timeout: Some(t) } => {
                write!(f, "wait up to {}s for {device}", t.as_secs())
            }
            Self::WaitDevice { device, timeout: None } => write!(f, "wait for {device} (rootwait)"),
            Self::Mount(m) => {
                let fstype = m.fstype.as_deref().unwrap_or("<probe>");
                write!(
                    f,
                    "mount -t {fstype} -o {} {} {}",
                    options::describe(m.flags, &m.data),
                    m.source,
                    m.target
                )
            }
            Self::Container(c) => write!(
                f,
                "container {}: check it is JFFS2 with {} erase blocks, attach it to a free loop device, block2mtd <loop>,{},{} -> mtd:{}",
                c.file, c.erase_size, c.erase_size.0, c.label, c.label
            ),
            Self::Overlay { target, tmpfs_dir, size } => write!(
                f,
                "overlay on {target}: tmpfs{} at {tmpfs_dir} holding {OVERLAY_UPPER}/ and {OVERLAY_WORK}/, lowerdir={target}",
                size.as_ref().map(|s| format!(" (size={s})")).unwrap_or_default()
            ),
            Self::SwitchRoot(s) => {
                write!(f, "switch_root {}: move {}", s.new_root, MOVED_MOUNTS.join(" "))?;
                match &s.card {
                    Some(KeepCardStep { mountpoint, how: KeepCard::Move, keep_at }) => {
                        write!(f, ", move {mountpoint} to {keep_at}")?
                    }
                    Some(KeepCardStep { mountpoint, how: KeepCard::Detach, .. }) => {
                        write!(f, ", detach {mountpoint} lazily")?
                    }
                    None => {}
                }
                write!(f, ", free the initramfs, exec {}", s.init)?;
                for a in &s.args {
                    write!(f, " {a:?}")?;
                }
                Ok(())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub mode: Mode,
    pub steps: Vec<Step>,
    /// What the init does if a step fails.
    pub failure: Policy,
    /// Ignored parameters and the like, logged at boot and printed by `flashroot plan`.
    pub warnings: Vec<String>,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Flash => "flash boot (JFFS2 containers on the card)",
            Mode::Normal => "normal boot (root=)",
        };
        writeln!(f, "{mode}")?;
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "{:2}. {s}", i + 1)?;
        }
        writeln!(
            f,
            "on failure: {}{} after {}s",
            failure::action_name(self.failure.action),
            if self.failure.shell {
                " (after the rescue shell)"
            } else {
                ""
            },
            self.failure.delay
        )
    }
}

/// A command-line value the planner cannot use: `key=value` and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    /// The parameter as written, e.g. `rootdelay=soon`, or `root=` when it is missing.
    pub param: String,
    pub reason: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.param, self.reason)
    }
}

impl std::error::Error for PlanError {}

impl From<PlanError> for BootError {
    fn from(e: PlanError) -> Self {
        BootError::new("kernel command line", e.param, e.reason)
    }
}

fn bad(key: &str, value: &str, reason: impl Into<String>) -> PlanError {
    PlanError {
        param: format!("{key}={value}"),
        reason: reason.into(),
    }
}

/// The settings from the config that the command line may override.
struct Overrides {
    card: DeviceRef,
    container: Option<String>,
    erase_size: Option<EraseSize>,
    timeout: u32,
    break_point: Option<BreakPoint>,
}

impl Overrides {
    fn read(
        config: &Config,
        cmdline: &Cmdline,
        warnings: &mut Vec<String>,
    ) -> Result<Self, PlanError> {
        for p in cmdline.with_prefix(FLASHROOT_PREFIX) {
            if !KNOWN_FLASHROOT_KEYS.contains(&p.key.as_str()) {
                warnings.push(format!(
                    "unknown parameter {} ignored (known: {})",
                    p.key,
                    KNOWN_FLASHROOT_KEYS.join(", ")
                ));
            }
        }
        let card = match cmdline.get(KEY_CARD) {
            Some(v) => v.parse().map_err(|e: String| bad(KEY_CARD, v, e))?,
            None => config.card.device.clone(),
        };
        let container = match cmdline.get(KEY_CONTAINER) {
            Some(v) => {
                let v = v.trim_start_matches('/');
                if v.is_empty() || v.split('/').any(|c| c == "..") {
                    return Err(bad(
                        KEY_CONTAINER,
                        v,
                        "expected a file path on the card such as rootfs.img",
                    ));
                }
                Some(v.to_string())
            }
            None => None,
        };
        let erase_size = match cmdline.get(KEY_ERASE_SIZE) {
            Some(v) => {
                let bytes = parse_size(v).map_err(|e| bad(KEY_ERASE_SIZE, v, e))?;
                Some(EraseSize::check(bytes).map_err(|e| bad(KEY_ERASE_SIZE, v, e))?)
            }
            None => None,
        };
        let timeout = match cmdline.get(KEY_TIMEOUT) {
            Some(v) => v
                .parse()
                .map_err(|_| bad(KEY_TIMEOUT, v, "expected a number of seconds"))?,
            None => config.card.timeout,
        };
        let break_point = if cmdline.has_word(KEY_BREAK) {
            Some(BreakPoint::Premount)
        } else {
            match cmdline.get(KEY_BREAK) {
                Some(v) => Some(
                    BreakPoint::parse(v)
                        .ok_or_else(|| bad(KEY_BREAK, v, "expected top, premount or bottom"))?,
                ),
                None => None,
            }
        };
        Ok(Self {
            card,
            container,
            erase_size,
            timeout,
            break_point,
        })
    }
}

/// The root filesystem's `root=`, parsed into what to wait for and what to mount.
#[derive(Clone, Debug, PartialEq, Eq)]
enum RootRef {
    Block(DeviceRef),
    /// `mtd:NAME` or `mtdN`: MTD devices, mounted by name (JFFS2), no block device to wait for.
    Mtd(String),
}

/// udev's symlinks, which do not exist in the initramfs, as the references they stand for.
const UDEV_LINKS: [(&str, &str); 3] = [
    ("/dev/disk/by-uuid/", "UUID="),
    ("/dev/disk/by-label/", "LABEL="),
    ("/dev/disk/by-partuuid/", "PARTUUID="),
];

fn parse_root(value: &str) -> Result<RootRef, PlanError> {
    for (link_dir, kind) in UDEV_LINKS {
        if let Some(id) = value.strip_prefix(link_dir).filter(|id| !id.is_empty()) {
            let device = format!("{kind}{id}")
                .parse()
                .map_err(|e: String| bad("root", value, e))?;
            return Ok(RootRef::Block(device));
        }
    }
    let is_mtd_index = |s: &str| {
        s.strip_prefix("mtd")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if value.starts_with("mtd:") && value.len() > "mtd:".len() || is_mtd_index(value) {
        return Ok(RootRef::Mtd(value.to_string()));
    }
    value
        .parse()
        .map(RootRef::Block)
        .map_err(|e: String| bad("root", value, e))
}

/// Plans the boot for `config` and the kernel command line.
pub fn plan(config: &Config, cmdline: &Cmdline) -> Result<Plan, PlanError> {
    let (mut failure, mut warnings) = Policy::resolve(&config.failure, cmdline);
    // What the builder packs; the init checks the file itself at boot.
    failure.shell = !config.initramfs.shell.is_empty();
    let overrides = Overrides::read(config, cmdline, &mut warnings)?;
    let mode = if cmdline.has_word(&config.trigger) {
        Mode::Flash
    } else {
        Mode::Normal
    };
    let mut steps = Vec::new();
    let brk = |steps: &mut Vec<Step>, at: BreakPoint| {
        if overrides.break_point == Some(at) {
            steps.push(Step::Break(at));
        }
    };
    brk(&mut steps, BreakPoint::Top);
    steps.push(Step::LoadModules {
        list: LOAD_ORDER_PATH.into(),
    });
    brk(&mut steps, BreakPoint::Premount);
    if let Some(v) = cmdline.get("rootdelay") {
        let seconds = v
            .parse()
            .map_err(|_| bad("rootdelay", v, "expected a number of seconds"))?;
        steps.push(Step::Sleep { seconds });
    }
    let card = match mode {
        Mode::Flash => Some(plan_flash(config, cmdline, &overrides, &mut steps)),
        Mode::Normal => {
            plan_normal(config, cmdline, &overrides, &mut steps)?;
            None
        }
    };
    brk(&mut steps, BreakPoint::Bottom);
    let init = match cmdline.get("init") {
        Some(v) if v.starts_with('/') => v.to_string(),
        Some(v) => {
            return Err(bad(
                "init",
                v,
                "expected an absolute path such as /sbin/init",
            ))
        }
        None => DEFAULT_INIT.to_string(),
    };
    steps.push(Step::SwitchRoot(Switch {
        new_root: NEW_ROOT.into(),
        init,
        args: cmdline.init_args.clone(),
        card,
    }));
    Ok(Plan {
        mode,
        steps,
        failure,
        warnings,
    })
}

/// `ro`/`rw` from the command line, else `default_ro`.
fn read_only(cmdline: &Cmdline, default_ro: bool) -> bool {
    match cmdline.last_word_of(&["ro", "rw"]) {
        Some("ro") => true,
        Some(_) => false,
        None => default_ro,
    }
}

fn plan_flash(
    config: &Config,
    cmdline: &Cmdline,
    o: &Overrides,
    steps: &mut Vec<Step>,
) -> KeepCardStep {
    let card = &config.card;
    steps.push(Step::WaitDevice {
        device: o.card.clone(),
        timeout: Some(Duration::from_secs(o.timeout.into())),
    });
    // Read-write always: block2mtd opens its loop device for writing.
    let mut card_opts: Vec<String> = Vec::new();
    if let Some(cs) = &card.iocharset {
        card_opts.push(format!("iocharset={cs}"));
    }
    if let Some(cp) = card.codepage {
        card_opts.push(format!("codepage={cp}"));
    }
    let (flags, data) = options::split(&card_opts);
    steps.push(Step::Mount(Mount {
        source: Source::Device(o.card.clone()),
        target: Target::Initramfs(card.mountpoint.0.clone()),
        fstype: Some(card.fstype.clone()),
        flags,
        data,
    }));
    // The root first: the others are mounted inside it.
    let mut containers: Vec<_> = config.containers.iter().collect();
    containers.sort_by_key(|c| c.mountpoint.0 != "/");
    for c in containers {
        let is_root = c.mountpoint.0 == "/";
        let file = match (&o.container, is_root) {
            (Some(f), true) => f.clone(),
            _ => c.file.0.clone(),
        };
        let erase_size = match (o.erase_size, is_root) {
            (Some(e), true) => e,
            _ => c.erase_size,
        };
        let label = c.label();
        steps.push(Step::Container(ContainerSetup {
            file: format!("{}/{file}", card.mountpoint.0.trim_end_matches('/')),
            erase_size,
            label: label.clone(),
        }));
        let mut opts = c.options.clone();
        if is_root {
            // `rootflags=` adds to the root container's configured options.
            opts.extend(cmdline.get("rootflags").map(str::to_string));
        }
        let (mut flags, data) = options::split(&opts);
        if is_root && read_only(cmdline, false) {
            flags |= MsFlags::MS_RDONLY;
        }
        steps.push(Step::Mount(Mount {
            source: Source::Name(format!("mtd:{label}")),
            target: Target::InRoot(c.mountpoint.0.clone()),
            fstype: Some("jffs2".into()),
            flags,
            data,
        }));
    }
    for t in &config.tmpfs {
        let mut opts = Vec::new();
        if let Some(m) = &t.mode {
            opts.push(format!("mode={m}"));
        }
        if let Some(s) = &t.size {
            opts.push(format!("size={s}"));
        }
        steps.push(Step::Mount(Mount {
            source: Source::Name("tmpfs".into()),
            target: Target::InRoot(t.path.0.clone()),
            fstype: Some("tmpfs".into()),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: opts.join(","),
        }));
    }
    for (i, ov) in config.overlays.iter().enumerate() {
        steps.push(Step::Overlay {
            target: Target::InRoot(ov.path.0.clone()),
            tmpfs_dir: format!("{OVERLAY_TMPFS_DIR}/{i}"),
            size: ov.size.clone(),
        });
    }
    KeepCardStep {
        mountpoint: card.mountpoint.0.clone(),
        how: card.keep,
        keep_at: card.keep_at.0.clone(),
    }
}

fn plan_normal(
    config: &Config,
    cmdline: &Cmdline,
    o: &Overrides,
    steps: &mut Vec<Step>,
) -> Result<(), PlanError> {
    let Some(root) = cmdline.get("root") else {
        return Err(PlanError {
            param: "root=".into(),
            reason: format!(
                "no root= on the kernel command line and no `{}`",
                config.trigger
            ),
        });
    };
    let root = parse_root(root)?;
    let mut fstype = cmdline
        .get("rootfstype")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let source = match root {
        RootRef::Block(device) => {
            let timeout = if cmdline.has("rootwait") {
                None
            } else {
                Some(Duration::from_secs(o.timeout.into()))
            };
            steps.push(Step::WaitDevice {
                device: device.clone(),
                timeout,
            });
            Source::Device(device)
        }
        RootRef::Mtd(name) => {
            // Only JFFS2 mounts MTD devices by name; blkid cannot probe it.
            fstype.get_or_insert_with(|| "jffs2".into());
            Source::Name(name)
        }
    };
    let (mut flags, data) = options::split(&[cmdline.get("rootflags").unwrap_or("")]);
    // Like the kernel: read-only unless `rw`.
    if read_only(cmdline, true) {
        flags |= MsFlags::MS_RDONLY;
    }
    steps.push(Step::Mount(Mount {
        source,
        target: Target::InRoot("/".into()),
        fstype,
        flags,
        data,
    }));
    Ok(())
}

#[cfg(test)]
mod tests;
