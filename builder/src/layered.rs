//! A layered root's pieces on the host: the empty overlay container that goes beside the
//! squashfs base ([`crate::squashfs`]). The init's side, the layout inside the container
//! and the factory reset, is `flashroot_init::layered`.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use flashroot_init::layered::{UPPER, WORK};

use crate::jffs2;

/// The overlay container's size when `import-root --layered` is given no `--pad`: room
/// for upgrades of a minimal Debian (an upgraded package costs its whole size again).
pub const DEFAULT_OVERLAY_BYTES: u64 = 64 << 20;

/// Writes the empty overlay container: a JFFS2 image holding only `upper/` and `work/`
/// (mode 0755, owned by root whoever runs this), so that the first boot writes nothing
/// to set it up.
pub fn write_empty_overlay(out: &Path, options: &jffs2::Options) -> anyhow::Result<jffs2::Report> {
    let mut name = out.as_os_str().to_os_string();
    name.push(format!(".flashroot-overlay-{}", std::process::id()));
    let scratch = PathBuf::from(name);
    let result = (|| {
        for d in [Path::new(""), Path::new(UPPER), Path::new(WORK)] {
            let p = scratch.join(d);
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(&p)
                .with_context(|| format!("cannot create {}", p.display()))?;
        }
        let mut options = options.clone();
        options.squash.owners = true;
        jffs2::write_image(&scratch, out, &options)
    })();
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).with_context(|| {
            format!("cannot remove the scratch directory {}", scratch.display())
        })?;
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
pub fn overlay_usage(upper: &Path, base: &Path) -> anyhow::Result<OverlayUsage> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut usage = OverlayUsage::default();
    for entry in walkdir::WalkDir::new(upper).min_depth(1) {
        let entry = entry.with_context(|| format!("cannot read {}", upper.display()))?;
        let rel = entry
            .path()
            .strip_prefix(upper)
            .expect("walkdir stays under its root");
        let in_root = format!("/{}", rel.display());
        let meta = entry
            .metadata()
            .with_context(|| format!("cannot stat {}", entry.path().display()))?;
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
}
