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

/// How a wait for a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    Exited,
    /// It was not our child; it is gone now.
    Gone,
    TimedOut,
}

const WAIT_POLL: Duration = Duration::from_millis(20);

/// Waits up to `timeout` for `pid` to exit: reaped with waitpid(WNOHANG) when it is our
/// child (as every orphan is once we are PID 1), else watched with kill(pid, 0).
pub fn wait_exit(pid: u32, timeout: Duration) -> Waited {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::Pid;
    let pid = Pid::from_raw(pid as i32);
    let start = std::time::Instant::now();
    let mut ours = true;
    loop {
        if ours {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => return Waited::Exited,
                Ok(_) => {}
                Err(_) => ours = false,
            }
        }
        if !ours && nix::sys::signal::kill(pid, None).is_err() {
            return Waited::Gone;
        }
        if start.elapsed() >= timeout {
            return Waited::TimedOut;
        }
        std::thread::sleep(WAIT_POLL);
    }
}

/// Processes the shutdown must not kill: kernel threads (an empty command line) and,
/// as systemd-shutdown agrees, those whose argv[0] starts with `@` (storage daemons
/// such as an nbd agent, needed until their device is flushed).
pub fn is_spared(cmdline: &[u8]) -> bool {
    cmdline.is_empty() || cmdline.starts_with(b"@")
}

/// The PIDs other than ours and 1 that are not spared.
fn killable() -> Vec<nix::unistd::Pid> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && pid != 1)
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !is_spared(&c)))
        .map(|pid| nix::unistd::Pid::from_raw(pid as i32))
        .collect()
}

/// SIGTERM to every killable process, SIGKILL to those left after `grace`, reaping
/// what exits (we are PID 1). Returns how many were still there after the SIGKILL
/// and another `grace`.
pub fn kill_others(grace: Duration) -> usize {
    use nix::sys::signal::{kill, Signal};
    for signal in [Signal::SIGTERM, Signal::SIGKILL] {
        for pid in killable() {
            let _ = kill(pid, signal);
        }
        let start = std::time::Instant::now();
        while start.elapsed() < grace {
            reap();
            if killable().is_empty() {
                return 0;
            }
            std::thread::sleep(WAIT_POLL);
        }
    }
    killable().len()
}

/// Reaps every exited child without waiting.
fn reap() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(s) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if s == WaitStatus::StillAlive {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_threads_and_at_processes_are_spared() {
        assert!(is_spared(b""));
        assert!(is_spared(b"@flashroot-agent\0/dev/nbd0\0"));
        assert!(!is_spared(b"/sbin/getty\0ttyS0\0"));
    }
}
