//! The shutdown program: the init's own binary, copied at boot to
//! `/run/initramfs/shutdown` ([`prepare`]) and run under that name. systemd-shutdown
//! pivots into /run/initramfs, the old root at /oldroot, and execs it as PID 1 with the
//! verb in argv[1]. Then, as a short list of phases, each logged:
//!
//! 1. mounts private, the card moved out of the old root to [`CARD_OUT`];
//! 2. every mount under /oldroot unmounted, deepest first (the JFFS2 ones sync their
//!    MTD devices); a busy one is detached lazily and named;
//! 3. block2mtd removed (its exit syncs and releases each device);
//! 4. each container's backing device flushed and detached (loop, or nbd and its agent);
//! 5. the card unmounted (FAT clears its dirty bit), or remounted read-only;
//! 6. sync, then reboot(2) as asked.
//!
//! A failing phase is named and the next one runs; a watchdog thread takes the machine
//! down after [`DEADLINE`] whatever is stuck. Without systemd, see [`pivot`] (PID 1, no
//! pivot yet) and [`flush_only`] (not PID 1).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::reboot::RebootMode;

use crate::containers_file::{self, Containers};
use crate::error::BootError;
use crate::kmsg;
use crate::mountinfo;
use crate::sys;

mod pivot;
pub mod prepare;
mod release;

/// The shutdown environment, in the real root's /run.
pub const DIR: &str = "/run/initramfs";
pub const PROGRAM: &str = "/run/initramfs/shutdown";
/// The file name main() dispatches on (systemd execs it as `/shutdown`).
pub const NAME: &str = "shutdown";
/// Where systemd-shutdown's pivot leaves the old root.
pub const OLD_ROOT: &str = "/oldroot";
/// Where the card goes so that the old root can be unmounted.
pub const CARD_OUT: &str = "/card";
/// Whatever hangs (a dead card, an agent that does not answer a flush), the machine goes
/// down after this long.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// /dev/kmsg rate-limits writers unless this says "on".
const PRINTK_DEVKMSG: &str = "/proc/sys/kernel/printk_devkmsg";

/// What systemd asks for in argv[1].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Reboot,
    Poweroff,
    Halt,
    Kexec,
}

impl Verb {
    /// The verb, or power off with a warning for a missing or unknown one (systemd also
    /// passes `exit` in containers, where we never run).
    pub fn parse(word: Option<&str>) -> (Self, Option<String>) {
        match word {
            Some("reboot") => (Self::Reboot, None),
            Some("poweroff") => (Self::Poweroff, None),
            Some("halt") => (Self::Halt, None),
            Some("kexec") => (Self::Kexec, None),
            Some(other) => (
                Self::Poweroff,
                Some(format!("unknown verb {other:?}; powering off")),
            ),
            None => (
                Self::Poweroff,
                Some("no verb (reboot, poweroff, halt or kexec) in argv[1]; powering off".into()),
            ),
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Self::Reboot => "reboot",
            Self::Poweroff => "poweroff",
            Self::Halt => "halt",
            Self::Kexec => "kexec",
        }
    }

    fn mode(self) -> RebootMode {
        match self {
            Self::Reboot => RebootMode::RB_AUTOBOOT,
            Self::Poweroff => RebootMode::RB_POWER_OFF,
            Self::Halt => RebootMode::RB_HALT_SYSTEM,
            Self::Kexec => RebootMode::RB_KEXEC,
        }
    }
}

/// The phase running now, for the watchdog's message.
static PHASE: Mutex<&str> = Mutex::new("start");
static FAILURES: AtomicU32 = AtomicU32::new(0);

fn phase(name: &'static str) {
    *PHASE.lock().unwrap_or_else(|p| p.into_inner()) = name;
    info!("shutdown: {name}");
}

/// Logs a failed step; the shutdown goes on.
fn failed(e: &BootError) {
    FAILURES.fetch_add(1, Ordering::Relaxed);
    error!("shutdown: error: {e}");
}

/// Entry point for argv[0] = `.../shutdown`. Never returns while PID 1.
pub fn run(args: &[String]) -> ! {
    let _ = kmsg::open();
    // We are going down: every line matters more than the rate limit.
    let _ = std::fs::write(PRINTK_DEVKMSG, "on\n");
    let program = args.first().map_or(NAME, String::as_str);
    let version = env!("CARGO_PKG_VERSION");
    let pid = std::process::id();
    if !sys::switch_root::is_pid1() {
        info!("shutdown: {program} {version} running as PID {pid}");
        std::process::exit(flush_only());
    }
    let (verb, warning) = Verb::parse(args.get(1).map(String::as_str));
    info!(
        "shutdown: {program} {version} running as PID {pid} for {}",
        verb.word()
    );
    if let Some(w) = warning {
        error!("shutdown: warning: {w}");
    }
    start_watchdog(verb);
    if !old_root_mounted() {
        // No systemd pivoted us: do it ourselves (and come back through exec).
        failed(&pivot::pivot_and_reexec(args));
    }
    let started = Instant::now();
    shut_down(started);
    finish(verb, started)
}

fn old_root_mounted() -> bool {
    std::fs::read_to_string(mountinfo::PATH)
        .map(|t| {
            mountinfo::parse(&t)
                .iter()
                .any(|m| m.mountpoint == OLD_ROOT)
        })
        .unwrap_or(false)
}

fn shut_down(started: Instant) {
    phase("make mounts private");
    if let Err(e) = sys::mount::make_private("/") {
        failed(&e);
    }
    let record = read_record();
    phase("move the card out of the old root");
    let card = release::move_card_out(&record);
    phase("unmount the old root");
    release::unmount_tree(OLD_ROOT);
    phase("remove block2mtd");
    release::remove_block2mtd();
    phase("release the backing devices");
    for c in &record.containers {
        release::release_device(c);
    }
    phase("release the card");
    release::release_card(&record, card.as_deref());
    info!(
        "shutdown: done in {} ms with {} failed steps",
        started.elapsed().as_millis(),
        FAILURES.load(Ordering::Relaxed)
    );
}

/// The boot's record: at /run (systemd bind-mounts the old /run there) or through the
/// old root. Unreadable or broken: named, and the shutdown goes on with what the mount
/// table alone allows.
fn read_record() -> Containers {
    phase("read the containers file");
    let candidates = [
        containers_file::PATH.to_string(),
        format!("{OLD_ROOT}{}", containers_file::PATH),
    ];
    let Some((path, text)) = candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|t| (p, t)))
    else {
        failed(&BootError::new(
            "read the containers file",
            candidates.join(" or "),
            "missing: the boot recorded nothing; unmounting what is mounted",
        ));
        return Containers::default();
    };
    match containers_file::parse(&text) {
        Ok(c) => {
            info!(
                "shutdown: {path}: card {}, containers: {}",
                match &c.card {
                    Some(Some(p)) => p.as_str(),
                    Some(None) => "detached",
                    None => "not recorded",
                },
                c.containers
                    .iter()
                    .map(|r| format!("{} on {} (mtd:{})", r.file, r.device, r.label))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            c
        }
        Err(e) => {
            failed(&BootError::new(
                "read the containers file",
                path,
                e.to_string(),
            ));
            Containers::default()
        }
    }
}

/// Not PID 1 (run by hand, or from busybox init's `::shutdown:` line): nothing can be
/// unmounted under the running system, so push everything to the card and leave the
/// rest to the caller's own poweroff. The card's dirty bit stays set.
fn flush_only() -> i32 {
    info!("shutdown: not PID 1: flushing the containers to the card only (its FAT stays marked dirty); for a clean card, exec this as PID 1 (see the README)");
    // Before the init kills every process (the card agent with them): the RAM
    // directories' last save.
    if !crate::ramdir::keeper::save_recorded("shutdown") {
        FAILURES.fetch_add(1, Ordering::Relaxed);
    }
    nix::unistd::sync();
    let record = read_record();
    for c in &record.containers {
        release::flush_device(c);
    }
    nix::unistd::sync();
    let failures = FAILURES.load(Ordering::Relaxed);
    info!("shutdown: flushed, {failures} failed steps");
    i32::from(failures > 0)
}

fn start_watchdog(verb: Verb) {
    let spawned = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            std::thread::sleep(DEADLINE);
            let stuck = *PHASE.lock().unwrap_or_else(|p| p.into_inner());
            error!(
                "shutdown: error: still in \"{stuck}\" after {} s; {} now without the rest",
                DEADLINE.as_secs(),
                verb.word()
            );
            let _ = sys::power::reboot_now(verb.mode());
            let _ = sys::power::reboot_now(RebootMode::RB_AUTOBOOT);
        });
    if let Err(e) = spawned {
        error!("shutdown: error: no watchdog thread ({e}); going on without one");
    }
}

/// sync, then reboot(2). kexec without a loaded image falls back to a reboot; if the
/// kernel refuses everything, PID 1 can only wait (exiting would panic the kernel).
fn finish(verb: Verb, started: Instant) -> ! {
    phase("sync");
    let t = Instant::now();
    nix::unistd::sync();
    info!("shutdown: synced in {} ms", t.elapsed().as_millis());
    info!(
        "shutdown: {} after {} ms",
        verb.word(),
        started.elapsed().as_millis()
    );
    kmsg::close();
    let e = sys::power::reboot_now(verb.mode());
    error!(
        "shutdown: error: reboot(2) for {}: {}",
        verb.word(),
        e.desc()
    );
    if verb == Verb::Kexec {
        info!("shutdown: rebooting instead");
        let _ = sys::power::reboot_now(RebootMode::RB_AUTOBOOT);
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_and_the_poweroff_fallback() {
        assert_eq!(Verb::parse(Some("reboot")), (Verb::Reboot, None));
        assert_eq!(Verb::parse(Some("poweroff")), (Verb::Poweroff, None));
        assert_eq!(Verb::parse(Some("halt")), (Verb::Halt, None));
        assert_eq!(Verb::parse(Some("kexec")), (Verb::Kexec, None));
        let (verb, warning) = Verb::parse(Some("exit"));
        assert_eq!(verb, Verb::Poweroff);
        assert_eq!(warning.unwrap(), "unknown verb \"exit\"; powering off");
        assert_eq!(Verb::parse(None).0, Verb::Poweroff);
        assert_eq!(Verb::Kexec.mode(), RebootMode::RB_KEXEC);
    }
}
