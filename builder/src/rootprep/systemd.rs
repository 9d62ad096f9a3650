//! What systemd needs from a root that becomes many cards.
//!
//! - `/etc/machine-id` is emptied: systemd generates a new ID at boot and writes it into
//!   the empty file (committed once the root is writable), so each card gets its own. An
//!   empty file, not a missing one: a missing file also puts systemd in first-boot mode
//!   (`ConditionFirstBoot=yes`). Debian's cloud images ship it empty for the same reason.
//! - `/var/lib/dbus/machine-id`, when a regular file, becomes a symlink to it: systemd
//!   takes a regular file there as the machine ID (the cloned one) when
//!   `/etc/machine-id` is empty, and libdbus reads it before `/etc/machine-id`.
//! - A systemd root without a D-Bus system bus gets a warning: `hostnamectl`,
//!   `timedatectl`, `localectl` and `loginctl` talk to their daemons over it, and
//!   debootstrap's minbase has none.

use std::fs;
use std::path::Path;

use super::ensure_symlink;
use super::report::{Change, Report};
use super::tree;
use super::Error;
use crate::atomic;

pub const MACHINE_ID: &str = "/etc/machine-id";
/// Debian's mode for it.
const MACHINE_ID_MODE: u32 = 0o444;
pub const DBUS_MACHINE_ID: &str = "/var/lib/dbus/machine-id";
/// systemd's own binary, before and after the /usr merge.
pub const SYSTEMD: [&str; 2] = ["/usr/lib/systemd/systemd", "/lib/systemd/systemd"];
/// The D-Bus system bus daemons: packages dbus-daemon (pulled in by dbus) and dbus-broker.
pub const DBUS_DAEMONS: [&str; 2] = ["/usr/bin/dbus-daemon", "/usr/bin/dbus-broker"];

/// Whether `inner` exists inside `root` (symlinks followed inside it).
fn exists(root: &Path, inner: &str) -> Result<bool, Error> {
    Ok(fs::symlink_metadata(tree::host_path(root, &tree::resolve(root, inner)?)).is_ok())
}

/// Whether `root` boots systemd.
pub fn is_systemd_root(root: &Path) -> Result<bool, Error> {
    for path in SYSTEMD {
        if exists(root, path)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Empties `/etc/machine-id` (creates it empty in a systemd root that lacks it) and points
/// a copied `/var/lib/dbus/machine-id` at it.
pub fn reset_machine_id(root: &Path, report: &mut Report) -> Result<(), Error> {
    let path = tree::host_path(root, MACHINE_ID);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if is_systemd_root(root)? {
                if let Some(parent) = path.parent() {
                    if !parent.exists() {
                        tree::create_dir(parent, super::DEFAULT_DIR_MODE)?;
                    }
                }
                atomic::write(&path, b"")?;
                tree::set_mode(&path, MACHINE_ID_MODE)?;
                report.push(Change::WroteFile {
                    path: MACHINE_ID.into(),
                    mode: MACHINE_ID_MODE,
                    why: "empty: systemd writes a new machine ID into it at first boot; a \
                          missing one would also start its first-boot mode",
                });
            }
        }
        Err(e) => return Err(Error::io("stat", &path)(e)),
        Ok(meta) if !meta.is_file() => {
            return Err(Error::NotAFile {
                path: MACHINE_ID,
                what: tree::describe(&path).unwrap_or_else(|_| "not one".into()),
                why: "systemd writes the new machine ID into it",
            })
        }
        Ok(meta) if meta.len() == 0 => report.push(Change::Kept {
            path: MACHINE_ID.into(),
            why: "already empty: systemd writes a new machine ID into it at first boot".into(),
        }),
        Ok(meta) => {
            let mode = tree::mode(&path)?;
            atomic::write(&path, b"")?;
            tree::set_mode(&path, mode)?;
            report.push(Change::EmptiedFile {
                path: MACHINE_ID.into(),
                bytes: meta.len(),
                why: "systemd writes a new machine ID into it at first boot, so no two cards \
                      made from this root share one",
            });
        }
    }
    let dbus = tree::host_path(root, DBUS_MACHINE_ID);
    if fs::symlink_metadata(&dbus).is_ok() {
        ensure_symlink(root, DBUS_MACHINE_ID, MACHINE_ID, report)?;
    }
    Ok(())
}

/// Warns when a systemd root has no D-Bus system bus daemon.
pub fn check_dbus(root: &Path, report: &mut Report) -> Result<(), Error> {
    if !is_systemd_root(root)? {
        return Ok(());
    }
    for daemon in DBUS_DAEMONS {
        if exists(root, daemon)? {
            report.push(Change::Kept {
                path: daemon.into(),
                why: "the D-Bus system bus that hostnamectl and timedatectl need".into(),
            });
            return Ok(());
        }
    }
    report.push(Change::Warning(format!(
        "this systemd root has no D-Bus system bus (neither {} nor {}): hostnamectl, \
         timedatectl, localectl and loginctl fail until package dbus is installed \
         (apt-get install dbus) and the system rebooted",
        DBUS_DAEMONS[0], DBUS_DAEMONS[1]
    )));
    Ok(())
}
