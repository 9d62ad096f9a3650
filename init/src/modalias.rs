//! Device modaliases against module alias patterns, as modprobe matches them for udev:
//! `pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80` from sysfs or a uevent,
//! `alias pci:v00008086d00007010sv*sd*bc*sc*i* ata_piix` from `modules.alias`, compared
//! with fnmatch(3) after kmod's normalization. Pure: the builder (host-only selection)
//! and the init (coldplug) share it.

use std::collections::BTreeMap;

/// The buses whose devices announce a modalias that loads their driver. A module with an
/// alias on one of these is a driver the init loads only when such a device is present.
pub const DEVICE_BUSES: &[&str] = &[
    "acpi", "bcma", "hid", "i2c", "mdio", "mmc", "of", "pci", "pcmcia", "platform", "pnp", "scsi",
    "sdio", "serio", "spi", "ssb", "usb", "virtio",
];

/// Whether `pattern` names a device on one of [`DEVICE_BUSES`] (`acpi*:PNP0A05:*` too).
pub fn is_device_alias(pattern: &str) -> bool {
    pattern
        .split_once(':')
        .is_some_and(|(bus, _)| DEVICE_BUSES.contains(&bus.trim_end_matches('*')))
}

/// Alias patterns by bus, for matching many modaliases quickly.
#[derive(Clone, Debug, Default)]
pub struct AliasTable {
    /// Patterns whose bus is literal (`pci:`…), by bus: (normalized pattern, module).
    by_bus: BTreeMap<String, Vec<(String, String)>>,
    /// Patterns whose bus is a glob (`acpi*:…`), tried against every modalias.
    other: Vec<(String, String)>,
}

impl AliasTable {
    /// Parses `alias <pattern> <module>` lines; other lines are ignored, as kmod does.
    pub fn parse(file: &str, text: &str) -> Result<Self, String> {
        let mut table = Self::default();
        for (i, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            if words.next() != Some("alias") {
                continue;
            }
            let (Some(pattern), Some(module), None) = (words.next(), words.next(), words.next())
            else {
                return Err(format!(
                    "{file} line {}: expected \"alias <pattern> <module>\", but got {line:?}",
                    i + 1
                ));
            };
            table.add(pattern, module);
        }
        Ok(table)
    }

    pub fn add(&mut self, pattern: &str, module: &str) {
        // One allocation per entry where possible: the init parses ~1,000 of these at
        // boot, under emulation ~10x slower than natively.
        let pattern = normalize_pattern(pattern);
        let bus_len = literal_bus(&pattern).map(str::len);
        let entry = (pattern, module.to_string());
        let Some(len) = bus_len else {
            self.other.push(entry);
            return;
        };
        match self.by_bus.get_mut(&entry.0[..len]) {
            Some(list) => list.push(entry),
            None => {
                let bus = entry.0[..len].to_string();
                self.by_bus.insert(bus, vec![entry]);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_bus.values().map(Vec::len).sum::<usize>() + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The modules with a pattern matching `modalias`, in table order, each once.
    pub fn modules_for(&self, modalias: &str) -> Vec<&str> {
        let alias = normalize_pattern(modalias);
        let bus = alias.split_once(':').map(|(b, _)| b);
        let candidates = bus
            .and_then(|b| self.by_bus.get(b))
            .into_iter()
            .flatten()
            .chain(&self.other);
        let mut out: Vec<&str> = Vec::new();
        for (pattern, module) in candidates {
            if !out.contains(&module.as_str()) && glob_match(pattern.as_bytes(), alias.as_bytes()) {
                out.push(module);
            }
        }
        out
    }
}

/// The bus of a pattern when it is spelled out (no glob before the first `:`).
fn literal_bus(pattern: &str) -> Option<&str> {
    let (bus, _) = pattern.split_once(':')?;
    (!bus.contains(['*', '?', '['])).then_some(bus)
}

/// One kernel uevent as it arrives on the `NETLINK_KOBJECT_UEVENT` socket:
/// `add@/devices/...\0ACTION=add\0DEVPATH=...\0SUBSYSTEM=pci\0MODALIAS=pci:v...\0`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uevent<'a> {
    pub action: &'a str,
    pub subsystem: &'a str,
    pub modalias: Option<&'a str>,
}

/// Parses a kernel uevent; `None` for anything else (e.g. udev's `libudev` messages).
pub fn parse_uevent(message: &[u8]) -> Option<Uevent<'_>> {
    let text = std::str::from_utf8(message).ok()?;
    let mut fields = text.split('\0');
    // The header `ACTION@DEVPATH` marks a kernel message.
    fields.next().filter(|h| h.contains('@'))?;
    let mut event = Uevent::default();
    for field in fields {
        match field.split_once('=') {
            Some(("ACTION", v)) => event.action = v,
            Some(("SUBSYSTEM", v)) => event.subsystem = v,
            Some(("MODALIAS", v)) => event.modalias = Some(v),
            _ => {}
        }
    }
    (!event.action.is_empty()).then_some(event)
}

/// kmod's alias normalization: `-` becomes `_`, except inside `[...]` where it is a range.
pub fn normalize_pattern(pattern: &str) -> String {
    if !pattern.contains('-') {
        return pattern.to_string();
    }
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    for c in pattern.chars() {
        match c {
            '[' => in_class = true,
            ']' => in_class = false,
            '-' if !in_class => {
                out.push('_');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// fnmatch(3) without flags: `*` any run, `?` any byte, `[abc]`, `[a-z]`, `[!a]`/`[^a]`.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    // Backtracking over the last `*` only: linear enough for alias patterns.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = match_class(&pattern[p..], text[t]) {
                        if matched {
                            p += next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        // An unclosed bracket is a literal.
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                c if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `pattern[0] == b'['`: (matched, class length),
/// or `None` when the class is not closed.
fn match_class(pattern: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &lo = pattern.get(i)?;
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pattern[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let m = |p: &str, t: &str| glob_match(p.as_bytes(), t.as_bytes());
        assert!(m("crct10dif", "crct10dif"));
        assert!(!m("crct10dif", "crct10di"));
        assert!(m("pci:v*d*sv*", "pci:v00008086d00007010sv00001AF4"));
        assert!(m("usb:v*p*d*dc*", "usb:v1p2d3dc4"));
        assert!(m("a?c", "abc"));
        assert!(m("fs-[vf]at", "fs-vat") && !m("fs-[!vf]at", "fs-vat"));
        assert!(m("x[0-9]", "x5") && !m("x[0-9]", "xa"));
        assert!(m("*", "") && !m("?", ""));
        assert!(m("a*b*c", "aXbYbZc") && !m("a*b*c", "aXbYbZ"));
    }

    /// Lines as Debian 6.1's modules.alias has them.
    const TABLE: &str = "# Aliases extracted from modules themselves.\n\
        alias pci:v00008086d00007010sv*sd*bc*sc*i* ata_piix\n\
        alias pci:v*d*sv*sd*bc01sc01i* ata_generic\n\
        alias pci:v*d*sv*sd*bc01sc06i01* ahci\n\
        alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage\n\
        alias scsi:t-0x00* sd_mod\n\
        alias scsi:t-0x0E* sd_mod\n\
        alias mmc:block mmc_block\n\
        alias acpi*:PNP0D40:* sdhci_acpi\n";

    #[test]
    fn finds_every_driver_of_a_device_in_table_order() {
        let t = AliasTable::parse("modules.alias", TABLE).unwrap();
        assert_eq!(t.len(), 8);
        // QEMU's PIIX3 IDE controller: its own driver and the generic IDE class driver.
        assert_eq!(
            t.modules_for("pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80"),
            ["ata_piix", "ata_generic"]
        );
        assert_eq!(
            t.modules_for("pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01"),
            ["ahci"]
        );
        // `-` in modaliases and patterns is normalized on both sides.
        assert_eq!(t.modules_for("scsi:t-0x00"), ["sd_mod"]);
        assert_eq!(t.modules_for("scsi:t-0x05"), Vec::<&str>::new());
        assert_eq!(
            t.modules_for("usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00"),
            ["usb_storage"]
        );
        assert_eq!(t.modules_for("mmc:block"), ["mmc_block"]);
        assert_eq!(t.modules_for("acpi:PNP0D40:"), ["sdhci_acpi"]);
        assert!(t.modules_for("virtio:d00000002v00001AF4").is_empty());
    }

    #[test]
    fn a_short_alias_line_is_an_error_naming_the_line() {
        let err = AliasTable::parse("modules.alias", "# c\nalias pci:v*\n").unwrap_err();
        assert!(err.starts_with("modules.alias line 2:"), "{err}");
    }

    #[test]
    fn device_aliases_are_those_on_device_buses() {
        assert!(is_device_alias("pci:v*d*sv*sd*bc01sc01i*"));
        assert!(is_device_alias("acpi*:PNP0D40:*"));
        assert!(is_device_alias("scsi:t-0x00*"));
        assert!(!is_device_alias("fs-vfat"));
        assert!(!is_device_alias("devname:loop-control"));
        assert!(!is_device_alias("block-major-7-*"));
        assert!(!is_device_alias("cpu:type:x86,ven*fam*mod*:feature:*0081*"));
    }

    #[test]
    fn parses_kernel_uevents_and_ignores_the_rest() {
        let msg = b"add@/devices/pci0000:00/0000:00:01.1\0ACTION=add\0DEVPATH=/devices/pci0000:00/0000:00:01.1\0SUBSYSTEM=pci\0MODALIAS=pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80\0SEQNUM=812\0";
        assert_eq!(
            parse_uevent(msg),
            Some(Uevent {
                action: "add",
                subsystem: "pci",
                modalias: Some("pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80"),
            })
        );
        let block = b"add@/devices/.../block/sda/sda1\0ACTION=add\0SUBSYSTEM=block\0DEVNAME=sda1\0";
        assert_eq!(parse_uevent(block).unwrap().modalias, None);
        assert_eq!(parse_uevent(b"libudev\0\xfe\xed"), None);
        assert_eq!(parse_uevent(b"no header\0ACTION=add\0"), None);
    }
}
