//! `flashroot status`: what a running flashroot system looks like, read from what the init
//! left in `/run/flashroot` and from the kernel (`/proc`, `/sys`, statfs), never guessed
//! from the config: the card, each container and the route its writes take to the card,
//! each JFFS2 mount with the space a write can really use, the RAM-backed mounts, the RAM
//! directories with their last save, and the durability settings in force.

mod error;
pub mod fat_state;
mod gather;
mod proc_info;
mod render;
pub mod space;

use serde::Serialize;

pub use error::StatusError;
pub use gather::{gather, jffs2_at, System};
pub use render::{free_space, human};
pub use space::{jffs2_space, Geometry, Jffs2Space, Statfs};

/// The whole report (`flashroot status --json` prints it as is).
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub card: Card,
    pub containers: Vec<Container>,
    pub jffs2: Vec<Jffs2Mount>,
    /// tmpfs and overlay mounts of the root (RAM directories included).
    pub ram_mounts: Vec<RamMount>,
    pub ramdirs: Vec<RamDir>,
    pub durability: Durability,
    /// The root's JFFS2 has less than [`NearEnospc::threshold`] of data room left.
    pub near_enospc: NearEnospc,
    /// What could not be read, each naming the file.
    pub warnings: Vec<String>,
}

/// The FAT card the containers live on.
#[derive(Clone, Debug, Serialize)]
pub struct Card {
    /// Where it is mounted in the running root (`None`: detached).
    pub mount: Option<String>,
    /// The partition, from the mount table.
    pub device: Option<String>,
    /// The boot sector's dirty flag (set while mounted read-write; a clean shutdown clears it).
    pub fat: Option<fat_state::FatState>,
    pub read_only: Option<bool>,
}

/// How a container's writes reach the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// Served over nbd by the card agent (ordered writes, flushed every `flush_ms`).
    Agent,
    /// The classic buffered (or direct I/O) loop device.
    Loop,
    /// Something else (the device's kind is named in the warnings).
    Other,
}

#[derive(Clone, Debug, Serialize)]
pub struct Container {
    /// The file, relative to the card's root.
    pub file: String,
    /// The block device block2mtd sits on (`/dev/nbd0`, `/dev/loop0`).
    pub device: String,
    pub route: Route,
    /// The card agent's pid and whether it still runs.
    pub agent_pid: Option<u32>,
    pub agent_running: bool,
    /// What the agent (or the loop device) writes to: the card's partition or the FAT file.
    pub writes_to: Option<String>,
    /// Whether those writes bypass the page cache (O_DIRECT, or the loop's `dio`).
    pub direct_io: Option<bool>,
    /// The agent's flush interval.
    pub flush_ms: Option<u32>,
    /// block2mtd's name for it (`mtd:<label>`).
    pub mtd_label: String,
    pub mtd: Option<Mtd>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Mtd {
    /// `mtd0`.
    pub name: String,
    pub size_bytes: u64,
    pub erase_bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Jffs2Mount {
    pub mountpoint: String,
    pub source: String,
    /// The container behind it, when its MTD device is known.
    pub container: Option<String>,
    pub geometry: Option<Geometry>,
    pub statfs: Statfs,
    /// `None` when the MTD geometry could not be read.
    pub space: Option<Jffs2Space>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RamMount {
    pub mountpoint: String,
    pub fstype: String,
    pub size_bytes: u64,
    pub used_bytes: u64,
    /// It is a RAM directory (saved to the root).
    pub ramdir: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct RamDir {
    pub path: String,
    /// Its tmpfs is mounted.
    pub mounted: bool,
    /// The keeper's save interval.
    pub save_minutes: Option<u64>,
    /// The saved copy `current` names (`gen.N`).
    pub saved_copy: Option<u64>,
    /// When `current` was last renamed onto a copy (seconds since the epoch), and how long ago.
    pub last_save_unix: Option<i64>,
    pub last_save_age_seconds: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Durability {
    /// "ordered" when every container goes through the card agent, "buffered" when every
    /// one is a loop device, "mixed" otherwise.
    pub writes: String,
    pub flush_ms: Option<u32>,
    /// The kernel's writeback clock (`/proc/sys/vm/dirty_{writeback,expire}_centisecs`),
    /// which decides for buffered loop devices and the card's other files.
    pub dirty_writeback_centisecs: Option<u64>,
    pub dirty_expire_centisecs: Option<u64>,
    /// The RAM directories' keeper, if running.
    pub ramdir_keeper_pid: Option<u32>,
    /// A power cut loses what was written since then, at most.
    pub loss_window: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct NearEnospc {
    pub near: bool,
    /// The root's sure data room, and the threshold under which it counts as near ENOSPC.
    pub root_data_free: Option<u64>,
    pub threshold: u64,
}

#[cfg(test)]
mod tests;
