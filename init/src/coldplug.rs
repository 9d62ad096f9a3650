//! Loading the packed modules as udev's coldplug would: the `always` ones at once, each
//! driver only when a present device's modalias matches one of its aliases (every
//! modalias in sysfs first, then each device the kernel announces, e.g. the USB stick
//! that appears once xhci_pci is in), every module after its `needs`, in the builder's
//! order. A generic initramfs thus loads the drivers of the machine it boots on, not all.
//! Filesystem modules likewise: those of the types the plan names at once, the others
//! only when a mount asks for their type ([`Coldplug::load_filesystem`]), as the kernel's
//! own `request_module("fs-<type>")` would if the initramfs had a modprobe.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use flashroot_config::load_order::{self, LoadWhen, ModuleEntry};
use flashroot_kmod::alias::AliasTable;
use flashroot_kmod::sysfs::{modaliases_under, SYS_BUS};

use crate::error::BootError;
use crate::modalias;
use crate::sys::kmod::{self, Loaded};
use crate::sys::uevent::{UeventSocket, MAX_MESSAGE};

pub struct Coldplug {
    entries: Vec<ModuleEntry>,
    by_name: HashMap<String, usize>,
    /// Tried already (loaded, present before, or refused with ENODEV).
    tried: Vec<bool>,
    aliases: AliasTable,
    /// Drivers load when their devices appear (else they were loaded at the start).
    by_device: bool,
    socket: Option<UeventSocket>,
    buf: Vec<u8>,
    /// Time spent inside finit_module, for the boot summary.
    pub load_time: Duration,
}

/// What one batch of loads did, for one log line.
#[derive(Default)]
struct Batch {
    loaded: Vec<String>,
    already: Vec<String>,
    absent: Vec<String>,
}

impl Batch {
    fn log(&self, why: &str) {
        if !self.loaded.is_empty() {
            info!("{why}: loaded {}", self.loaded.join(" "));
        }
        if !self.already.is_empty() {
            info!("{why}: already loaded: {}", self.already.join(" "));
        }
        if !self.absent.is_empty() {
            info!(
                "{why}: not loaded, their device or CPU feature is absent: {}",
                self.absent.join(" ")
            );
        }
    }
}

impl Coldplug {
    /// Reads the load order and the alias table, loads the `always` modules, the modules
    /// of `filesystems` (the types the plan mounts) and the drivers of the devices present
    /// now; with `all`, every module at once.
    pub fn start(
        order_path: &str,
        aliases_path: &str,
        all: bool,
        filesystems: &[String],
    ) -> Result<Self, BootError> {
        let entries = match std::fs::read_to_string(order_path) {
            Ok(text) => load_order::parse(&text)
                .map_err(|e| BootError::new("read module list", order_path, e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                info!("no {order_path}: loading no modules (drivers built into the kernel)");
                Vec::new()
            }
            Err(e) => return Err(BootError::io("read module list", order_path, &e)),
        };
        let aliases = match std::fs::read_to_string(aliases_path) {
            Ok(text) => AliasTable::parse(aliases_path, &text)
                .map_err(|e| BootError::new("read module aliases", aliases_path, e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => AliasTable::default(),
            Err(e) => return Err(BootError::io("read module aliases", aliases_path, &e)),
        };
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        // Drivers wait for their devices unless told otherwise or no aliases were packed
        // (an image from before coldplug): then they load with the rest.
        let by_device =
            !all && !aliases.is_empty() && entries.iter().any(|e| e.when == LoadWhen::Device);
        // Open before the scan: a device added in between is then announced, not lost.
        let socket = match by_device.then(UeventSocket::open) {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                info!("no uevent socket ({e}): looking for new devices in {SYS_BUS} instead");
                None
            }
            None => None,
        };
        let mut coldplug = Coldplug {
            tried: vec![false; entries.len()],
            entries,
            by_name,
            aliases,
            by_device,
            socket,
            buf: vec![0; MAX_MESSAGE],
            load_time: Duration::ZERO,
        };
        // Drivers first: their probes (disk resets, USB enumeration) then run while the
        // filesystem modules load.
        if by_device {
            coldplug.scan_sysfs()?;
        }
        let always = coldplug.indices(|e| match e.when {
            LoadWhen::Always => true,
            LoadWhen::Device => !by_device,
            LoadWhen::Filesystem => all || e.filesystems.iter().any(|f| filesystems.contains(f)),
            LoadWhen::Dependency => false,
        });
        let mut batch = Batch::default();
        coldplug.load_all(&always, &mut batch)?;
        batch.log("modules for every machine");
        Ok(coldplug)
    }

    fn indices(&self, wanted: impl Fn(&ModuleEntry) -> bool) -> Vec<usize> {
        (0..self.entries.len())
            .filter(|&i| wanted(&self.entries[i]))
            .collect()
    }

    /// Loads `roots` and everything they need, in the load order.
    fn load_all(&mut self, roots: &[usize], batch: &mut Batch) -> Result<(), BootError> {
        let mut wanted = vec![false; self.entries.len()];
        for &r in roots {
            wanted[r] = true;
            for need in &self.entries[r].needs {
                match self.by_name.get(need) {
                    Some(&n) => wanted[n] = true,
                    None => {
                        return Err(BootError::new(
                            "load module",
                            &self.entries[r].name,
                            format!("needs {need}, which is not in the module list"),
                        ))
                    }
                }
            }
        }
        for (i, wanted) in wanted.into_iter().enumerate() {
            if !wanted || self.tried[i] {
                continue;
            }
            self.tried[i] = true;
            let e = &self.entries[i];
            let start = Instant::now();
            let result = kmod::load(&e.name, &e.path, &e.params);
            self.load_time += start.elapsed();
            let list = match result? {
                Loaded::Now => &mut batch.loaded,
                Loaded::Already => &mut batch.already,
                Loaded::NoDevice => &mut batch.absent,
            };
            list.push(e.name.clone());
        }
        Ok(())
    }

    /// Loads the drivers for one device's modalias; logs what it did.
    fn plug(&mut self, alias: &str) -> Result<(), BootError> {
        let roots: Vec<usize> = self
            .aliases
            .modules_for(alias)
            .into_iter()
            .filter_map(|m| self.by_name.get(m).copied())
            .filter(|&i| !self.tried[i])
            .collect();
        if roots.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::default();
        self.load_all(&roots, &mut batch)?;
        batch.log(&format!("for {alias}"));
        Ok(())
    }

    /// Every device in sysfs now.
    fn scan_sysfs(&mut self) -> Result<(), BootError> {
        for alias in sysfs_modaliases() {
            self.plug(&alias)?;
        }
        Ok(())
    }

    /// Waits up to `wait` for the kernel to announce devices, loading their drivers.
    /// True when a block device may have appeared (look for the wanted one again).
    pub fn settle(&mut self, wait: Duration) -> Result<bool, BootError> {
        let Some(socket) = &self.socket else {
            std::thread::sleep(wait);
            if self.by_device {
                self.scan_sysfs()?;
            }
            return Ok(true);
        };
        match socket.wait(wait) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            // poll(2) failing is no reason to spin: wait the round out and look again.
            Err(e) => {
                info!("uevent socket: poll: {e}");
                std::thread::sleep(wait);
                return Ok(true);
            }
        }
        let mut block = false;
        let mut aliases = Vec::new();
        loop {
            match socket.receive(&mut self.buf) {
                Ok(Some(message)) => {
                    let Some(event) = modalias::parse_uevent(message) else {
                        continue;
                    };
                    if event.action != "add" {
                        continue;
                    }
                    block |= event.subsystem == "block";
                    if let Some(a) = event.modalias {
                        aliases.push(a.to_string());
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // ENOBUFS: the kernel dropped events; sysfs still knows every device.
                    info!("uevent socket: {e}; rescanning {SYS_BUS}");
                    self.scan_sysfs()?;
                    block = true;
                    break;
                }
            }
        }
        for alias in aliases {
            self.plug(&alias)?;
        }
        Ok(block)
    }

    /// Loads the packed module that registers the filesystem type `fstype`, with what it
    /// needs; false when none does (built into the kernel, or not packed).
    pub fn load_filesystem(&mut self, fstype: &str) -> Result<bool, BootError> {
        let providers = self.indices(|e| {
            e.when == LoadWhen::Filesystem && e.filesystems.iter().any(|f| f == fstype)
        });
        if providers.is_empty() {
            return Ok(false);
        }
        let mut batch = Batch::default();
        self.load_all(&providers, &mut batch)?;
        batch.log(&format!("for the {fstype} filesystem"));
        Ok(true)
    }

    /// The drivers no present device asked for.
    pub fn unused_drivers(&self) -> Vec<&str> {
        self.indices(|e| e.when == LoadWhen::Device)
            .into_iter()
            .filter(|&i| !self.tried[i])
            .map(|i| self.entries[i].name.as_str())
            .collect()
    }

    /// The last resort while the wanted device is missing: loads every driver left.
    pub fn load_unused_drivers(&mut self) -> Result<(), BootError> {
        let rest = self.indices(|e| e.when == LoadWhen::Device);
        let mut batch = Batch::default();
        self.load_all(&rest, &mut batch)?;
        batch.log("every packed driver");
        Ok(())
    }
}

/// A bus, the sysfs attribute that tells storage apart, and the test on its value.
type StorageKind = (&'static str, &'static str, fn(&str) -> bool);

/// Storage devices no driver has bound (`0000:00:1f.2 pci:v00008086d00002922…`): PCI
/// mass-storage controllers, USB mass-storage interfaces, SCSI disks, MMC cards and virtio
/// disks. When the card is missing, these name the driver the initramfs lacks.
pub fn undriven_storage() -> Vec<String> {
    let bus = Path::new(SYS_BUS);
    let mut out = Vec::new();
    let kinds: [StorageKind; 5] = [
        ("pci", "class", |v| v.starts_with("0x01")),
        ("usb", "bInterfaceClass", |v| v == "08"),
        ("scsi", "type", |v| matches!(v, "0" | "7" | "14")),
        ("mmc", "type", |v| matches!(v, "SD" | "MMC")),
        ("virtio", "device", |v| matches!(v, "0x0002" | "0x0008")),
    ];
    for (name, attribute, is_storage) in kinds {
        let Ok(devices) = std::fs::read_dir(bus.join(name).join("devices")) else {
            continue;
        };
        let mut found: Vec<String> = devices
            .flatten()
            .filter(|d| !d.path().join("driver").exists())
            .filter(|d| {
                std::fs::read_to_string(d.path().join(attribute))
                    .is_ok_and(|v| is_storage(v.trim()))
            })
            .map(|d| {
                let alias = std::fs::read_to_string(d.path().join("modalias")).unwrap_or_default();
                format!("{} {}", d.file_name().to_string_lossy(), alias.trim())
            })
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

/// The modalias of every device on every bus, e.g. `/sys/bus/pci/devices/*/modalias`.
fn sysfs_modaliases() -> Vec<String> {
    modaliases_under(Path::new(SYS_BUS))
}
