//! `modules.dep`, written by depmod: one line per module,
//! `kernel/fs/vfat.ko.xz: kernel/fs/fat/fat.ko.xz kernel/lib/nls.ko.xz`, paths relative
//! to `/lib/modules/<kver>`, dependencies listed as depmod ordered them.

use std::path::Path;

use crate::error::{Error, ErrorKind};

/// One line of modules.dep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepLine {
    /// The module's path relative to the modules directory.
    pub path: String,
    /// Paths of the modules it needs, relative as well.
    pub deps: Vec<String>,
}

/// Parses modules.dep; `file` names it in errors (which also give the line number).
///
/// ```
/// let lines = flashroot_kmod::dep::parse(
///     "modules.dep",
///     "kernel/fs/fat/vfat.ko.xz: kernel/fs/fat/fat.ko.xz\nkernel/fs/fat/fat.ko.xz:\n",
/// )
/// .unwrap();
/// assert_eq!(lines[0].deps, ["kernel/fs/fat/fat.ko.xz"]);
/// ```
pub fn parse(file: impl AsRef<Path>, text: &str) -> Result<Vec<DepLine>, Error> {
    let file = file.as_ref();
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((path, deps)) = line.split_once(':') else {
            return Err(Error::at_line(
                file,
                i + 1,
                ErrorKind::Syntax {
                    expected: "\"module.ko: dependencies...\"",
                    got: line.to_string(),
                },
            ));
        };
        let path = path.trim();
        if crate::name_from_path(path).is_none() {
            return Err(Error::at_line(
                file,
                i + 1,
                ErrorKind::Syntax {
                    expected: "a module path ending in .ko, .ko.xz, .ko.zst or .ko.gz",
                    got: path.to_string(),
                },
            ));
        }
        lines.push(DepLine {
            path: path.to_string(),
            deps: deps.split_whitespace().map(str::to_string).collect(),
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_with_and_without_deps() {
        let text =
            "kernel/fs/fat/vfat.ko.xz: kernel/fs/fat/fat.ko.xz\n\nkernel/fs/fat/fat.ko.xz:\n";
        let lines = parse("modules.dep", text).unwrap();
        assert_eq!(
            lines,
            [
                DepLine {
                    path: "kernel/fs/fat/vfat.ko.xz".into(),
                    deps: vec!["kernel/fs/fat/fat.ko.xz".into()]
                },
                DepLine {
                    path: "kernel/fs/fat/fat.ko.xz".into(),
                    deps: vec![]
                },
            ]
        );
    }

    #[test]
    fn names_file_and_line_of_bad_input() {
        let err = parse("/lib/modules/6.1/modules.dep", "a.ko:\nnot a module line\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/lib/modules/6.1/modules.dep line 2: expected \"module.ko: dependencies...\", but got \"not a module line\""
        );
        let err = parse("modules.dep", "README: a.ko\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("modules.dep line 1: expected a module path ending in .ko"),
            "{err}"
        );
    }
}
