//! Installing syslinux on a whole-disk image: the MBR boot code (which loads the active
//! partition's boot sector) and `syslinux --install` on the FAT partition (boot sector +
//! `ldlinux.sys`/`ldlinux.c32`). Debian's `syslinux` does this on an image file through
//! mtools, without root. When a piece is missing, the error names the package to install.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Error;

/// The installer: Debian's mtools-based `syslinux`.
pub const SYSLINUX: &str = "syslinux";
pub const SYSLINUX_PACKAGE: &str = "syslinux";
/// syslinux's installer writes the FAT through mtools.
pub const MTOOLS_PROBE: &str = "mcopy";
pub const MTOOLS_PACKAGE: &str = "mtools";
/// The MBR boot code shipped with syslinux.
pub const MBR_BIN_CANDIDATES: [&str; 2] = [
    "/usr/lib/syslinux/mbr/mbr.bin",
    "/usr/share/syslinux/mbr.bin",
];
pub const MBR_BIN_PACKAGE: &str = "syslinux-common";
/// The boot code area of the MBR: everything before the disk signature.
pub const MBR_BOOT_CODE_BYTES: usize = 440;

/// What the installation needs from the host, found before any work is done.
#[derive(Clone, Debug)]
pub struct Tools {
    pub syslinux: PathBuf,
    pub mbr_bin: PathBuf,
}

impl Tools {
    /// Finds the tools, or says which Debian packages to install.
    pub fn find() -> Result<Self, Error> {
        let mut missing = Vec::new();
        let syslinux = which(SYSLINUX);
        if syslinux.is_none() {
            missing.push(format!("{SYSLINUX} (package {SYSLINUX_PACKAGE})"));
        }
        if which(MTOOLS_PROBE).is_none() {
            missing.push(format!("{MTOOLS_PROBE} (package {MTOOLS_PACKAGE})"));
        }
        let mbr_bin = MBR_BIN_CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file());
        if mbr_bin.is_none() {
            missing.push(format!(
                "{} (package {MBR_BIN_PACKAGE})",
                MBR_BIN_CANDIDATES[0]
            ));
        }
        match (syslinux, mbr_bin) {
            (Some(syslinux), Some(mbr_bin)) if missing.is_empty() => Ok(Self { syslinux, mbr_bin }),
            _ => Err(Error::MissingTools {
                packages: packages_for(&missing),
                missing,
            }),
        }
    }

    /// Writes the MBR boot code into `image` and installs syslinux on the FAT partition
    /// starting `partition_offset` bytes into it.
    pub fn install(&self, image: &Path, partition_offset: u64) -> Result<(), Error> {
        self.write_mbr_boot_code(image)?;
        let output = Command::new(&self.syslinux)
            .arg("--offset")
            .arg(partition_offset.to_string())
            .arg("--install")
            .arg(image)
            .output()
            .map_err(|source| Error::Spawn {
                program: self.syslinux.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(Error::ToolFailed {
                command: format!(
                    "{} --offset {partition_offset} --install {}",
                    self.syslinux.display(),
                    image.display()
                ),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(())
    }

    fn write_mbr_boot_code(&self, image: &Path) -> Result<(), Error> {
        let code = std::fs::read(&self.mbr_bin).map_err(Error::io("read", &self.mbr_bin))?;
        if code.len() < MBR_BOOT_CODE_BYTES {
            return Err(Error::ShortBootCode {
                path: self.mbr_bin.clone(),
                bytes: code.len(),
                needed: MBR_BOOT_CODE_BYTES,
            });
        }
        let mut disk = OpenOptions::new()
            .write(true)
            .open(image)
            .map_err(Error::io("open", image))?;
        // Only the code area: the disk signature and partition table follow at 440.
        disk.seek(SeekFrom::Start(0))
            .and_then(|_| disk.write_all(&code[..MBR_BOOT_CODE_BYTES]))
            .map_err(Error::io("write the MBR boot code into", image))
    }
}

/// The distinct package names in "tool (package X)" items, space-separated.
fn packages_for(missing: &[String]) -> String {
    let mut packages: Vec<&str> = missing
        .iter()
        .filter_map(|m| {
            m.rsplit_once("(package ")
                .map(|(_, p)| p.trim_end_matches(')'))
        })
        .collect();
    packages.dedup();
    packages.join(" ")
}

/// The first `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_list_from_missing_items() {
        let missing = vec![
            "syslinux (package syslinux)".to_string(),
            "mcopy (package mtools)".to_string(),
            "/usr/lib/syslinux/mbr/mbr.bin (package syslinux-common)".to_string(),
        ];
        assert_eq!(packages_for(&missing), "syslinux mtools syslinux-common");
    }
}
