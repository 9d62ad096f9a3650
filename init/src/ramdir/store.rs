//! Where a RAM directory is saved on the root, and the save itself: all or nothing.
//!
//! `/var/log` is saved under `/var/lib/flashroot/ramdir/var/log/` as numbered copies
//! (`gen.7/`) and a symlink `current` naming the one to load. A save writes the next copy
//! beside the current one (unchanged files hard-linked from it), then replaces `current`
//! with a rename — one JFFS2 directory entry, and JFFS2's log reaches the card in order
//! (the card agent keeps it so) — and only then removes the older copy. A power cut at any
//! point leaves `current` naming a whole copy: the old one until the rename is on the card,
//! the new one from then on. What a cut leaves half-written is removed by the next save.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::copy::{copy_tree, Copied};
use crate::BootError;

/// The directory of the root that holds the saved copies.
pub const STORE: &str = flashroot_config::RAMDIR_STORE;
const CURRENT: &str = "current";
const CURRENT_NEW: &str = "current.new";
const GEN_PREFIX: &str = "gen.";

/// The saved copies of one RAM directory.
pub struct Store {
    dir: PathBuf,
}

fn err(step: &str, path: &Path, e: &io::Error) -> BootError {
    BootError::io(
        format!("RAM directory: {step}"),
        path.display().to_string(),
        e,
    )
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

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The copy to load: the number and directory `current` names, if it names a whole one.
    pub fn current(&self) -> Option<(u64, PathBuf)> {
        let target = fs::read_link(self.dir.join(CURRENT)).ok()?;
        let number = generation(target.to_str()?)?;
        let dir = self.dir.join(&target);
        dir.is_dir().then_some((number, dir))
    }

    /// Saves the tree at `from` as the next copy and makes it current; returns what was
    /// copied.
    pub fn save(&self, from: &Path) -> Result<Copied, BootError> {
        fs::create_dir_all(&self.dir).map_err(|e| err("create", &self.dir, &e))?;
        let current = self.current();
        let number = current.as_ref().map_or(1, |(n, _)| n + 1);
        let name = format!("{GEN_PREFIX}{number}");
        let new = self.dir.join(&name);
        // Left by a cut during an earlier save of the same number.
        remove_if_present(&new)?;
        let copied = copy_tree(from, &new, current.as_ref().map(|(_, d)| d.as_path()))?;
        sync_dir(&new)?;
        let staged = self.dir.join(CURRENT_NEW);
        remove_if_present(&staged)?;
        std::os::unix::fs::symlink(&name, &staged).map_err(|e| err("link", &staged, &e))?;
        let link = self.dir.join(CURRENT);
        fs::rename(&staged, &link).map_err(|e| err("replace", &link, &e))?;
        sync_dir(&self.dir)?;
        self.remove_all_but(&name)?;
        Ok(copied)
    }

    /// Removes every copy but `keep`, and anything else a cut left.
    fn remove_all_but(&self, keep: &str) -> Result<(), BootError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| err("list", &self.dir, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| err("list", &self.dir, &e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name != keep && name != CURRENT {
                remove_if_present(&entry.path())?;
            }
        }
        Ok(())
    }
}

/// `gen.N` → N.
fn generation(name: &str) -> Option<u64> {
    name.strip_prefix(GEN_PREFIX)?.parse().ok()
}

fn remove_if_present(path: &Path) -> Result<(), BootError> {
    let r = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    r.map_err(|e| err("remove", path, &e))
}

/// On JFFS2 every write is a node in the log already; elsewhere (a store on another
/// filesystem) this is what orders the copy before the rename.
fn sync_dir(path: &Path) -> Result<(), BootError> {
    let dir = fs::File::open(path).map_err(|e| err("open", path, &e))?;
    nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir))
        .map_err(|e| err("sync", path, &io::Error::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn saves_are_numbered_copies_and_current_names_the_last() {
        let root = tempfile::tempdir().unwrap();
        let ram = root.path().join("ram");
        write(&ram, "a.log", "one\n");
        let store = Store::of(root.path(), "/var/log");
        assert!(store.current().is_none());
        store.save(&ram).unwrap();
        write(&ram, "a.log", "two\n");
        store.save(&ram).unwrap();
        let (n, dir) = store.current().unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            dir,
            root.path().join("var/lib/flashroot/ramdir/var/log/gen.2")
        );
        assert_eq!(fs::read_to_string(dir.join("a.log")).unwrap(), "two\n");
        let left: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "gen.2 and current only: {left:?}");
    }

    /// What a cut leaves at each point of a save: a half-written next copy, a staged link.
    /// `current` still names the whole previous copy, and the next save cleans up.
    #[test]
    fn a_save_cut_short_leaves_the_previous_copy_current() {
        let root = tempfile::tempdir().unwrap();
        let ram = root.path().join("ram");
        write(&ram, "a.log", "one\n");
        let store = Store::of(root.path(), "/var/log");
        store.save(&ram).unwrap();
        // The cut: gen.2 half made, current.new made but not yet renamed.
        write(&store.dir().join("gen.2"), "a.log", "tw");
        std::os::unix::fs::symlink("gen.2", store.dir().join(CURRENT_NEW)).unwrap();
        let (n, dir) = store.current().unwrap();
        assert_eq!(n, 1);
        assert_eq!(fs::read_to_string(dir.join("a.log")).unwrap(), "one\n");
        write(&ram, "a.log", "three\n");
        store.save(&ram).unwrap();
        let (n, dir) = store.current().unwrap();
        assert_eq!(n, 2);
        assert_eq!(fs::read_to_string(dir.join("a.log")).unwrap(), "three\n");
        assert!(!store.dir().join(CURRENT_NEW).exists());
        assert!(!store.dir().join("gen.1").exists());
    }

    #[test]
    fn a_current_link_to_a_missing_copy_loads_nothing() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::of(root.path(), "/data");
        fs::create_dir_all(store.dir()).unwrap();
        std::os::unix::fs::symlink("gen.4", store.dir().join(CURRENT)).unwrap();
        assert!(store.current().is_none());
    }
}
