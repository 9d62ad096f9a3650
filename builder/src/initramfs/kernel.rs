//! Which kernel's modules to pack: `--kver`, `--modules-dir`, or the running kernel's,
//! falling back to the newest tree under `/lib/modules` with a message.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use super::Error;

/// Where distributions install module trees.
pub const MODULES_ROOT: &str = "/lib/modules";
/// The running kernel's release (`uname -r`), readable without a syscall wrapper.
pub const OSRELEASE: &str = "/proc/sys/kernel/osrelease";

/// The kernel chosen, and why when it is not the obvious one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelChoice {
    pub kver: String,
    pub modules_dir: PathBuf,
    /// Set when the running kernel's modules were missing and another tree was taken.
    pub note: Option<String>,
}

/// Chooses the module tree. `running` is the running kernel's release, if known.
pub fn choose(
    kver: Option<&str>,
    modules_dir: Option<&Path>,
    root: &Path,
    running: Option<&str>,
) -> Result<KernelChoice, Error> {
    if let Some(dir) = modules_dir {
        let kver = match kver {
            Some(k) => k.to_string(),
            None => dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| Error::ModulesDirUnnamed {
                    dir: dir.to_path_buf(),
                })?,
        };
        if !dir.is_dir() {
            return Err(Error::ModulesDirMissing {
                dir: dir.to_path_buf(),
            });
        }
        return Ok(KernelChoice {
            kver,
            modules_dir: dir.to_path_buf(),
            note: None,
        });
    }
    if let Some(k) = kver {
        let dir = root.join(k);
        if !dir.is_dir() {
            return Err(Error::KernelMissing {
                kver: k.to_string(),
                dir,
                root: root.to_path_buf(),
                found: installed(root),
            });
        }
        return Ok(KernelChoice {
            kver: k.to_string(),
            modules_dir: dir,
            note: None,
        });
    }
    if let Some(r) = running {
        let dir = root.join(r);
        if dir.is_dir() {
            return Ok(KernelChoice {
                kver: r.to_string(),
                modules_dir: dir,
                note: None,
            });
        }
    }
    let found = installed(root);
    let Some(newest) = found.iter().max_by(|a, b| compare_versions(a, b)) else {
        return Err(Error::NoKernels {
            root: root.to_path_buf(),
            running: running.map(str::to_string),
        });
    };
    Ok(KernelChoice {
        kver: newest.clone(),
        modules_dir: root.join(newest),
        note: Some(format!(
            "the running kernel's modules ({}) are missing; using the newest tree, {newest} (found: {})",
            root.join(running.unwrap_or("?")).display(),
            found.join(", ")
        )),
    })
}

/// The running kernel's release.
pub fn running_kernel() -> Option<String> {
    std::fs::read_to_string(OSRELEASE)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Names of the module trees under `root`, sorted by version.
pub fn installed(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by(|a, b| compare_versions(a, b));
    names
}

/// A run of a kernel release: digits compare as numbers, and before any text.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Chunk {
    Number(u64),
    Text(String),
}

/// Compares kernel releases by their numeric runs: `6.1.0-10` < `6.1.0-9` is false.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let chunks = |s: &str| -> Vec<Chunk> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut digits = false;
        for c in s.chars() {
            if c.is_ascii_digit() != digits && !cur.is_empty() {
                out.push(if digits {
                    Chunk::Number(cur.parse().unwrap_or(u64::MAX))
                } else {
                    Chunk::Text(std::mem::take(&mut cur))
                });
                cur.clear();
            }
            digits = c.is_ascii_digit();
            cur.push(c);
        }
        if !cur.is_empty() {
            out.push(if digits {
                Chunk::Number(cur.parse().unwrap_or(u64::MAX))
            } else {
                Chunk::Text(cur)
            });
        }
        out
    };
    chunks(a).cmp(&chunks(b))
}

/// Candidate locations of the kernel's build configuration (for the `CONFIG_RD_*` check):
/// `/boot/config-VER`, and for a tree inside an unpacked package, `<root>/boot/config-VER`.
pub fn config_candidates(kver: &str, modules_dir: &Path) -> Vec<PathBuf> {
    let name = format!("config-{kver}");
    let mut out = vec![Path::new("/boot").join(&name)];
    // <root>/lib/modules/<kver> or <root>/usr/lib/modules/<kver>
    for up in [3, 4] {
        if let Some(root) = modules_dir.ancestors().nth(up) {
            out.push(root.join("boot").join(&name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(trees: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for t in trees {
            std::fs::create_dir(d.path().join(t)).unwrap();
        }
        d
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(
            compare_versions("6.1.0-10-amd64", "6.1.0-9-amd64"),
            Ordering::Greater
        );
        assert_eq!(
            compare_versions("5.10.0-30-amd64", "6.1.0-1-amd64"),
            Ordering::Less
        );
    }

    #[test]
    fn prefers_running_then_newest_with_a_note() {
        let root = root_with(&["6.1.0-9-amd64", "6.1.0-10-amd64", "5.10.0-30-amd64"]);
        let c = choose(None, None, root.path(), Some("6.1.0-9-amd64")).unwrap();
        assert_eq!((c.kver.as_str(), c.note), ("6.1.0-9-amd64", None));
        let c = choose(None, None, root.path(), Some("6.12.0-1-amd64")).unwrap();
        assert_eq!(c.kver, "6.1.0-10-amd64");
        let note = c.note.unwrap();
        assert!(
            note.contains("6.12.0-1-amd64) are missing; using the newest tree, 6.1.0-10-amd64"),
            "{note}"
        );
        assert!(
            note.ends_with("(found: 5.10.0-30-amd64, 6.1.0-9-amd64, 6.1.0-10-amd64)"),
            "{note}"
        );
    }

    #[test]
    fn errors_list_what_was_found() {
        let root = root_with(&["6.1.0-9-amd64"]);
        let err = choose(Some("6.2"), None, root.path(), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("kernel 6.2: ")
                && err.ends_with("does not exist; found: 6.1.0-9-amd64"),
            "{err}"
        );
        let empty = root_with(&[]);
        let err = choose(None, None, empty.path(), Some("6.1"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no kernel modules found: "), "{err}");
    }

    #[test]
    fn modules_dir_names_the_version() {
        let root = root_with(&["6.1.0-9-amd64"]);
        let c = choose(
            None,
            Some(&root.path().join("6.1.0-9-amd64")),
            Path::new("/nonexistent"),
            None,
        )
        .unwrap();
        assert_eq!(c.kver, "6.1.0-9-amd64");
    }
}
