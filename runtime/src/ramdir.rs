//! RAM directories on the running system: the files the init leaves about them in
//! `/run/flashroot`, and where their saved copies lie on the root ([`Store`]; the layout
//! only: the save itself is the init's keeper's, `flashroot_init::ramdir::store`).
//!
//! `/var/log` is saved under `/var/lib/flashroot/ramdir/var/log/` as numbered copies
//! (`gen.7/`) and a symlink `current` naming the one to load. A save writes the next copy
//! beside the current one, then replaces `current` with a rename, then removes the older
//! copy: `current` always names a whole copy.

use std::fs;
use std::path::{Path, PathBuf};

/// The directory of the root that holds the saved copies.
pub const STORE: &str = "/var/lib/flashroot/ramdir";
/// Where the init records the keeper's pid (in the real root's /run).
pub const PID_FILE: &str = "/run/flashroot/ramdirs.pid";
/// The RAM directories mounted this boot, one path a line, for the shutdown program.
pub const RAMDIRS_FILE: &str = "/run/flashroot/ramdirs";
/// The symlink in a store naming the copy to load.
pub const CURRENT: &str = "current";
/// The next `current`, made beside it and renamed over it.
pub const CURRENT_NEW: &str = "current.new";
/// A copy is `gen.N`.
pub const GEN_PREFIX: &str = "gen.";

/// The saved copies of one RAM directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store of the RAM directory `path` (absolute, in the root) in the root at `root`.
    pub fn of(root: &Path, path: &str) -> Self {
        Self {
            dir: root
                .join(STORE.trim_start_matches('/'))
                .join(path.trim_start_matches('/')),
        }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `current` symlink (its time is the last save's).
    pub fn current_link(&self) -> PathBuf {
        self.dir.join(CURRENT)
    }

    /// The copy to load: the number and directory `current` names, if it names a whole one.
    pub fn current(&self) -> Option<(u64, PathBuf)> {
        let target = fs::read_link(self.current_link()).ok()?;
        let number = generation(target.to_str()?)?;
        let dir = self.dir.join(&target);
        dir.is_dir().then_some((number, dir))
    }
}

/// The name of copy number `n`: `gen.N`.
pub fn generation_name(n: u64) -> String {
    format!("{GEN_PREFIX}{n}")
}

/// `gen.N` → N.
pub fn generation(name: &str) -> Option<u64> {
    name.strip_prefix(GEN_PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_under_the_root_and_current_names_a_whole_copy() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::of(root.path(), "/var/log");
        assert_eq!(
            store.dir(),
            root.path().join("var/lib/flashroot/ramdir/var/log")
        );
        assert!(store.current().is_none());
        fs::create_dir_all(store.dir().join(generation_name(3))).unwrap();
        std::os::unix::fs::symlink("gen.3", store.current_link()).unwrap();
        assert_eq!(store.current(), Some((3, store.dir().join("gen.3"))));
    }

    #[test]
    fn a_current_link_to_a_missing_copy_loads_nothing() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::of(root.path(), "/data");
        fs::create_dir_all(store.dir()).unwrap();
        std::os::unix::fs::symlink("gen.4", store.dir().join(CURRENT)).unwrap();
        assert!(store.current().is_none());
    }

    #[test]
    fn generations_are_numbered() {
        assert_eq!(generation(&generation_name(12)), Some(12));
        assert_eq!(generation("gen.x"), None);
        assert_eq!(generation("current"), None);
    }
}
