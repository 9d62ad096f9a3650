//! Which filesystem types the kernel knows (/proc/filesystems), and the message for one
//! this initramfs cannot give it.

use crate::error::BootError;

const PROC_FILESYSTEMS: &str = "/proc/filesystems";

/// Why a mount of an `fstype` filesystem cannot be done by this initramfs.
pub fn filesystem_missing(fstype: &str) -> String {
    format!("{fstype} is not in this initramfs: add it to [modules] extra")
}

/// The filesystem types the kernel knows now (built in or loaded), from /proc/filesystems;
/// with `with_nodev`, those without a device too (tmpfs, overlay…).
pub fn kernel_filesystems(with_nodev: bool) -> Result<Vec<String>, BootError> {
    let list = std::fs::read_to_string(PROC_FILESYSTEMS)
        .map_err(|e| BootError::io("read filesystems", PROC_FILESYSTEMS, &e))?;
    Ok(parse_filesystems(&list, with_nodev))
}

pub fn kernel_knows(fstype: &str) -> Result<bool, BootError> {
    Ok(kernel_filesystems(true)?.iter().any(|f| f == fstype))
}

/// The types of /proc/filesystems (`nodev\ttmpfs`, `\text4`); `nodev` ones (tmpfs,
/// overlay…) only when `with_nodev`.
pub fn parse_filesystems(text: &str, with_nodev: bool) -> Vec<String> {
    text.lines()
        .filter_map(|l| match l.split_once('\t') {
            Some(("nodev", t)) => with_nodev.then_some(t),
            Some((_, t)) => Some(t),
            None => Some(l),
        })
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /proc/filesystems of Debian's 6.1 kernel with vfat and ext4 loaded (abridged).
    const PROC: &str =
        "nodev\tsysfs\nnodev\ttmpfs\n\text3\n\text2\n\text4\n\tvfat\nnodev\toverlay\n";

    #[test]
    fn block_types_and_nodev_ones() {
        assert_eq!(
            parse_filesystems(PROC, false),
            ["ext3", "ext2", "ext4", "vfat"]
        );
        let all = parse_filesystems(PROC, true);
        assert!(all.contains(&"tmpfs".to_string()) && all.contains(&"overlay".to_string()));
        assert_eq!(all.len(), 7);
    }

    #[test]
    fn the_missing_filesystem_names_the_config_key() {
        assert_eq!(
            filesystem_missing("ext4"),
            "ext4 is not in this initramfs: add it to [modules] extra"
        );
    }
}
