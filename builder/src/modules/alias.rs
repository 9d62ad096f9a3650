//! `modules.alias`: `alias <pattern> <module>` lines, where the pattern is an fnmatch
//! glob (`*`, `?`, `[...]`), e.g. `alias crct10dif crct10dif_generic` or
//! `alias pci:v00008086d*sv*sd*bc01sc06i01* ahci`. A name asked for that is no module is
//! looked up here, and every module whose pattern matches is taken, as modprobe does.

use std::collections::HashSet;

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

/// kmod's alias normalization: `-` becomes `_`, except inside `[...]` where it is a range.
fn normalize_pattern(pattern: &str) -> String {
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
