//! What goes on a card, and how it is laid down in a mounted FAT directory.

use std::fs;
use std::path::{Path, PathBuf};

use super::Error;

use super::layout::{
    journal_of, INITRD, INITRD_OLD, JOURNAL_BYTES, KVER, KVER_OLD, SYSLINUX_CFG, VMLINUZ,
    VMLINUZ_OLD,
};
use super::syslinux_cfg::{self, BootConfig};
use crate::atomic;

/// The files of one card.
#[derive(Clone, Debug)]
pub struct Payload {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// The kernel release, recorded on the card for the kernel hook.
    pub kver: Option<String>,
    /// `(path on the card, host file)` for each JFFS2 container.
    pub containers: Vec<(String, PathBuf)>,
    /// `(path on the card, host file)` for files copied as they are, without a journal:
    /// a layered root's squashfs base.
    pub files: Vec<(String, PathBuf)>,
    pub boot: BootConfig,
}

impl Payload {
    /// Fails naming the first input file that is missing.
    pub fn check_inputs(&self) -> Result<(), Error> {
        let inputs = [("kernel", &self.kernel), ("initramfs", &self.initrd)]
            .into_iter()
            .chain(self.containers.iter().map(|(_, host)| ("container", host)))
            .chain(self.files.iter().map(|(_, host)| ("file", host)));
        for (what, path) in inputs {
            if !path.is_file() {
                return Err(Error::NotAFile {
                    what,
                    path: path.clone(),
                });
            }
        }
        Ok(())
    }

    /// The syslinux configuration text.
    pub fn syslinux_cfg(&self) -> String {
        syslinux_cfg::render(&self.boot)
    }
}

/// What [`populate_dir`] did, one line per action.
pub type Actions = Vec<String>;

/// Lays the payload into the mounted card `dir`. Each file is written under a temporary
/// name and renamed, so an interrupted run never leaves a half-written kernel. The kernel
/// and initramfs already there become the previous pair when they differ from the new
/// ones; a card without a previous pair gets the new pair as its previous one too, so the
/// fallback entry always boots.
pub fn populate_dir(dir: &Path, payload: &Payload) -> Result<Actions, Error> {
    payload.check_inputs()?;
    if !dir.is_dir() {
        return Err(Error::NoCardDir {
            dir: dir.to_path_buf(),
        });
    }
    let mut actions = Actions::new();
    for (name, host) in &payload.containers {
        // The empty journal first: a journal left by the old container must never meet
        // the new one.
        let journal = journal_of(name);
        atomic::write(&dir.join(&journal), &vec![0u8; JOURNAL_BYTES as usize])?;
        copy_atomic(host, &dir.join(name))?;
        actions.push(format!(
            "copied {} to {name}, with an empty {journal}",
            host.display()
        ));
    }
    for (name, host) in &payload.files {
        copy_atomic(host, &dir.join(name))?;
        actions.push(format!("copied {} to {name}", host.display()));
    }
    install_pair(dir, payload, &mut actions)?;
    atomic::write(&dir.join(SYSLINUX_CFG), payload.syslinux_cfg().as_bytes())?;
    actions.push(format!("wrote {SYSLINUX_CFG}"));
    Ok(actions)
}

fn install_pair(dir: &Path, payload: &Payload, actions: &mut Actions) -> Result<(), Error> {
    let current = (dir.join(VMLINUZ), dir.join(INITRD));
    let present = current.0.is_file() && current.1.is_file();
    let unchanged = present
        && same_content(&current.0, &payload.kernel)?
        && same_content(&current.1, &payload.initrd)?;
    if unchanged {
        actions.push(format!("kept {VMLINUZ} and {INITRD}: unchanged"));
    } else {
        if present {
            rename(&current.0, &dir.join(VMLINUZ_OLD))?;
            rename(&current.1, &dir.join(INITRD_OLD))?;
            let old_kver =
                fs::read_to_string(dir.join(KVER)).unwrap_or_else(|_| "unknown\n".into());
            atomic::write(&dir.join(KVER_OLD), old_kver.as_bytes())?;
            actions.push(format!(
                "kept the previous pair as {VMLINUZ_OLD} and {INITRD_OLD}"
            ));
        }
        copy_atomic(&payload.kernel, &current.0)?;
        copy_atomic(&payload.initrd, &current.1)?;
        actions.push(format!(
            "copied {} to {VMLINUZ} and {} to {INITRD}",
            payload.kernel.display(),
            payload.initrd.display()
        ));
    }
    match &payload.kver {
        Some(kver) => atomic::write(&dir.join(KVER), format!("{kver}\n").as_bytes())?,
        None => {
            let _ = fs::remove_file(dir.join(KVER));
        }
    }
    if !(dir.join(VMLINUZ_OLD).is_file() && dir.join(INITRD_OLD).is_file()) {
        copy_atomic(&payload.kernel, &dir.join(VMLINUZ_OLD))?;
        copy_atomic(&payload.initrd, &dir.join(INITRD_OLD))?;
        if let Some(kver) = &payload.kver {
            atomic::write(&dir.join(KVER_OLD), format!("{kver}\n").as_bytes())?;
        }
        actions.push(format!(
            "no previous pair yet: copied the new one as {VMLINUZ_OLD} and {INITRD_OLD}"
        ));
    }
    Ok(())
}

fn same_content(a: &Path, b: &Path) -> Result<bool, Error> {
    let meta = |p: &Path| fs::metadata(p).map_err(Error::io("stat", p));
    if meta(a)?.len() != meta(b)?.len() {
        return Ok(false);
    }
    let read = |p: &Path| fs::read(p).map_err(Error::io("read", p));
    Ok(read(a)? == read(b)?)
}

fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    fs::rename(from, to).map_err(Error::io(format!("rename {} to", from.display()), to))
}

/// Copies `source` to `dest` atomically, creating `dest`'s directory (a container may sit
/// in a subdirectory of the card).
fn copy_atomic(source: &Path, dest: &Path) -> Result<(), Error> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
    }
    Ok(atomic::copy(source, dest)?)
}
