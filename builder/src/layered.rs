//! A layered root's pieces on the host: the empty overlay container that goes beside the
//! squashfs base ([`crate::squashfs`]). The init's side, mounting the layers and the factory
//! reset, is `flashroot_init::layered`; the names both use are `flashroot_runtime::layered`.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use flashroot_runtime::layered::{UPPER, WORK};

use crate::jffs2;

/// The one error type of the layered root's host side: each variant names the path.
#[derive(Debug)]
pub enum Error {
    /// A file operation (`action`: "create", "stat", "chmod", "set \"user.x\" on"...) on `path`.
    Io(crate::file_error::FileError),
    /// Walking the tree under `dir` failed.
    Walk {
        dir: PathBuf,
        source: walkdir::Error,
    },
    /// Writing the overlay container's JFFS2 image failed (the JFFS2 writer's error).
    Jffs2(Box<dyn std::error::Error + Send + Sync>),
    /// A syslinux.cfg without the entry to fold.
    NoEntry { label: String },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Walk { dir, source } => write!(f, "cannot read {}: {source}", dir.display()),
            Self::Jffs2(e) => write!(f, "{e}"),
            Self::NoEntry { label } => {
                write!(f, "syslinux.cfg has no LABEL {label} entry to fold")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(&e.source),
            Self::Walk { source, .. } => Some(source),
            Self::Jffs2(e) => Some(e.as_ref()),
            Self::NoEntry { .. } => None,
        }
    }
}

/// A failed file operation: "cannot {action} {path}: {error}".
fn io(action: impl Into<String>, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let make = crate::file_error::FileError::at(action, path.to_path_buf());
    move |source| Error::Io(make(source))
}

/// The overlay container's size when `import-root --layered` is given no `--pad`: room
/// for upgrades of a minimal Debian (an upgraded package costs its whole size again).
pub const DEFAULT_OVERLAY_BYTES: u64 = 64 << 20;

/// Erase blocks an overlay container can have and still mount in a few tenths of a
/// second under QEMU TCG: the JFFS2 mount reads the first and last page of every erase
/// block, empty or not, which the init reads ahead from the card, about a millisecond a
/// block (BENCHMARKS.md).
pub const FAST_MOUNT_BLOCKS: u64 = 128;

/// A note for an overlay container with more erase blocks than [`FAST_MOUNT_BLOCKS`]: the
/// erase size that would mount it as fast, for the config and the image alike.
pub fn slow_mount_note(report: &jffs2::Report) -> Option<String> {
    if report.blocks_total <= FAST_MOUNT_BLOCKS {
        return None;
    }
    let bytes = report.blocks_total * report.erase_size as u64;
    let fast = (bytes / FAST_MOUNT_BLOCKS)
        .next_power_of_two()
        .max(report.erase_size as u64);
    Some(format!(
        "note: the overlay container has {} erase blocks of {} KiB; the JFFS2 mount at boot reads each one, so it takes about {} ms under QEMU; with erase_size = \"{}KiB\" in the config (the image made again) it would take a fraction of that",
        report.blocks_total,
        report.erase_size >> 10,
        report.blocks_total,
        fast >> 10
    ))
}

/// Writes the empty overlay container: a JFFS2 image holding only `upper/` and `work/`
/// (mode 0755, owned by root whoever runs this), so that the first boot writes nothing
/// to set it up.
pub fn write_empty_overlay(out: &Path, options: &jffs2::Options) -> Result<jffs2::Report, Error> {
    let mut name = out.as_os_str().to_os_string();
    name.push(format!(".flashroot-overlay-{}", std::process::id()));
    let scratch = PathBuf::from(name);
    let result = (|| {
        for d in [Path::new(""), Path::new(UPPER), Path::new(WORK)] {
            let p = scratch.join(d);
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(&p)
                .map_err(io("create", &p))?;
        }
        let mut options = options.clone();
        options.squash.owners = true;
        jffs2::write_image(&scratch, out, &options).map_err(|e| Error::Jffs2(e.into()))
    })();
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(io("remove the scratch directory", &scratch))?;
    }
    result
}

/// What the overlay holds against the base: the files copied up from the base (changed
/// on the running system, each costing its whole size again), the files the base does
/// not have, and the base's files hidden by whiteouts (deleted, freeing nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverlayUsage {
    /// `(path in the root, size in bytes)`, largest first.
    pub copied_up: Vec<(String, u64)>,
    pub added: Vec<(String, u64)>,
    /// Paths deleted from the base (whiteouts in the overlay).
    pub deleted: Vec<String>,
}

impl OverlayUsage {
    pub fn copied_up_bytes(&self) -> u64 {
        self.copied_up.iter().map(|(_, b)| b).sum()
    }

    pub fn added_bytes(&self) -> u64 {
        self.added.iter().map(|(_, b)| b).sum()
    }
}

/// Compares the overlay's `upper` directory with the `base` it lies on. Sizes are the
/// files' own (JFFS2 compresses them on the card).
pub fn overlay_usage(upper: &Path, base: &Path) -> Result<OverlayUsage, Error> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut usage = OverlayUsage::default();
    for entry in walkdir::WalkDir::new(upper).min_depth(1) {
        let entry = entry.map_err(|source| Error::Walk {
            dir: upper.to_path_buf(),
            source,
        })?;
        let rel = entry
            .path()
            .strip_prefix(upper)
            .expect("walkdir stays under its root");
        let in_root = format!("/{}", rel.display());
        let meta = entry.metadata().map_err(|source| Error::Walk {
            dir: upper.to_path_buf(),
            source,
        })?;
        let ft = meta.file_type();
        if ft.is_dir() {
            continue;
        }
        // overlayfs's whiteout: a character device 0:0.
        if ft.is_char_device() && meta.rdev() == 0 {
            usage.deleted.push(in_root);
            continue;
        }
        let bytes = if ft.is_file() { meta.len() } else { 0 };
        if base.join(rel).symlink_metadata().is_ok() {
            usage.copied_up.push((in_root, bytes));
        } else {
            usage.added.push((in_root, bytes));
        }
    }
    for list in [&mut usage.copied_up, &mut usage.added] {
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    usage.deleted.sort();
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_tells_copied_up_from_added_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (upper, base) = (dir.path().join("upper"), dir.path().join("base"));
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::create_dir_all(base.join("etc")).unwrap();
        std::fs::write(base.join("etc/passwd"), "old\n").unwrap();
        std::fs::write(base.join("etc/gone"), "x\n").unwrap();
        std::fs::write(upper.join("etc/passwd"), "changed passwd\n").unwrap();
        std::fs::write(upper.join("etc/new"), "n\n").unwrap();
        nix::sys::stat::mknod(
            &upper.join("etc/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            0,
        )
        .expect("mknod of a whiteout (the tests run as root)");
        let u = overlay_usage(&upper, &base).unwrap();
        assert_eq!(u.copied_up, vec![("/etc/passwd".to_string(), 15)]);
        assert_eq!(u.added, vec![("/etc/new".to_string(), 2)]);
        assert_eq!(u.deleted, vec!["/etc/gone".to_string()]);
        assert_eq!((u.copied_up_bytes(), u.added_bytes()), (15, 2));
    }

    /// 512 blocks of 32 KiB get the note, naming the erase size of 128 blocks; 128 blocks
    /// of 128 KiB mount fast and get none.
    #[test]
    fn an_overlay_of_many_blocks_gets_a_note_naming_a_faster_erase_size() {
        let dir = tempfile::tempdir().unwrap();
        let overlay = |erase_size: u32| {
            let options = jffs2::Options {
                erase_size,
                pad_to: Some(16 << 20),
                ..Default::default()
            };
            write_empty_overlay(&dir.path().join("rootfs.img"), &options).unwrap()
        };
        let note = slow_mount_note(&overlay(32 << 10)).expect("a note for 512 blocks");
        assert!(note.contains("512 erase blocks of 32 KiB"), "{note}");
        assert!(note.contains("erase_size = \"128KiB\""), "{note}");
        assert_eq!(slow_mount_note(&overlay(128 << 10)), None);
    }
}

/// Each `flashroot fold` writes its base and empty overlay container into a new
/// directory on the card, `fold-<N>`, and points the boot entries at it.
pub const GENERATION_PREFIX: &str = "fold-";
/// The boot entry `flashroot fold` adds for the state before the fold.
pub const LABEL_ROLLBACK: &str = "rollback";

/// The next unused `fold-<N>` on the card.
pub fn next_generation(card: &Path) -> Result<String, Error> {
    let mut last = 0u32;
    for e in std::fs::read_dir(card).map_err(io("list", card))? {
        let name = e
            .map_err(io("list", card))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if let Some(n) = name
            .strip_prefix(GENERATION_PREFIX)
            .and_then(|n| n.parse::<u32>().ok())
        {
            last = last.max(n);
        }
    }
    Ok(format!("{GENERATION_PREFIX}{}", last + 1))
}

/// `words` with each `key=` word replaced by `key=value` (added before a `--`, whose
/// words go to the real init, when missing).
pub fn set_words(words: &str, settings: &[(&str, &str)]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut tail: Vec<String> = Vec::new();
    let mut after_dashes = false;
    for w in words.split_whitespace() {
        if w == "--" {
            after_dashes = true;
        }
        if after_dashes {
            tail.push(w.to_string());
        } else if !settings
            .iter()
            .any(|(k, _)| w.strip_prefix(k).is_some_and(|r| r.starts_with('=')))
        {
            out.push(w.to_string());
        }
    }
    out.extend(settings.iter().map(|(k, v)| format!("{k}={v}")));
    out.extend(tail);
    out.join(" ")
}

/// The value of `key=` on the APPEND line of `label`'s entry in a syslinux.cfg.
pub fn entry_word(cfg: &str, label: &str, key: &str) -> Option<String> {
    let mut in_entry = false;
    for line in cfg.lines() {
        let t = line.trim();
        if let Some(l) = t.strip_prefix("LABEL ") {
            in_entry = l.trim() == label;
        } else if let (true, Some(words)) = (in_entry, t.strip_prefix("APPEND ")) {
            return words
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('=').map(str::to_string));
        }
    }
    None
}

/// `syslinux.cfg` after a fold: the default `flashroot` entry and the `failsafe` one boot
/// the `new` base and overlay (card paths); a `rollback` entry (replacing an older one)
/// boots the `old` ones with the default entry's kernel and initramfs. Fails when the
/// file has no `flashroot` entry.
pub fn fold_syslinux_cfg(
    text: &str,
    default_label: &str,
    failsafe_label: &str,
    new: (&str, &str),
    old: (&str, &str),
) -> Result<String, Error> {
    use flashroot_runtime::keys::{KEY_BASE, KEY_CONTAINER};
    // Split into the header and the entries, each from its LABEL line.
    let mut blocks: Vec<Vec<String>> = vec![Vec::new()];
    for line in text.lines() {
        if line.trim_start().starts_with("LABEL ") {
            blocks.push(Vec::new());
        }
        blocks
            .last_mut()
            .expect("one block at least")
            .push(line.to_string());
    }
    let label_of = |b: &[String]| {
        b.first()
            .and_then(|l| l.trim_start().strip_prefix("LABEL "))
            .map(|l| l.trim().to_string())
    };
    let Some(default) = blocks
        .iter()
        .find(|b| label_of(b).as_deref() == Some(default_label))
        .cloned()
    else {
        return Err(Error::NoEntry {
            label: default_label.to_string(),
        });
    };
    let set = |block: &[String], base: &str, container: &str, label: Option<&str>| {
        block
            .iter()
            .map(|l| {
                let t = l.trim_start();
                if let (Some(label), true) = (label, t.starts_with("LABEL ")) {
                    return format!("LABEL {label}");
                }
                match t.strip_prefix("APPEND ") {
                    Some(words) => format!(
                        "  APPEND {}",
                        set_words(words, &[(KEY_BASE, base), (KEY_CONTAINER, container)])
                    ),
                    None => l.clone(),
                }
            })
            .collect::<Vec<_>>()
    };
    let mut out: Vec<String> = Vec::new();
    for b in &blocks {
        match label_of(b).as_deref() {
            Some(l) if l == default_label || l == failsafe_label => {
                out.extend(set(b, new.0, new.1, None))
            }
            Some(LABEL_ROLLBACK) => {}
            _ => out.extend(b.iter().cloned()),
        }
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out.push(String::new());
    out.extend(set(&default, old.0, old.1, Some(LABEL_ROLLBACK)));
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    Ok(out.join("\n") + "\n")
}

#[cfg(test)]
mod fold_tests {
    use super::*;

    #[test]
    fn words_are_replaced_or_added_before_the_init_arguments() {
        assert_eq!(
            set_words(
                "root=mtd:rootfs mtd flashroot.base=a -- single",
                &[("flashroot.base", "b"), ("flashroot.container", "c")]
            ),
            "root=mtd:rootfs mtd flashroot.base=b flashroot.container=c -- single"
        );
        assert_eq!(
            set_words("mtd flashroot.based=x", &[("flashroot.base", "b")]),
            "mtd flashroot.based=x flashroot.base=b"
        );
    }

    #[test]
    fn a_fold_points_default_and_failsafe_at_the_new_generation_and_adds_rollback() {
        let boot = crate::card::BootConfig {
            root_label: "rootfs".into(),
            trigger: "mtd".into(),
            conventional_root: "/dev/sda2".into(),
            append: "console=ttyS0".into(),
            layered: true,
        };
        let cfg = crate::card::syslinux_cfg::render(&boot);
        let once = fold_syslinux_cfg(
            &cfg,
            "flashroot",
            "failsafe",
            ("fold-1/base.sqfs", "fold-1/rootfs.img"),
            ("base.sqfs", "rootfs.img"),
        )
        .unwrap();
        assert!(once.contains("LABEL flashroot\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.img root=mtd:rootfs rootfstype=jffs2 mtd console=ttyS0 flashroot.base=fold-1/base.sqfs flashroot.container=fold-1/rootfs.img\n"), "{once}");
        assert!(once.contains("LABEL failsafe\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.img root=mtd:rootfs rootfstype=jffs2 mtd flashroot.failsafe console=ttyS0 flashroot.base=fold-1/base.sqfs flashroot.container=fold-1/rootfs.img\n"), "{once}");
        assert!(once.ends_with("\nLABEL rollback\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.img root=mtd:rootfs rootfstype=jffs2 mtd console=ttyS0 flashroot.base=base.sqfs flashroot.container=rootfs.img\n"), "{once}");
        assert!(once.contains("LABEL previous\n"), "{once}");
        // A second fold replaces the rollback entry: one, for fold-1.
        let twice = fold_syslinux_cfg(
            &once,
            "flashroot",
            "failsafe",
            ("fold-2/base.sqfs", "fold-2/rootfs.img"),
            ("fold-1/base.sqfs", "fold-1/rootfs.img"),
        )
        .unwrap();
        assert_eq!(twice.matches("LABEL rollback").count(), 1, "{twice}");
        assert!(
            twice.ends_with(
                "flashroot.base=fold-1/base.sqfs flashroot.container=fold-1/rootfs.img\n"
            ),
            "{twice}"
        );
        assert!(fold_syslinux_cfg(
            "DEFAULT x\n",
            "flashroot",
            "failsafe",
            ("a", "b"),
            ("c", "d")
        )
        .unwrap_err()
        .to_string()
        .contains("no LABEL flashroot"));
    }

    #[test]
    fn generations_count_up() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(next_generation(dir.path()).unwrap(), "fold-1");
        std::fs::create_dir(dir.path().join("fold-7")).unwrap();
        std::fs::create_dir(dir.path().join("fold-x")).unwrap();
        assert_eq!(next_generation(dir.path()).unwrap(), "fold-8");
    }
}

/// The prefix of overlayfs's own extended attributes (opaque directories, redirects),
/// which mean nothing in a folded base.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What [`apply_upper`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub copied: usize,
    pub deleted: usize,
    pub opaque: usize,
}

/// Folds an overlay's `upper` directory (extracted from its container) into `merged` (the
/// base, extracted), as overlayfs would show them together: a whiteout (character device
/// 0:0) deletes the base's entry, an opaque directory (`trusted.overlay.opaque=y`)
/// replaces the base's directory, anything else replaces the base's entry of that name
/// with owner, mode, times and extended attributes (overlayfs's own left out). Hard links
/// inside the overlay become copies.
pub fn apply_upper(upper: &Path, merged: &Path) -> Result<Applied, Error> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut done = Applied::default();
    let walk = walkdir::WalkDir::new(upper)
        .min_depth(1)
        .sort_by_file_name()
        .follow_links(false);
    for entry in walk {
        let entry = entry.map_err(|source| Error::Walk {
            dir: upper.to_path_buf(),
            source,
        })?;
        let rel = entry.path().strip_prefix(upper).expect("under upper");
        let to = merged.join(rel);
        let meta = entry
            .path()
            .symlink_metadata()
            .map_err(io("stat", entry.path()))?;
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            remove_any(&to)?;
            done.deleted += 1;
            continue;
        }
        if ft.is_dir() {
            let opaque = xattr::get(entry.path(), OPAQUE_XATTR)
                .ok()
                .flatten()
                .is_some_and(|v| v == b"y");
            let is_dir = to.symlink_metadata().is_ok_and(|m| m.is_dir());
            if opaque || !is_dir {
                remove_any(&to)?;
                std::fs::create_dir(&to).map_err(io("create", &to))?;
                done.opaque += usize::from(opaque);
            }
        } else {
            remove_any(&to)?;
            if ft.is_symlink() {
                let target =
                    std::fs::read_link(entry.path()).map_err(io("read the link", entry.path()))?;
                std::os::unix::fs::symlink(&target, &to).map_err(io("create", &to))?;
            } else if ft.is_file() {
                std::fs::copy(entry.path(), &to).map_err(io("copy", entry.path()))?;
            } else {
                let kind = nix::sys::stat::SFlag::from_bits_truncate(meta.mode() & libc_s_ifmt());
                nix::sys::stat::mknod(
                    &to,
                    kind,
                    nix::sys::stat::Mode::from_bits_truncate(meta.mode() & 0o7777),
                    meta.rdev(),
                )
                .map_err(|e| io("create", &to)(e.into()))?;
            }
            done.copied += 1;
        }
        copy_attributes(entry.path(), &to, &meta)?;
    }
    Ok(done)
}

/// `S_IFMT`: the file type bits of `st_mode`.
fn libc_s_ifmt() -> u32 {
    0o170000
}

/// Owner, mode, times and extended attributes (overlayfs's own left out) of `from` on `to`.
fn copy_attributes(from: &Path, to: &Path, meta: &std::fs::Metadata) -> Result<(), Error> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid())).map_err(io("chown", to))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io("chmod", to))?;
    for name in xattr::list(to).into_iter().flatten() {
        if name.as_bytes().starts_with(OVERLAY_XATTR_PREFIX) {
            let _ = xattr::remove(to, &name);
        }
    }
    for name in xattr::list(from).into_iter().flatten() {
        if name.as_bytes().starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        if let Ok(Some(value)) = xattr::get(from, &name) {
            xattr::set(to, &name, &value).map_err(io(format!("set {name:?} on"), to))?;
        }
    }
    if let Ok(modified) = meta.modified() {
        if let Ok(f) = std::fs::File::open(to) {
            let _ = f.set_modified(modified);
        }
    }
    Ok(())
}

fn remove_any(path: &Path) -> Result<(), Error> {
    match path.symlink_metadata() {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).map_err(io("remove", path)),
        Ok(_) => std::fs::remove_file(path).map_err(io("remove", path)),
    }
}

#[cfg(test)]
mod apply_tests {
    use super::*;

    #[test]
    fn whiteouts_delete_opaque_dirs_replace_and_files_win() {
        let dir = tempfile::tempdir().unwrap();
        let (upper, merged) = (dir.path().join("upper"), dir.path().join("merged"));
        for d in ["etc/old", "opt/app", "var"] {
            std::fs::create_dir_all(merged.join(d)).unwrap();
        }
        std::fs::write(merged.join("etc/old/conf"), "x").unwrap();
        std::fs::write(merged.join("etc/passwd"), "base").unwrap();
        std::fs::write(merged.join("opt/app/stale"), "s").unwrap();
        for d in ["etc", "opt/app", "var/new"] {
            std::fs::create_dir_all(upper.join(d)).unwrap();
        }
        std::fs::write(upper.join("etc/passwd"), "changed").unwrap();
        std::fs::write(upper.join("opt/app/fresh"), "f").unwrap();
        xattr::set(upper.join("opt/app"), OPAQUE_XATTR, b"y").unwrap();
        std::fs::write(upper.join("var/new/file"), "n").unwrap();
        nix::sys::stat::mknod(
            &upper.join("etc/old"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            0,
        )
        .unwrap();
        let done = apply_upper(&upper, &merged).unwrap();
        assert_eq!(
            done,
            Applied {
                copied: 3,
                deleted: 1,
                opaque: 1
            }
        );
        assert!(!merged.join("etc/old").exists());
        assert_eq!(
            std::fs::read_to_string(merged.join("etc/passwd")).unwrap(),
            "changed"
        );
        assert!(!merged.join("opt/app/stale").exists());
        assert_eq!(
            std::fs::read_to_string(merged.join("opt/app/fresh")).unwrap(),
            "f"
        );
        assert!(xattr::get(merged.join("opt/app"), OPAQUE_XATTR)
            .unwrap()
            .is_none());
        assert_eq!(
            std::fs::read_to_string(merged.join("var/new/file")).unwrap(),
            "n"
        );
    }
}
