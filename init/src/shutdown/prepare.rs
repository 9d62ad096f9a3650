//! At boot, before switch_root: /run/initramfs as systemd's shutdown protocol wants it
//! (docs/INITRD_INTERFACE.md). /run moves into the real root, so this survives the
//! switch; at shutdown systemd-shutdown bind-mounts /dev /proc /sys /run into it,
//! pivots into it with the old root at /oldroot and execs /shutdown.

use std::os::unix::fs::PermissionsExt;

use super::{CARD_OUT, DIR, OLD_ROOT, PROGRAM};
use crate::error::BootError;

/// Our own binary: the kernel ran it as /init, but `rdinit=` may name another path.
const SELF_EXE: &str = "/proc/self/exe";
/// The mountpoints of the pivot (plus /oldroot and the card's [`CARD_OUT`]): systemd
/// makes its own, but our pivot for an init without systemd expects them.
const MOUNTPOINTS: [&str; 4] = ["dev", "proc", "sys", "run"];
const MODE: u32 = 0o755;

/// Copies the init (static: nothing else to copy) to [`PROGRAM`] and makes the
/// mountpoints. Returns the bytes it costs in /run's tmpfs.
pub fn prepare() -> Result<u64, BootError> {
    let step = "prepare shutdown";
    let dirs = MOUNTPOINTS
        .iter()
        .map(|d| format!("{DIR}/{d}"))
        .chain([OLD_ROOT, CARD_OUT].map(|d| format!("{DIR}{d}")));
    for dir in dirs {
        std::fs::create_dir_all(&dir).map_err(|e| BootError::io(step, &dir, &e))?;
    }
    let bytes = std::fs::copy(SELF_EXE, PROGRAM)
        .map_err(|e| BootError::io(step, format!("{SELF_EXE} to {PROGRAM}"), &e))?;
    std::fs::set_permissions(PROGRAM, std::fs::Permissions::from_mode(MODE))
        .map_err(|e| BootError::io(step, PROGRAM, &e))?;
    Ok(bytes)
}
