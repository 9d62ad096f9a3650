//! The boot, as the list of its phases. Each phase logs what it does; any error ends in
//! the failure policy ([`crate::failure`]), never in a kernel panic.

use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;

use flashroot_config::{Config, Failure, COMPACT_PATH};

use crate::cmdline::{Cmdline, PROC_CMDLINE};
use crate::error::BootError;
use crate::failure::{self, RESCUE_SHELL};
use crate::plan::plan;
use crate::{early, execute, kmsg};

/// The kernel's own word for "less on the console", which we follow too.
const QUIET_WORD: &str = "quiet";

/// PID 1's entry point. Never returns: it execs the real init or runs the failure policy.
pub fn run() -> ! {
    failure::install_panic_hook();
    let started = kmsg::now();
    match boot(started) {
        Ok(never) => match never {},
        Err(e) => failure::fail(&e),
    }
}

/// The phases; the last one ends in exec of the real init.
fn boot(started: Duration) -> Result<Infallible, BootError> {
    early::setup()?;
    let cmdline = read_cmdline()?;
    let config = read_config()?;
    let plan = plan(&config, &cmdline)?;
    failure::set(with_shell(plan.failure.clone()));
    for w in &plan.warnings {
        info!("warning: {w}");
    }
    execute::run(&plan, started)
}

fn read_cmdline() -> Result<Cmdline, BootError> {
    let text = std::fs::read_to_string(PROC_CMDLINE)
        .map_err(|e| BootError::io("read the kernel command line", PROC_CMDLINE, &e))?;
    info!("command line: {}", text.trim_end());
    let cmdline = Cmdline::parse(&text);
    kmsg::set_quiet(cmdline.has_word(QUIET_WORD));
    // Until the config is read, the command line's failure overrides already apply.
    failure::set(with_shell(early_policy(&cmdline)));
    Ok(cmdline)
}

/// The packed config (its compact form, written by the builder from the TOML it
/// validated), or the embedded default if none is packed. A config that is packed but
/// broken is an error worth stopping for (with the command line's failure policy).
fn read_config() -> Result<Config, BootError> {
    let path = Path::new(COMPACT_PATH);
    if !path.exists() {
        info!("no {COMPACT_PATH} in the initramfs; using the embedded default config");
        return Ok(Config::embedded_default_compact());
    }
    let config = Config::load_compact(path)
        .map_err(|e| BootError::new("read config", COMPACT_PATH, e.to_string()))?;
    info!("config read from {COMPACT_PATH}");
    Ok(config)
}

/// The built-in policy with the command line's overrides, for failures before the config
/// is read (parsing the embedded default just for this would cost time at every boot).
fn early_policy(cmdline: &Cmdline) -> failure::Policy {
    let builtin = failure::current();
    let config = Failure {
        action: builtin.action,
        delay: builtin.delay,
    };
    failure::Policy::resolve(&config, cmdline).0
}

fn with_shell(mut policy: failure::Policy) -> failure::Policy {
    policy.shell = Path::new(RESCUE_SHELL).exists();
    policy
}
