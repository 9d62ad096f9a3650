//! One JFFS2 container: checked before the kernel sees it, served by the card agent on an
//! nbd device (or attached to a loop device, the classic buffered way), turned into an MTD
//! device by block2mtd with the configured erase size and label.

use std::path::Path;
use std::time::{Duration, Instant};

use flashroot_config::CardWrites;

use crate::error::BootError;
use crate::plan::ContainerSetup;
use crate::{agent, jffs2check, record, scanahead, sys};

/// block2mtd takes new devices through this module parameter, one per write.
pub const BLOCK2MTD_PARAM: &str = "/sys/module/block2mtd/parameters/block2mtd";
const SYS_MTD: &str = "/sys/class/mtd";
/// block2mtd registers the MTD device before the write returns; allow a little slack.
const MTD_WAIT: Duration = Duration::from_secs(2);
const MTD_POLL: Duration = Duration::from_millis(5);

/// Checks the container, puts it on a block device and makes that the MTD device
/// `mtd:<label>`.
pub fn setup(c: &ContainerSetup) -> Result<(), BootError> {
    let bytes = check_container(c)?;
    let start = Instant::now();
    let (dev, how, agent_pid) = block_device(c)?;
    let attached = start.elapsed();
    let param = format!("{dev},{},{}", c.erase_size.0, c.label);
    std::fs::write(BLOCK2MTD_PARAM, &param).map_err(|e| {
        let mut err = BootError::io("block2mtd", format!("{param} > {BLOCK2MTD_PARAM}"), &e);
        if !Path::new(BLOCK2MTD_PARAM).exists() {
            err.reason = format!("{} (is the block2mtd module loaded?)", err.reason);
        }
        err
    })?;
    let written = start.elapsed();
    let mtd = wait_mtd(&c.label).ok_or_else(|| {
        BootError::new(
            "block2mtd",
            format!("{dev},{},{}", c.erase_size, c.label),
            format!(
                "no MTD device named {:?} appeared (see the kernel's block2mtd messages above)",
                c.label
            ),
        )
    })?;
    // The split shows where the time goes: the loop ioctls, block2mtd's registration
    // (inside the write), our look for the new MTD device.
    info!(
        "{} is {mtd} (mtd:{}) on {dev}, {how} ({} ms, block2mtd {} ms, found after {} ms)",
        c.file,
        c.label,
        attached.as_millis(),
        (written - attached).as_millis(),
        (start.elapsed() - written).as_millis()
    );
    // Only time is at stake: a device that cannot be read ahead is scanned as before.
    match scanahead::for_jffs2_scan(&dev, c.erase_size.0, bytes) {
        Ok(r) => info!(
            "{dev}: read ahead what the JFFS2 scan reads of its {} blocks in {} ms: {} requests, {} KiB ({} blocks beyond their first and last pages)",
            bytes / u64::from(c.erase_size.0),
            r.elapsed.as_millis(),
            r.requests,
            r.bytes >> 10,
            r.more
        ),
        Err(e) => info!("{dev}: no read-ahead for the JFFS2 scan: {e}"),
    }
    // For the shutdown program; a boot that cannot record it still boots (and its
    // shutdown leaves the card dirty, as before).
    if let Err(e) = record::container(&c.on_card, &dev, &c.label, agent_pid) {
        error!("error: {e}; shutdown will not release this container");
    }
    Ok(())
}

/// The block device block2mtd gets, and how writes reach the card through it. When the
/// card agent cannot start, the buffered loop device still boots the box, and the log says
/// what that costs.
fn block_device(c: &ContainerSetup) -> Result<(String, String, Option<u32>), BootError> {
    if c.writes == CardWrites::Ordered {
        match agent::start(&c.file, c.erase_size.0, c.flush_ms) {
            Ok(a) => {
                let how = format!(
                    "served by the card agent (pid {}): flash-ordered writes, flushed every {} ms",
                    a.pid, c.flush_ms
                );
                return Ok((a.device, how, Some(a.pid)));
            }
            Err(e) => error!(
                "{e}; falling back to a buffered loop device: a power cut can lose the last ~30 s of writes and data garbage collection was moving"
            ),
        }
    }
    let dev = sys::loopdev::attach(&c.file)?;
    Ok((dev, "loop device, buffered writes".into(), None))
}

/// Reads the head of the container and checks it before the kernel sees it; returns its
/// length.
fn check_container(c: &ContainerSetup) -> Result<u64, BootError> {
    use std::io::Read;
    let step = "open container";
    let mut file = std::fs::File::open(&c.file).map_err(|e| BootError::io(step, &c.file, &e))?;
    let len = file
        .metadata()
        .map_err(|e| BootError::io(step, &c.file, &e))?
        .len();
    let mut prefix = Vec::new();
    (&mut file)
        .take(jffs2check::prefix_len(c.erase_size.0, len) as u64)
        .read_to_end(&mut prefix)
        .map_err(|e| BootError::io(step, &c.file, &e))?;
    jffs2check::check(&prefix, len, c.erase_size.0)
        .map_err(|e| BootError::new("check container", &c.file, jffs2check::explain(&e)))?;
    info!(
        "{} looks like JFFS2 with {} erase blocks ({} of its {len} bytes read)",
        c.file,
        c.erase_size,
        prefix.len()
    );
    Ok(len)
}

/// The `mtdN` whose name is `label`.
fn wait_mtd(label: &str) -> Option<String> {
    let start = Instant::now();
    loop {
        if let Ok(entries) = std::fs::read_dir(SYS_MTD) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let is_char_dev = name
                    .strip_prefix("mtd")
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
                if is_char_dev
                    && std::fs::read_to_string(e.path().join("name"))
                        .is_ok_and(|n| n.trim_end() == label)
                {
                    return Some(name);
                }
            }
        }
        if start.elapsed() >= MTD_WAIT {
            return None;
        }
        std::thread::sleep(MTD_POLL);
    }
}
