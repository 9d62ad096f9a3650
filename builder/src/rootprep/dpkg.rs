//! `dpkg-divert` on a root that is not the host's (`--root`): the tree's own dpkg database
//! (`/var/lib/dpkg/diversions`) records the diversion, so the dpkg inside the root honours
//! it on every later install and upgrade, exactly as if it had been made there.

use std::path::Path;
use std::process::Command;

use super::tree;
use super::Error;

pub const DPKG_DIVERT: &str = "dpkg-divert";
/// The Debian package providing `dpkg-divert`, for the error when it is missing.
const DPKG_PACKAGE: &str = "dpkg";
/// dpkg's list of installed packages: a root without it has no dpkg database.
pub const STATUS: &str = "/var/lib/dpkg/status";
/// What `dpkg-divert --listpackage` prints for a local diversion (`--local`).
const LOCAL: &str = "LOCAL";

/// How a file is diverted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diversion {
    /// Where dpkg puts the packaged file instead.
    pub to: String,
    /// The package that made the diversion; `None` for a local one (`--local`).
    pub by: Option<String>,
}

/// Whether `root` has a dpkg database.
pub fn is_dpkg_root(root: &Path) -> bool {
    tree::host_path(root, STATUS).is_file()
}

/// The diversion of `path` recorded in `root`'s database, if any.
pub fn diversion(root: &Path, path: &str) -> Result<Option<Diversion>, Error> {
    let by = run(root, &["--listpackage", path])?;
    let by = by.trim();
    if by.is_empty() {
        return Ok(None);
    }
    let to = run(root, &["--truename", path])?.trim().to_string();
    Ok(Some(Diversion {
        to,
        by: (by != LOCAL).then(|| by.to_string()),
    }))
}

/// Diverts `path` to `to` locally and moves the file there (`--local --rename --add`).
pub fn divert_local(root: &Path, path: &str, to: &str) -> Result<(), Error> {
    run(
        root,
        &["--local", "--rename", "--divert", to, "--add", path],
    )
    .map(drop)
}

/// `dpkg-divert --root <root> <args>`; its standard output.
fn run(root: &Path, args: &[&str]) -> Result<String, Error> {
    let mut command = Command::new(DPKG_DIVERT);
    command
        .arg("--root")
        .arg(root)
        .args(args)
        .env("LC_ALL", "C");
    let output = command.output().map_err(|source| Error::ToolMissing {
        tool: DPKG_DIVERT,
        package: DPKG_PACKAGE,
        source,
    })?;
    if !output.status.success() {
        return Err(Error::ToolFailed {
            command: format!("{DPKG_DIVERT} --root {} {}", root.display(), args.join(" ")),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
