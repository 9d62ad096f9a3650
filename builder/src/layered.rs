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
