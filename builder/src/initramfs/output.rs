//! Atomic output: the image is written to a temporary file next to the target and
//! renamed over it only when complete, so a failed build leaves the previous initramfs
//! untouched.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `target` atomically (same directory, fsync, rename).
pub fn write_atomically(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(target);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| io::Error::new(e.kind(), format!("{}: cannot write: {e}", target.display())))
}

fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.flashroot-{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_target_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("initrd.img");
        fs::write(&target, b"old").unwrap();
        write_atomically(&target, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_names_the_target() {
        let err = write_atomically(Path::new("/nonexistent-dir/initrd.img"), b"x").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent-dir/initrd.img: cannot write:"),
            "{err}"
        );
    }
}
