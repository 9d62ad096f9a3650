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
pub mod journal;
#[cfg(test)]
mod memory;
pub mod placement;
pub mod protocol;
pub mod serve;
pub mod store;

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use crate::error::BootError;
use crate::{kmsg, sys};
use card::{CardFile, Route};
use journal::{Journal, JournalFile};
use store::{Backing, Store, PAGE};

/// argv[0] of an agent process: '@' first marks a root storage daemon for systemd.
pub const AGENT_ARGV0: &str = "@flashroot-agent";
/// Where the agent (and the RAM directory keeper) make private device nodes: the
/// initramfs' root, never unmounted.
pub(crate) const PRIVATE_NODES: &str = "/";
/// The path of the journal beside `container` (the agent's, and what `flashroot card`
/// lays down empty).
pub use flashroot_runtime::journal::path as journal_path;
/// The agent's own binary: the init's (`/init`); the keeper's too.
pub(crate) const SELF_EXE: &str = "/proc/self/exe";
const SYS_BLOCK: &str = "/sys/block";
/// How long the init waits for an agent's device to go live: at first boot the agent
/// makes its 4 MiB journal on the card (1.3 s under emulation), then reads it and maps
/// the container; a slow card on a loaded machine takes a few times that.
const READY_WAIT: Duration = Duration::from_secs(15);
const READY_POLL: Duration = Duration::from_millis(5);

/// A running agent, as the init sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    /// The nbd device it serves, e.g. `/dev/nbd0`: block2mtd's device.
    pub device: String,
    pub pid: u32,
}

/// Starts an agent for `container` (a JFFS2 image with `erase_size` blocks) on the first
/// free nbd device and waits until the device is live. Called by the init (PID 1) before
/// block2mtd.
pub fn start(container: &str, erase_size: u32, flush_ms: u32) -> Result<Started, BootError> {
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
        .args([
            container,
            &device,
            &erase_size.to_string(),
            &flush_ms.to_string(),
        ])
        .env_clear()
        .spawn()
        .map_err(|e| BootError::io(step, format!("{SELF_EXE} for {container}"), &e))?;
    let pid = child.id();
    let begin = Instant::now();
    while !is_live(&name) {
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

/// The device has a server and its size: nbd creates `pid` before it sets the capacity,
/// and block2mtd on a device of size 0 makes an MTD device JFFS2 refuses ("Too few erase
/// blocks").
fn is_live(name: &str) -> bool {
    let dir = Path::new(SYS_BLOCK).join(name);
    let sectors = std::fs::read_to_string(dir.join("size"))
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    dir.join("pid").exists() && sectors > 0
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

/// The agent process: `@flashroot-agent <container> <nbd device> <erase size> <flush ms>`.
pub fn main(args: &[String]) -> ! {
    // Every device through a node of our own: this process outlives switch_root, and a
    // file it keeps open on devtmpfs would keep the root's /dev busy at shutdown.
    kmsg::open_outliving(PRIVATE_NODES);
    let code = match run(args) {
        Ok(()) => 0,
        Err(e) => {
            error!("card agent: {e}");
            1
        }
    };
    std::process::exit(code)
}

/// What the init hands an agent on its command line.
struct Args<'a> {
    container: &'a str,
    device: &'a str,
    /// N of `/dev/nbdN`.
    index: u32,
    erase_size: u64,
    flush: Duration,
}

impl<'a> Args<'a> {
    fn parse(args: &'a [String]) -> Result<Self, BootError> {
        let bad = |what: &str, why: String| BootError::new("card agent", what, why);
        let [container, device, erase_size, flush_ms] = args else {
            return Err(bad(
                &args.join(" "),
                "expected: <container> <nbd device> <erase size> <flush milliseconds>".into(),
            ));
        };
        let index = device
            .strip_prefix("/dev/nbd")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad(device, "not an nbd device name (/dev/nbdN)".into()))?;
        let erase_size = erase_size
            .parse()
            .ok()
            .filter(|e: &u64| e.is_multiple_of(PAGE as u64) && *e > 0)
            .ok_or_else(|| {
                bad(
                    erase_size,
                    format!("not an erase size in bytes, a multiple of {PAGE}"),
                )
            })?;
        let flush = flush_ms
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| bad(flush_ms, "not a number of milliseconds".into()))?;
        Ok(Self {
            container,
            device,
            index,
            erase_size,
            flush,
        })
    }
}

fn run(args: &[String]) -> Result<(), BootError> {
    let args = Args::parse(args)?;
    let container = args.container;
    if let Err(e) = sys::nbd::lock_memory() {
        info!("card agent: cannot lock its memory ({e}); going on");
    }
    let (store, route) = open_store(&args)?;
    let size = store.size();
    let (ours, kernels) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| BootError::errno("connect the nbd device", "socketpair", e))?;
    let shared = Arc::new(Shared::default());

    // The requests come as soon as the device is connected (a partition scan when it is
    // first opened): the server runs first, in its own thread.
    let server = {
        let shared = Arc::clone(&shared);
        let name = container.to_string();
        let mut socket = File::from(ours);
        let mut store = store;
        std::thread::spawn(move || {
            if let Err(e) = sys::nbd::set_io_flusher() {
                info!("card agent: PR_SET_IO_FLUSHER refused ({e}); going on");
            }
            let end = serve::serve(
                &mut store,
                &mut socket,
                &shared.hold_reads,
                |store| {
                    shared.live.store(true, Ordering::Relaxed);
                    shared.held.store(store.held_pages(), Ordering::Relaxed);
                    shared
                        .held_blocks
                        .store(store.held_blocks(), Ordering::Relaxed);
                    shared.quiet.store(store.stats().quiet, Ordering::Release);
                },
                |m| error!("card agent: {name}: {m}"),
            );
            (store, end)
        })
    };
    let flusher_dev = connect(&args, kernels.as_raw_fd(), size)?;
    {
        let shared = Arc::clone(&shared);
        let every = args.flush;
        std::thread::spawn(move || Flusher::new(flusher_dev, &shared).run(every));
    }
    // The one progress line a user reading the boot log needs from the agent: how the
    // container reaches the card.
    notice!(
        "card agent: serving {container} ({size} bytes, {}) as {}, flushed every {} ms",
        route.describe(),
        args.device,
        args.flush.as_millis()
    );
    let (mut store, end) = server
        .join()
        .map_err(|_| BootError::new("card agent", container, "its server thread died"))?;
    shared.done.store(true, Ordering::Relaxed);
    let finished = store.finish();
    let s = store.stats();
    info!(
        "card agent: {container} done ({end:?}): {} pages appended at once, {} erase blocks held, {} page writes held, released in {} journaled batches ({} too big for the journal, {} forced by writes that never paused), {} written unchanged, {} flushes, {} card syncs",
        s.programmed, s.erases, s.held, s.batches, s.unjournaled, s.forced, s.unchanged, s.flushes, s.syncs
    );
    drop(kernels);
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

/// The container on the card, with its journal; and the route its bytes take.
fn open_store(args: &Args) -> Result<(Store<CardFile>, Route), BootError> {
    let (container, step) = (args.container, "open container");
    let (mut card, notes) =
        CardFile::open(container, PRIVATE_NODES).map_err(|e| BootError::io(step, container, &e))?;
    let size = card.size();
    if size == 0 || size % PAGE as u64 != 0 {
        return Err(BootError::new(
            step,
            container,
            format!("its size {size} is not a positive multiple of {PAGE} bytes"),
        ));
    }
    settle_route(container, &card, &notes);
    let route = card.route();
    let journal = open_journal(container, &mut card)?;
    let mut store = Store::new(card, size, args.erase_size);
    if let Some(journal) = journal {
        store = store.with_journal(journal);
    }
    Ok((store, route))
}

/// Once a file on the card is open: written on the partition, it keeps the time it had,
/// so its time is set once per boot (a backup tool comparing times, such as rsync, then
/// sees it changed); otherwise the log says why it is written through its FAT file.
fn settle_route(file: &str, card: &CardFile, notes: &[String]) {
    if card.route() == Route::Partition {
        if let Err(e) = touch(file) {
            info!("card agent: cannot set the time of {file} ({e}); going on");
        }
    } else {
        error!(
            "card agent: {file}: {} ({}), so its directory entry is rewritten at each sync(2)",
            card.route().describe(),
            notes.join("; ")
        );
    }
}

/// Sets the file's modification time to now.
fn touch(path: &str) -> nix::Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    utimensat(
        None,
        path,
        &TimeSpec::UTIME_NOW,
        &TimeSpec::UTIME_NOW,
        UtimensatFlags::FollowSymlink,
    )
}

/// Connects the nbd device to the kernel's end of the socket pair; returns the handle the
/// flusher fsyncs. Netlink first: then no thread waits in the kernel, whose wait any
/// signal (systemd's shutdown stops every process for a moment) would end along with the
/// connection.
fn connect(args: &Args, socket: RawFd, size: u64) -> Result<File, BootError> {
    let (device, step) = (args.device, "connect the nbd device");
    let open_dev = || {
        sys::node::open_private(device, PRIVATE_NODES).map_err(|e| BootError::io(step, device, &e))
    };
    match sys::nbd::connect_netlink(args.index, socket, size, PAGE as u64) {
        Ok(()) => open_dev(),
        Err(e) => {
            error!("card agent: nbd's netlink interface refused {device} ({e}); using its ioctls, whose connection a signal to this process ends");
            let dev = open_dev()?;
            sys::nbd::connect(&dev, socket, size, PAGE as u64).map_err(|e| {
                BootError::errno(step, format!("{device} for {}", args.container), e)
            })?;
            // Opened before the device starts: after switch_root this process still sees
            // the initramfs' (emptied) tree, where /dev is gone.
            let flusher_dev = open_dev()?;
            std::thread::spawn(move || sys::nbd::run_until_disconnected(&dev));
            Ok(flusher_dev)
        }
    }
}

/// The container's journal (`<container>.journal`, made if missing), after finishing the
/// release a cut interrupted. Without one (a full or read-only card) releases still keep
/// their order, block by block, and the log says what is lost: their all-or-nothing.
fn open_journal(
    container: &str,
    card: &mut CardFile,
) -> Result<Option<Journal<Box<dyn JournalFile + Send>>>, BootError> {
    let path = journal_path(container);
    let file = match CardFile::open_journal(&path, journal::DEFAULT_BYTES, PRIVATE_NODES) {
        Ok((f, notes)) => {
            settle_route(&path, &f, &notes);
            f
        }
        Err(e) => {
            error!("card agent: no journal {path} ({e}); releasing erased blocks one by one, a cut in a release can lose data garbage collection was moving");
            return Ok(None);
        }
    };
    let (mut journal, unfinished) = Journal::open(Box::new(file) as Box<dyn JournalFile + Send>)
        .map_err(|e| BootError::io("read the journal", &path, &e))?;
    if let Some(batch) = unfinished {
        let step = "finish the release a cut interrupted";
        for (page, contents) in &batch.pages {
            card.write_at(contents, page * PAGE as u64)
                .map_err(|e| BootError::io(step, container, &e))?;
        }
        card.sync()
            .map_err(|e| BootError::io(step, container, &e))?;
        journal.done().map_err(|e| BootError::io(step, &path, &e))?;
        info!(
            "card agent: finished the release a power cut interrupted: {} pages of {container} from {path}",
            batch.pages.len()
        );
    }
    Ok(Some(journal))
}

/// What the server thread and the flusher share.
#[derive(Default)]
struct Shared {
    /// The device has answered its first request.
    live: AtomicBool,
    /// The server has ended.
    done: AtomicBool,
    /// Pages the store holds.
    held: AtomicUsize,
    /// Erase blocks the store holds (with the new nodes written into them).
    held_blocks: AtomicUsize,
    /// The store's count of quiet FLUSHes that released held pages.
    quiet: AtomicU64,
    /// Set by the flusher while it quiesces the device: the server answers no READ.
    hold_reads: AtomicBool,
}

/// Rounds of write-back and drop a quiescing tries before it lets reads through again.
const QUIESCE_ROUNDS: usize = 4;

/// Pushes the kernel's cached writes of the device to the agent, every `every`: each
/// fsync(2) writes back the dirty pages, then sends a FLUSH. A second one right after when
/// pages are held, so that those held at the first are released at the second if the
/// kernel wrote nothing in between.
///
/// Under writes that never pause (a commit loop while JFFS2 collects garbage) that second
/// FLUSH is never quiet, and pages stay held. When erase blocks are among them (with them,
/// the new nodes JFFS2 wrote into a block it just erased), the flusher makes a quiet moment: it
/// holds back the server's answers to READs, writes back and drops the device's page cache
/// (`BLKFLSBUF`), and flushes. block2mtd reads every page before it changes it, so once
/// the cache is empty nothing can change the device until a read is answered: the next
/// FLUSH is quiet, and the store releases what it holds. Reads wait a few flushes; the
/// kernel's writes and flushes never do, so the write-back the flusher waits for goes on.
struct Flusher<'a> {
    dev: File,
    shared: &'a Shared,
    /// A flush failed and was reported; reported again only after one succeeds.
    failing: bool,
    /// The page-cache drop failed and was reported: no more quiescing.
    no_quiesce: bool,
}

impl<'a> Flusher<'a> {
    fn new(dev: File, shared: &'a Shared) -> Self {
        Self {
            dev,
            shared,
            failing: false,
            no_quiesce: false,
        }
    }

    fn run(&mut self, every: Duration) {
        while !self.shared.done.load(Ordering::Relaxed) {
            std::thread::sleep(every);
            if !self.shared.live.load(Ordering::Relaxed) {
                continue;
            }
            self.flush();
            if self.held() {
                self.flush();
            }
            // Obsolete marks alone can wait for a pause: they retire old data, and the new
            // data they follow is on the card already. New nodes in a block being erased
            // cannot.
            if self.shared.held_blocks.load(Ordering::Relaxed) > 0 && !self.no_quiesce {
                self.quiesce();
            }
        }
    }

    fn held(&self) -> bool {
        self.shared.held.load(Ordering::Relaxed) > 0
    }

    fn flush(&mut self) {
        match (self.dev.sync_all(), self.failing) {
            (Ok(()), _) => self.failing = false,
            (Err(e), false) => {
                error!("card agent: flushing the device failed ({e}); retrying");
                self.failing = true;
            }
            (Err(_), true) => {}
        }
    }

    /// Makes a quiet FLUSH (see the type's comment); ends with reads let through and
    /// answered.
    fn quiesce(&mut self) {
        let before = self.shared.quiet.load(Ordering::Acquire);
        self.shared.hold_reads.store(true, Ordering::Release);
        for _ in 0..QUIESCE_ROUNDS {
            if let Err(e) = sys::nbd::drop_cached_pages(&self.dev) {
                error!("card agent: dropping the device's cached pages failed ({e}): held pages wait for a pause in the writes");
                self.no_quiesce = true;
                break;
            }
            self.flush();
            self.flush();
            if self.shared.quiet.load(Ordering::Acquire) != before || !self.held() {
                break;
            }
        }
        self.shared.hold_reads.store(false, Ordering::Release);
        // The server answers the reads it held back after its next request: this flush.
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_inits_command_line_for_an_agent_is_read_strictly() {
        let ok = args(&["/flash/rootfs.img", "/dev/nbd3", "65536", "100"]);
        let a = Args::parse(&ok).unwrap();
        assert_eq!((a.index, a.erase_size), (3, 65536));
        assert_eq!(a.flush, Duration::from_millis(100));
        for (bad, reason) in [
            (vec!["x"], "expected: <container>"),
            (
                vec!["c", "/dev/loop0", "65536", "100"],
                "not an nbd device name",
            ),
            (vec!["c", "/dev/nbd0", "1000", "100"], "a multiple of 4096"),
            (
                vec!["c", "/dev/nbd0", "65536", "soon"],
                "not a number of milliseconds",
            ),
        ] {
            let err = Args::parse(&args(&bad)).err().expect("refused");
            assert!(err.reason.contains(reason), "{bad:?}: {err}");
        }
    }
}
