//! The system calls of switch_root that are not mounts: the checks, chroot, the console
//! and exec. The order of the steps is in [`crate::switch`].

use std::ffi::CString;
use std::os::fd::{AsRawFd, IntoRawFd};

use nix::sys::statfs::{statfs, FsType, TMPFS_MAGIC};

use crate::error::BootError;

pub const CONSOLE: &str = "/dev/console";
/// `RAMFS_MAGIC` of include/uapi/linux/magic.h (nix does not name it).
const RAMFS_MAGIC: u32 = 0x8584_58f6;

pub fn is_pid1() -> bool {
    nix::unistd::getpid().as_raw() == 1
}

/// Is the filesystem at `path` a ramfs or tmpfs (the only kind we may empty)?
pub fn is_ram_fs(path: &str) -> Result<bool, BootError> {
    let fs = statfs(path).map_err(|e| BootError::errno("statfs", path, e))?;
    let kind = fs.filesystem_type();
    Ok(kind == FsType(RAMFS_MAGIC as _) || kind == TMPFS_MAGIC)
}

pub fn chdir(path: &str) -> Result<(), BootError> {
    nix::unistd::chdir(path).map_err(|e| BootError::errno("chdir", path, e))
}

pub fn chroot(path: &str) -> Result<(), BootError> {
    nix::unistd::chroot(path).map_err(|e| BootError::errno("chroot", path, e))
}

/// Opens /dev/console as stdin, stdout and stderr (the ones the kernel gave us pointed
/// into the initramfs' /dev/console, which is gone).
pub fn reopen_console() -> Result<(), BootError> {
    let console = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(CONSOLE)
        .map_err(|e| BootError::io("reopen console", CONSOLE, &e))?;
    for fd in 0..=2 {
        nix::unistd::dup2(console.as_raw_fd(), fd)
            .map_err(|e| BootError::errno("reopen console", format!("{CONSOLE} as fd {fd}"), e))?;
    }
    if console.as_raw_fd() > 2 {
        drop(console);
    } else {
        // It landed on 0..=2 itself and is now one of them: keep it open.
        let _ = console.into_raw_fd();
    }
    Ok(())
}

/// Makes sure fds 0–2 exist: without /dev/console in the archive the kernel opens none.
pub fn ensure_console() {
    if nix::fcntl::fcntl(2, nix::fcntl::FcntlArg::F_GETFD).is_err() {
        let _ = reopen_console();
    }
}

/// Replaces this process with `path`; returns only on failure.
pub fn exec(path: &str, argv: &[String], env: &[String]) -> BootError {
    let to_c = |s: &str| {
        CString::new(s).map_err(|_| {
            BootError::new("exec", path, format!("argument contains a NUL byte: {s:?}"))
        })
    };
    let run = || -> Result<std::convert::Infallible, BootError> {
        let c_path = to_c(path)?;
        let c_argv = argv
            .iter()
            .map(|a| to_c(a))
            .collect::<Result<Vec<_>, _>>()?;
        let c_env = env.iter().map(|a| to_c(a)).collect::<Result<Vec<_>, _>>()?;
        // Rust ignores SIGPIPE in its programs, and an ignored signal stays ignored across
        // exec: the real init and everything it starts would inherit that (busybox init
        // keeps it; `yes | head` then never ends). The kernel starts PID 1 with defaults.
        // SAFETY: SIG_DFL installs no handler, and no other thread relies on SIGPIPE.
        let _ = unsafe {
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            )
        };
        nix::unistd::execve(&c_path, &c_argv, &c_env)
            .map_err(|e| BootError::errno("exec the real init", path, e))
    };
    match run() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// pivot_root(2): `new_root` becomes `/`, the old root moves to `put_old` (inside it).
pub fn pivot_root(new_root: &str, put_old: &str) -> Result<(), BootError> {
    nix::unistd::pivot_root(new_root, put_old).map_err(|e| {
        BootError::errno(
            "pivot_root",
            format!("{new_root} (old root to {put_old})"),
            e,
        )
    })
}
