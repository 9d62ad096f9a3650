//! The save of a RAM directory: all or nothing. Where the copies lie ([`Store`]) is
//! `flashroot_runtime::ramdir`'s, which `flashroot status` reads them with too.
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
use std::path::Path;

use super::copy::{copy_tree, Copied};
use crate::BootError;

use flashroot_runtime::ramdir::{generation_name, CURRENT, CURRENT_NEW};
pub use flashroot_runtime::ramdir::{Store, STORE};

fn err(step: &str, path: &Path, e: &io::Error) -> BootError {
    BootError::io(
        format!("RAM directory: {step}"),
        path.display().to_string(),
        e,
    )
}

/// The save, which only the keeper (and the shutdown program) does.
pub trait Save {
    /// Saves the tree at `from` as the next copy and makes it current; returns what was
    /// copied.
    fn save(&self, from: &Path) -> Result<Copied, BootError>;
}

impl Save for Store {
    fn save(&self, from: &Path) -> Result<Copied, BootError> {
        let dir = self.dir();
        fs::create_dir_all(dir).map_err(|e| err("create", dir, &e))?;
        let current = self.current();
        let number = current.as_ref().map_or(1, |(n, _)| n + 1);
        let name = generation_name(number);
        let new = dir.join(&name);
        // Left by a cut during an earlier save of the same number.
        remove_if_present(&new)?;
        let copied = copy_tree(from, &new, current.as_ref().map(|(_, d)| d.as_path()))?;
        sync_dir(&new)?;
        let staged = dir.join(CURRENT_NEW);
        remove_if_present(&staged)?;
        std::os::unix::fs::symlink(&name, &staged).map_err(|e| err("link", &staged, &e))?;
        let link = self.current_link();
        fs::rename(&staged, &link).map_err(|e| err("replace", &link, &e))?;
        sync_dir(dir)?;
        remove_all_but(dir, &name)?;
        Ok(copied)
    }
}

/// Removes every copy in the store `dir` but `keep`, and anything else a cut left.
fn remove_all_but(dir: &Path, keep: &str) -> Result<(), BootError> {
    let entries = fs::read_dir(dir).map_err(|e| err("list", dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| err("list", dir, &e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name != keep && name != CURRENT {
            remove_if_present(&entry.path())?;
        }
    }
    Ok(())
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
}
