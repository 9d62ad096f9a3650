//! Copying a root tree with everything a root needs kept: owners, modes, device nodes,
//! symlinks, hard links, xattrs. GNU `cp -a` does all of it; reimplementing it buys nothing.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::Error;

const CP: &str = "cp";
/// The Debian package providing `cp`, for the error when it is missing.
const CP_PACKAGE: &str = "coreutils";

/// Copies the contents of `source` into `dest`, which must be missing or an empty directory.
pub fn copy_tree(source: &Path, dest: &Path) -> Result<(), Error> {
    if dest.exists() {
        let mut entries = fs::read_dir(dest).map_err(Error::io("list target", dest))?;
        if entries.next().is_some() {
            return Err(Error::TargetNotEmpty {
                path: dest.to_path_buf(),
            });
        }
    } else {
        fs::create_dir_all(dest).map_err(Error::io("create target", dest))?;
    }
    // `source/.` copies the contents, and the root directory's own mode and owner.
    let output = Command::new(CP)
        .arg("-a")
        .arg(source.join("."))
        .arg(dest)
        .output()
        .map_err(|source| Error::ToolMissing {
            tool: CP,
            package: CP_PACKAGE,
            source,
        })?;
    if !output.status.success() {
        return Err(Error::ToolFailed {
            command: format!("{CP} -a {}/. {}", source.display(), dest.display()),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
}
