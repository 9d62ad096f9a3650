//! `modules.builtin`: modules compiled into the kernel, one path per line
//! (`kernel/fs/ext4/ext4.ko`). Asking for one of them needs no file and no load.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::{Error, ErrorKind};

/// Parses modules.builtin into normalized module names.
pub fn parse(file: impl AsRef<Path>, text: &str) -> Result<BTreeSet<String>, Error> {
    let file = file.as_ref();
    let mut names = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = crate::name_from_path(line).ok_or_else(|| {
            Error::at_line(
                file,
                i + 1,
                ErrorKind::Syntax {
                    expected: "a module path such as kernel/fs/ext4/ext4.ko",
                    got: line.to_string(),
                },
            )
        })?;
        names.insert(name);
    }
    Ok(names)
}

/// The aliases of builtin modules from `modules.builtin.modinfo`: NUL-separated
/// `<module>.<key>=<value>` strings, of which `<module>.alias=<pattern>` matter here
/// (`dh_generic.alias=crypto-dh`). Returns (normalized module, pattern) pairs.
pub fn parse_modinfo_aliases(bytes: &[u8]) -> Vec<(String, String)> {
    bytes
        .split(|&b| b == 0)
        .filter_map(|field| {
            let field = std::str::from_utf8(field).ok()?;
            let (key, pattern) = field.split_once('=')?;
            let module = key.strip_suffix(".alias")?;
            Some((crate::normalize_name(module), pattern.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_builtin_aliases() {
        let bytes =
            b"zbud.alias=zpool-zbud\0dh_generic.license=GPL\0dh_generic.alias=crypto-dh\0bad\0";
        assert_eq!(
            parse_modinfo_aliases(bytes),
            [
                ("zbud".to_string(), "zpool-zbud".to_string()),
                ("dh_generic".to_string(), "crypto-dh".to_string())
            ]
        );
    }

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
            err.to_string()
                .starts_with("modules.builtin line 2: expected a module path"),
            "{err}"
        );
    }
}
