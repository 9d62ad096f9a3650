//! What the planner takes from the command line beyond the config: the `flashroot.*`
//! overrides, `root=` in all its forms, `ro`/`rw`, and the error naming a bad value.

use std::fmt;

use flashroot_config::{parse_size, CardWrites, Config, DeviceRef, EraseSize, ValueError, Word};

use super::BreakPoint;
use crate::cmdline::Cmdline;
use crate::error::BootError;

pub use flashroot_runtime::keys::{KEY_BASE, KEY_CONTAINER, KEY_FAILSAFE, KEY_RESET};
use flashroot_runtime::keys::{
    KEY_BREAK, KEY_CARD, KEY_ERASE_SIZE, KEY_MODULES, KEY_TIMEOUT, KEY_WRITES,
    PREFIX as FLASHROOT_PREFIX,
};
/// Every flashroot word the planner knows (the failure policy's included).
const KNOWN_FLASHROOT_KEYS: &[&str] = flashroot_runtime::keys::ALL;

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

pub(super) fn bad(key: &str, value: &str, reason: impl std::fmt::Display) -> PlanError {
    PlanError {
        param: format!("{key}={value}"),
        reason: reason.to_string(),
    }
}

/// The settings from the config that the command line may override.
pub(super) struct Overrides {
    pub(super) card: DeviceRef,
    pub(super) container: Option<String>,
    pub(super) erase_size: Option<EraseSize>,
    pub(super) timeout: u32,
    pub(super) break_point: Option<BreakPoint>,
    /// Load every packed module, not only the present devices' drivers.
    pub(super) all_modules: bool,
    pub(super) writes: CardWrites,
    /// `flashroot.failsafe` and `flashroot.reset` (layered roots only).
    pub(super) failsafe: bool,
    pub(super) reset: bool,
    pub(super) base: Option<String>,
}

impl Overrides {
    pub(super) fn read(
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
            Some(v) => v.parse().map_err(|e: ValueError| bad(KEY_CARD, v, e))?,
            None => config.card.device.clone(),
        };
        let on_card = |key: &str, example: &str| match cmdline.get(key) {
            Some(v) => {
                let v = v.trim_start_matches('/');
                if v.is_empty() || v.split('/').any(|c| c == "..") {
                    return Err(bad(
                        key,
                        v,
                        format!("expected a file path on the card such as {example}"),
                    ));
                }
                Ok(Some(v.to_string()))
            }
            None => Ok(None),
        };
        let container = on_card(KEY_CONTAINER, "rootfs.img")?;
        let base = on_card(KEY_BASE, "base.sqfs")?;
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
        let all_modules = match cmdline.get(KEY_MODULES) {
            None | Some("present") => false,
            Some("all") => true,
            Some(v) => return Err(bad(KEY_MODULES, v, "expected all or present")),
        };
        let writes = match cmdline.get(KEY_WRITES) {
            Some(v) => CardWrites::from_word(v)
                .ok_or_else(|| bad(KEY_WRITES, v, format!("expected {}", CardWrites::choices())))?,
            None => config.card.writes,
        };
        let layered = config.root_container().base.is_some();
        let mut word = |key: &str| {
            let given = cmdline.has_word(key) || cmdline.has(key);
            if given && !layered {
                warnings.push(format!(
                    "{key} ignored: the root container has no base (not a layered root)"
                ));
            }
            given && layered
        };
        let failsafe = word(KEY_FAILSAFE);
        let mut reset = word(KEY_RESET);
        if base.is_some() && !layered {
            warnings.push(format!(
                "{KEY_BASE} ignored: the root container has no base (not a layered root)"
            ));
        }
        if failsafe && reset {
            warnings.push(format!(
                "{KEY_RESET} ignored: {KEY_FAILSAFE} leaves the overlay untouched"
            ));
            reset = false;
        }
        Ok(Self {
            card,
            container,
            erase_size,
            timeout,
            break_point,
            all_modules,
            writes,
            failsafe,
            reset,
            base,
        })
    }
}

/// The root filesystem's `root=`, parsed into what to wait for and what to mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum RootRef {
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

pub(super) fn parse_root(value: &str) -> Result<RootRef, PlanError> {
    for (link_dir, kind) in UDEV_LINKS {
        if let Some(id) = value.strip_prefix(link_dir).filter(|id| !id.is_empty()) {
            let device = format!("{kind}{id}")
                .parse()
                .map_err(|e: ValueError| bad("root", value, e))?;
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
        .map_err(|e: ValueError| bad("root", value, e))
}

/// `ro`/`rw` from the command line, else `default_ro`.
pub(super) fn read_only(cmdline: &Cmdline, default_ro: bool) -> bool {
    match cmdline.last_word_of(&["ro", "rw"]) {
        Some("ro") => true,
        Some(_) => false,
        None => default_ro,
    }
}
