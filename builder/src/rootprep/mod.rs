//! Turning a root directory (e.g. a `debootstrap` target) into a flash-ready root, the way
//! the classic recipe did by hand, and reporting every change:
//!
//! 1. `dev`, `proc`, `sys`, `run`, `tmp` exist and are empty: the init mounts over them.
//! 2. `/var/tmp` is a symlink to `/tmp`, so no temporary file is written to the card.
//! 3. Each `[[tmpfs]]` directory exists and is empty (its contents would only be hidden);
//!    a path that is a symlink (Debian's `/var/run` → `/run`) is followed inside the root.
//! 4. Each `[[overlay]]` directory stays where it is: the init mounts it as the overlay's
//!    read-only lower layer with upper and work directories on tmpfs. The apt cache's
//!    regenerable files (`*.bin`, downloaded `.deb`s) are removed; apt rebuilds them in RAM.
//! 5. `/etc/fstab` gets a marked block naming the containers and the tmpfs mounts, so
//!    `findmnt --fstab` and systemd agree with what the init mounted.
//! 6. In a Debian root, `localedef` is diverted and wrapped to write locales as
//!    directories, since JFFS2 cannot map `locale-archive` shared and writable
//!    ([`locale`]).
//! 7. `/etc/machine-id` is emptied so that each card gets its own; a systemd root without
//!    a D-Bus system bus gets a warning ([`systemd`]).
//!
//! The source is only modified with [`Target::InPlace`]; otherwise it is copied first.

mod copy;
pub mod dpkg;
mod error;
pub mod fstab;
pub mod locale;
mod report;
pub mod systemd;
pub mod tree;

use std::fs;
use std::path::{Path, PathBuf};

use flashroot_config::Config;

pub use copy::copy_tree;
pub use error::Error;
pub use fstab::FstabEntry;
pub use fstab::FstabProblem;
pub use report::{Change, Report};

/// Directories the init (or the kernel) mounts a filesystem on; they must exist and be empty.
pub const MOUNT_DIRS: [(&str, u32); 5] = [
    ("/dev", 0o755),
    ("/proc", 0o555),
    ("/sys", 0o555),
    ("/run", 0o755),
    ("/tmp", 0o1777),
];
/// API filesystems mounted at boot whatever the config says: no fstab line, no directories
/// created below them in the image.
const API_MOUNTS: [&str; 4] = ["/dev", "/proc", "/sys", "/run"];
/// `/var/tmp` becomes a symlink to this.
pub const VAR_TMP: &str = "/var/tmp";
pub const VAR_TMP_TARGET: &str = "/tmp";
/// The apt cache, whose `*.bin` files and `archives/*.deb` apt regenerates on demand.
pub const APT_CACHE: &str = "/var/cache/apt";
const APT_CACHE_BIN_SUFFIX: &str = ".bin";
const APT_ARCHIVES: &str = "archives";
const DEB_SUFFIX: &str = ".deb";
/// Mode of directories created for tmpfs paths without a configured `mode`, and for overlays.
const DEFAULT_DIR_MODE: u32 = 0o755;
pub const FSTAB: &str = "/etc/fstab";
const JFFS2_FSTYPE: &str = "jffs2";
const OVERLAY_FSTYPE: &str = "overlay";
const TMPFS: &str = "tmpfs";
/// The flags the init mounts every tmpfs with; fstab says the same so that a remount by
/// systemd changes nothing.
const TMPFS_FLAGS: [&str; 2] = ["nosuid", "nodev"];

/// Where the prepared root ends up.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// Modify the source directory itself.
    InPlace,
    /// Copy the source here (a new or empty directory), then modify the copy.
    Copy(&'a Path),
}

/// Prepares `source` as [`target`](Target) says; returns the prepared directory and the report.
pub fn import(source: &Path, target: Target, config: &Config) -> Result<(PathBuf, Report), Error> {
    if !source.is_dir() {
        return Err(Error::SourceNotDir {
            path: source.to_path_buf(),
        });
    }
    let mut report = Report::default();
    let root = match target {
        Target::InPlace => source.to_path_buf(),
        Target::Copy(dest) => {
            copy_tree(source, dest)?;
            report.push(Change::Copied {
                from: source.display().to_string(),
                to: dest.display().to_string(),
            });
            dest.to_path_buf()
        }
    };
    prepare(&root, config, &mut report).map_err(|e| Error::InRoot {
        root: root.clone(),
        source: Box::new(e),
    })?;
    Ok((root, report))
}

/// Applies every step to `root` in place, appending to `report`.
pub fn prepare(root: &Path, config: &Config, report: &mut Report) -> Result<(), Error> {
    prepare_mount_dirs(root, report)?;
    link_var_tmp(root, report)?;
    prepare_tmpfs_dirs(root, config, report)?;
    prepare_ramdirs(root, config, report)?;
    prepare_overlays(root, config, report)?;
    write_fstab(root, &fstab_entries(root, config)?, report)?;
    locale::install_localedef_wrapper(root, report)?;
    systemd::reset_machine_id(root, report)?;
    systemd::check_dbus(root, report)
}

fn prepare_mount_dirs(root: &Path, report: &mut Report) -> Result<(), Error> {
    for (inner, mode) in MOUNT_DIRS {
        ensure_empty_dir(
            root,
            inner,
            mode,
            "the init mounts a filesystem there",
            report,
        )?;
    }
    Ok(())
}

/// Makes `inner` an empty directory with `mode`, reporting what changed.
fn ensure_empty_dir(
    root: &Path,
    inner: &str,
    mode: u32,
    why: &'static str,
    report: &mut Report,
) -> Result<(), Error> {
    let path = tree::host_path(root, inner);
    match fs::symlink_metadata(&path) {
        Err(_) => {
            tree::create_dir(&path, mode)?;
            report.push(Change::CreatedDir {
                path: inner.into(),
                mode,
            });
            return Ok(());
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::NotADir {
                path: inner.to_string(),
                why,
                what: tree::describe(&path).unwrap_or_else(|_| "not one".into()),
            })
        }
        Ok(_) => {}
    }
    let entries = tree::empty_dir(&path)?;
    if entries > 0 {
        report.push(Change::Emptied {
            path: inner.into(),
            entries,
            why,
        });
    }
    let old = tree::mode(&path)?;
    if old != mode {
        tree::set_mode(&path, mode)?;
        report.push(Change::ModeSet {
            path: inner.into(),
            from: old,
            to: mode,
        });
    }
    Ok(())
}

fn link_var_tmp(root: &Path, report: &mut Report) -> Result<(), Error> {
    ensure_symlink(root, VAR_TMP, VAR_TMP_TARGET, report)
}

/// Makes `inner` a symlink to `target`, replacing whatever is there, reporting the change.
fn ensure_symlink(
    root: &Path,
    inner: &str,
    target: &str,
    report: &mut Report,
) -> Result<(), Error> {
    let path = tree::host_path(root, inner);
    let replaced = match fs::read_link(&path) {
        Ok(current) if current == Path::new(target) => {
            report.push(Change::Kept {
                path: inner.into(),
                why: format!("already a symlink to {target}"),
            });
            return Ok(());
        }
        _ if fs::symlink_metadata(&path).is_ok() => {
            let old = tree::describe(&path).map_err(Error::io("stat", &path))?;
            tree::remove_any(&path)?;
            Some(old)
        }
        _ => None,
    };
    if let Some(parent) = path.parent() {
        if !parent.exists() {
            tree::create_dir(parent, DEFAULT_DIR_MODE)?;
        }
    }
    std::os::unix::fs::symlink(target, &path).map_err(Error::io("create symlink", &path))?;
    report.push(Change::Symlinked {
        path: inner.into(),
        target: target.into(),
        replaced,
    });
    Ok(())
}

/// The API mount `inner` lies in (or is), if any.
fn api_mount_of(inner: &str) -> Option<&'static str> {
    API_MOUNTS
        .into_iter()
        .find(|api| inner == *api || inner.starts_with(&format!("{api}/")))
}

fn prepare_tmpfs_dirs(root: &Path, config: &Config, report: &mut Report) -> Result<(), Error> {
    for (index, tmpfs) in config.tmpfs.iter().enumerate() {
        let inner = tree::resolve(root, &tmpfs.path.0)?;
        if let Some(api) = api_mount_of(&inner) {
            report.push(Change::Kept {
                path: tmpfs.path.0.clone(),
                why: format!("resolves to {inner}, inside {api}, which is mounted at boot anyway"),
            });
            continue;
        }
        if MOUNT_DIRS.iter().any(|(dir, _)| *dir == inner) {
            continue; // emptied above already
        }
        let mode = match &tmpfs.mode {
            Some(text) => parse_mode(text).map_err(|e| Error::ConfigValue {
                key: format!("tmpfs[{index}].mode ({})", tmpfs.path),
                source: Box::new(e),
            })?,
            None => DEFAULT_DIR_MODE,
        };
        ensure_empty_dir(
            root,
            &inner,
            mode,
            "a tmpfs is mounted over it at boot",
            report,
        )?;
    }
    Ok(())
}

/// An octal mode such as `1777`.
fn parse_mode(text: &str) -> Result<u32, Error> {
    match u32::from_str_radix(text, 8) {
        Ok(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(Error::Mode { text: text.into() }),
    }
}

/// The directory `path` of the root (symlinks resolved inside it), made when missing;
/// anything else there is refused, named as `what`. Returns the resolved path.
fn ensure_dir(root: &Path, path: &str, what: &str, report: &mut Report) -> Result<String, Error> {
    let inner = tree::resolve(root, path)?;
    let host = tree::host_path(root, &inner);
    if !host.exists() {
        tree::create_dir(&host, DEFAULT_DIR_MODE)?;
        report.push(Change::CreatedDir {
            path: inner.clone(),
            mode: DEFAULT_DIR_MODE,
        });
    } else if !host.is_dir() {
        return Err(Error::NotADirFor {
            role: what.to_string(),
            path: inner,
            what: tree::describe(&host).unwrap_or_else(|_| "not one".into()),
        });
    }
    Ok(inner)
}

fn prepare_overlays(root: &Path, config: &Config, report: &mut Report) -> Result<(), Error> {
    for overlay in &config.overlays {
        let inner = ensure_dir(root, &overlay.path.0, "overlay path", report)?;
        if inner == APT_CACHE {
            clean_apt_cache(root, report)?;
        }
        report.push(Change::Kept {
            path: inner,
            why: "the read-only lower layer of its overlay; writes go to tmpfs".into(),
        });
    }
    Ok(())
}

/// A RAM directory keeps what the tree holds: the first boot loads it into the tmpfs.
fn prepare_ramdirs(root: &Path, config: &Config, report: &mut Report) -> Result<(), Error> {
    for ramdir in &config.ramdirs {
        let inner = ensure_dir(root, &ramdir.path.0, "RAM directory", report)?;
        report.push(Change::Kept {
            path: inner,
            why: format!(
                "a RAM directory: the first boot loads it into tmpfs, saves go to {}{}",
                flashroot_config::RAMDIR_STORE,
                ramdir.path
            ),
        });
    }
    Ok(())
}

/// Removes what `apt-get clean` removes: the package caches and downloaded packages.
fn clean_apt_cache(root: &Path, report: &mut Report) -> Result<(), Error> {
    let cache = tree::host_path(root, APT_CACHE);
    let archives = cache.join(APT_ARCHIVES);
    let candidates = [
        (cache.clone(), APT_CACHE_BIN_SUFFIX, "apt regenerates it"),
        (
            archives,
            DEB_SUFFIX,
            "a downloaded package, as after apt-get clean",
        ),
    ];
    for (dir, suffix, why) in candidates {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
            .collect();
        files.sort();
        for file in files {
            let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&file).map_err(Error::io("remove", &file))?;
            let inner = format!("/{}", file.strip_prefix(root).unwrap_or(&file).display());
            report.push(Change::RemovedFile {
                path: inner,
                bytes,
                why,
            });
        }
    }
    Ok(())
}

/// The containers, then the tmpfs mounts that are not API mounts, as fstab lines.
pub fn fstab_entries(root: &Path, config: &Config) -> Result<Vec<FstabEntry>, Error> {
    let mut entries: Vec<FstabEntry> = config
        .containers
        .iter()
        .map(|c| match c.base {
            // A layered root is an overlayfs (its JFFS2 is mounted under /run).
            Some(_) => FstabEntry {
                source: OVERLAY_FSTYPE.into(),
                target: c.mountpoint.0.clone(),
                fstype: OVERLAY_FSTYPE.into(),
                options: Vec::new(),
            },
            None => FstabEntry {
                source: format!("mtd:{}", c.label()),
                target: c.mountpoint.0.clone(),
                fstype: JFFS2_FSTYPE.into(),
                options: c.options.clone(),
            },
        })
        .collect();
    for tmpfs in &config.tmpfs {
        let inner = tree::resolve(root, &tmpfs.path.0)?;
        if api_mount_of(&inner).is_some() || entries.iter().any(|e| e.target == inner) {
            continue;
        }
        let sized = [("mode", &tmpfs.mode), ("size", &tmpfs.size)]
            .into_iter()
            .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={v}")));
        let options = TMPFS_FLAGS
            .iter()
            .map(|f| f.to_string())
            .chain(sized)
            .collect();
        entries.push(FstabEntry {
            source: TMPFS.into(),
            target: inner,
            fstype: TMPFS.into(),
            options,
        });
    }
    Ok(entries)
}

fn write_fstab(root: &Path, entries: &[FstabEntry], report: &mut Report) -> Result<(), Error> {
    let path = tree::host_path(root, FSTAB);
    let existing = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    let merged =
        fstab::merge_block(&existing, &fstab::render_block(entries)).map_err(|problem| {
            Error::Fstab {
                path: path.clone(),
                problem,
            }
        })?;
    if merged == existing {
        report.push(Change::Kept {
            path: FSTAB.into(),
            why: "its flashroot block is already current".into(),
        });
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        if !parent.exists() {
            tree::create_dir(parent, DEFAULT_DIR_MODE)?;
        }
    }
    fs::write(&path, merged).map_err(Error::io("write", &path))?;
    for entry in entries {
        report.push(Change::FstabLine(entry.line()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_octal() {
        assert_eq!(parse_mode("1777").unwrap(), 0o1777);
        assert_eq!(parse_mode("0755").unwrap(), 0o755);
        assert_eq!(
            parse_mode("rwx").unwrap_err().to_string(),
            "expected an octal mode such as 1777 or 0755, but got \"rwx\""
        );
        assert!(parse_mode("17777").is_err());
    }

    #[test]
    fn api_mounts_cover_their_subdirectories_only() {
        assert_eq!(api_mount_of("/run/lock"), Some("/run"));
        assert_eq!(api_mount_of("/run"), Some("/run"));
        assert_eq!(api_mount_of("/running"), None);
        assert_eq!(api_mount_of("/var/log"), None);
    }
}
