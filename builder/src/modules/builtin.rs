//! `modules.builtin`: modules compiled into the kernel, one path per line
//! (`kernel/fs/ext4/ext4.ko`). Asking for one of them needs no file and no load.

use std::collections::BTreeSet;

/// Parses modules.builtin into normalized module names.
pub fn parse(file: &str, text: &str) -> Result<BTreeSet<String>, String> {
    let mut names = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = super::name_from_path(line).ok_or_else(|| {
            format!("{file} line {}: expected a module path such as kernel/fs/ext4/ext4.ko, but got {line:?}", i + 1)
        })?;
        names.insert(name);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        let names = parse(
            "modules.builtin",
            "kernel/fs/ext4/ext4.ko\nkernel/crypto/crc32c-generic.ko\n",
        )
        .unwrap();
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["crc32c_generic", "ext4"]
        );
    }

    #[test]
    fn names_the_bad_line() {
        let err = parse("modules.builtin", "kernel/a.ko\nfoo\n").unwrap_err();
        assert!(
            err.starts_with("modules.builtin line 2: expected a module path"),
            "{err}"
        );
    }
}
