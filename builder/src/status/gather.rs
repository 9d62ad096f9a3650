//! Reads the running system into a [`Status`]. Every path is taken below [`System::root`]
//! (`/` on the box), so a test can point it at a fixture tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flashroot_runtime::containers_file::{self, ContainerRecord};
use flashroot_runtime::mountinfo::{self, MountEntry};
use flashroot_runtime::ramdir::{Store, PID_FILE, RAMDIRS_FILE};

use super::fat_state::{self, BOOT_SECTOR_BYTES};
use super::proc_info::{
    cmdline_words, fdinfo_flags, keeper_intervals, read_number, read_trimmed, O_DIRECT,
};
use super::space::{jffs2_space, Geometry, Statfs};
use super::{
    Card, Container, Durability, Jffs2Mount, Mtd, NearEnospc, RamDir, RamMount, Route, Status,
    StatusError,
};

/// Where the running system is.
#[derive(Clone, Debug)]
pub struct System {
    pub root: PathBuf,
    /// The root's JFFS2 counts as near ENOSPC below this many bytes of sure data room.
    pub near_enospc_bytes: u64,
}

impl System {
    fn path(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute.trim_start_matches('/'))
    }
}

/// Everything `flashroot status` reports. Fails only when this is no flashroot system
/// (no `/run/flashroot/containers`) or the mount table cannot be read; anything else that
/// cannot be read becomes a warning naming the file.
pub fn gather(system: &System) -> Result<Status, StatusError> {
    let containers_path = system.path(containers_file::PATH);
    let text = match fs::read_to_string(&containers_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StatusError::NotFlashroot {
                path: containers_path,
            })
        }
        Err(e) => return Err(StatusError::io("read", containers_path, e)),
    };
    let records = containers_file::parse(&text).map_err(|e| StatusError::Parse {
        path: containers_path.clone(),
        reason: e.to_string(),
    })?;
    let mountinfo_path = system.path(mountinfo::PATH);
    let mounts = mountinfo::parse(
        &fs::read_to_string(&mountinfo_path)
            .map_err(|e| StatusError::io("read", &mountinfo_path, e))?,
    );
    let mut warnings = Vec::new();
    let card = card(
        system,
        records.card.clone().flatten(),
        &mounts,
        &mut warnings,
    );
    let containers: Vec<Container> = records
        .containers
        .iter()
        .map(|r| container(system, r, &mut warnings))
        .collect();
    let jffs2: Vec<Jffs2Mount> = mounts
        .iter()
        .filter(|m| m.fstype == "jffs2")
        .filter_map(|m| jffs2_mount(system, m, &containers, &mut warnings))
        .collect();
    let (ramdirs, keeper_pid) = ramdirs(system, &mut warnings);
    let ram_mounts = mounts
        .iter()
        .filter(|m| m.fstype == "tmpfs" || m.fstype == "overlay")
        .filter(|m| !is_system_mount(&m.mountpoint))
        .filter_map(|m| {
            let (size_bytes, used_bytes) = usage(&system.path(&m.mountpoint))?;
            Some(RamMount {
                mountpoint: m.mountpoint.clone(),
                fstype: m.fstype.clone(),
                size_bytes,
                used_bytes,
                ramdir: ramdirs.iter().any(|r| r.path == m.mountpoint),
            })
        })
        .collect();
    let durability = durability(system, &containers, keeper_pid);
    let root_data_free = jffs2
        .iter()
        .find(|j| j.mountpoint == "/")
        .and_then(|j| j.space.map(|s| s.data_free));
    let near_enospc = NearEnospc {
        near: root_data_free.is_some_and(|free| free < system.near_enospc_bytes),
        root_data_free,
        threshold: system.near_enospc_bytes,
    };
    Ok(Status {
        card,
        containers,
        jffs2,
        ram_mounts,
        ramdirs,
        durability,
        near_enospc,
        warnings,
    })
}

/// The JFFS2 filesystem mounted at `mountpoint`, its free space as [`gather`] counts it
/// (the MTD device found by the mount's source alone): `flashroot overlay`'s one line,
/// without reading the card or the agents.
pub fn jffs2_at(system: &System, mountpoint: &str) -> Result<Option<Jffs2Mount>, StatusError> {
    let mountinfo_path = system.path(mountinfo::PATH);
    let mounts = mountinfo::parse(
        &fs::read_to_string(&mountinfo_path)
            .map_err(|e| StatusError::io("read", &mountinfo_path, e))?,
    );
    Ok(mounts
        .iter()
        .rev()
        .find(|m| m.fstype == "jffs2" && m.mountpoint == mountpoint)
        .and_then(|m| jffs2_mount(system, m, &[], &mut Vec::new())))
}

/// /dev, /run and the like: tmpfs every system has, not flashroot's.
fn is_system_mount(mountpoint: &str) -> bool {
    ["/dev", "/run", "/sys", "/proc"].iter().any(|top| {
        mountinfo::is_under(mountpoint, top) && !mountinfo::is_under(mountpoint, "/run/flashroot")
    })
}

fn card(
    system: &System,
    mount: Option<String>,
    mounts: &[MountEntry],
    warnings: &mut Vec<String>,
) -> Card {
    let entry = mount
        .as_ref()
        .and_then(|m| mounts.iter().rev().find(|e| &e.mountpoint == m));
    let device = entry.map(|e| e.source.clone());
    let fat = device.as_ref().and_then(|dev| {
        let path = system.path(dev);
        let mut sector = vec![0u8; BOOT_SECTOR_BYTES];
        let read = fs::File::open(&path).and_then(|mut f| {
            use std::io::Read;
            f.read_exact(&mut sector)
        });
        match read {
            Ok(()) => fat_state::parse(&sector).or_else(|| {
                warnings.push(format!("{}: no FAT boot sector", path.display()));
                None
            }),
            Err(e) => {
                warnings.push(format!(
                    "{}: cannot read the boot sector: {e}",
                    path.display()
                ));
                None
            }
        }
    });
    let read_only = mount.as_ref().and_then(|m| {
        nix::sys::statvfs::statvfs(&system.path(m))
            .ok()
            .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
    });
    Card {
        mount,
        device,
        fat,
        read_only,
    }
}

fn container(system: &System, r: &ContainerRecord, warnings: &mut Vec<String>) -> Container {
    let name = r.device.trim_start_matches("/dev/").to_string();
    let mut c = Container {
        file: r.file.clone(),
        device: r.device.clone(),
        route: Route::Other,
        agent_pid: r.agent_pid,
        agent_running: false,
        writes_to: None,
        direct_io: None,
        flush_ms: None,
        mtd_label: r.label.clone(),
        mtd: mtd_of(system, &r.label),
    };
    if c.mtd.is_none() {
        warnings.push(format!(
            "no MTD device named {:?} in /sys/class/mtd",
            r.label
        ));
    }
    if name.starts_with("nbd") {
        c.route = Route::Agent;
        if let Some(pid) = r.agent_pid {
            agent(system, pid, &r.file, &mut c, warnings);
        }
    } else if name.starts_with("loop") {
        c.route = Route::Loop;
        let sys = system.path(&format!("/sys/block/{name}/loop"));
        c.writes_to = read_trimmed(&sys.join("backing_file"));
        c.direct_io = read_number(&sys.join("dio")).map(|v| v == 1);
        if c.writes_to.is_none() {
            warnings.push(format!("{}: no loop backing file", sys.display()));
        }
    } else {
        warnings.push(format!("{}: neither an nbd nor a loop device", r.device));
    }
    c
}

/// The agent's flush interval (its argv) and the file it writes to, with O_DIRECT (its fds).
fn agent(system: &System, pid: u32, file: &str, c: &mut Container, warnings: &mut Vec<String>) {
    let proc_dir = system.path(&format!("/proc/{pid}"));
    let Ok(cmdline) = fs::read(proc_dir.join("cmdline")) else {
        warnings.push(format!("card agent pid {pid} of {file} is not running"));
        return;
    };
    let words = cmdline_words(&cmdline);
    c.agent_running = words.first().is_some_and(|w| w.contains("flashroot-agent"));
    if !c.agent_running {
        warnings.push(format!("pid {pid} is no card agent ({words:?})"));
        return;
    }
    c.flush_ms = words.get(4).and_then(|w| w.parse().ok());
    let base = Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let Ok(fds) = fs::read_dir(proc_dir.join("fd")) else {
        warnings.push(format!(
            "{}: cannot list the agent's files",
            proc_dir.join("fd").display()
        ));
        return;
    };
    let mut candidates: Vec<(u8, String, Option<u64>)> = Vec::new();
    for fd in fds.flatten() {
        let Ok(target) = fs::read_link(fd.path()) else {
            continue;
        };
        let mut target = target.to_string_lossy().into_owned();
        if let Some(dev) = private_block_device(system, &target) {
            target = dev;
        }
        let rank = if is_card_partition(&target) {
            0
        } else if base.as_deref().is_some_and(|b| target.ends_with(b)) {
            1
        } else {
            continue;
        };
        let flags = fs::read_to_string(proc_dir.join("fdinfo").join(fd.file_name()))
            .ok()
            .and_then(|t| fdinfo_flags(&t));
        candidates.push((rank, target, flags));
    }
    candidates.sort();
    if let Some((_, target, flags)) = candidates.into_iter().next() {
        c.writes_to = Some(target);
        c.direct_io = flags.map(|f| f & O_DIRECT != 0);
    }
}

/// The agent opens the card's partition through a private node of its own
/// (`/.flashroot-block-<major>-<minor>-<pid> (deleted)`, see init's sys::node), so that it
/// keeps no /dev mount busy: the device's name comes from /sys/dev/block.
fn private_block_device(system: &System, target: &str) -> Option<String> {
    let rest = target.split(PRIVATE_BLOCK_NODE).nth(1)?;
    let mut numbers = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty());
    let (major, minor) = (numbers.next()?, numbers.next()?);
    let uevent =
        fs::read_to_string(system.path(&format!("/sys/dev/block/{major}:{minor}/uevent"))).ok()?;
    uevent
        .lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .map(|name| format!("/dev/{name}"))
}

/// The name init's `sys::node::open_private_block` gives its nodes, up to the numbers.
const PRIVATE_BLOCK_NODE: &str = ".flashroot-block-";

/// A disk partition (not the agent's nbd, not a terminal or the kernel log).
fn is_card_partition(target: &str) -> bool {
    [
        "/dev/sd",
        "/dev/vd",
        "/dev/hd",
        "/dev/mmcblk",
        "/dev/nvme",
        "/dev/xvd",
    ]
    .iter()
    .any(|p| target.starts_with(p))
}

fn jffs2_mount(
    system: &System,
    m: &MountEntry,
    containers: &[Container],
    warnings: &mut Vec<String>,
) -> Option<Jffs2Mount> {
    let path = system.path(&m.mountpoint);
    let vfs = match nix::sys::statvfs::statvfs(&path) {
        Ok(v) => v,
        Err(e) => {
            warnings.push(format!("{}: statfs failed: {e}", path.display()));
            return None;
        }
    };
    let statfs = Statfs {
        block_bytes: vfs.fragment_size() as u64,
        avail_blocks: vfs.blocks_available() as u64,
    };
    // The source is `mtd:<label>` or `mtdN` (or /dev/mtdblockN).
    let source = m.source.as_str();
    let container = containers.iter().find(|c| {
        source.strip_prefix("mtd:") == Some(c.mtd_label.as_str())
            || c.mtd.as_ref().is_some_and(|d| {
                source == d.name
                    || source.trim_start_matches("/dev/mtdblock")
                        == d.name.trim_start_matches("mtd")
            })
    });
    let mtd = container
        .and_then(|c| c.mtd.clone())
        .or_else(|| mtd_of(system, source.trim_start_matches("mtd:")));
    let geometry = mtd.map(|d| Geometry {
        flash_bytes: d.size_bytes,
        erase_bytes: d.erase_bytes,
    });
    Some(Jffs2Mount {
        mountpoint: m.mountpoint.clone(),
        source: m.source.clone(),
        container: container.map(|c| c.file.clone()),
        geometry,
        statfs,
        space: geometry.map(|g| jffs2_space(g, statfs)),
    })
}

/// (size, used) in bytes.
fn usage(path: &Path) -> Option<(u64, u64)> {
    let v = nix::sys::statvfs::statvfs(path).ok()?;
    let unit = v.fragment_size() as u64;
    let blocks = v.blocks() as u64;
    Some((blocks * unit, (blocks - v.blocks_free() as u64) * unit))
}

fn ramdirs(system: &System, warnings: &mut Vec<String>) -> (Vec<RamDir>, Option<u32>) {
    let list = system.path(RAMDIRS_FILE);
    let Ok(text) = fs::read_to_string(&list) else {
        return (Vec::new(), None);
    };
    let keeper_pid = read_number(&system.path(PID_FILE)).map(|p| p as u32);
    let intervals = keeper_pid
        .and_then(|pid| fs::read(system.path(&format!("/proc/{pid}/cmdline"))).ok())
        .map(|c| keeper_intervals(&cmdline_words(&c)))
        .unwrap_or_default();
    let keeper_pid = keeper_pid.filter(|_| !intervals.is_empty());
    if keeper_pid.is_none() {
        warnings.push(format!(
            "the RAM directory keeper ({}) is not running: no periodic saves",
            system.path(PID_FILE).display()
        ));
    }
    let mounts = fs::read_to_string(system.path(mountinfo::PATH))
        .map(|t| mountinfo::parse(&t))
        .unwrap_or_default();
    let now = SystemTime::now();
    let dirs = text
        .lines()
        .filter(|l| l.starts_with('/'))
        .map(|path| {
            let store = Store::of(&system.root, path);
            let saved = store.current();
            let link = store.current_link();
            let saved_at = fs::symlink_metadata(&link).and_then(|m| m.modified()).ok();
            let unix = saved_at
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64);
            let age = saved_at
                .and_then(|t| now.duration_since(t).ok())
                .map(|d| d.as_secs() as i64);
            RamDir {
                path: path.to_string(),
                mounted: mounts
                    .iter()
                    .any(|m| m.mountpoint == path && m.fstype == "tmpfs"),
                save_minutes: intervals.iter().find(|(p, _)| p == path).map(|(_, m)| *m),
                saved_copy: saved.map(|(n, _)| n),
                last_save_unix: unix,
                last_save_age_seconds: age,
            }
        })
        .collect();
    (dirs, keeper_pid)
}

fn durability(system: &System, containers: &[Container], keeper_pid: Option<u32>) -> Durability {
    let agents = containers
        .iter()
        .filter(|c| c.route == Route::Agent)
        .count();
    let writes = if agents == containers.len() && agents > 0 {
        "ordered"
    } else if agents == 0 {
        "buffered"
    } else {
        "mixed"
    };
    let flush_ms = containers.iter().filter_map(|c| c.flush_ms).max();
    let vm = |name: &str| read_number(&system.path(&format!("/proc/sys/vm/{name}")));
    let expire = vm("dirty_expire_centisecs");
    let writeback = vm("dirty_writeback_centisecs");
    let buffered_window = match (expire, writeback) {
        (Some(e), Some(w)) => format!("about {} s", (e + w) / 100),
        _ => "up to the kernel's writeback interval".into(),
    };
    let loss_window = match (writes, flush_ms) {
        ("ordered", Some(ms)) => format!(
            "about {ms} ms of writes (fsync'ed or not), a few flushes more while JFFS2 erases under writes that never pause"
        ),
        ("ordered", None) => "a flush interval of writes".into(),
        _ => format!("{buffered_window} of container writes (loop devices), fsync included"),
    };
    Durability {
        writes: writes.into(),
        flush_ms,
        dirty_writeback_centisecs: writeback,
        dirty_expire_centisecs: expire,
        ramdir_keeper_pid: keeper_pid,
        loss_window,
    }
}

/// The MTD device named `name` in /sys/class/mtd (block2mtd names it by its label).
fn mtd_of(system: &System, name: &str) -> Option<Mtd> {
    let class = system.path("/sys/class/mtd");
    let mut entries: Vec<PathBuf> = fs::read_dir(&class)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    entries.into_iter().find_map(|dir| {
        let dev = dir.file_name()?.to_string_lossy().into_owned();
        // mtdNro is the read-only character device of the same MTD.
        if !dev.starts_with("mtd") || dev.ends_with("ro") {
            return None;
        }
        let mtd_name = read_trimmed(&dir.join("name"))?;
        (mtd_name == name || dev == name).then(|| Mtd {
            name: dev,
            size_bytes: read_number(&dir.join("size")).unwrap_or(0),
            erase_bytes: read_number(&dir.join("erasesize")).unwrap_or(0),
        })
    })
}
