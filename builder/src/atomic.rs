//! The one way flashroot writes an output file: into a temporary file beside the target,
//! synced, renamed over the target, and the directory synced. A failed or interrupted
//! write leaves the previous file (or none) in place and no temporary behind; a power cut
//! after the rename cannot undo it (the directory entry itself is on disk).

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// What went wrong, at which path and in which step.
#[derive(Debug)]
pub struct AtomicError {
    /// The file or directory the failed step touched.
    pub path: PathBuf,
    /// The step: "create", "write", "sync", "rename into place", "sync directory"...
    pub step: &'static str,
    pub source: io::Error,
}

impl fmt::Display for AtomicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: cannot {}: {}",
            self.path.display(),
            self.step,
            self.source
        )
    }
}

impl std::error::Error for AtomicError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn failed<'a>(path: &'a Path, step: &'static str) -> impl FnOnce(io::Error) -> AtomicError + 'a {
    move |source| AtomicError {
        path: path.to_path_buf(),
        step,
        source,
    }
}

/// Appended to a target's name for its next version while it is written. The kernel hook
/// script uses the same suffix, so a leftover after a crash has one recognisable name.
pub const PARTIAL_SUFFIX: &str = ".flashroot-new";

/// The temporary name of `target`'s next version: in the same directory, so the rename
/// cannot cross filesystems.
pub fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_os_string();
    name.push(PARTIAL_SUFFIX);
    PathBuf::from(name)
}

/// Makes `target` from whatever `make` leaves at the temporary path it is given (written by
/// this process or by an external tool), then syncs it, renames it over `target` and syncs
/// the directory. The target's directory must exist. On any error the temporary is removed.
pub fn replace<T, E>(target: &Path, make: impl FnOnce(&Path) -> Result<T, E>) -> Result<T, E>
where
    E: From<AtomicError>,
{
    let partial = partial_path(target);
    let result = make(&partial).and_then(|value| {
        commit(&partial, target)?;
        Ok(value)
    });
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

/// Writes `target` through a buffered writer handed to `write`.
pub fn write_with<T, E>(
    target: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<AtomicError>,
{
    replace(target, |partial| {
        let file = File::create(partial).map_err(failed(partial, "create"))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let value = write(&mut out)?;
        out.flush().map_err(failed(partial, "write"))?;
        Ok(value)
    })
}

/// Writes `bytes` as `target`.
pub fn write(target: &Path, bytes: &[u8]) -> Result<(), AtomicError> {
    write_with(target, |out| {
        out.write_all(bytes)
            .map_err(failed(&partial_path(target), "write"))
    })
}

/// Copies `source` to `target`.
pub fn copy(source: &Path, target: &Path) -> Result<(), AtomicError> {
    replace(target, |partial| {
        fs::copy(source, partial)
            .map(drop)
            .map_err(failed(source, "copy"))
    })
}

fn commit(partial: &Path, target: &Path) -> Result<(), AtomicError> {
    File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(failed(partial, "sync"))?;
    fs::rename(partial, target).map_err(failed(target, "rename into place"))?;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(failed(dir, "sync directory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_target_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("initrd.img");
        fs::write(&target, b"old").unwrap();
        write(&target, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(entries(dir.path()), ["initrd.img"]);
    }

    #[test]
    fn a_failed_maker_keeps_the_old_file_and_removes_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("root.jffs2");
        fs::write(&target, b"old").unwrap();
        let result: Result<(), AtomicError> = replace(&target, |partial| {
            fs::write(partial, b"half").unwrap();
            Err(failed(partial, "write")(io::Error::other("disk full")))
        });
        assert!(result.is_err());
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(entries(dir.path()), ["root.jffs2"]);
    }

    #[test]
    fn copy_makes_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("vmlinuz.src");
        fs::write(&source, b"kernel").unwrap();
        let target = dir.path().join("vmlinuz");
        copy(&source, &target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"kernel");
    }

    #[test]
    fn a_failed_write_names_the_path_and_step() {
        let err = write(Path::new("/nonexistent-dir/initrd.img"), b"x").unwrap_err();
        assert_eq!(err.step, "create");
        assert!(
            err.to_string()
                .starts_with("/nonexistent-dir/initrd.img.flashroot-new: cannot create"),
            "{err}"
        );
    }
}
