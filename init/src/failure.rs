//! The failure policy: PID 1 never dies silently and never lets the kernel panic. On
//! any error it says what failed, offers the rescue shell if one is packed, then waits
//! `delay` seconds and reboots, halts or powers off.

use std::sync::Mutex;
use std::time::Duration;

use flashroot_config::{Failure, FailureAction, Word};

use crate::cmdline::Cmdline;
use crate::error::BootError;
use crate::sys;

/// Where the builder packs the rescue shell (`[initramfs] shell`).
pub const RESCUE_SHELL: &str = "/bin/sh";
/// `flashroot.delay=N` overrides `[failure] delay`.
pub use flashroot_runtime::keys::KEY_DELAY;
/// `flashroot.failure=reboot|halt|poweroff` overrides `[failure] action`.
pub use flashroot_runtime::keys::KEY_FAILURE as KEY_ACTION;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub action: FailureAction,
    /// Seconds to leave the message on screen before the action.
    pub delay: u32,
    /// Whether to run [`RESCUE_SHELL`] first (set when the file exists).
    pub shell: bool,
}

impl Policy {
    /// The configured policy with the command line's overrides; a bad override is
    /// reported and ignored, so that a typo cannot take away the way out.
    pub fn resolve(config: &Failure, cmdline: &Cmdline) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let mut policy = Self {
            action: config.action,
            delay: config.delay,
            shell: false,
        };
        if let Some(v) = cmdline.get(KEY_ACTION) {
            match FailureAction::from_word(v) {
                Some(a) => policy.action = a,
                None => warnings.push(format!(
                    "{KEY_ACTION}={v}: expected {}; keeping {}",
                    FailureAction::choices(),
                    policy.action.word()
                )),
            }
        }
        if let Some(v) = cmdline.get(KEY_DELAY) {
            match v.parse() {
                Ok(d) => policy.delay = d,
                Err(_) => warnings.push(format!(
                    "{KEY_DELAY}={v}: expected a number of seconds; keeping {}",
                    policy.delay
                )),
            }
        }
        (policy, warnings)
    }
}

/// Until the config is read: reboot after a while, the embedded default's choice.
static POLICY: Mutex<Policy> = Mutex::new(Policy {
    action: FailureAction::Reboot,
    delay: 30,
    shell: false,
});

pub fn set(policy: Policy) {
    *POLICY.lock().unwrap_or_else(|p| p.into_inner()) = policy;
}

pub fn current() -> Policy {
    POLICY.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Reports `err` and carries out the policy. Never returns.
pub fn fail(err: &BootError) -> ! {
    error!("error: {err}");
    act()
}

/// Makes a panic go through the policy too. The init is built with panic=abort: the
/// hook runs before the abort, so the policy runs inside it.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown location".into());
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        fail(&BootError::new("panic", location, message))
    }));
}

fn act() -> ! {
    let policy = current();
    if policy.shell {
        info!(
            "starting the rescue shell {RESCUE_SHELL}; the {} follows when it exits",
            policy.action.word()
        );
        if let Err(e) = sys::process::run_shell(RESCUE_SHELL) {
            error!("error: rescue shell: {RESCUE_SHELL}: {e}");
        }
    }
    if policy.delay > 0 {
        info!("{} in {} seconds", policy.action.word(), policy.delay);
        std::thread::sleep(Duration::from_secs(policy.delay.into()));
    }
    info!("{} now", policy.action.word());
    let err = sys::power::shut_down(policy.action);
    // Still here: reboot(2) failed. Exiting would panic the kernel; wait for a human.
    error!(
        "error: {}: reboot(2): {}; waiting forever",
        policy.action.word(),
        err.desc()
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Failure {
        Failure {
            action: FailureAction::Reboot,
            delay: 30,
        }
    }

    #[test]
    fn command_line_overrides_the_config() {
        let c = Cmdline::parse("console=ttyS0 flashroot.failure=poweroff flashroot.delay=0");
        let (p, warnings) = Policy::resolve(&config(), &c);
        assert_eq!(
            p,
            Policy {
                action: FailureAction::Poweroff,
                delay: 0,
                shell: false
            }
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn config_applies_without_overrides() {
        let (p, _) = Policy::resolve(&config(), &Cmdline::parse("quiet"));
        assert_eq!((p.action, p.delay), (FailureAction::Reboot, 30));
        let (p, _) = Policy::resolve(&config(), &Cmdline::parse("flashroot.failure=halt"));
        assert_eq!(p.action, FailureAction::Halt);
    }

    #[test]
    fn bad_overrides_are_named_and_ignored() {
        let c = Cmdline::parse("flashroot.failure=explode flashroot.delay=soon");
        let (p, warnings) = Policy::resolve(&config(), &c);
        assert_eq!((p.action, p.delay), (FailureAction::Reboot, 30));
        assert_eq!(warnings.len(), 2);
        assert!(
            warnings[0].contains("flashroot.failure=explode"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[1].contains("flashroot.delay=soon"),
            "{}",
            warnings[1]
        );
    }
}
