//! The process that saves the RAM directories while the system runs: started by the init
//! before switch_root (argv[0] [`KEEPER_ARGV0`]), it moves into the new root and saves
//! each directory every `save_minutes`, at once on SIGUSR1, and one last time on SIGTERM
//! (which systemd-shutdown and busybox's poweroff send to every process before they
//! unmount), then exits. Its pid is in [`PID_FILE`].

use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::store::Store;
use crate::{kmsg, sys, BootError};

pub const KEEPER_ARGV0: &str = "flashroot-ramdirs";
/// Where the init records the keeper's pid (in the real root's /run).
pub const PID_FILE: &str = "/run/flashroot/ramdirs.pid";
const SELF_EXE: &str = "/proc/self/exe";

/// One RAM directory the keeper saves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    /// Its path in the root.
    pub path: String,
    pub every: Duration,
}

/// `path=minutes`, as the init passes it.
fn parse(word: &str) -> Option<Kept> {
    let (path, minutes) = word.rsplit_once('=')?;
    let minutes: u64 = minutes.parse().ok().filter(|m| *m > 0)?;
    path.starts_with('/').then(|| Kept {
        path: path.to_string(),
        every: Duration::from_secs(minutes * 60),
    })
}

/// Starts the keeper for `dirs` of the root mounted at `new_root`; returns its pid.
pub fn start(new_root: &str, dirs: &[(String, u32)]) -> Result<u32, BootError> {
    let step = "start the RAM directory keeper";
    let child = Command::new(SELF_EXE)
        .arg0(KEEPER_ARGV0)
        .arg(new_root)
        .args(dirs.iter().map(|(p, m)| format!("{p}={m}")))
        .env_clear()
        .spawn()
        .map_err(|e| BootError::io(step, SELF_EXE, &e))?;
    let pid = child.id();
    let dir = Path::new(PID_FILE)
        .parent()
        .expect("a path with a directory");
    let written =
        std::fs::create_dir_all(dir).and_then(|()| std::fs::write(PID_FILE, format!("{pid}\n")));
    if let Err(e) = written {
        error!("{step}: {PID_FILE}: {e}; SIGUSR1 saves need the pid from ps");
    }
    Ok(pid)
}

/// The keeper process: `flashroot-ramdirs <new root> <path=minutes>...`.
pub fn main(args: &[String]) -> ! {
    match sys::node::open_private(kmsg::KMSG_PATH, "/") {
        Ok(f) => kmsg::open_with(f),
        Err(_) => drop(kmsg::open()),
    }
    let code = match run(args) {
        Ok(()) => 0,
        Err(e) => {
            error!("RAM directories: {e}");
            1
        }
    };
    std::process::exit(code)
}

fn run(args: &[String]) -> Result<(), BootError> {
    let step = "RAM directory keeper";
    let (root, words) = args.split_first().ok_or_else(|| {
        BootError::new(step, "arguments", "expected <new root> <path=minutes>...")
    })?;
    let dirs: Vec<Kept> = words
        .iter()
        .map(|w| parse(w).ok_or_else(|| BootError::new(step, w, "expected <path>=<minutes>")))
        .collect::<Result<_, _>>()?;
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGUSR1);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&signals), None)
        .map_err(|e| BootError::errno(step, "sigprocmask", e))?;
    let fd = SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC)
        .map_err(|e| BootError::errno(step, "signalfd", e))?;
    // The root stays this process's root when switch_root moves it to "/".
    nix::unistd::chroot(root.as_str()).map_err(|e| BootError::errno(step, root, e))?;
    nix::unistd::chdir("/").map_err(|e| BootError::errno(step, "/", e))?;
    let mut due: Vec<Instant> = dirs.iter().map(|d| Instant::now() + d.every).collect();
    loop {
        let now = Instant::now();
        let wait = due.iter().map(|t| t.saturating_duration_since(now)).min();
        let wait = wait.unwrap_or(Duration::from_secs(3600));
        let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        let ready = matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0);
        if ready {
            let signal = fd.read_signal().ok().flatten().map(|s| s.ssi_signo);
            let last = signal == Some(Signal::SIGTERM as u32);
            let why = if last { "SIGTERM" } else { "SIGUSR1" };
            for d in &dirs {
                save(d, why);
            }
            if last {
                return Ok(());
            }
            continue;
        }
        let now = Instant::now();
        for (d, at) in dirs.iter().zip(due.iter_mut()) {
            if *at <= now {
                save(d, "schedule");
                *at = now + d.every;
            }
        }
    }
}

/// Saves `dir` and logs what it took; a failure is logged and the next save tries again.
fn save(dir: &Kept, why: &str) {
    let started = Instant::now();
    let store = Store::of(Path::new("/"), &dir.path);
    match store.save(Path::new(&dir.path)) {
        Ok(c) => info!(
            "RAM directory {} saved ({why}) to {}: {} files written ({} bytes), {} unchanged linked, {} others, in {} ms",
            dir.path,
            store.dir().display(),
            c.files,
            c.bytes,
            c.linked,
            c.others,
            started.elapsed().as_millis()
        ),
        Err(e) => error!("RAM directory {} not saved ({why}): {e}", dir.path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inits_words_for_the_keeper_are_read_strictly() {
        assert_eq!(
            parse("/var/log=60"),
            Some(Kept {
                path: "/var/log".into(),
                every: Duration::from_secs(3600)
            })
        );
        assert_eq!(parse("/var/log=0"), None);
        assert_eq!(parse("var/log=5"), None);
        assert_eq!(parse("/var/log"), None);
    }
}
