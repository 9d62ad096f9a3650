//! The modaliases of the devices a running kernel sees, read from sysfs: what coldplug
//! matches against [`crate::alias::AliasTable`] at boot, and what `flashroot build
//! --host-only` selects the build host's drivers by. std alone (no feature needed).

use std::path::Path;

/// Where the kernel lists its buses, each with a `devices/` directory.
pub const SYS_BUS: &str = "/sys/bus";

/// The modalias of every device under `sys_bus` (a `/sys/bus`:
/// `<bus>/devices/<device>/modalias`), in directory order. Devices without one, or with an
/// empty one, are skipped; an unreadable `sys_bus` gives none.
pub fn modaliases_under(sys_bus: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(buses) = std::fs::read_dir(sys_bus) else {
        return out;
    };
    for bus in buses.flatten() {
        let Ok(devices) = std::fs::read_dir(bus.path().join("devices")) else {
            continue;
        };
        for dev in devices.flatten() {
            if let Ok(alias) = std::fs::read_to_string(dev.path().join("modalias")) {
                let alias = alias.trim();
                if !alias.is_empty() {
                    out.push(alias.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_devices_modalias_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let bus = dir.path();
        let device = |path: &str, alias: Option<&str>| {
            let d = bus.join(path);
            std::fs::create_dir_all(&d).unwrap();
            if let Some(a) = alias {
                std::fs::write(d.join("modalias"), a).unwrap();
            }
        };
        device(
            "pci/devices/0000:00:01.1",
            Some("pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80\n"),
        );
        device("pci/devices/0000:00:00.0", None);
        device("usb/devices/usb1", Some("\n"));
        device(
            "virtio/devices/virtio0",
            Some("virtio:d00000002v00001AF4\n"),
        );
        std::fs::create_dir_all(bus.join("nodevices")).unwrap();
        let mut found = modaliases_under(bus);
        found.sort();
        assert_eq!(
            found,
            [
                "pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80",
                "virtio:d00000002v00001AF4"
            ]
        );
        assert!(modaliases_under(&bus.join("missing")).is_empty());
    }
}
