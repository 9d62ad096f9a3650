//! Small readers of /proc and /sys files: one value each, `None` when absent.

use std::fs;
use std::path::Path;

/// A file's text, trimmed.
pub fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// A file holding one decimal number.
pub fn read_number(path: &Path) -> Option<u64> {
    read_trimmed(path)?.parse().ok()
}

/// `/proc/<pid>/cmdline` split at its NULs.
pub fn cmdline_words(text: &[u8]) -> Vec<String> {
    text.split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

/// `O_DIRECT` on x86_64 (asm-generic/fcntl.h: 00040000).
pub const O_DIRECT: u64 = 0o40000;

/// The `flags:` line of `/proc/<pid>/fdinfo/<fd>` (octal).
pub fn fdinfo_flags(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 8).ok())
}

/// The keeper's `path=minutes` words.
pub fn keeper_intervals(words: &[String]) -> Vec<(String, u64)> {
    words
        .iter()
        .skip(1)
        .filter_map(|w| {
            let (path, minutes) = w.rsplit_once('=')?;
            Some((path.to_string(), minutes.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_flags_are_octal() {
        let text = "pos:\t0\nflags:\t0140002\nmnt_id:\t25\nino:\t12\n";
        let flags = fdinfo_flags(text).unwrap();
        assert_eq!(flags, 0o140002);
        assert_ne!(flags & O_DIRECT, 0);
        assert_eq!(fdinfo_flags("pos:\t0\n"), None);
    }

    #[test]
    fn cmdline_and_keeper_words() {
        let words = cmdline_words(b"flashroot-ramdirs\0/var/log=60\0/srv/my db=15\0");
        assert_eq!(
            keeper_intervals(&words),
            vec![("/var/log".into(), 60), ("/srv/my db".into(), 15)]
        );
        assert_eq!(
            cmdline_words(b"@flashroot-agent\0rootfs.img\0/dev/nbd0\0"),
            vec!["@flashroot-agent", "rootfs.img", "/dev/nbd0"]
        );
    }
}
