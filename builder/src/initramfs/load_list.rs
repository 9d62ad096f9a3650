//! The init's module list: each resolved module with what makes the init load it
//! (`always`, `device`, `filesystem`, `dependency`), the modules it needs first, the
//! filesystem types a `filesystem` module registers, and for the drivers the device
//! aliases the init's coldplug matches modaliases against.

use std::collections::BTreeMap;

use flashroot_config::load_order::{LoadWhen, ModuleEntry};
use flashroot_kmod::alias::{is_device_alias, AliasTable};

use super::Error;
use flashroot_kmod::{modinfo, Resolution, ResolvedModule};

/// How a module names a filesystem type it registers (`alias=fs-ext4` in `.modinfo`).
pub const FS_ALIAS_PREFIX: &str = "fs-";

/// The list in load order and the `modules.alias` lines of its drivers.
pub struct LoadList {
    pub entries: Vec<ModuleEntry>,
    pub aliases: String,
}

/// `base` is the module directory inside the archive (`/lib/modules/VER`); `params` the
/// config's per-module parameters by normalized name. A requested module that drives
/// devices is `device`; one that registers filesystems (`fs-<type>` aliases) and drives
/// nothing is `filesystem`, loaded when a mount needs it; the rest is `always`. With
/// `coldplug` off every module the config asks for is `always`.
pub fn load_list(
    resolution: &Resolution,
    base: &str,
    params: &BTreeMap<String, &String>,
    coldplug: bool,
) -> Result<LoadList, Error> {
    let order: BTreeMap<&str, usize> = resolution
        .modules
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    let mut entries = Vec::new();
    let mut aliases = String::from("# flashroot: the device aliases of the packed drivers\n");
    for m in &resolution.modules {
        let (device_aliases, filesystems) = if coldplug && m.requested {
            (device_aliases(m)?, filesystems(m)?)
        } else {
            (Vec::new(), Vec::new())
        };
        let when = if !m.requested {
            LoadWhen::Dependency
        } else if !device_aliases.is_empty() {
            LoadWhen::Device
        } else if !filesystems.is_empty() {
            LoadWhen::Filesystem
        } else {
            LoadWhen::Always
        };
        for a in &device_aliases {
            aliases.push_str(&format!("alias {a} {}\n", m.name));
        }
        let mut needs: Vec<String> = resolution.closure(&m.name).into_iter().collect();
        needs.sort_by_key(|n| order.get(n.as_str()).copied().unwrap_or(usize::MAX));
        entries.push(ModuleEntry {
            name: m.name.clone(),
            path: format!("{base}/{}", m.path),
            params: params
                .get(&m.name)
                .map(|p| p.to_string())
                .unwrap_or_default(),
            filesystems: if when == LoadWhen::Filesystem {
                filesystems
            } else {
                Vec::new()
            },
            when,
            needs,
        });
    }
    Ok(LoadList { entries, aliases })
}

/// The config's drivers split by whether one of `devices` (modaliases of the machine the
/// initramfs is for) matches them; everything that is no driver is kept.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// The requested modules to pack, in load order.
    pub keep: Vec<String>,
    /// The requested drivers no device matched.
    pub dropped: Vec<String>,
}

pub fn select_for_devices(resolution: &Resolution, devices: &[String]) -> Result<Selection, Error> {
    let mut selection = Selection::default();
    for m in resolution.modules.iter().filter(|m| m.requested) {
        let mut table = AliasTable::default();
        for a in device_aliases(m)? {
            table.add(&a, &m.name);
        }
        let wanted = table.is_empty() || devices.iter().any(|d| !table.modules_for(d).is_empty());
        if wanted {
            selection.keep.push(m.name.clone());
        } else {
            selection.dropped.push(m.name.clone());
        }
    }
    Ok(selection)
}

/// The aliases by which a present device asks for `m` (its `.modinfo` ones on device buses).
fn device_aliases(m: &ResolvedModule) -> Result<Vec<String>, Error> {
    Ok(modinfo::read(&m.data)
        .map_err(|e| Error::Modinfo {
            module: m.name.clone(),
            source_path: m.source_path.clone(),
            source: e.into(),
        })?
        .aliases
        .into_iter()
        .filter(|a| is_device_alias(a))
        .collect())
}

/// The filesystem types `m` registers: its `fs-<type>` aliases (`MODULE_ALIAS_FS`), by
/// which the kernel itself would ask modprobe for it.
fn filesystems(m: &ResolvedModule) -> Result<Vec<String>, Error> {
    Ok(modinfo::read(&m.data)
        .map_err(|e| Error::Modinfo {
            module: m.name.clone(),
            source_path: m.source_path.clone(),
            source: e.into(),
        })?
        .aliases
        .iter()
        .filter_map(|a| a.strip_prefix(FS_ALIAS_PREFIX))
        .map(str::to_string)
        .collect())
}

/// Modaliases from a file, one a line (`cat /sys/bus/*/devices/*/modalias` on the target);
/// blank lines and `#` comments are skipped.
pub fn parse_devices(file: &str, text: &str) -> Result<Vec<String>, Error> {
    let mut devices = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !line.contains(':') {
            return Err(Error::NotAModalias {
                file: file.to_string(),
                line: i + 1,
                text: line.to_string(),
            });
        }
        devices.push(line.to_string());
    }
    if devices.is_empty() {
        return Err(Error::NoModalias {
            file: file.to_string(),
        });
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, requested: bool, requires: &[&str], aliases: &[&str]) -> ResolvedModule {
        let fields: Vec<(&str, &str)> = aliases.iter().map(|a| ("alias", *a)).collect();
        ResolvedModule {
            name: name.into(),
            source_path: format!("kernel/{name}.ko.xz"),
            path: format!("kernel/{name}.ko"),
            data: flashroot_testsupport::modinfo::synthetic_elf(&fields),
            requested,
            requires: requires.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// libata <- ata_piix (a PCI driver, asked for), vfat <- fat (asked for, no device),
    /// jbd2 <- ext4 (a filesystem for ext2, ext3 and ext4).
    fn resolution() -> Resolution {
        Resolution {
            modules: vec![
                module("scsi_mod", false, &[], &[]),
                module("libata", false, &["scsi_mod"], &[]),
                module(
                    "ata_piix",
                    true,
                    &["libata"],
                    &["pci:v00008086d00007010sv*sd*bc*sc*i*", "ata_piix_compat"],
                ),
                module("fat", true, &[], &[]),
                module("vfat", true, &["fat"], &["fs-vfat"]),
                module("jbd2", false, &[], &[]),
                module(
                    "ext4",
                    true,
                    &["jbd2"],
                    &["fs-ext4", "ext3", "fs-ext3", "fs-ext2"],
                ),
            ],
            notes: vec![],
        }
    }

    #[test]
    fn drivers_wait_for_devices_and_know_their_transitive_needs() {
        let params = BTreeMap::new();
        let list = load_list(&resolution(), "/lib/modules/6.1", &params, true).unwrap();
        let when: Vec<(&str, LoadWhen)> = list
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.when))
            .collect();
        assert_eq!(
            when,
            [
                ("scsi_mod", LoadWhen::Dependency),
                ("libata", LoadWhen::Dependency),
                ("ata_piix", LoadWhen::Device),
                ("fat", LoadWhen::Always),
                ("vfat", LoadWhen::Filesystem),
                ("jbd2", LoadWhen::Dependency),
                ("ext4", LoadWhen::Filesystem),
            ]
        );
        assert_eq!(list.entries[4].filesystems, ["vfat"]);
        assert_eq!(list.entries[6].filesystems, ["ext4", "ext3", "ext2"]);
        assert!(list.entries[3].filesystems.is_empty(), "fat registers none");
        assert_eq!(list.entries[2].needs, ["scsi_mod", "libata"]);
        assert_eq!(list.entries[2].path, "/lib/modules/6.1/kernel/ata_piix.ko");
        assert_eq!(list.entries[4].needs, ["fat"]);
        // Only device aliases go to the table: not `ata_piix_compat`, not `fs-vfat`.
        let lines: Vec<&str> = list
            .aliases
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect();
        assert_eq!(
            lines,
            ["alias pci:v00008086d00007010sv*sd*bc*sc*i* ata_piix"]
        );
    }

    #[test]
    fn without_coldplug_every_requested_module_is_always_loaded() {
        let params = BTreeMap::new();
        let list = load_list(&resolution(), "/lib/modules/6.1", &params, false).unwrap();
        assert_eq!(list.entries[2].when, LoadWhen::Always);
        assert!(!list.aliases.contains("alias "));
    }

    #[test]
    fn host_only_keeps_the_drivers_of_present_devices_and_every_non_driver() {
        let present = vec!["pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80".to_string()];
        let s = select_for_devices(&resolution(), &present).unwrap();
        assert_eq!(s.keep, ["ata_piix", "fat", "vfat", "ext4"]);
        assert!(s.dropped.is_empty());
        let virtio_only = vec!["pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00".to_string()];
        let s = select_for_devices(&resolution(), &virtio_only).unwrap();
        assert_eq!(s.keep, ["fat", "vfat", "ext4"]);
        assert_eq!(s.dropped, ["ata_piix"]);
    }

    #[test]
    fn device_files_name_their_bad_line() {
        let ok = parse_devices("box.txt", "# from the box\npci:v1d2\n\nusb:v1p2\n").unwrap();
        assert_eq!(ok, ["pci:v1d2", "usb:v1p2"]);
        let err = parse_devices("box.txt", "pci:v1d2\nnot a modalias\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("box.txt line 2:"), "{err}");
        assert!(parse_devices("box.txt", "# nothing\n")
            .unwrap_err()
            .to_string()
            .contains("no modalias"));
    }
}
