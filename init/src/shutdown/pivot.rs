//! Without systemd: we are PID 1 in the real root (busybox init's `::restart:` action
//! execs us after its own SIGTERM/SIGKILL round). We do systemd-shutdown's part: stop
//! what is left, bind /dev /proc /sys /run into /run/initramfs, pivot into it with the
//! old root at /oldroot, and exec /shutdown again from there, so that neither our code
//! nor our console keeps a mount of the old root busy.

use std::convert::Infallible;
use std::time::Duration;

use super::{phase, DIR, NAME, OLD_ROOT};
use crate::error::BootError;
use crate::sys;

/// How long the other processes get after SIGTERM, and again after SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
const API_MOUNTS: [&str; 4] = ["/dev", "/proc", "/sys", "/run"];
const ENV: [&str; 2] = ["HOME=/", "TERM=linux"];

/// Returns only the error that stopped it; on success the new /shutdown runs.
pub fn pivot_and_reexec(args: &[String]) -> BootError {
    match try_pivot(args) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn try_pivot(args: &[String]) -> Result<Infallible, BootError> {
    phase("stop the other processes");
    let left = sys::process::kill_others(GRACE);
    if left > 0 {
        super::failed(&BootError::new(
            "stop the other processes",
            format!("{left} processes"),
            "still running after SIGKILL; their mounts will be detached lazily",
        ));
    }
    phase("pivot into /run/initramfs");
    sys::mount::make_private("/")?;
    sys::mount::bind_onto_itself(DIR)?;
    for m in API_MOUNTS {
        let target = format!("{DIR}{m}");
        std::fs::create_dir_all(&target)
            .map_err(|e| BootError::io("create mountpoint", &target, &e))?;
        sys::mount::bind(m, &target)?;
    }
    let old_root = format!("{DIR}{OLD_ROOT}");
    std::fs::create_dir_all(&old_root)
        .map_err(|e| BootError::io("create mountpoint", &old_root, &e))?;
    sys::switch_root::chdir(DIR)?;
    sys::switch_root::pivot_root(".", &old_root[DIR.len() + 1..])?;
    sys::switch_root::chroot(".")?;
    sys::switch_root::chdir("/")?;
    sys::switch_root::reopen_console()?;
    crate::kmsg::close();
    let program = format!("/{NAME}");
    let argv: Vec<String> = std::iter::once(program.clone())
        .chain(args.iter().skip(1).cloned())
        .collect();
    let env: Vec<String> = ENV.iter().map(|s| s.to_string()).collect();
    Err(sys::switch_root::exec(&program, &argv, &env))
}
