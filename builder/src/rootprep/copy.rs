//! Copying a root tree with everything a root needs kept: owners, modes, device nodes,
//! symlinks, hard links, xattrs. GNU `cp -a` does all of it; reimplementing it buys nothing.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

const CP: &str = "cp";
/// The Debian package providing `cp`, for the error when it is missing.
const CP_PACKAGE: &str = "coreutils";

/// Copies the contents of `source` into `dest`, which must be missing or an empty directory.
pub fn copy_tree(source: &Path, dest: &Path) -> anyhow::Result<()> {
    if dest.exists() {
        let mut entries =
            fs::read_dir(dest).with_context(|| format!("cannot list target {}", dest.display()))?;
        if entries.next().is_some() {
            bail!(
                "target {} is not empty; give a new or empty directory",
                dest.display()
            );
        }
    } else {
        fs::create_dir_all(dest)
            .with_context(|| format!("cannot create target {}", dest.display()))?;
    }
    // `source/.` copies the contents, and the root directory's own mode and owner.
    let output = Command::new(CP)
        .arg("-a")
        .arg(source.join("."))
        .arg(dest)
        .output()
        .with_context(|| format!("cannot run {CP} (install Debian package {CP_PACKAGE})"))?;
    if !output.status.success() {
        bail!(
            "`{CP} -a {}/. {}` failed ({}): {}",
            source.display(),
            dest.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
