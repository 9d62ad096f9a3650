//! Child processes of PID 1 (only the rescue shell) and our own CPU time.

use std::process::Command;
use std::time::Duration;

use nix::sys::resource::{getrusage, UsageWho};

/// Runs `shell` on our console and waits for it to exit.
pub fn run_shell(shell: &str) -> std::io::Result<()> {
    Command::new(shell)
        .env_clear()
        .env("PATH", "/sbin:/bin:/usr/sbin:/usr/bin")
        .env("PS1", "(flashroot) # ")
        .env("HOME", "/")
        .env("TERM", "linux")
        .status()
        .map(drop)
}

/// User and kernel CPU time this process has used so far.
pub fn cpu_times() -> (Duration, Duration) {
    let to_duration = |tv: nix::sys::time::TimeVal| {
        Duration::new(
            tv.tv_sec().max(0) as u64,
            (tv.tv_usec().max(0) as u32) * 1000,
        )
    };
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => (to_duration(u.user_time()), to_duration(u.system_time())),
        Err(_) => (Duration::ZERO, Duration::ZERO),
    }
}
