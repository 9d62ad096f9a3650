//! Paths of the real root, resolved while it is mounted at /root: symlinks are followed
//! as if /root were `/` (Debian's /var/run -> /run must land in /root/run, not in the
//! initramfs' /run).

use std::path::{Component, Path, PathBuf};

/// Linux's own limit on symlinks followed in one lookup.
const MAX_SYMLINKS: u32 = 40;

/// More than [`MAX_SYMLINKS`] symlinks met resolving `path` (a loop, most likely).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymlinkLoop {
    pub path: String,
}

impl std::fmt::Display for SymlinkLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many levels of symbolic links resolving {}",
            self.path
        )
    }
}

impl std::error::Error for SymlinkLoop {}

/// Resolves `path` (absolute, as seen from inside the root) to a path under `root`.
/// Components that do not exist yet are kept as written.
pub fn resolve(root: &Path, path: &str) -> Result<PathBuf, SymlinkLoop> {
    let mut done: Vec<String> = Vec::new();
    let mut todo: Vec<String> = components(path);
    todo.reverse();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        let candidate = join(root, &done).join(&c);
        match std::fs::read_link(&candidate) {
            Ok(target) => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(SymlinkLoop { path: path.into() });
                }
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    done.clear();
                }
                let mut more = components(&target);
                more.reverse();
                todo.extend(more);
            }
            Err(_) => done.push(c),
        }
    }
    Ok(join(root, &done))
}

/// The path inside the root again (`/root/run` -> `/run`), for comparisons and messages.
pub fn inside(root: &Path, resolved: &Path) -> String {
    match resolved.strip_prefix(root) {
        Ok(rest) if rest.as_os_str().is_empty() => "/".into(),
        Ok(rest) => format!("/{}", rest.display()),
        Err(_) => resolved.display().to_string(),
    }
}

/// The mount among `mounts` that `inside` is or lies beneath (`/run/lock` -> `/run`):
/// switch_root moves the initramfs' mount there, hiding anything mounted below it first.
pub fn beneath<'a>(inside: &str, mounts: &[&'a str]) -> Option<&'a str> {
    mounts.iter().copied().find(|m| {
        inside == *m
            || inside
                .strip_prefix(m)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

fn join(root: &Path, parts: &[String]) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in parts {
        p.push(c);
    }
    p
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn beneath_finds_the_mount_that_hides_a_path() {
        let moved = ["/dev", "/proc", "/sys", "/run"];
        assert_eq!(beneath("/run", &moved), Some("/run"));
        assert_eq!(beneath("/run/lock", &moved), Some("/run"));
        assert_eq!(beneath("/running", &moved), None);
        assert_eq!(beneath("/var/log", &moved), None);
    }

    fn tree() -> (PathBuf, impl Drop) {
        struct Cleanup(PathBuf);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let root =
            std::env::temp_dir().join(format!("flashroot-rootpath-{}-{n}", std::process::id()));
        std::fs::create_dir_all(root.join("var/cache")).unwrap();
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::fs::create_dir_all(root.join("usr/sbin")).unwrap();
        symlink("/run", root.join("var/run")).unwrap();
        symlink("../run/lock", root.join("var/lock")).unwrap();
        symlink("usr/sbin", root.join("sbin")).unwrap();
        symlink("/loop", root.join("loop")).unwrap();
        (root.clone(), Cleanup(root))
    }

    #[test]
    fn absolute_symlinks_stay_inside_the_root() {
        let (root, _c) = tree();
        assert_eq!(resolve(&root, "/var/run").unwrap(), root.join("run"));
        assert_eq!(inside(&root, &resolve(&root, "/var/run").unwrap()), "/run");
    }

    #[test]
    fn relative_symlinks_and_missing_tails() {
        let (root, _c) = tree();
        assert_eq!(resolve(&root, "/var/lock").unwrap(), root.join("run/lock"));
        assert_eq!(
            resolve(&root, "/sbin/init").unwrap(),
            root.join("usr/sbin/init")
        );
        assert_eq!(
            resolve(&root, "/var/cache/apt/").unwrap(),
            root.join("var/cache/apt")
        );
        assert_eq!(resolve(&root, "/").unwrap(), root);
        assert_eq!(inside(&root, &root), "/");
    }

    #[test]
    fn dotdot_cannot_leave_the_root() {
        let (root, _c) = tree();
        assert_eq!(resolve(&root, "/../../etc").unwrap(), root.join("etc"));
    }

    #[test]
    fn loops_are_reported() {
        let (root, _c) = tree();
        let err = resolve(&root, "/loop/x").unwrap_err();
        assert_eq!(err.path, "/loop/x");
        assert!(err.to_string().contains("too many levels"), "{err}");
    }
}
