//! Early setup: the API filesystems, then /dev/kmsg for logging.

use std::sync::Mutex;

use nix::mount::MsFlags;

use crate::error::BootError;
use crate::sys::{self, mount::mount};

/// The mounts every boot needs first: (source, target, type, flags, data).
const EARLY_MOUNTS: &[(&str, &str, &str, MsFlags, &str)] = &[
    (
        "devtmpfs",
        "/dev",
        "devtmpfs",
        MsFlags::MS_NOSUID,
        "mode=0755",
    ),
    (
        "proc",
        "/proc",
        "proc",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_NOEXEC),
        "",
    ),
    (
        "sysfs",
        "/sys",
        "sysfs",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_NOEXEC),
        "",
    ),
    (
        "tmpfs",
        "/run",
        "tmpfs",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        "mode=0755",
    ),
];

/// /dev/kmsg rate-limits writers (10 lines per 5 s) unless this says "on".
const PRINTK_DEVKMSG: &str = "/proc/sys/kernel/printk_devkmsg";

/// The setting we found, put back before the real init starts.
static SAVED_DEVKMSG: Mutex<Option<String>> = Mutex::new(None);

/// Gives the real init the /dev/kmsg rate limit the kernel had.
pub fn restore_devkmsg() {
    if let Some(old) = SAVED_DEVKMSG
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        let _ = std::fs::write(PRINTK_DEVKMSG, old);
    }
}

pub fn setup() -> Result<(), BootError> {
    for (source, target, fstype, flags, data) in EARLY_MOUNTS {
        std::fs::create_dir_all(target)
            .map_err(|e| BootError::io("create mountpoint", *target, &e))?;
        match mount(source, target, Some(fstype), *flags, data) {
            Ok(()) => {}
            // Already there (devtmpfs with CONFIG_DEVTMPFS_MOUNT, or a second run).
            Err(e) if e.errno == Some(nix::errno::Errno::EBUSY) => {}
            Err(e) => return Err(e),
        }
        if *target == "/dev" {
            // The banner goes out as soon as both the console and /dev/kmsg can take it.
            sys::switch_root::ensure_console();
            if let Err(e) = crate::kmsg::open() {
                info!(
                    "cannot open {}: {e}; logging to the console only",
                    crate::kmsg::KMSG_PATH
                );
            }
            info!(
                "init {} running as PID {}",
                env!("CARGO_PKG_VERSION"),
                std::process::id()
            );
        }
    }
    // Refused when printk.devkmsg= is on the command line, which is fine.
    if let Ok(old) = std::fs::read_to_string(PRINTK_DEVKMSG) {
        if std::fs::write(PRINTK_DEVKMSG, "on\n").is_ok() {
            *SAVED_DEVKMSG.lock().unwrap_or_else(|p| p.into_inner()) = Some(old);
        }
    }
    info!("mounted /dev, /proc, /sys, /run");
    Ok(())
}
