//! Pure parsers for the few lines of `apt-cache` output the kernel fetch needs.

/// The meta package whose dependency names the current Debian amd64 kernel image.
pub const KERNEL_META_PACKAGE: &str = "linux-image-amd64";
/// Prefix of versioned kernel image packages; the rest of the name is the kernel release.
pub const KERNEL_PACKAGE_PREFIX: &str = "linux-image-";

/// The first `Depends:` target of `apt-cache depends <meta>` that is a kernel image package.
///
/// ```text
/// linux-image-amd64
///   Depends: linux-image-6.1.0-56-amd64
/// ```
pub fn kernel_package_from_depends(text: &str) -> Option<&str> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("Depends:"))
        .map(|target| target.trim().trim_start_matches('<').trim_end_matches('>'))
        .find(|name| name.starts_with(KERNEL_PACKAGE_PREFIX) && *name != KERNEL_META_PACKAGE)
}

/// The `Candidate:` version from `apt-cache policy <package>`, if there is one.
pub fn candidate_version(policy: &str) -> Option<&str> {
    policy
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Candidate:"))
        .map(str::trim)
        .find(|version| !version.is_empty() && *version != "(none)")
}

/// The kernel release (`uname -r`) of a versioned image package: `linux-image-6.1.0-56-amd64` → `6.1.0-56-amd64`.
pub fn kernel_release(package: &str) -> Option<&str> {
    package
        .strip_prefix(KERNEL_PACKAGE_PREFIX)
        .filter(|release| release.starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_names_the_versioned_image() {
        let text = "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n";
        assert_eq!(
            kernel_package_from_depends(text),
            Some("linux-image-6.1.0-56-amd64")
        );
    }

    #[test]
    fn depends_skips_other_dependencies_and_strips_virtual_brackets() {
        assert_eq!(
            kernel_package_from_depends("linux-image-amd64\n  Depends: initramfs-tools\n"),
            None
        );
        let text = "linux-image-amd64\n  Depends: initramfs-tools\n  Depends: <linux-image-6.12.9-amd64>\n";
        assert_eq!(
            kernel_package_from_depends(text),
            Some("linux-image-6.12.9-amd64")
        );
    }

    #[test]
    fn candidate_is_read_and_none_is_rejected() {
        let policy = "linux-image-6.1.0-56-amd64:\n  Installed: (none)\n  Candidate: 6.1.192-2\n  Version table:\n";
        assert_eq!(candidate_version(policy), Some("6.1.192-2"));
        assert_eq!(
            candidate_version("x:\n  Installed: (none)\n  Candidate: (none)\n"),
            None
        );
    }

    #[test]
    fn release_is_the_package_name_tail() {
        assert_eq!(
            kernel_release("linux-image-6.1.0-56-amd64"),
            Some("6.1.0-56-amd64")
        );
        assert_eq!(kernel_release("linux-image-amd64"), None);
        assert_eq!(kernel_release("linux-headers-6.1.0-56-amd64"), None);
    }
}
