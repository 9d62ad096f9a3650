//! The init's module list: each resolved module with what makes the init load it
//! (`always`, `device`, `dependency`), the modules it needs first, and for the drivers
//! the device aliases the init's coldplug matches modaliases against.

use std::collections::BTreeMap;

use flashroot_config::load_order::{LoadWhen, ModuleEntry};
use flashroot_init::modalias::is_device_alias;

use crate::modules::{modinfo, Resolution};

/// The list in load order and the `modules.alias` lines of its drivers.
pub struct LoadList {
    pub entries: Vec<ModuleEntry>,
    pub aliases: String,
}

/// `base` is the module directory inside the archive (`/lib/modules/VER`); `params` the
/// config's per-module parameters by normalized name. With `coldplug` off every module
/// the config asks for is `always`.
pub fn load_list(
    resolution: &Resolution,
    base: &str,
    params: &BTreeMap<String, &String>,
    coldplug: bool,
) -> Result<LoadList, String> {
    let order: BTreeMap<&str, usize> = resolution
        .modules
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    let mut entries = Vec::new();
    let mut aliases = String::from("# flashroot: the device aliases of the packed drivers\n");
    for m in &resolution.modules {
        let device_aliases: Vec<String> = if coldplug && m.requested {
            modinfo::read(&m.data)
                .map_err(|e| format!("module {} ({}): {e}", m.name, m.source_path))?
                .aliases
                .into_iter()
                .filter(|a| is_device_alias(a))
                .collect()
        } else {
            Vec::new()
        };
        let when = match (m.requested, device_aliases.is_empty()) {
            (false, _) => LoadWhen::Dependency,
            (true, true) => LoadWhen::Always,
            (true, false) => LoadWhen::Device,
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
            when,
            needs,
        });
    }
    Ok(LoadList { entries, aliases })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::ResolvedModule;

    fn module(name: &str, requested: bool, requires: &[&str], aliases: &[&str]) -> ResolvedModule {
        let fields: Vec<(&str, &str)> = aliases.iter().map(|a| ("alias", *a)).collect();
        ResolvedModule {
            name: name.into(),
            source_path: format!("kernel/{name}.ko.xz"),
            path: format!("kernel/{name}.ko"),
            data: modinfo::synthetic_elf(&fields),
            requested,
            requires: requires.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// libata <- ata_piix (a PCI driver, asked for), vfat <- fat (asked for, no device).
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
                ("vfat", LoadWhen::Always),
            ]
        );
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
}
