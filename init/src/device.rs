//! Finding block devices at boot: scan /sys/class/block, identify each device with
//! [`crate::blkid`], and wait until the wanted one shows up, listing what was seen if
//! it never does.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use flashroot_config::DeviceRef;

use crate::blkid::{self, FsInfo, PartId, SECTOR};
use crate::error::BootError;

const SYS_BLOCK: &str = "/sys/class/block";
/// How long one idle round waits for news of devices.
const POLL: Duration = Duration::from_millis(20);
/// Look again after this many idle rounds even without news of a block device (a
/// filesystem label may be written after its device appeared).
const LOOK_EVERY: u32 = 5;
/// While waiting, say so this often, so that a long wait is never silent.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// One block device as the kernel lists it, with what its first bytes say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockDevice {
    /// `sda1`
    pub name: String,
    /// The partition number, for partitions.
    pub partition: Option<u32>,
    /// The whole disk holding a partition (`sda`).
    pub disk: Option<String>,
    pub fs: Option<FsInfo>,
    pub partuuid: Option<String>,
}

impl BlockDevice {
    pub fn dev_path(&self) -> String {
        format!("/dev/{}", self.name)
    }

    pub fn matches(&self, wanted: &DeviceRef) -> bool {
        match wanted {
            DeviceRef::Path(p) => *p == self.dev_path(),
            DeviceRef::Label(l) => self.fs.as_ref().and_then(|f| f.label.as_ref()) == Some(l),
            DeviceRef::Uuid(u) => self
                .fs
                .as_ref()
                .and_then(|f| f.uuid.as_ref())
                .is_some_and(|id| id.eq_ignore_ascii_case(u)),
            DeviceRef::PartUuid(u) => self
                .partuuid
                .as_ref()
                .is_some_and(|p| p.eq_ignore_ascii_case(u)),
        }
    }

    /// `/dev/sda1 fat32 LABEL=X UUID=Y PARTUUID=Z` for the "devices seen" list.
    pub fn describe(&self) -> String {
        let mut parts = vec![self.dev_path()];
        if let Some(fs) = &self.fs {
            // fat32, fat12or16, ext4…: finer than the mount type, for a person reading.
            parts.push(format!("{:?}", fs.kind).to_lowercase());
            if let Some(l) = &fs.label {
                parts.push(format!("LABEL={l}"));
            }
            if let Some(u) = &fs.uuid {
                parts.push(format!("UUID={u}"));
            }
        }
        if let Some(p) = &self.partuuid {
            parts.push(format!("PARTUUID={p}"));
        }
        parts.join(" ")
    }
}

fn read_sys(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn read_at(dev: &str, offset: u64, len: usize) -> Option<Vec<u8>> {
    let mut f = File::open(dev).ok()?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = Vec::with_capacity(len);
    f.take(len as u64).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// The partition ids of a whole disk, from its MBR or GPT.
fn partition_ids(disk: &str) -> Vec<PartId> {
    let dev = format!("/dev/{disk}");
    let Some(sector0) = read_at(&dev, 0, SECTOR) else {
        return Vec::new();
    };
    if let Some(parts) = blkid::mbr_partitions(&sector0) {
        return parts;
    }
    let lba_size = read_sys(
        &Path::new(SYS_BLOCK)
            .join(disk)
            .join("queue/logical_block_size"),
    )
    .and_then(|s| s.parse::<u64>().ok())
    .unwrap_or(SECTOR as u64);
    let Some(header) = read_at(&dev, lba_size, SECTOR).and_then(|h| blkid::gpt_header(&h)) else {
        return Vec::new();
    };
    let len = header.entry_count as usize * header.entry_size as usize;
    read_at(&dev, header.entries_lba * lba_size, len)
        .map(|entries| blkid::gpt_partitions(&header, &entries))
        .unwrap_or_default()
}

/// Every block device with a non-zero size, identified.
pub fn scan() -> Vec<BlockDevice> {
    let Ok(entries) = std::fs::read_dir(SYS_BLOCK) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut disks: Vec<(String, Vec<PartId>)> = Vec::new();
    let mut out = Vec::new();
    for name in names {
        let sys = Path::new(SYS_BLOCK).join(&name);
        if read_sys(&sys.join("size")).as_deref().unwrap_or("0") == "0" {
            continue;
        }
        let partition = read_sys(&sys.join("partition")).and_then(|p| p.parse().ok());
        // /sys/class/block/sda1 links into .../block/sda/sda1: the parent is the disk.
        let disk = partition.and_then(|_| {
            let target = std::fs::canonicalize(&sys).ok()?;
            Some(target.parent()?.file_name()?.to_str()?.to_string())
        });
        let fs = probe(&format!("/dev/{name}"));
        let partuuid = match (&disk, partition) {
            (Some(d), Some(n)) => {
                if !disks.iter().any(|(k, _)| k == d) {
                    disks.push((d.clone(), partition_ids(d)));
                }
                disks
                    .iter()
                    .find(|(k, _)| k == d)
                    .and_then(|(_, ids)| ids.iter().find(|p| p.number == n))
                    .map(|p| p.partuuid.clone())
            }
            _ => None,
        };
        out.push(BlockDevice {
            name,
            partition,
            disk,
            fs,
            partuuid,
        });
    }
    out
}

/// What the superblock of `dev` says, if it is a filesystem we know.
pub fn probe(dev: &str) -> Option<FsInfo> {
    blkid::probe_volume(|offset, len| read_at(dev, offset, len))
}

/// Finds `wanted` now. A path is taken as is when the node exists (it may be a device
/// the scan skips, or a name outside `/dev/<name>`).
pub fn find(wanted: &DeviceRef) -> Option<String> {
    if let DeviceRef::Path(p) = wanted {
        return Path::new(p).exists().then(|| p.clone());
    }
    scan()
        .into_iter()
        .find(|d| d.matches(wanted))
        .map(|d| d.dev_path())
}

/// Waits for `wanted` up to `timeout` (None: forever). `what` names it in messages ("the
/// card", "the root device"). Between looks, `idle(POLL)` waits (loading drivers for new
/// devices) and says whether a block device may have appeared; without one, the next
/// look comes after [`LOOK_EVERY`] idle rounds anyway.
pub fn wait(
    wanted: &DeviceRef,
    timeout: Option<Duration>,
    what: &str,
    idle: &mut dyn FnMut(Duration) -> Result<bool, BootError>,
) -> Result<String, BootError> {
    let start = Instant::now();
    let mut next_report = REPORT_EVERY;
    let mut look = true;
    let mut rounds = 0;
    loop {
        if look {
            if let Some(dev) = find(wanted) {
                return Ok(dev);
            }
        }
        let waited = start.elapsed();
        if timeout.is_some_and(|t| waited >= t) {
            let seen: Vec<String> = scan().iter().map(BlockDevice::describe).collect();
            let seen = if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            };
            return Err(BootError::new(
                format!("wait for {what}"),
                wanted.to_string(),
                format!(
                    "not found within {}s; block devices seen: {seen}",
                    timeout.unwrap_or_default().as_secs()
                ),
            ));
        }
        if waited >= next_report {
            info!("still waiting for {what} {wanted} ({}s)", waited.as_secs());
            next_report += REPORT_EVERY;
        }
        rounds += 1;
        look = idle(POLL)? || rounds % LOOK_EVERY == 0;
    }
}

/// Waiting without coldplug: sleep, then look.
pub fn sleep(poll: Duration) -> Result<bool, BootError> {
    std::thread::sleep(poll);
    Ok(true)
}
