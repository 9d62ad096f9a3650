//! The shutdown's phases that let go of things: mounts, block2mtd, the backing devices,
//! the card. Each logs what it did and names what it could not do; none waits without
//! a time limit.

use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::{failed, CARD_OUT, OLD_ROOT};
use crate::containers_file::{ContainerRecord, Containers};
use crate::error::BootError;
use crate::mountinfo::{self, MountEntry};
use crate::sys;
use crate::sys::loopdev::Detached;
use crate::sys::process::Waited;

/// A busy mount is tried this often, this far apart, before it is detached lazily: the
/// last processes systemd killed may still be closing their files.
const UNMOUNT_ATTEMPTS: u32 = 5;
const UNMOUNT_RETRY: Duration = Duration::from_millis(100);
/// How long an nbd agent gets to exit after the disconnect.
const AGENT_EXIT: Duration = Duration::from_secs(10);
const BLOCK2MTD: &str = "block2mtd";

fn mounts() -> Vec<MountEntry> {
    match std::fs::read_to_string(mountinfo::PATH) {
        Ok(text) => mountinfo::parse(&text),
        Err(e) => {
            failed(&BootError::io("read the mount table", mountinfo::PATH, &e));
            Vec::new()
        }
    }
}

/// Moves the card's mount from the old root to [`CARD_OUT`]; returns where the card is
/// mounted now (None: detached at boot, not recorded, or the move failed and the card
/// goes with the old root's tree, detached lazily if busy).
pub fn move_card_out(record: &Containers) -> Option<String> {
    let Some(Some(kept_at)) = &record.card else {
        info!("shutdown: no card mount recorded; nothing to move");
        return None;
    };
    let from = format!("{OLD_ROOT}{kept_at}");
    if !mounts().iter().any(|m| m.mountpoint == from) {
        // The card agents write on the card's partition, not through files on the card,
        // so nothing keeps it busy: systemd's own unmount, before ours, succeeds.
        info!("shutdown: the card is no longer mounted at {from}: it was unmounted before this step (by systemd), which left its FAT clean");
        return None;
    }
    let moved = std::fs::create_dir_all(CARD_OUT)
        .map_err(|e| BootError::io("create mountpoint", CARD_OUT, &e))
        .and_then(|()| sys::mount::move_mount(&from, CARD_OUT));
    match moved {
        Ok(()) => {
            info!("shutdown: moved the card from {from} to {CARD_OUT}");
            Some(CARD_OUT.to_string())
        }
        Err(e) => {
            failed(&e);
            None
        }
    }
}

/// Unmounts everything at or below `top`, deepest first.
pub fn unmount_tree(top: &str) {
    let all = mounts();
    let order = mountinfo::unmount_order(&all, top);
    let (mut unmounted, mut detached) = (Vec::new(), Vec::new());
    for m in order {
        let start = Instant::now();
        match unmount_patiently(&m.mountpoint) {
            Ok(()) if m.fstype == "jffs2" => info!(
                "shutdown: unmounted {} (jffs2) from {} in {} ms: its MTD device is synced",
                m.source,
                m.mountpoint,
                start.elapsed().as_millis()
            ),
            Ok(()) => unmounted.push(m.mountpoint.as_str()),
            // Gone already: a lazily detached parent took it along.
            Err(e) if matches!(e.errno, Some(Errno::EINVAL | Errno::ENOENT)) => {}
            Err(e) => {
                failed(&BootError::new(
                    "unmount",
                    format!("{} ({}, {})", m.mountpoint, m.fstype, m.source),
                    format!("{}; detaching it lazily", e.reason),
                ));
                match sys::mount::detach(&m.mountpoint) {
                    Ok(()) => detached.push(m.mountpoint.as_str()),
                    Err(e) => failed(&e),
                }
            }
        }
    }
    info!(
        "shutdown: unmounted {} more mounts under {top}{}",
        unmounted.len(),
        if detached.is_empty() {
            String::new()
        } else {
            format!("; detached lazily (still busy): {}", detached.join(" "))
        }
    );
}

/// umount(2), retried a little while busy.
fn unmount_patiently(path: &str) -> Result<(), BootError> {
    let mut attempt = 1;
    loop {
        match sys::mount::unmount(path) {
            Err(e) if e.errno == Some(Errno::EBUSY) && attempt < UNMOUNT_ATTEMPTS => {
                attempt += 1;
                std::thread::sleep(UNMOUNT_RETRY);
            }
            r => return r,
        }
    }
}

/// rmmod block2mtd: its exit syncs every MTD device and releases the block devices.
pub fn remove_block2mtd() {
    match sys::kmod::remove(BLOCK2MTD) {
        Ok(sys::kmod::Removed::Now) => {
            info!("shutdown: removed {BLOCK2MTD}: its MTD devices are synced and released")
        }
        Ok(sys::kmod::Removed::NotLoaded) => {
            info!("shutdown: {BLOCK2MTD} is not loaded as a module; nothing to remove")
        }
        Err(mut e) => {
            if matches!(e.errno, Some(Errno::EAGAIN | Errno::EBUSY)) {
                e.reason.push_str(
                    " (still in use: a JFFS2 mount detached lazily above keeps its MTD device)",
                );
            }
            failed(&e);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Loop,
    Nbd,
}

fn kind(device: &str) -> Option<Kind> {
    let name = device.strip_prefix("/dev/")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if name.strip_prefix("loop").is_some_and(digits) {
        Some(Kind::Loop)
    } else if name.strip_prefix("nbd").is_some_and(digits) {
        Some(Kind::Nbd)
    } else {
        None
    }
}

fn unknown_device(c: &ContainerRecord) -> BootError {
    BootError::new(
        "release backing device",
        format!("{} for {}", c.device, c.file),
        "neither a loop nor an nbd device; left alone",
    )
}

/// Flushes, then detaches one container's backing device (and waits for its agent).
pub fn release_device(c: &ContainerRecord) {
    let result = match kind(&c.device) {
        Some(Kind::Loop) => release_loop(c),
        Some(Kind::Nbd) => release_nbd(c),
        None => Err(unknown_device(c)),
    };
    if let Err(e) = result {
        failed(&e);
    }
}

fn release_loop(c: &ContainerRecord) -> Result<(), BootError> {
    let dev = &c.device;
    if sys::loopdev::backing_file(dev).is_none() {
        // systemd-shutdown set autoclear; block2mtd's release detached it and flushed
        // its page cache into the file on the card.
        info!("shutdown: {dev} ({}) is already detached", c.file);
        return Ok(());
    }
    let file = sys::loopdev::open_device(dev)?;
    let t = Instant::now();
    if let Err(e) = sys::loopdev::flush(&file, dev) {
        failed(&e);
    } else {
        info!(
            "shutdown: flushed {dev} ({}) in {} ms",
            c.file,
            t.elapsed().as_millis()
        );
    }
    match sys::loopdev::clear(file, dev)? {
        Detached::Now => info!("shutdown: detached {dev}"),
        Detached::AlreadyFree => info!("shutdown: {dev} was already detached"),
        Detached::WhenReleased => {
            return Err(BootError::new(
                "detach loop device",
                format!("{dev} ({})", c.file),
                "still open elsewhere (block2mtd?); it detaches itself when released, so the card stays busy",
            ))
        }
    }
    Ok(())
}

fn release_nbd(c: &ContainerRecord) -> Result<(), BootError> {
    let dev = &c.device;
    if let Some(pid) = c.agent_pid {
        // A wait of no time: reaps it if it died (busybox init kills every process
        // before it runs its restart action), says whether it still runs.
        if sys::process::wait_exit(pid, Duration::ZERO) != Waited::TimedOut {
            info!(
                "shutdown: the card agent of {dev} (PID {pid}) is gone already (killed with every other process); what it wrote before is on the card"
            );
            return Ok(());
        }
    }
    let file = sys::nbd::open_device(dev)?;
    let t = Instant::now();
    match sys::nbd::flush(&file, dev) {
        Ok(()) => info!(
            "shutdown: flushed {dev} ({}) in {} ms",
            c.file,
            t.elapsed().as_millis()
        ),
        Err(e) => failed(&e),
    }
    let disconnected = sys::nbd::disconnect(&file, dev);
    drop(file);
    match disconnected {
        Ok(()) => info!("shutdown: disconnected {dev}"),
        Err(e) => failed(&e),
    }
    let Some(pid) = c.agent_pid else {
        return Ok(());
    };
    match sys::process::wait_exit(pid, AGENT_EXIT) {
        Waited::Exited | Waited::Gone => {
            info!("shutdown: the agent of {dev} (PID {pid}) has exited");
            Ok(())
        }
        Waited::TimedOut => Err(BootError::new(
            "wait for the nbd agent",
            format!("PID {pid} serving {dev} ({})", c.file),
            format!(
                "still running after {} s; the card may stay busy",
                AGENT_EXIT.as_secs()
            ),
        )),
    }
}

/// Not PID 1: only fsync of each backing device, which pushes its pages to the card.
pub fn flush_device(c: &ContainerRecord) {
    let dev = &c.device;
    let result = match kind(dev) {
        Some(Kind::Loop) => {
            sys::loopdev::open_device(dev).and_then(|f| sys::loopdev::flush(&f, dev))
        }
        // Three flushes: the card agent writes a block whose erase it holds only at the
        // flush after the one that followed the erase (and, being killed next by an init
        // that spares no process, gets no later chance).
        Some(Kind::Nbd) => sys::nbd::open_device(dev)
            .and_then(|f| (0..3).try_for_each(|_| sys::nbd::flush(&f, dev))),
        None => Err(unknown_device(c)),
    };
    match result {
        Ok(()) => info!("shutdown: flushed {dev} ({})", c.file),
        Err(e) => failed(&e),
    }
}

/// Unmounts the card (FAT clears its dirty bit), or remounts it read-only if busy.
pub fn release_card(record: &Containers, at: Option<&str>) {
    let Some(at) = at else {
        if record.card == Some(None) {
            info!("shutdown: the card was detached at boot; the kernel unmounts it when the last container lets go of it");
        }
        return;
    };
    let source = mounts()
        .into_iter()
        .rev()
        .find(|m| m.mountpoint == at)
        .map_or_else(|| "the card".to_string(), |m| m.source);
    let t = Instant::now();
    let busy = match unmount_patiently(at) {
        Ok(()) => {
            info!(
                "shutdown: unmounted the card ({source}) from {at} in {} ms: its FAT is clean",
                t.elapsed().as_millis()
            );
            return;
        }
        Err(e) => e,
    };
    match sys::mount::remount_read_only(at) {
        Ok(()) => failed(&BootError::new(
            "unmount the card",
            format!("{source} on {at}"),
            format!(
                "{}; remounted it read-only instead: its FAT is clean",
                busy.reason
            ),
        )),
        Err(e) => {
            failed(&busy);
            failed(&BootError {
                reason: format!("{}; the card stays marked dirty", e.reason),
                ..e
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backing_device_kinds() {
        assert_eq!(kind("/dev/loop0"), Some(Kind::Loop));
        assert_eq!(kind("/dev/loop12"), Some(Kind::Loop));
        assert_eq!(kind("/dev/nbd3"), Some(Kind::Nbd));
        assert_eq!(kind("/dev/loop-control"), None);
        assert_eq!(kind("/dev/loop"), None);
        assert_eq!(kind("/dev/sda1"), None);
        assert_eq!(kind("loop0"), None);
    }
}
