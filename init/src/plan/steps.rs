//! The steps a plan is made of, and how `flashroot plan` and the init's log show them.

use std::fmt;
use std::time::Duration;

use flashroot_config::{CardWrites, DeviceRef, EraseSize, KeepCard, Word};
use nix::mount::MsFlags;

use super::{MOVED_MOUNTS, NEW_ROOT, OVERLAY_UPPER, OVERLAY_WORK};
use crate::failure::Policy;
use crate::options;

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
    pub(super) fn parse(s: &str) -> Option<Self> {
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
    /// The same file relative to the card's root, e.g. `rootfs.img`, as the shutdown
    /// program's record names it.
    pub on_card: String,
    pub erase_size: EraseSize,
    /// The MTD name block2mtd gives it; mounted as `mtd:<label>`.
    pub label: String,
    /// Through the card agent (an nbd device) or a loop device.
    pub writes: CardWrites,
    /// The agent's flush interval, in milliseconds.
    pub flush_ms: u32,
}

impl ContainerSetup {
    /// The block device block2mtd gets, as the plan shows it.
    fn device_words(&self) -> String {
        match self.writes {
            CardWrites::Ordered => format!(
                "serve it from the card agent on a free nbd device (flash-ordered writes, flushed every {} ms)",
                self.flush_ms
            ),
            CardWrites::Buffered => "attach it to a free loop device (buffered writes)".into(),
        }
    }
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
    /// Copy the init to [`crate::shutdown::PROGRAM`] for systemd's initramfs shutdown
    /// protocol (flash boots: only they leave a card to clean up).
    pub prepare_shutdown: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Break(BreakPoint),
    /// The modules of `list`: every one when `all`, else the drivers only for the devices
    /// present (coldplug) and the filesystem modules of `filesystems` (the types the plan
    /// mounts); other filesystem modules wait until a mount asks for their type.
    LoadModules {
        list: String,
        all: bool,
        filesystems: Vec<String>,
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
    /// A RAM directory: a tmpfs at `path` of the root, filled from its saved copy, saved
    /// every `save_minutes` and at shutdown by the keeper the init starts before switch_root.
    RamDir(RamDirSetup),
    /// A layered root: the squashfs base and the overlay's upper layer mounted as
    /// overlayfs at the new root (see [`crate::layered`]).
    LayeredRoot(LayeredRoot),
    SwitchRoot(Switch),
}

/// The root made of a read-only squashfs base and an upper layer: the overlay
/// container's JFFS2 (mounted at [`crate::layered::OVERLAY_DIR`] by an earlier step), or
/// a tmpfs there in failsafe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayeredRoot {
    /// The base in the initramfs, e.g. `/flash/base.sqfs`.
    pub base: String,
    /// The base and the overlay container relative to the card's root, for the record
    /// `flashroot reset` and `flashroot overlay` read.
    pub base_on_card: String,
    pub overlay_on_card: String,
    /// The overlay container's erase size, for the record (`flashroot fold` writes the
    /// next, empty container with it).
    pub erase_size: EraseSize,
    /// Failsafe: the upper layer is a tmpfs and the container is left untouched.
    pub failsafe: bool,
    /// The factory reset check (none in failsafe).
    pub reset: Option<ResetCheck>,
    /// Flags of the overlay mount (`ro` on the command line makes it read-only).
    pub flags: MsFlags,
    /// Where the card will be in the real root (`keep_at`), or None if it is detached.
    pub card_in_root: Option<String>,
}

/// Empty the overlay before it is mounted when `marker` exists on the card (left by
/// `flashroot reset`, or by an earlier reset a power cut interrupted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetCheck {
    /// The marker file in the initramfs, e.g. `/flash/overlay.img.reset`.
    pub marker: String,
    /// `flashroot.reset` on the command line: write the marker first.
    pub requested: bool,
    /// The overlay container's MTD label, whose block device is flushed to the card
    /// before the marker is removed.
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RamDirSetup {
    /// The directory in the real root.
    pub path: String,
    pub size: Option<String>,
    pub mode: Option<String>,
    /// `user[:group]`, resolved in the root at boot.
    pub owner: Option<String>,
    pub save_minutes: u32,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Break(b) => write!(f, "break at {} (rescue shell, if one is packed)", b.name()),
            Self::LoadModules { list, all: false, filesystems } => {
                write!(f, "load the modules listed in {list} (drivers for the devices present, filesystems ")?;
                if !filesystems.is_empty() {
                    write!(f, "for {} now, others ", filesystems.join(" "))?;
                }
                write!(f, "as mounts need them)")
            }
            Self::LoadModules { list, all: true, .. } => {
                write!(f, "load every module listed in {list} (flashroot.modules=all)")
            }
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
                "container {}: check it is JFFS2 with {} erase blocks, {}, block2mtd <device>,{},{} -> mtd:{}",
                c.file,
                c.erase_size,
                c.device_words(),
                c.erase_size.0,
                c.label,
                c.label
            ),
            Self::Overlay { target, tmpfs_dir, size } => write!(
                f,
                "overlay on {target}: tmpfs{} at {tmpfs_dir} holding {OVERLAY_UPPER}/ and {OVERLAY_WORK}/, lowerdir={target}",
                size.as_ref().map(|s| format!(" (size={s})")).unwrap_or_default()
            ),
            Self::RamDir(r) => write!(
                f,
                "RAM directory {}: a tmpfs{}{}{} filled from its saved copy in {}{} (the first time: from the directory itself), saved back every {} min and at shutdown by the keeper",
                r.path,
                r.mode.as_ref().map(|m| format!(" mode={m}")).unwrap_or_default(),
                r.size.as_ref().map(|s| format!(" size={s}")).unwrap_or_default(),
                r.owner.as_ref().map(|o| format!(" owned by {o}")).unwrap_or_default(),
                crate::ramdir::store::STORE,
                r.path,
                r.save_minutes
            ),
            Self::LayeredRoot(l) => {
                use crate::layered::{BASE_DIR, OVERLAY_DIR, UPPER, WORK};
                write!(
                    f,
                    "layered root: attach {} read-only to a free loop device, mount -t squashfs -o ro <loop> {BASE_DIR}, ",
                    l.base
                )?;
                if l.failsafe {
                    write!(f, "failsafe: the upper layer is the tmpfs at {OVERLAY_DIR}, {} is not touched, ", l.overlay_on_card)?;
                }
                if let Some(r) = &l.reset {
                    if r.requested {
                        write!(f, "write {} (flashroot.reset), ", r.marker)?;
                    }
                    write!(f, "if {} exists: empty {OVERLAY_DIR} (keeping the files {} lists), flush mtd:{} to the card, remove it; ", r.marker, crate::layered::KEEP_LIST, r.label)?;
                }
                write!(
                    f,
                    "mount -t overlay -o {}lowerdir={BASE_DIR},upperdir={OVERLAY_DIR}/{UPPER},workdir={OVERLAY_DIR}/{WORK} overlay {NEW_ROOT}",
                    if l.flags.contains(MsFlags::MS_RDONLY) { "ro," } else { "" }
                )
            }
            Self::SwitchRoot(s) => {
                write!(f, "switch_root {}: ", s.new_root)?;
                if s.prepare_shutdown {
                    write!(f, "copy the init to {}, ", crate::shutdown::PROGRAM)?;
                }
                write!(f, "move {}", MOVED_MOUNTS.join(" "))?;
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
            self.failure.action.word(),
            if self.failure.shell {
                " (after the rescue shell)"
            } else {
                ""
            },
            self.failure.delay
        )
    }
}
