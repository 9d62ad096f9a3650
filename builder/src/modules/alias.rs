//! `modules.alias`: `alias <pattern> <module>` lines, where the pattern is an fnmatch
//! glob (`*`, `?`, `[...]`), e.g. `alias crct10dif crct10dif_generic` or
//! `alias pci:v00008086d*sv*sd*bc01sc06i01* ahci`. A name asked for that is no module is
//! looked up here, and every module whose pattern matches is taken, as modprobe does.

use std::collections::HashSet;

use flashroot_init::modalias::{glob_match, normalize_pattern};

/// The alias table, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aliases {
    /// (normalized pattern, normalized module name)
    entries: Vec<(String, String)>,
    /// The same pairs, for dropping repeats in constant time (modules.alias has ~26,000 lines).
    seen: HashSet<(String, String)>,
}

impl Aliases {
    /// Parses modules.alias; lines other than `alias` are ignored.
    pub fn parse(file: &str, text: &str) -> Result<Self, String> {
        let mut aliases = Self::default();
        for (i, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            if words.next() != Some("alias") {
                continue;
            }
            match (words.next(), words.next()) {
                (Some(pattern), Some(module)) => aliases.add(pattern, module),
                _ => {
                    return Err(format!(
                        "{file} line {}: expected \"alias <pattern> <module>\", but got {line:?}",
                        i + 1
                    ))
                }
            }
        }
        Ok(aliases)
    }

    /// Adds one alias (e.g. from a module's `.modinfo` `alias=` field).
    pub fn add(&mut self, pattern: &str, module: &str) {
        let entry = (normalize_pattern(pattern), super::normalize_name(module));
        if self.seen.insert(entry.clone()) {
            self.entries.push(entry);
        }
    }

    /// The modules `name` is an alias of, in file order, without repeats.
    pub fn lookup(&self, name: &str) -> Vec<String> {
        let name = normalize_pattern(name);
        let mut out: Vec<String> = Vec::new();
        for (pattern, module) in &self.entries {
            if glob_match(pattern.as_bytes(), name.as_bytes()) && !out.contains(module) {
                out.push(module.clone());
            }
        }
        out
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_returns_every_matching_module_once() {
        let text = "# Aliases extracted from modules themselves.\n\
                    alias crypto-crct10dif crct10dif_generic\n\
                    alias crct10dif crct10dif_generic\n\
                    alias crct10dif crct10dif-pclmul\n\
                    alias fs-vfat vfat\n\
                    alias pci:v00008086d*sv*sd*bc01sc06i01* ahci\n";
        let a = Aliases::parse("modules.alias", text).unwrap();
        assert_eq!(
            a.lookup("crct10dif"),
            ["crct10dif_generic", "crct10dif_pclmul"]
        );
        assert_eq!(a.lookup("crypto_crct10dif"), ["crct10dif_generic"]);
        assert_eq!(a.lookup("fs-vfat"), ["vfat"]);
        assert_eq!(
            a.lookup("pci:v00008086d00002922sv1sd2bc01sc06i01"),
            ["ahci"]
        );
        assert!(a.lookup("nothing").is_empty());
    }

    #[test]
    fn names_the_bad_line() {
        let err = Aliases::parse("modules.alias", "alias onlyone\n").unwrap_err();
        assert_eq!(err, "modules.alias line 1: expected \"alias <pattern> <module>\", but got \"alias onlyone\"");
    }
}
