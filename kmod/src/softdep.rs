//! Soft dependencies: modules loaded before (`pre:`) or after (`post:`) a module although
//! it does not link against them. They come from `modules.softdep` (lines
//! `softdep crc-t10dif pre: crct10dif`, the modprobe.d syntax) and from the `softdep=`
//! field of a module's `.modinfo` (`pre: crct10dif`). Names may be aliases.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, ErrorKind};

/// The soft dependencies of one module, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SoftDeps {
    /// Loaded before the module.
    pub pre: Vec<String>,
    /// Loaded after the module.
    pub post: Vec<String>,
}

impl SoftDeps {
    /// Appends `other`'s entries that are not already listed.
    pub fn merge(&mut self, other: &SoftDeps) {
        for (mine, theirs) in [(&mut self.pre, &other.pre), (&mut self.post, &other.post)] {
            for name in theirs {
                if !mine.contains(name) {
                    mine.push(name.clone());
                }
            }
        }
    }

    /// Whether there is neither a `pre:` nor a `post:` name.
    pub fn is_empty(&self) -> bool {
        self.pre.is_empty() && self.post.is_empty()
    }
}

/// Parses a spec such as `pre: a b post: c` (several `pre:`/`post:` groups allowed).
/// Names before the first group are ignored, as kmod ignores them: Debian's 6.1
/// `modules.softdep` has `softdep cifs gcm` (from `MODULE_SOFTDEP("gcm")`).
pub fn parse_spec(spec: &str) -> SoftDeps {
    let mut deps = SoftDeps::default();
    let mut current: Option<&mut Vec<String>> = None;
    for word in spec.split_whitespace() {
        match word {
            "pre:" => current = Some(&mut deps.pre),
            "post:" => current = Some(&mut deps.post),
            name => {
                if let Some(list) = current.as_mut() {
                    list.push(name.to_string());
                }
            }
        }
    }
    deps
}

/// Parses `modules.softdep` into normalized module name → soft dependencies. Lines other
/// than `softdep` (the file is in modprobe.d syntax) are ignored.
pub fn parse_file(file: impl AsRef<Path>, text: &str) -> Result<BTreeMap<String, SoftDeps>, Error> {
    let file = file.as_ref();
    let mut out: BTreeMap<String, SoftDeps> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        if words.next() != Some("softdep") {
            continue;
        }
        let Some(module) = words.next() else {
            return Err(Error::at_line(file, i + 1, ErrorKind::SoftdepWithoutModule));
        };
        let rest: Vec<&str> = words.collect();
        let deps = parse_spec(&rest.join(" "));
        out.entry(crate::normalize_name(module))
            .or_default()
            .merge(&deps);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pre_and_post_groups() {
        let d = parse_spec("pre: crct10dif  post: a b pre: c");
        assert_eq!(d.pre, ["crct10dif", "c"]);
        assert_eq!(d.post, ["a", "b"]);
        assert!(parse_spec("").is_empty());
    }

    #[test]
    fn ignores_names_without_group_like_kmod() {
        assert_eq!(parse_spec("gcm"), SoftDeps::default());
        assert_eq!(parse_spec("gcm pre: aes").pre, ["aes"]);
    }

    #[test]
    fn parses_the_file_and_normalizes_names() {
        let text = "# Soft dependencies extracted from modules themselves.\n\
                    softdep crc-t10dif pre: crct10dif\n\
                    softdep ext4 pre: crc32c\n\
                    options loop max_loop=8\n\
                    softdep crc_t10dif post: extra\n";
        let map = parse_file("modules.softdep", text).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(
            map["crc_t10dif"],
            SoftDeps {
                pre: vec!["crct10dif".into()],
                post: vec!["extra".into()]
            }
        );
        let err = parse_file("modules.softdep", "softdep\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "modules.softdep line 1: \"softdep\" without a module name"
        );
    }
}
