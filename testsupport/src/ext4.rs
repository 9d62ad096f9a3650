//! ext4 images for normal (non-flash) boot tests, made by `mkfs.ext4 -d` without root or
//! mounts. Test fixtures only: flashroot itself never writes ext4.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The program and the Debian package that provides it.
const MKFS_EXT4: &str = "mkfs.ext4";
const MKFS_EXT4_PACKAGE: &str = "e2fsprogs";

/// `mkfs.ext4` takes the size with an explicit `k` suffix.
const KIB: u64 = 1024;

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

/// Why an ext4 image was not written.
#[derive(Debug)]
pub enum Ext4Error {
    /// The size is not a multiple of 1 KiB.
    Size { size: u64 },
    /// `mkfs.ext4` is not installed.
    MissingTool,
    /// `mkfs.ext4` could not be started.
    Spawn(io::Error),
    /// `mkfs.ext4` failed for `image` (from `root_dir`, with `uuid`).
    Failed {
        image: PathBuf,
        root_dir: PathBuf,
        uuid: String,
        status: ExitStatus,
        stderr: String,
    },
}

impl fmt::Display for Ext4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Size { size } => {
                write!(f, "ext4 image size {size} is not a multiple of {KIB}")
            }
            Self::MissingTool => write!(
                f,
                "`{MKFS_EXT4}` not found; install the Debian package `{MKFS_EXT4_PACKAGE}`"
            ),
            Self::Spawn(e) => write!(f, "running {MKFS_EXT4}: {e}"),
            Self::Failed {
                image,
                root_dir,
                uuid,
                status,
                stderr,
            } => write!(
                f,
                "{MKFS_EXT4} for {} (from {}, uuid {uuid}) failed ({status}): {stderr}",
                image.display(),
                root_dir.display()
            ),
        }
    }
}

impl std::error::Error for Ext4Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// Writes an ext4 filesystem image at `image` whose root holds a copy of `root_dir`.
pub fn write_ext4_image(
    image: &Path,
    root_dir: &Path,
    options: &Ext4Options,
) -> Result<(), Ext4Error> {
    if !options.size.is_multiple_of(KIB) {
        return Err(Ext4Error::Size { size: options.size });
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
        if e.kind() == io::ErrorKind::NotFound {
            Ext4Error::MissingTool
        } else {
            Ext4Error::Spawn(e)
        }
    })?;
    if !output.status.success() {
        return Err(Ext4Error::Failed {
            image: image.to_path_buf(),
            root_dir: root_dir.to_path_buf(),
            uuid: options.uuid.clone(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr)
                .trim_end()
                .to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::{blkid_field, tool};

    const MIB: u64 = 1 << 20;

    #[test]
    fn ext4_image_has_uuid_label_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sbin")).unwrap();
        std::fs::write(root.join("sbin/init"), b"#!/bin/sh\n").unwrap();
        let image = dir.path().join("root.ext4");
        let uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        write_ext4_image(
            &image,
            &root,
            &Ext4Options {
                size: 16 * MIB,
                uuid: uuid.into(),
                label: Some("ROOTFS".into()),
            },
        )
        .unwrap();
        let export = tool(
            "blkid",
            "util-linux",
            &["-p", "-o", "export", image.to_str().unwrap()],
        );
        assert_eq!(
            blkid_field(&export, "TYPE").as_deref(),
            Some("ext4"),
            "{export}"
        );
        assert_eq!(
            blkid_field(&export, "UUID").as_deref(),
            Some(uuid),
            "{export}"
        );
        assert_eq!(
            blkid_field(&export, "LABEL").as_deref(),
            Some("ROOTFS"),
            "{export}"
        );
        let cat = tool(
            "debugfs",
            "e2fsprogs",
            &["-R", "cat /sbin/init", image.to_str().unwrap()],
        );
        assert_eq!(cat, "#!/bin/sh\n");
        tool(
            "e2fsck",
            "e2fsprogs",
            &["-f", "-n", image.to_str().unwrap()],
        );
    }

    #[test]
    fn ext4_failure_names_image_and_uuid() {
        let dir = tempfile::tempdir().unwrap();
        let error = write_ext4_image(
            &dir.path().join("x.ext4"),
            dir.path(),
            &Ext4Options {
                size: 16 * MIB,
                uuid: "not-a-uuid".into(),
                label: None,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("x.ext4") && error.contains("not-a-uuid"),
            "{error}"
        );
    }
}
