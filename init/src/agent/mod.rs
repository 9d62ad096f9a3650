//! The card agent: serves each container to block2mtd as a network block device (the
//! kernel's nbd driver, over a socket pair) and writes to the card itself, in the order a
//! flash chip needs ([`store`]), flushing the kernel's cache of the device every few
//! milliseconds so that fsync'ed data is on the card soon after.
//!
//! The init starts one agent process per container before switch_root (the same binary,
//! argv[0] [`AGENT_ARGV0`]); it outlives the initramfs. Its name starts with '@', which
//! tells systemd's shutdown not to kill it: it is a root storage daemon. At shutdown the
//! device is disconnected once the filesystem is unmounted; the agent then writes what it
//! still holds and exits.

pub mod card;
pub mod protocol;
pub mod serve;
pub mod store;

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use crate::error::BootError;
use crate::{kmsg, sys};
use card::CardFile;
use store::{Store, PAGE};

/// argv[0] of an agent process: '@' first marks a root storage daemon for systemd.
pub const AGENT_ARGV0: &str = "@flashroot-agent";
/// The agent's own binary: the init's (`/init`).
const SELF_EXE: &str = "/proc/self/exe";
const SYS_BLOCK: &str = "/sys/block";
/// How long the init waits for an agent's device to go live.
const READY_WAIT: Duration = Duration::from_secs(5);
const READY_POLL: Duration = Duration::from_millis(5);

/// A running agent, as the init sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    /// The nbd device it serves, e.g. `/dev/nbd0`: block2mtd's device.
    pub device: String,
    pub pid: u32,
}

/// Starts an agent for `container` on the first free nbd device and waits until the
/// device is live. Called by the init (PID 1) before block2mtd.
pub fn start(container: &str, flush_ms: u32) -> Result<Started, BootError> {
    let step = "start the card agent";
    let name = free_nbd_device().ok_or_else(|| {
        BootError::new(
            step,
            format!("{SYS_BLOCK}/nbd*"),
            "no free nbd device (is the nbd module loaded?)",
        )
    })?;
    let device = format!("/dev/{name}");
    let mut child = Command::new(SELF_EXE)
        .arg0(AGENT_ARGV0)
        .args([container, &device, &flush_ms.to_string()])
        .env_clear()
        .spawn()
        .map_err(|e| BootError::io(step, format!("{SELF_EXE} for {container}"), &e))?;
    let pid = child.id();
    let live = Path::new(SYS_BLOCK).join(&name).join("pid");
    // Linux 6.1's nbd_start_device creates the pid file first and sets the capacity last
    // (nbd_set_size): block2mtd opening the device in between sees 0 bytes and makes an
    // MTD device of 0 erase blocks ("Too few erase blocks (0)" at the JFFS2 mount; seen
    // in 1 of 4 wear boots). Live means both.
    let size = Path::new(SYS_BLOCK).join(&name).join("size");
    let sized = || {
        std::fs::read_to_string(&size)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .is_some_and(|sectors| sectors > 0)
    };
    let begin = Instant::now();
    while !(live.exists() && sized()) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(BootError::new(
                step,
                format!("{container} on {device}"),
                format!("the agent exited ({status}) before its device went live; see its message above"),
            ));
        }
        if begin.elapsed() >= READY_WAIT {
            let _ = child.kill();
            return Err(BootError::new(
                step,
                format!("{container} on {device}"),
                format!("{device} was not live after {} s", READY_WAIT.as_secs()),
            ));
        }
        std::thread::sleep(READY_POLL);
    }
    // The child stays running; PID 1 (later the real init) reaps it when it ends.
    Ok(Started { device, pid })
}

/// The first nbd device with no server: `/sys/block/nbdN/pid` exists only while one runs.
fn free_nbd_device() -> Option<String> {
    let mut numbers: Vec<u32> = std::fs::read_dir(SYS_BLOCK)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("nbd")?.parse().ok())
        .collect();
    numbers.sort_unstable();
    numbers
        .into_iter()
        .map(|n| format!("nbd{n}"))
        .find(|name| !Path::new(SYS_BLOCK).join(name).join("pid").exists())
}

/// The agent process: `@flashroot-agent <container> <nbd device> <flush ms>`.
pub fn main(args: &[String]) -> ! {
    let _ = kmsg::open();
    // Progress to the kernel log only; errors also to the console.
    kmsg::set_quiet(true);
    let code = match run(args) {
        Ok(()) => 0,
        Err(e) => {
            error!("card agent: {e}");
            1
        }
    };
    std::process::exit(code)
}

fn run(args: &[String]) -> Result<(), BootError> {
    let [container, device, flush_ms] = args else {
        return Err(BootError::new(
            "card agent",
            args.join(" "),
            "expected: <container> <nbd device> <flush milliseconds>",
        ));
    };
    let flush = flush_ms
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| BootError::new("card agent", flush_ms, "not a number of milliseconds"))?;
    if let Err(e) = sys::nbd::lock_memory() {
        info!("card agent: cannot lock its memory ({e}); going on");
    }
    let step = "open container";
    let (card, direct_error) =
        CardFile::open(container).map_err(|e| BootError::io(step, container, &e))?;
    if let Some(e) = direct_error {
        error!("card agent: {container} cannot be opened for direct I/O ({e}); using the page cache, which caches the container twice");
    }
    let size = card
        .size()
        .map_err(|e| BootError::io(step, container, &e))?;
    if size == 0 || size % PAGE as u64 != 0 {
        return Err(BootError::new(
            step,
            container,
            format!("its size {size} is not a positive multiple of {PAGE} bytes"),
        ));
    }
    let direct = card.direct;

    let step = "connect the nbd device";
    let (ours, kernels) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| BootError::errno(step, "socketpair", e))?;
    let open_dev = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(device)
            .map_err(|e| BootError::io(step, device, &e))
    };
    let dev = open_dev()?;
    sys::nbd::connect(&dev, kernels.as_raw_fd(), size, PAGE as u64)
        .map_err(|e| BootError::errno(step, format!("{device} for {container}"), e))?;
    // The flusher's own handle, opened now: after switch_root this process still sees the
    // initramfs' (emptied) tree, where /dev is gone.
    let flusher_dev = open_dev()?;
    let runner = std::thread::spawn(move || sys::nbd::run_until_disconnected(&dev));

    let live = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let held = Arc::new(AtomicUsize::new(0));
    {
        let (live, done, held) = (Arc::clone(&live), Arc::clone(&done), Arc::clone(&held));
        std::thread::spawn(move || flusher(&flusher_dev, flush, &live, &done, &held));
    }
    if let Err(e) = sys::nbd::set_io_flusher() {
        info!("card agent: PR_SET_IO_FLUSHER refused ({e}); going on");
    }
    info!(
        "card agent: serving {container} ({size} bytes, {}) as {device}, flushed every {} ms",
        if direct { "direct I/O" } else { "buffered" },
        flush.as_millis()
    );
    let mut store = Store::new(card, size);
    let mut socket = File::from(ours);
    let end = serve::serve(
        &mut store,
        &mut socket,
        |store| {
            live.store(true, Ordering::Relaxed);
            held.store(store.held_pages(), Ordering::Relaxed);
        },
        |m| error!("card agent: {container}: {m}"),
    );
    done.store(true, Ordering::Relaxed);
    let finished = store.finish();
    let s = store.stats();
    info!(
        "card agent: {container} done ({end:?}): {} pages programmed at once, {} held until safe, {} written unchanged, {} flushes, {} card syncs",
        s.programmed, s.held, s.unchanged, s.flushes, s.syncs
    );
    drop(kernels);
    let _ = runner.join();
    finished.map_err(|e| {
        BootError::new(
            "card agent",
            container,
            format!("writing the pages it held: {e}"),
        )
    })?;
    match end {
        serve::End::Disconnected => Ok(()),
        serve::End::Broken(why) => Err(BootError::new("card agent", container, why)),
    }
}

/// Pushes the kernel's cached writes of the device to the agent, every `every`: each
/// fsync(2) writes back the dirty pages, then sends a FLUSH. A second one right after when
/// pages are held, so that those held at the first are released at the second.
fn flusher(dev: &File, every: Duration, live: &AtomicBool, done: &AtomicBool, held: &AtomicUsize) {
    let mut failed = false;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(every);
        if !live.load(Ordering::Relaxed) {
            continue;
        }
        for round in 0..2 {
            if round == 1 && held.load(Ordering::Relaxed) == 0 {
                break;
            }
            match (dev.sync_all(), failed) {
                (Ok(()), _) => failed = false,
                (Err(e), false) => {
                    error!("card agent: flushing the device failed ({e}); retrying");
                    failed = true;
                }
                (Err(_), true) => {}
            }
        }
    }
}
