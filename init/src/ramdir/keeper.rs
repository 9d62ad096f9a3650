//! The process that saves the RAM directories while the system runs: started by the init
//! before switch_root (argv[0] [`KEEPER_ARGV0`]), it moves into the new root and saves
//! each directory every `save_minutes` and at once on SIGUSR1; on SIGTERM it exits. Its
//! pid is in [`PID_FILE`].
//!
//! The last save at shutdown is not the keeper's: the SIGTERM every shutdown sends to all
//! processes comes too late under systemd (it has unmounted the tmpfs by then) and kills
//! the card agent at the same moment under busybox (a save would then hang on its device).
//! Under systemd, [`SYSTEMD_UNIT`] saves them when stopped; otherwise the shutdown program
//! does, run as the init's shutdown action (busybox's `::shutdown:`), from the list in
//! [`RAMDIRS_FILE`].

use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::store::{Save, Store};
use crate::agent::{PRIVATE_NODES, SELF_EXE};
use crate::{kmsg, BootError};

pub const KEEPER_ARGV0: &str = "flashroot-ramdirs";
/// argv[0] of a one-shot save: `flashroot-ramdirs-save <path>...`, run by systemd from
/// [`SYSTEMD_UNIT`] as the program at [`crate::shutdown::PROGRAM`].
pub const SAVE_ARGV0: &str = "flashroot-ramdirs-save";
/// systemd unmounts every mount it knows at shutdown, the RAM directories' tmpfs among
/// them: this unit saves them first.
pub const SYSTEMD_UNIT: &str = "flashroot-ramdirs.service";
const SYSTEMD_RUNTIME_UNITS: &str = "/run/systemd/system";
/// Where the init records the keeper's pid ([`PID_FILE`]), and the RAM directories
/// mounted this boot, one path a line, for the shutdown program ([`RAMDIRS_FILE`]).
pub use flashroot_runtime::ramdir::{PID_FILE, RAMDIRS_FILE};

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
    let list: String = dirs.iter().map(|(p, _)| format!("{p}\n")).collect();
    if let Err(e) = std::fs::write(RAMDIRS_FILE, list) {
        error!("{step}: {RAMDIRS_FILE}: {e}; the shutdown program will not save them");
    }
    Ok(pid)
}

/// The unit that saves `dirs` when systemd stops it at shutdown: after journald has let
/// go of /var/log/journal (systemd-journal-flush's stop) and before systemd unmounts them.
pub fn systemd_unit_text(dirs: &[(String, u32)]) -> String {
    let paths: Vec<String> = dirs.iter().map(|(p, _)| unit_quote(p)).collect();
    let paths = paths.join(" ");
    format!(
        "# Written at boot by flashroot's init. The keeper saves the RAM directories while\n\
         # the system runs; this saves them at shutdown, before systemd unmounts them.\n\
         [Unit]\n\
         Description=Save flashroot's RAM directories at shutdown\n\
         DefaultDependencies=no\n\
         RequiresMountsFor={paths}\n\
         Before=systemd-journal-flush.service shutdown.target\n\
         Conflicts=shutdown.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         ExecStop=@{} {SAVE_ARGV0} {paths}\n\
         TimeoutStopSec=5min\n",
        crate::shutdown::PROGRAM
    )
}

/// A path as one word of a unit file.
fn unit_quote(path: &str) -> String {
    if path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
    {
        return path.to_string();
    }
    format!("\"{}\"", path.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Installs [`SYSTEMD_UNIT`] as a runtime unit wanted by sysinit.target (in the /run that
/// the real root gets); harmless when the real init is not systemd.
pub fn install_systemd_unit(dirs: &[(String, u32)]) -> Result<(), BootError> {
    let step = "install the RAM directories' systemd unit";
    let wants = format!("{SYSTEMD_RUNTIME_UNITS}/sysinit.target.wants");
    let unit = format!("{SYSTEMD_RUNTIME_UNITS}/{SYSTEMD_UNIT}");
    std::fs::create_dir_all(&wants).map_err(|e| BootError::io(step, &wants, &e))?;
    std::fs::write(&unit, systemd_unit_text(dirs)).map_err(|e| BootError::io(step, &unit, &e))?;
    let link = format!("{wants}/{SYSTEMD_UNIT}");
    std::os::unix::fs::symlink(&unit, &link).map_err(|e| BootError::io(step, &link, &e))
}

/// The keeper process: `flashroot-ramdirs <new root> <path=minutes>...`.
pub fn main(args: &[String]) -> ! {
    // Its lines go to the kernel log, which shows a save's line on the console (unless
    // the boot is `quiet`) and errors always.
    kmsg::open_outliving(PRIVATE_NODES);
    let code = match run(args) {
        Ok(()) => 0,
        Err(e) => {
            error!("RAM directories: {e}");
            1
        }
    };
    std::process::exit(code)
}

/// A one-shot save: `flashroot-ramdirs-save <path>...` (systemd, at shutdown). It runs in
/// the real root and ends at once: /dev/kmsg through devtmpfs (a private node would be
/// made on the JFFS2 root, a card write); its stderr is the journal.
pub fn main_save(paths: &[String]) -> ! {
    let _ = kmsg::open();
    kmsg::set_quiet(true);
    std::process::exit(i32::from(!save_all(paths, "shutdown")))
}

/// Saves the RAM directories this boot mounted ([`RAMDIRS_FILE`]; none when it is
/// missing): the shutdown program's step before it flushes the containers. False when a
/// save failed.
pub fn save_recorded(why: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(RAMDIRS_FILE) else {
        return true;
    };
    let paths: Vec<String> = text.lines().map(str::to_string).collect();
    save_all(&paths, why)
}

fn save_all(paths: &[String], why: &str) -> bool {
    let mut ok = true;
    for path in paths {
        ok &= save(path, why);
    }
    ok
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
            if signal == Some(Signal::SIGTERM as u32) {
                return Ok(());
            }
            for d in &dirs {
                save(&d.path, "SIGUSR1");
            }
            continue;
        }
        let now = Instant::now();
        for (d, at) in dirs.iter().zip(due.iter_mut()) {
            if *at <= now {
                save(&d.path, "schedule");
                *at = now + d.every;
            }
        }
    }
}

/// Saves the RAM directory `path` and logs what it took; a failure is logged and the next
/// save tries again.
/// A directory that is no longer a tmpfs (unmounted at shutdown, where the root's own
/// directory shows through) is not saved: that would replace the saved copy with a stale
/// one. True unless the save failed.
fn save(path: &str, why: &str) -> bool {
    let started = Instant::now();
    let on_tmpfs = nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC);
    if !on_tmpfs {
        notice!(
            "RAM directory {} not saved ({why}): it is no longer its tmpfs (unmounted by now; saved before that)",
            path
        );
        return true;
    }
    let store = Store::of(Path::new("/"), path);
    match store.save(Path::new(path)) {
        Ok(c) => {
            notice!(
            "RAM directory {} saved ({why}) to {}: {} files written ({} bytes), {} unchanged linked, {} others, in {} ms",
            path,
            store.dir().display(),
            c.files,
            c.bytes,
            c.linked,
            c.others,
            started.elapsed().as_millis()
            );
            true
        }
        Err(e) => {
            error!("RAM directory {} not saved ({why}): {e}", path);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_systemd_unit_saves_every_directory_before_they_are_unmounted() {
        let dirs = [("/var/log".to_string(), 60), ("/srv/my db".to_string(), 5)];
        let text = systemd_unit_text(&dirs);
        assert!(
            text.contains("RequiresMountsFor=/var/log \"/srv/my db\"\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "ExecStop=@/run/initramfs/shutdown flashroot-ramdirs-save /var/log \"/srv/my db\"\n"
            ),
            "{text}"
        );
        assert!(text.contains("Before=systemd-journal-flush.service shutdown.target\n"));
        assert!(text.contains("Conflicts=shutdown.target\n"));
    }

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
