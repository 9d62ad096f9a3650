//! The end of every failed boot and of every shutdown: sync, then reboot(2).

use flashroot_config::FailureAction;
use nix::errno::Errno;
use nix::sys::reboot::{reboot, RebootMode};

/// Syncs and reboots, halts or powers off. Returns only if the kernel refused.
pub fn shut_down(action: FailureAction) -> Errno {
    nix::unistd::sync();
    let mode = match action {
        FailureAction::Reboot => RebootMode::RB_AUTOBOOT,
        FailureAction::Halt => RebootMode::RB_HALT_SYSTEM,
        FailureAction::Poweroff => RebootMode::RB_POWER_OFF,
    };
    reboot_now(mode)
}

/// reboot(2) without a sync first. Returns only if the kernel refused (e.g. RB_KEXEC
/// with no kexec image loaded: EINVAL).
pub fn reboot_now(mode: RebootMode) -> Errno {
    match reboot(mode) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}
