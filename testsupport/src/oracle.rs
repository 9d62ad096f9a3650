//! Running the peer tools that judge our output (fsck.vfat, mtools, blkid, e2fsprogs...):
//! a missing tool fails the test and names the Debian package to install.

use std::process::Command;

/// Runs `program` with `args`, failing the test with its output if it is missing or
/// unhappy; returns its standard output. mtools' drive-geometry check is off (images are
/// not floppies).
pub fn tool(program: &str, package: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (install Debian package {package}): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The value of `key` in `KEY=value` lines, as `blkid -o export` prints them.
pub fn blkid_field(export: &str, key: &str) -> Option<String> {
    export
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkid_fields_are_found_by_key() {
        let export = "DEVNAME=/dev/sda1\nUUID=1234-ABCD\nTYPE=vfat\n";
        assert_eq!(blkid_field(export, "UUID").as_deref(), Some("1234-ABCD"));
        assert_eq!(blkid_field(export, "LABEL"), None);
    }

    #[test]
    #[should_panic(expected = "install Debian package no-such-package")]
    fn a_missing_tool_fails_naming_its_package() {
        tool("flashroot-no-such-tool", "no-such-package", &[]);
    }
}
