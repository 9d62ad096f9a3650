//! Child processes of PID 1: only the rescue shell.

use std::process::Command;

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
