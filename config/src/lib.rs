//! The flashroot configuration: one TOML schema read by the builder on the host and by
//! the /init at boot. Parsing is pure (text in, typed value or an error naming file,
//! line and key out), so both sides and the tests share every rule.

mod compact;
mod device;
mod error;
pub mod load_order;
mod size;
mod value;
mod word;

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

pub use compact::{COMPACT_PATH, DEFAULT_COMPACT};
pub use device::DeviceRef;
pub use error::ConfigError;
pub use size::{format_size, parse_size, Size};
pub use value::ValueError;
pub use word::Word;

/// The annotated example, which is also the embedded default.
pub const DEFAULT_TOML: &str = include_str!("../flashroot.toml");
/// The name errors use for the embedded default.
pub const DEFAULT_NAME: &str = "<embedded default>";
/// Where the builder puts the configuration inside the initramfs.
pub const CONFIG_PATH: &str = "/etc/flashroot/flashroot.toml";

/// JFFS2 erase blocks below this are refused: the kernel's own minimum is a page, but no
/// flash worth using has smaller blocks and mkfs.jffs2 refuses less than 8 KiB.
pub const MIN_ERASE_SIZE: u64 = 8 << 10;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The bare kernel command-line word that selects the flash boot.
    pub trigger: String,
    pub card: Card,
    /// `[[container]]`: the JFFS2 images on the card; exactly one is mounted at `/`.
    #[serde(rename = "container")]
    pub containers: Vec<Container>,
    /// `[[tmpfs]]`: directories of the real root put on tmpfs.
    #[serde(default)]
    pub tmpfs: Vec<Tmpfs>,
    /// `[[overlay]]`: directories of the real root overlaid with a tmpfs upper layer.
    #[serde(default, rename = "overlay")]
    pub overlays: Vec<Overlay>,
    /// `[[ramdir]]`: directories of the real root kept on tmpfs and saved to the root.
    #[serde(default, rename = "ramdir")]
    pub ramdirs: Vec<RamDir>,
    pub modules: Modules,
    pub failure: Failure,
    pub initramfs: Initramfs,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Card {
    pub device: DeviceRef,
    pub fstype: String,
    pub mountpoint: AbsPath,
    pub iocharset: Option<String>,
    pub codepage: Option<u16>,
    /// Further mount options of the card (`noatime`, `lazytime`, ...).
    #[serde(default)]
    pub options: Vec<String>,
    /// Seconds to wait for the card.
    pub timeout: u32,
    pub keep: KeepCard,
    pub keep_at: AbsPath,
    /// How container writes reach the card.
    #[serde(default)]
    pub writes: CardWrites,
    /// With [`CardWrites::Ordered`]: how often, in milliseconds, the kernel's cached
    /// writes are pushed through to the card.
    #[serde(default = "default_flush_ms")]
    pub flush_ms: u32,
}

/// The flush interval when the config names none: committed data is on the card within
/// about two intervals (see [`CardWrites::Ordered`]).
pub const DEFAULT_FLUSH_MS: u32 = 100;

/// Below 10 ms the flushes themselves would keep the card busy; above a minute the
/// ordered mode would lose as much as the buffered one.
pub const FLUSH_MS_RANGE: std::ops::RangeInclusive<u32> = 10..=60_000;

fn default_flush_ms() -> u32 {
    DEFAULT_FLUSH_MS
}

/// How a container's writes travel from block2mtd to the card.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CardWrites {
    /// Through the init's card agent (an NBD device): writes that only program erased
    /// flash go to the card at once, erases and overwrites only after everything written
    /// before them is on the card, and the kernel's cache is flushed every `flush_ms`.
    #[default]
    Ordered,
    /// The classic recipe: a loop device and the kernel's page cache, written back every
    /// ~30 s in no particular order (a power cut can lose committed data).
    Buffered,
}

/// What becomes of the card mount after switch_root.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeepCard {
    /// Moved into the new root at `keep_at`.
    Move,
    /// Lazily detached (`MNT_DETACH`), as the classic recipe did.
    Detach,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// Path of the image on the card, relative to its root.
    pub file: RelPath,
    pub mountpoint: AbsPath,
    pub erase_size: EraseSize,
    label: Option<String>,
    #[serde(default)]
    pub options: Vec<String>,
    /// A layered root (the `/` container only): this squashfs file on the card is the
    /// read-only lower layer, and the container holds the overlay's changes.
    pub base: Option<RelPath>,
}

impl Container {
    /// The MTD name block2mtd gives the device: the configured label, else "rootfs" for
    /// `/` and the mountpoint's last component otherwise (`/usr` → "usr").
    pub fn label(&self) -> String {
        if let Some(l) = &self.label {
            return l.clone();
        }
        match self.mountpoint.0.rsplit('/').next() {
            Some(last) if !last.is_empty() => last.to_string(),
            _ => "rootfs".to_string(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tmpfs {
    pub path: AbsPath,
    /// tmpfs `size=`: bytes, a suffixed size or `N%` of RAM; unlimited tmpfs default when absent.
    pub size: Option<String>,
    /// tmpfs `mode=`, octal.
    pub mode: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    pub path: AbsPath,
    /// Size of the tmpfs holding the upper and work directories.
    pub size: Option<String>,
}

/// A directory kept in RAM and saved to the JFFS2 root (see `flashroot.toml`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RamDir {
    pub path: AbsPath,
    /// tmpfs `size=`, as for `[[tmpfs]]`.
    pub size: Option<String>,
    /// tmpfs `mode=`, octal; the saved directory's own mode when absent.
    pub mode: Option<String>,
    /// `user[:group]` (names from the root's /etc/passwd and /etc/group, or numbers) the
    /// directory gets at every boot; the saved directory's own owner when absent.
    pub owner: Option<String>,
    /// Minutes between saves while the system runs (it is saved at shutdown too).
    #[serde(default = "default_save_minutes")]
    pub save_minutes: u32,
}

/// The module a layered root's base needs; packed whenever a container has a `base`.
pub const SQUASHFS_MODULE: &str = "squashfs";

/// Where the saved copies of the RAM directories live in the root.
pub use flashroot_runtime::ramdir::STORE as RAMDIR_STORE;

/// An hour: see the wear figures in `flashroot.toml`.
pub const DEFAULT_SAVE_MINUTES: u32 = 60;

fn default_save_minutes() -> u32 {
    DEFAULT_SAVE_MINUTES
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Modules {
    pub load: Vec<String>,
    #[serde(default)]
    pub extra: Vec<String>,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

impl Modules {
    /// Every module asked for, `load` then `extra`, without repeats.
    pub fn wanted(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in self.load.iter().chain(&self.extra) {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
        out
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    pub action: FailureAction,
    /// Seconds to wait (showing the error) before the action.
    pub delay: u32,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    Reboot,
    Halt,
    Poweroff,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Initramfs {
    pub compression: Compression,
    /// Host path of a static shell to pack as /bin/sh; empty for none.
    #[serde(default)]
    pub shell: String,
    #[serde(default)]
    pub files: Vec<ExtraFile>,
    #[serde(default)]
    pub gen_init_cpio: Vec<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
    Xz,
    None,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExtraFile {
    pub source: String,
    pub target: AbsPath,
}

/// An absolute path ("/var/log"): refused at parse time when relative.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AbsPath(pub String);

impl AbsPath {
    /// The same path, or one inside the other.
    pub fn overlaps(&self, other: &AbsPath) -> bool {
        let within = |a: &str, b: &str| a.starts_with(b) && a[b.len()..].starts_with('/');
        self == other || within(&self.0, &other.0) || within(&other.0, &self.0)
    }

    /// Checks and normalises a path as written by the user.
    pub fn new(s: &str) -> Result<Self, ValueError> {
        if !s.starts_with('/') {
            return Err(ValueError::NotAbsolute { path: s.into() });
        }
        // "/var/log/" and "/var/log" are the same mountpoint; keep "/" itself.
        let trimmed = s.trim_end_matches('/');
        Ok(Self(if trimmed.is_empty() {
            "/".into()
        } else {
            trimmed.into()
        }))
    }
}

impl<'de> Deserialize<'de> for AbsPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for AbsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A path relative to the card's root ("rootfs.img", "images/usr.img").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelPath(pub String);

impl RelPath {
    /// Checks a path on the card as written by the user; a leading `/` is dropped.
    pub fn new(s: &str) -> Result<Self, ValueError> {
        let s = s.trim_start_matches('/');
        if s.is_empty() || s.split('/').any(|c| c == "..") {
            return Err(ValueError::NotOnCard { path: s.into() });
        }
        Ok(Self(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A JFFS2 erase block size: a power of two, at least [`MIN_ERASE_SIZE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EraseSize(pub u32);

impl EraseSize {
    pub fn check(bytes: u64) -> Result<Self, ValueError> {
        if bytes < MIN_ERASE_SIZE {
            return Err(ValueError::EraseSizeTooSmall {
                bytes,
                min: MIN_ERASE_SIZE,
            });
        }
        if !bytes.is_power_of_two() {
            return Err(ValueError::EraseSizeNotPowerOfTwo { bytes });
        }
        u32::try_from(bytes)
            .map(Self)
            .map_err(|_| ValueError::EraseSizeTooLarge { bytes })
    }
}

impl fmt::Display for EraseSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_size(self.0.into()))
    }
}

impl<'de> Deserialize<'de> for EraseSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Size(bytes) = Size::deserialize(d)?;
        Self::check(bytes).map_err(serde::de::Error::custom)
    }
}

impl Config {
    /// The `/` container (the config guarantees exactly one).
    pub fn root_container(&self) -> &Container {
        self.containers
            .iter()
            .find(|c| c.mountpoint.0 == "/")
            .expect("a validated config has a root container")
    }

    /// The modules to pack: [`Modules::wanted`], plus squashfs for a layered root's base.
    pub fn wanted_modules(&self) -> Vec<String> {
        let mut out = self.modules.wanted();
        if self.containers.iter().any(|c| c.base.is_some())
            && !out.iter().any(|m| m == SQUASHFS_MODULE)
        {
            out.push(SQUASHFS_MODULE.into());
        }
        out
    }

    /// The embedded default. It is tested to parse, so this never fails.
    pub fn embedded_default() -> Self {
        Self::parse(DEFAULT_NAME, DEFAULT_TOML).expect("the embedded default config is valid")
    }

    /// Reads a configuration file; errors name the file.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::at(&name, "", None, "", &format!("cannot read: {e}")))?;
        Self::parse(&name, &text)
    }

    /// Parses and validates `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| ConfigError::at(file, text, e.span().map(|s| s.start), "", e.message()))?;
        let config = Self::deserialize_tracked(file, text, de)?;
        config.check_cross_keys(file, text, &|| MountSpans::read(text))?;
        Ok(config)
    }

    /// Deserializes with the path of the failing key in the error, unknown keys included:
    /// `container[1].erase_size`.
    #[cfg(feature = "path-errors")]
    fn deserialize_tracked(
        file: &str,
        text: &str,
        de: toml::Deserializer<'_>,
    ) -> Result<Self, ConfigError> {
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            let inner = e.into_inner();
            ConfigError::at(
                file,
                text,
                inner.span().map(|s| s.start),
                &key,
                inner.message(),
            )
        })
    }

    /// Without `path-errors` the error has toml's line, column and message but no key.
    #[cfg(not(feature = "path-errors"))]
    fn deserialize_tracked(
        file: &str,
        text: &str,
        de: toml::Deserializer<'_>,
    ) -> Result<Self, ConfigError> {
        Self::deserialize(de)
            .map_err(|e| ConfigError::at(file, text, e.span().map(|s| s.start), "", e.message()))
    }

    /// Rules that span several keys; per-value rules live in the types' constructors.
    /// `spans` finds the values' offsets in `text`, called only to report an error.
    fn check_cross_keys(
        &self,
        file: &str,
        text: &str,
        spans: &dyn Fn() -> MountSpans,
    ) -> Result<(), ConfigError> {
        let at = |key: String, offset: Option<usize>, msg: String| {
            Err(ConfigError::at(file, text, offset, &key, &msg))
        };
        // A handful of containers: linear scans, and no map code in the init.
        for (i, c) in self.containers.iter().enumerate() {
            let earlier = &self.containers[..i];
            if let Some(first) = earlier.iter().position(|e| e.mountpoint == c.mountpoint) {
                return at(
                    format!("container[{i}].mountpoint"),
                    spans().container(i),
                    format!(
                        "{} is already the mountpoint of container[{first}]; each container needs its own",
                        c.mountpoint
                    ),
                );
            }
        }
        match self
            .containers
            .iter()
            .filter(|c| c.mountpoint.0 == "/")
            .count()
        {
            1 => {}
            0 => return at(
                "container".into(),
                None,
                "no container is mounted at \"/\"; one [[container]] must have mountpoint = \"/\""
                    .into(),
            ),
            _ => unreachable!("duplicates were refused above"),
        }
        for (i, c) in self.containers.iter().enumerate() {
            if let Some(base) = &c.base {
                if c.mountpoint.0 != "/" {
                    return at(
                        format!("container[{i}].base"),
                        spans().container(i),
                        format!(
                            "only the root container (mountpoint = \"/\") can have a base, but {} is mounted at {}",
                            c.file, c.mountpoint
                        ),
                    );
                }
                if base == &c.file {
                    return at(
                        format!("container[{i}].base"),
                        spans().container(i),
                        format!("the base {base} cannot be the container's own file"),
                    );
                }
            }
        }
        let labels: Vec<String> = self.containers.iter().map(Container::label).collect();
        for (i, label) in labels.iter().enumerate() {
            if let Some(first) = labels[..i].iter().position(|l| l == label) {
                return at(
                    format!("container[{i}].label"),
                    spans().container(i),
                    format!(
                        "MTD label {label:?} is already used by container[{first}]; set distinct labels"
                    ),
                );
            }
        }
        for (i, r) in self.ramdirs.iter().enumerate() {
            let key = format!("ramdir[{i}].path");
            if r.path.0 == "/" {
                return at(
                    key,
                    None,
                    "the root itself cannot be a RAM directory".into(),
                );
            }
            if r.path.overlaps(&AbsPath(RAMDIR_STORE.into())) {
                return at(
                    key,
                    None,
                    format!(
                        "{} overlaps {RAMDIR_STORE}, where the RAM directories are saved",
                        r.path
                    ),
                );
            }
            if r.save_minutes == 0 {
                return at(
                    format!("ramdir[{i}].save_minutes"),
                    None,
                    "must be at least 1 (it is saved at shutdown as well)".into(),
                );
            }
            let others = self.ramdirs[..i]
                .iter()
                .map(|o| (&o.path, "ramdir"))
                .chain(self.tmpfs.iter().map(|t| (&t.path, "tmpfs")))
                .chain(self.overlays.iter().map(|o| (&o.path, "overlay")));
            for (other, kind) in others {
                if r.path.overlaps(other) {
                    return at(
                        key,
                        None,
                        format!(
                            "{} overlaps the [[{kind}]] at {}: a RAM directory is saved whole, so it must not hold or sit in another RAM mount",
                            r.path, other
                        ),
                    );
                }
            }
        }
        if !FLUSH_MS_RANGE.contains(&self.card.flush_ms) {
            return at(
                "card.flush_ms".into(),
                None,
                format!(
                    "the flush interval must be {} to {} milliseconds, but got {}",
                    FLUSH_MS_RANGE.start(),
                    FLUSH_MS_RANGE.end(),
                    self.card.flush_ms
                ),
            );
        }
        if self.trigger.is_empty() || self.trigger.contains(char::is_whitespace) {
            return at(
                "trigger".into(),
                spans().trigger,
                format!("the trigger must be one word, but got {:?}", self.trigger),
            );
        }
        Ok(())
    }
}

/// Byte offsets of values that cross-key rules point at, read by a second lenient pass
/// of the TOML; only an error pays for it (and only with `path-errors`).
#[derive(Default)]
struct MountSpans {
    containers: Vec<usize>,
    trigger: Option<usize>,
}

impl MountSpans {
    /// Without `path-errors` no spans: cross-key errors name the key but no line.
    #[cfg(not(feature = "path-errors"))]
    fn read(_text: &str) -> Self {
        Self::default()
    }

    #[cfg(feature = "path-errors")]
    fn read(text: &str) -> Self {
        #[derive(Deserialize)]
        struct C {
            mountpoint: toml::Spanned<String>,
        }
        #[derive(Deserialize)]
        struct Doc {
            #[serde(default)]
            container: Vec<C>,
            trigger: Option<toml::Spanned<String>>,
        }
        match toml::from_str::<Doc>(text) {
            Ok(d) => Self {
                containers: d
                    .container
                    .iter()
                    .map(|c| c.mountpoint.span().start)
                    .collect(),
                trigger: d.trigger.map(|t| t.span().start),
            },
            Err(_) => Self::default(),
        }
    }

    fn container(&self, i: usize) -> Option<usize> {
        self.containers.get(i).copied()
    }
}

#[cfg(test)]
mod tests;
