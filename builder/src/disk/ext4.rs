//! ext4 images for normal (non-flash) boot tests, made by `mkfs.ext4 -d` without root or mounts.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

/// The program and the Debian package that provides it.
const MKFS_EXT4: &str = "mkfs.ext4";
const MKFS_EXT4_PACKAGE: &str = "e2fsprogs";

/// What the ext4 filesystem should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext4Options {
    /// Image size in bytes (a multiple of 1024).
    pub size: u64,
    /// Filesystem UUID (`UUID=` on the kernel command line), e.g. `0f1e2d3c-...`.
    pub uuid: String,
    /// Volume label (`LABEL=`), at most 16 bytes.
    pub label: Option<String>,
}

/// `mkfs.ext4` takes the size with an explicit `k` suffix.
const KIB: u64 = 1024;

/// Writes an ext4 filesystem image at `image` whose root holds a copy of `root_dir`.
pub fn write_ext4_image(image: &Path, root_dir: &Path, options: &Ext4Options) -> Result<()> {
    if !options.size.is_multiple_of(KIB) {
        bail!(
            "ext4 image size {} is not a multiple of {KIB}",
            options.size
        );
    }
    let mut command = Command::new(MKFS_EXT4);
    command
        .args(["-q", "-F", "-U", &options.uuid, "-E", "root_owner=0:0"])
        .arg("-d")
        .arg(root_dir);
    if let Some(label) = &options.label {
        command.args(["-L", label]);
    }
    command
        .arg(image)
        .arg(format!("{}k", options.size / KIB))
        // Fixed timestamps where e2fsprogs honours them, for reproducible images.
        .env("E2FSPROGS_FAKE_TIME", "0");
    let output = command.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "`{MKFS_EXT4}` not found; install the Debian package `{MKFS_EXT4_PACKAGE}`"
            )
        } else {
            anyhow::Error::new(e).context(format!("running {MKFS_EXT4}"))
        }
    })?;
    if !output.status.success() {
        bail!(
            "{MKFS_EXT4} for {} (from {}, uuid {}) failed ({}): {}",
            image.display(),
            root_dir.display(),
            options.uuid,
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(())
}
