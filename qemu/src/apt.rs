//! Pure parsers for the few lines of `apt-cache` output the kernel fetch needs.

/// The meta package whose dependency names the current Debian amd64 kernel image.
pub const KERNEL_META_PACKAGE: &str = "linux-image-amd64";
/// Prefix of versioned kernel image packages; the rest of the name is the kernel release.
pub const KERNEL_PACKAGE_PREFIX: &str = "linux-image-";

/// The kernel image package and exact version that `apt-cache show --no-all-versions <meta>`
/// says the meta package depends on:
///
/// ```text
/// Package: linux-image-amd64
/// Version: 6.1.192-2
/// Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)
/// ```
///
/// The version is `None` when the dependency has no `(= version)` pin.
pub fn kernel_dependency(show: &str) -> Option<(&str, Option<&str>)> {
    show.lines()
        .filter_map(|line| line.strip_prefix("Depends:"))
        .flat_map(|list| list.split([',', '|']))
        .map(str::trim)
        .find_map(|item| {
            let (name, pin) = match item.split_once('(') {
                Some((name, pin)) => (name.trim(), Some(pin)),
                None => (item, None),
            };
            kernel_release(name)?;
            let version = pin
                .and_then(|pin| pin.trim().strip_prefix('='))
                .map(|version| version.trim().trim_end_matches(')').trim());
            Some((name, version))
        })
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
    fn show_names_the_versioned_image_and_its_pin() {
        let show = "Package: linux-image-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\n";
        assert_eq!(
            kernel_dependency(show),
            Some(("linux-image-6.1.0-56-amd64", Some("6.1.192-2")))
        );
    }

    #[test]
    fn show_skips_other_dependencies_and_may_lack_a_pin() {
        let show = "Depends: initramfs-tools | linux-initramfs-tool, linux-image-6.12.9-amd64\n";
        assert_eq!(
            kernel_dependency(show),
            Some(("linux-image-6.12.9-amd64", None))
        );
        assert_eq!(kernel_dependency("Depends: kmod (>= 1)\n"), None);
        assert_eq!(kernel_dependency("Package: linux-image-amd64\n"), None);
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
