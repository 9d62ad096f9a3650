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

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::mount::MsFlags;

use crate::error::BootError;
use crate::plan::{LayeredRoot, ResetCheck, NEW_ROOT};
use crate::record;
use crate::sys;

use flashroot_runtime::layered::sync_parent;
pub use flashroot_runtime::layered::{
    reset_marker, write_marker, Record, RecordError, BASE_DIR, LAYERS_DIR, OVERLAY_DIR, RECORD,
    RESET_SUFFIX, UPPER, WORK,
};

/// During a reset, the kept files wait here (inside the JFFS2, beside `upper/`).
pub const KEEP_DIR: &str = "keep";
/// Files and directories (absolute paths in the root, one a line, `#` comments) a factory
/// reset keeps, read from the overlay (the user's copy) or else from the base.
pub const KEEP_LIST: &str = "/etc/flashroot/reset-keep";
/// The kernel's name of the base's filesystem.
pub const SQUASHFS_FS: &str = "squashfs";

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

/// [`RECORD`], for `flashroot reset`, `flashroot overlay` and `flashroot fold`.
fn write_record(l: &LayeredRoot) -> Result<(), BootError> {
    let record = Record {
        card: l.card_in_root.clone(),
        base: l.base_on_card.clone(),
        overlay: l.overlay_on_card.clone(),
        failsafe: l.failsafe,
        erase_size: l.erase_size.0,
    };
    std::fs::write(RECORD, record.text()).map_err(|e| BootError::io("write record", RECORD, &e))
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
    let dev = &record::container_device(label, "flush the overlay")?;
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
    fn keep_list_takes_absolute_paths_only() {
        assert_eq!(
            parse_keep_list("# config\n/etc/hostname\n\nrelative\n/etc/ssh/\n/../x\n/\n"),
            vec!["/etc/hostname", "/etc/ssh"]
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
