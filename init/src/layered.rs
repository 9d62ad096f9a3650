//! A layered root, as OpenWrt lays out its flash: a read-only squashfs base on the card is
//! the lower layer, the overlay container's JFFS2 holds the upper and work directories,
//! and overlayfs joins them at the new root. Both layers stay mounted under
//! [`LAYERS_DIR`] (inside /run, so they move into the real root) for inspection, and
//! `/run/flashroot/layered` ([`RECORD`]) tells `flashroot reset` and `flashroot overlay`
//! where they came from.
//!
//! Factory reset: a marker file beside the overlay container on the card
//! (`<container>.reset`, [`reset_marker`]) asks for it. The marker is on the card
//! (synced) before anything is deleted, and removed only after the emptied overlay has
//! been flushed to the card, so a power cut at any point ends in the old overlay (the
//! marker never reached the card) or, at the next boot, which finds the marker and resets
//! again, an empty one. Files named in [`KEEP_LIST`] are moved aside first (renames inside
//! the JFFS2, atomic) and moved back into the new upper directory.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::mount::MsFlags;

use crate::containers_file;
use crate::error::BootError;
use crate::plan::{LayeredRoot, ResetCheck, NEW_ROOT};
use crate::sys;

/// Where both layers stay mounted (moves into the real root with /run).
pub const LAYERS_DIR: &str = "/run/flashroot/layers";
/// The squashfs base, read-only.
pub const BASE_DIR: &str = "/run/flashroot/layers/base";
/// The overlay container's JFFS2 (or the failsafe tmpfs): `upper/` and `work/`.
pub const OVERLAY_DIR: &str = "/run/flashroot/layers/overlay";
pub const UPPER: &str = "upper";
pub const WORK: &str = "work";
/// During a reset, the kept files wait here (inside the JFFS2, beside `upper/`).
pub const KEEP_DIR: &str = "keep";
/// Files and directories (absolute paths in the root, one a line, `#` comments) a factory
/// reset keeps, read from the overlay (the user's copy) or else from the base.
pub const KEEP_LIST: &str = "/etc/flashroot/reset-keep";
/// The kernel's name of the base's filesystem.
pub const SQUASHFS_FS: &str = "squashfs";
/// What the boot set up, for the tools on the running system.
pub const RECORD: &str = "/run/flashroot/layered";
/// The reset marker is the container's file name with this suffix.
pub const RESET_SUFFIX: &str = ".reset";
/// The marker's text (its presence is what counts).
const RESET_TEXT: &str = "flashroot factory reset pending\n";

/// The reset marker beside `container` on the card: `overlay.img` → `overlay.img.reset`.
pub fn reset_marker(container: &str) -> String {
    format!("{}{RESET_SUFFIX}", container.trim_start_matches('/'))
}

/// Mounts the base, runs the reset check, prepares the upper layer and mounts the
/// overlayfs at [`NEW_ROOT`]. The squashfs and overlay modules are loaded by the caller.
pub fn setup(l: &LayeredRoot) -> Result<(), BootError> {
    let start = Instant::now();
    let (dev, held) = sys::loopdev::attach_read_only(&l.base)?;
    create_dir(BASE_DIR)?;
    sys::mount::mount(&dev, BASE_DIR, Some(SQUASHFS_FS), MsFlags::MS_RDONLY, "")?;
    // Mounted: the filesystem holds the device now, and autoclear waits for it.
    drop(held);
    info!(
        "layered root: base {} on {dev} mounted read-only at {BASE_DIR} in {} ms",
        l.base,
        start.elapsed().as_millis()
    );
    if let Some(r) = &l.reset {
        reset_check(r)?;
    }
    let upper = format!("{OVERLAY_DIR}/{UPPER}");
    let work = format!("{OVERLAY_DIR}/{WORK}");
    for d in [&upper, &work] {
        create_dir(d)?;
    }
    // The merged root shows the upper directory's owner and mode: give it the base's.
    let meta = std::fs::metadata(BASE_DIR).map_err(|e| BootError::io("base root", BASE_DIR, &e))?;
    if std::fs::metadata(&upper).is_ok_and(|u| {
        u.mode() & 0o7777 != meta.mode() & 0o7777 || u.uid() != meta.uid() || u.gid() != meta.gid()
    }) {
        std::os::unix::fs::chown(&upper, Some(meta.uid()), Some(meta.gid()))
            .map_err(|e| BootError::io("chown upper layer", &upper, &e))?;
        std::fs::set_permissions(
            &upper,
            std::fs::Permissions::from_mode(meta.mode() & 0o7777),
        )
        .map_err(|e| BootError::io("chmod upper layer", &upper, &e))?;
    }
    let data = format!("lowerdir={BASE_DIR},upperdir={upper},workdir={work}");
    let t = Instant::now();
    sys::mount::mount("overlay", NEW_ROOT, Some("overlay"), l.flags, &data)?;
    info!(
        "layered root: overlay mounted at {NEW_ROOT} in {} ms ({}), layered root ready in {} ms",
        t.elapsed().as_millis(),
        if l.failsafe {
            "failsafe: changes go to RAM and are lost at reboot"
        } else {
            "changes go to the overlay container"
        },
        start.elapsed().as_millis()
    );
    if let Err(e) = write_record(l) {
        error!("error: {e}; flashroot reset and flashroot overlay will not find the layers");
    }
    Ok(())
}

fn create_dir(path: &str) -> Result<(), BootError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(|e| BootError::io("create directory", path, &e))
}

/// `/run/flashroot/layered`, tab-separated `key value` lines: `card` (the card in the
/// real root, or `-`), `base` and `overlay` (files on the card), `mode` (`layered` or
/// `failsafe`), `erase_size` (the overlay container's, in bytes).
fn write_record(l: &LayeredRoot) -> Result<(), BootError> {
    let text = format!(
        "card\t{}\nbase\t{}\noverlay\t{}\nmode\t{}\nerase_size\t{}\n",
        l.card_in_root.as_deref().unwrap_or("-"),
        l.base_on_card,
        l.overlay_on_card,
        if l.failsafe { "failsafe" } else { "layered" },
        l.erase_size.0
    );
    std::fs::write(RECORD, text).map_err(|e| BootError::io("write record", RECORD, &e))
}

/// The record's fields, as `flashroot reset` reads them on the running system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub card: Option<String>,
    pub base: String,
    pub overlay: String,
    pub failsafe: bool,
    pub erase_size: u32,
}

/// A record that lacks a line, or whose erase size is not a number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    MissingLine { key: &'static str },
    EraseSize { value: String },
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingLine { key } => write!(f, "no {key} line"),
            Self::EraseSize { value } => write!(f, "erase_size {value:?} is not a number"),
        }
    }
}

impl std::error::Error for RecordError {}

impl Record {
    pub fn parse(text: &str) -> Result<Self, RecordError> {
        let field = |key: &'static str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('\t'))
                .map(str::to_string)
                .ok_or(RecordError::MissingLine { key })
        };
        let card = field("card")?;
        Ok(Self {
            card: (card != "-").then_some(card),
            base: field("base")?,
            overlay: field("overlay")?,
            failsafe: field("mode")? == "failsafe",
            erase_size: {
                let value = field("erase_size")?;
                value
                    .parse()
                    .map_err(|_| RecordError::EraseSize { value })?
            },
        })
    }
}

/// Writes the reset marker `path` and makes it durable on the card: the file's data,
/// then its directory entry (fsync of the directory).
pub fn write_marker(path: &Path) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(RESET_TEXT.as_bytes())?;
    f.sync_all()?;
    sync_parent(path)
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    std::fs::File::open(parent)?.sync_all()
}

/// The factory reset, if asked for (by the command line, or by a marker on the card).
fn reset_check(r: &ResetCheck) -> Result<(), BootError> {
    let marker = Path::new(&r.marker);
    if r.requested && !marker.exists() {
        write_marker(marker).map_err(|e| BootError::io("write reset marker", &r.marker, &e))?;
        info!("factory reset: wrote {} (flashroot.reset)", r.marker);
    }
    if !marker.exists() {
        return Ok(());
    }
    let start = Instant::now();
    info!(
        "factory reset: {} is on the card: emptying the overlay {OVERLAY_DIR}",
        r.marker
    );
    let kept = empty_overlay(Path::new(OVERLAY_DIR), Path::new(BASE_DIR))
        .map_err(|(path, e)| BootError::io("factory reset", path.display().to_string(), &e))?;
    flush_container(&r.label)?;
    std::fs::remove_file(marker)
        .map_err(|e| BootError::io("remove reset marker", &r.marker, &e))?;
    sync_parent(marker).map_err(|e| BootError::io("sync the card", &r.marker, &e))?;
    info!(
        "factory reset: done in {} ms: the overlay is empty{}",
        start.elapsed().as_millis(),
        if kept.is_empty() {
            String::new()
        } else {
            format!(" but for {} (kept)", kept.join(" "))
        }
    );
    Ok(())
}

type ResetError = (PathBuf, std::io::Error);

/// Empties `overlay` (its `upper/` and `work/`), keeping the paths the keep list names.
/// Safe to run again after an interruption: kept files wait in `keep/` until the new
/// `upper/` exists. Returns the paths kept.
pub fn empty_overlay(overlay: &Path, base: &Path) -> Result<Vec<String>, ResetError> {
    let upper = overlay.join(UPPER);
    let staging = overlay.join(KEEP_DIR);
    let keep = keep_list(&upper, &staging, base);
    for path in &keep {
        let rel = path.trim_start_matches('/');
        let (from, to) = (upper.join(rel), staging.join(rel));
        if from.symlink_metadata().is_ok() && to.symlink_metadata().is_err() {
            make_parents(&upper, &staging, rel)?;
            std::fs::rename(&from, &to).map_err(|e| (from.clone(), e))?;
        }
    }
    for d in [UPPER, WORK] {
        let p = overlay.join(d);
        match std::fs::remove_dir_all(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err((p, e)),
        }
    }
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&upper)
        .map_err(|e| (upper.clone(), e))?;
    let mut kept = Vec::new();
    if staging.is_dir() {
        for e in std::fs::read_dir(&staging).map_err(|e| (staging.clone(), e))? {
            let e = e.map_err(|e| (staging.clone(), e))?;
            let to = upper.join(e.file_name());
            std::fs::rename(e.path(), &to).map_err(|err| (e.path(), err))?;
        }
        std::fs::remove_dir(&staging).map_err(|e| (staging.clone(), e))?;
        kept = keep
            .into_iter()
            .filter(|p| {
                upper
                    .join(p.trim_start_matches('/'))
                    .symlink_metadata()
                    .is_ok()
            })
            .collect();
    }
    Ok(kept)
}

/// The keep list: the overlay's copy, else one left in `keep/` by an interrupted reset,
/// else the base's; the list itself is kept when it is the overlay's.
fn keep_list(upper: &Path, staging: &Path, base: &Path) -> Vec<String> {
    let rel = KEEP_LIST.trim_start_matches('/');
    let text = [upper.join(rel), staging.join(rel), base.join(rel)]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let mut out = vec![KEEP_LIST.to_string()];
    out.extend(parse_keep_list(&text));
    out
}

/// Absolute paths, one a line; blank lines, `#` comments and relative or `..` paths are
/// skipped.
pub fn parse_keep_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('/') && l.len() > 1)
        .filter(|l| !l.split('/').any(|c| c == ".."))
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

/// Creates the parents of `staging/rel` with the owners and modes of those in `upper`.
fn make_parents(upper: &Path, staging: &Path, rel: &str) -> Result<(), ResetError> {
    let mut from = upper.to_path_buf();
    let mut to = staging.to_path_buf();
    if to.symlink_metadata().is_err() {
        std::fs::create_dir(&to).map_err(|e| (to.clone(), e))?;
    }
    let parents: Vec<&str> = rel.split('/').collect();
    for c in &parents[..parents.len().saturating_sub(1)] {
        from.push(c);
        to.push(c);
        if to.symlink_metadata().is_ok() {
            continue;
        }
        let meta = from.metadata().map_err(|e| (from.clone(), e))?;
        std::fs::create_dir(&to).map_err(|e| (to.clone(), e))?;
        std::os::unix::fs::chown(&to, Some(meta.uid()), Some(meta.gid()))
            .map_err(|e| (to.clone(), e))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| (to.clone(), e))?;
    }
    Ok(())
}

/// Pushes the overlay container's writes to the card: fsync of its block device (three
/// for the card agent, which writes a held erase only at the flush after next).
fn flush_container(label: &str) -> Result<(), BootError> {
    let text = std::fs::read_to_string(containers_file::PATH)
        .map_err(|e| BootError::io("flush the overlay", containers_file::PATH, &e))?;
    let record = containers_file::parse(&text)
        .map_err(|e| BootError::new("flush the overlay", containers_file::PATH, e.to_string()))?;
    let Some(c) = record.containers.iter().find(|c| c.label == label) else {
        return Err(BootError::new(
            "flush the overlay",
            containers_file::PATH,
            format!("no container labelled {label}"),
        ));
    };
    let dev = &c.device;
    if dev.starts_with("/dev/nbd") {
        let f = sys::nbd::open_device(dev)?;
        for _ in 0..3 {
            sys::nbd::flush(&f, dev)?;
        }
    } else {
        let f = sys::loopdev::open_device(dev)?;
        sys::loopdev::flush(&f, dev)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_sits_beside_the_container() {
        assert_eq!(reset_marker("overlay.img"), "overlay.img.reset");
        assert_eq!(reset_marker("/img/o.img"), "img/o.img.reset");
    }

    #[test]
    fn keep_list_takes_absolute_paths_only() {
        assert_eq!(
            parse_keep_list("# config\n/etc/hostname\n\nrelative\n/etc/ssh/\n/../x\n/\n"),
            vec!["/etc/hostname", "/etc/ssh"]
        );
    }

    #[test]
    fn the_record_reads_back() {
        let r = Record::parse(
            "card\t/run/flashroot/card\nbase\tbase.sqfs\noverlay\trootfs.img\nmode\tlayered\nerase_size\t65536\n",
        )
        .unwrap();
        assert_eq!(r.erase_size, 65536);
        assert_eq!(r.card.as_deref(), Some("/run/flashroot/card"));
        assert_eq!(
            (r.base.as_str(), r.overlay.as_str(), r.failsafe),
            ("base.sqfs", "rootfs.img", false)
        );
        assert_eq!(
            Record::parse("card\t-\n").unwrap_err().to_string(),
            "no base line"
        );
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = walk(dir)
            .into_iter()
            .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
            .collect();
        out.sort();
        out
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.clone());
            if p.symlink_metadata().unwrap().is_dir() {
                out.extend(walk(&p));
            }
        }
        out
    }

    #[test]
    fn a_reset_empties_upper_and_work_but_keeps_the_listed_files() {
        let dir = tempfile::tempdir().unwrap();
        let (overlay, base) = (dir.path().join("ov"), dir.path().join("base"));
        for d in [
            "upper/etc/flashroot",
            "upper/etc/ssh",
            "upper/var/lib",
            "work/work",
        ] {
            std::fs::create_dir_all(overlay.join(d)).unwrap();
        }
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(
            overlay.join("upper/etc/flashroot/reset-keep"),
            "/etc/hostname\n/etc/ssh\n/nope\n",
        )
        .unwrap();
        std::fs::write(overlay.join("upper/etc/hostname"), "box\n").unwrap();
        std::fs::write(overlay.join("upper/etc/ssh/key"), "k\n").unwrap();
        std::fs::write(overlay.join("upper/etc/passwd"), "changed\n").unwrap();
        std::fs::write(overlay.join("upper/var/lib/state"), "s\n").unwrap();
        let kept = empty_overlay(&overlay, &base).unwrap();
        assert_eq!(
            kept,
            vec!["/etc/flashroot/reset-keep", "/etc/hostname", "/etc/ssh"]
        );
        assert_eq!(
            files(&overlay),
            vec![
                "upper",
                "upper/etc",
                "upper/etc/flashroot",
                "upper/etc/flashroot/reset-keep",
                "upper/etc/hostname",
                "upper/etc/ssh",
                "upper/etc/ssh/key"
            ]
        );
    }

    #[test]
    fn an_interrupted_reset_finishes_with_the_files_it_had_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let (overlay, base) = (dir.path().join("ov"), dir.path().join("base"));
        // Cut after /etc/hostname was moved aside and upper/ half deleted.
        std::fs::create_dir_all(overlay.join("keep/etc")).unwrap();
        std::fs::create_dir_all(overlay.join("upper/usr")).unwrap();
        std::fs::create_dir_all(base.join("etc/flashroot")).unwrap();
        std::fs::write(base.join("etc/flashroot/reset-keep"), "/etc/hostname\n").unwrap();
        std::fs::write(overlay.join("keep/etc/hostname"), "box\n").unwrap();
        std::fs::write(overlay.join("upper/usr/left"), "x\n").unwrap();
        let kept = empty_overlay(&overlay, &base).unwrap();
        assert_eq!(kept, vec!["/etc/hostname"]);
        assert_eq!(
            files(&overlay),
            vec!["upper", "upper/etc", "upper/etc/hostname"]
        );
        // Run again (a cut before the marker was removed): the same result.
        empty_overlay(&overlay, &base).unwrap();
        assert_eq!(
            files(&overlay),
            vec!["upper", "upper/etc", "upper/etc/hostname"]
        );
    }
}
