//! `modules.alias` and its matcher, the one both the builder (names and softdeps that
//! are aliases, host-only selection) and the init (coldplug) use.
//!
//! depmod writes one `alias <pattern> <module>` line per alias
//! (`alias crct10dif crct10dif_generic`,
//! `alias pci:v00008086d00007010sv*sd*bc*sc*i* ata_piix`); the pattern is an fnmatch(3)
//! glob (`*`, `?`, `[...]`). Lines are read as kmod's own parser reads them: words are
//! split on blanks, a line whose first word is not `alias` is ignored (comments,
//! modprobe.d commands), a line with fewer than two words after `alias` is an error, and
//! words after the module name are ignored. Patterns and names are compared after kmod's
//! normalization ([`normalize_pattern`]), and a name matches every module whose pattern
//! matches it, in file order, each once — as modprobe and udev take them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, ErrorKind};
use crate::normalize_name;

/// The buses whose devices announce a modalias that loads their driver. A module with an
/// alias on one of these is a driver an init loads only when such a device is present.
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

/// One alias: its place in the table, the normalized pattern and module name.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Alias {
    seq: usize,
    pattern: String,
    module: String,
}

/// An alias table, indexed by bus for matching many modaliases quickly.
///
/// ```
/// use flashroot_kmod::alias::AliasTable;
///
/// let mut table = AliasTable::default();
/// table.add("fs-vfat", "vfat");
/// table.add("crct10dif", "crct10dif-pclmul");
/// assert_eq!(table.modules_for("fs-vfat"), ["vfat"]);
/// // `-` and `_` are the same in names and patterns, as in kmod.
/// assert_eq!(table.modules_for("crct10dif"), ["crct10dif_pclmul"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AliasTable {
    /// Patterns whose bus is literal (`pci:`…), by bus.
    by_bus: BTreeMap<String, Vec<Alias>>,
    /// Patterns whose bus is a glob (`acpi*:…`) or that have none (`fs-vfat`), tried
    /// against every name.
    other: Vec<Alias>,
    /// Aliases added so far.
    count: usize,
}

impl AliasTable {
    /// Parses the text of a `modules.alias` file; `file` names it in errors, which also
    /// give the line.
    pub fn parse(file: impl AsRef<Path>, text: &str) -> Result<Self, Error> {
        let mut table = Self::default();
        for (i, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            if words.next() != Some("alias") {
                continue;
            }
            let (Some(pattern), Some(module)) = (words.next(), words.next()) else {
                return Err(Error::at_line(
                    file,
                    i + 1,
                    ErrorKind::Syntax {
                        expected: "\"alias <pattern> <module>\"",
                        got: line.to_string(),
                    },
                ));
            };
            table.add(pattern, module);
        }
        Ok(table)
    }

    /// Adds one alias after the others (from a module's `.modinfo` `alias=` field, say).
    pub fn add(&mut self, pattern: &str, module: &str) {
        let alias = Alias {
            seq: self.count,
            pattern: normalize_pattern(pattern),
            module: normalize_name(module),
        };
        self.count += 1;
        let Some(bus) = literal_bus(&alias.pattern) else {
            self.other.push(alias);
            return;
        };
        // One allocation per alias where possible: an init parses ~1,000 of these at
        // boot, under emulation ~10x slower than natively.
        match self.by_bus.get_mut(bus) {
            Some(list) => list.push(alias),
            None => {
                let bus = bus.to_string();
                self.by_bus.insert(bus, vec![alias]);
            }
        }
    }

    /// The number of aliases added (repeats included).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no alias was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The modules with a pattern matching `name` (a device's modalias or a name asked
    /// for), in table order, each once.
    pub fn modules_for(&self, name: &str) -> Vec<&str> {
        let name = normalize_pattern(name);
        let bus = name.split_once(':').map(|(b, _)| b);
        let same_bus: &[Alias] = bus
            .and_then(|b| self.by_bus.get(b))
            .map_or(&[], Vec::as_slice);
        // Both lists are in table order: merge them to answer in table order.
        let (mut a, mut b) = (same_bus.iter().peekable(), self.other.iter().peekable());
        let mut out: Vec<&str> = Vec::new();
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.seq < y.seq => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => break,
            };
            let Some(alias) = next else { break };
            if glob_match(alias.pattern.as_bytes(), name.as_bytes())
                && !out.contains(&alias.module.as_str())
            {
                out.push(&alias.module);
            }
        }
        out
    }
}

/// The bus of a pattern when it is spelled out (no glob before the first `:`). A name
/// with another bus cannot match such a pattern.
fn literal_bus(pattern: &str) -> Option<&str> {
    let (bus, _) = pattern.split_once(':')?;
    (!bus.contains(['*', '?', '['])).then_some(bus)
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
    fn lookup_returns_every_matching_module_once() {
        let text = "# Aliases extracted from modules themselves.\n\
                    alias crypto-crct10dif crct10dif_generic\n\
                    alias crct10dif crct10dif_generic\n\
                    alias crct10dif crct10dif-pclmul\n\
                    alias fs-vfat vfat\n\
                    alias pci:v00008086d*sv*sd*bc01sc06i01* ahci\n";
        let a = AliasTable::parse("modules.alias", text).unwrap();
        assert_eq!(
            a.modules_for("crct10dif"),
            ["crct10dif_generic", "crct10dif_pclmul"]
        );
        assert_eq!(a.modules_for("crypto_crct10dif"), ["crct10dif_generic"]);
        assert_eq!(a.modules_for("fs-vfat"), ["vfat"]);
        assert_eq!(
            a.modules_for("pci:v00008086d00002922sv1sd2bc01sc06i01"),
            ["ahci"]
        );
        assert!(a.modules_for("nothing").is_empty());
    }

    #[test]
    fn order_is_the_file_order_across_literal_and_glob_buses() {
        let text = "alias acpi*:PNP0D40:* first\n\
                    alias acpi:PNP0D40:* second\n\
                    alias acpi*:* third\n";
        let t = AliasTable::parse("modules.alias", text).unwrap();
        assert_eq!(t.modules_for("acpi:PNP0D40:"), ["first", "second", "third"]);
    }

    #[test]
    fn a_short_alias_line_is_an_error_naming_file_and_line() {
        let err = AliasTable::parse("modules.alias", "# c\nalias pci:v*\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "modules.alias line 2: expected \"alias <pattern> <module>\", but got \"alias pci:v*\""
        );
        assert_eq!(err.line, Some(2));
        assert_eq!(err.path.as_deref(), Some(Path::new("modules.alias")));
    }

    /// As kmod's config parser (`strtok_r` twice) and module-init-tools before it: words
    /// after the module name are ignored, not an error.
    #[test]
    fn words_after_the_module_are_ignored_as_kmod_does() {
        let t = AliasTable::parse("modules.alias", "alias fs-vfat vfat # comment\n").unwrap();
        assert_eq!(t.modules_for("fs-vfat"), ["vfat"]);
        assert_eq!(t.len(), 1);
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
}
