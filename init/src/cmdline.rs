//! The kernel command line, split the way the kernel's own `next_arg()` splits it:
//! words separated by whitespace, double quotes grouping spaces (`foo="a b"` and
//! `"foo=a b"` both give `foo` = `a b`), and `--` ending the kernel's part, the rest
//! being arguments for init. Pure: text in, words out; meaning is given in [`mod@crate::plan`].

/// `/proc/cmdline`: read from there, never from our argv/environment, which the kernel
/// fills only with the words it did not recognise.
pub const PROC_CMDLINE: &str = "/proc/cmdline";

/// Separates the kernel's parameters from the arguments handed to init.
const INIT_ARGS_SEPARATOR: &str = "--";

/// One word of the command line: a bare word (`ro`, `mtd`) or `key=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cmdline {
    /// The kernel's parameters, in order.
    pub params: Vec<Param>,
    /// The words after `--`, which the real init receives as its arguments.
    pub init_args: Vec<String>,
}

impl Cmdline {
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        let mut rest = text;
        let mut after_separator = false;
        while let Some((word, tail)) = next_word(rest) {
            rest = tail;
            if after_separator {
                out.init_args.push(strip_quotes(word).to_string());
            } else if word == INIT_ARGS_SEPARATOR {
                after_separator = true;
            } else {
                out.params.push(split_param(word));
            }
        }
        out
    }

    /// Is `word` present as a bare word (not `word=...`)?
    pub fn has_word(&self, word: &str) -> bool {
        self.params
            .iter()
            .any(|p| p.key == word && p.value.is_none())
    }

    /// The value of the last `key=value` (the kernel, too, lets the last one win).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|p| p.key == key)
            .and_then(|p| p.value.as_deref())
    }

    /// Is `key` present at all, bare or with a value?
    pub fn has(&self, key: &str) -> bool {
        self.params.iter().any(|p| p.key == key)
    }

    /// Which of the bare words in `words` comes last (`ro ... rw` means rw).
    pub fn last_word_of<'a>(&self, words: &[&'a str]) -> Option<&'a str> {
        self.params
            .iter()
            .rev()
            .filter(|p| p.value.is_none())
            .find_map(|p| words.iter().find(|w| **w == p.key).copied())
    }

    /// Every `prefix*` parameter, e.g. all `flashroot.` keys, with the prefix removed.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Param> + 'a {
        self.params
            .iter()
            .filter(move |p| p.key.starts_with(prefix))
    }
}

/// Skips leading whitespace and returns the next word (quotes kept) and the rest.
fn next_word(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    if text.is_empty() {
        return None;
    }
    let mut in_quote = false;
    for (i, c) in text.char_indices() {
        if c == '"' {
            in_quote = !in_quote;
        } else if c.is_whitespace() && !in_quote {
            return Some((&text[..i], &text[i..]));
        }
    }
    Some((text, ""))
}

/// `key=value` at the first `=`, with the quoting rules of the kernel's `next_arg()`:
/// a value that starts with a quote loses it and a closing one; so does a word that
/// starts with a quote (`"key=a b"`).
fn split_param(word: &str) -> Param {
    let quoted_word = word.starts_with('"');
    let word = if quoted_word {
        strip_quotes(word)
    } else {
        word
    };
    match word.split_once('=') {
        None => Param {
            key: word.to_string(),
            value: None,
        },
        Some((key, value)) => Param {
            key: key.to_string(),
            value: Some(
                if value.starts_with('"') {
                    strip_quotes(value)
                } else {
                    value
                }
                .to_string(),
            ),
        },
    }
}

/// Removes one leading quote and one trailing quote when present.
fn strip_quotes(s: &str) -> &str {
    let s = s.strip_prefix('"').unwrap_or(s);
    s.strip_suffix('"').unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(c: &Cmdline, key: &str) -> Option<String> {
        c.get(key).map(str::to_string)
    }

    #[test]
    fn debian_grub_line() {
        let c = Cmdline::parse(
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=3e6a1c4e-9d7f-4b1a-8d0e-0f2f1b2c3d4e ro quiet\n",
        );
        assert_eq!(
            value(&c, "root").as_deref(),
            Some("UUID=3e6a1c4e-9d7f-4b1a-8d0e-0f2f1b2c3d4e")
        );
        assert_eq!(
            value(&c, "BOOT_IMAGE").as_deref(),
            Some("/boot/vmlinuz-6.1.0-18-amd64")
        );
        assert!(c.has_word("ro"));
        assert!(c.has_word("quiet"));
        assert!(!c.has_word("mtd"));
        assert!(c.init_args.is_empty());
    }

    #[test]
    fn flash_boot_line_with_trigger_and_overrides() {
        let c = Cmdline::parse(
            "console=ttyS0,115200n8 mtd flashroot.card=LABEL=FLASHROOT flashroot.erasesize=128KiB rootwait",
        );
        assert!(c.has_word("mtd"));
        assert_eq!(c.get("flashroot.card"), Some("LABEL=FLASHROOT"));
        assert_eq!(c.get("console"), Some("ttyS0,115200n8"));
        assert!(c.has("rootwait"));
        let keys: Vec<&str> = c
            .with_prefix("flashroot.")
            .map(|p| p.key.as_str())
            .collect();
        assert_eq!(keys, ["flashroot.card", "flashroot.erasesize"]);
    }

    #[test]
    fn quoted_values_keep_their_spaces() {
        let c = Cmdline::parse(r#"a=1 foo="a b  c" "bar=x y" rootflags="noatime,compr=zlib" last"#);
        assert_eq!(c.get("foo"), Some("a b  c"));
        assert_eq!(c.get("bar"), Some("x y"));
        assert_eq!(c.get("rootflags"), Some("noatime,compr=zlib"));
        assert!(c.has_word("last"));
        assert_eq!(c.params.len(), 5);
    }

    #[test]
    fn label_with_space_in_quotes() {
        let c = Cmdline::parse(r#"flashroot.card="LABEL=MY CARD" mtd"#);
        assert_eq!(c.get("flashroot.card"), Some("LABEL=MY CARD"));
        assert!(c.has_word("mtd"));
    }

    #[test]
    fn the_last_value_wins() {
        let c = Cmdline::parse("root=/dev/sda1 root=/dev/sdb2 ro rw");
        assert_eq!(c.get("root"), Some("/dev/sdb2"));
        assert_eq!(c.last_word_of(&["ro", "rw"]), Some("rw"));
        let c = Cmdline::parse("rw ro");
        assert_eq!(c.last_word_of(&["ro", "rw"]), Some("ro"));
        assert_eq!(Cmdline::parse("quiet").last_word_of(&["ro", "rw"]), None);
    }

    #[test]
    fn words_after_dashes_go_to_init() {
        let c = Cmdline::parse("root=/dev/vda ro -- single \"x y\" mtd");
        assert_eq!(c.init_args, ["single", "x y", "mtd"]);
        assert!(
            !c.has_word("mtd"),
            "the trigger after -- belongs to init, not to us"
        );
    }

    #[test]
    fn empty_value_and_tabs_and_newlines() {
        let c = Cmdline::parse("\tinit= \n rootfstype=jffs2\t\n");
        assert_eq!(c.get("init"), Some(""));
        assert_eq!(c.get("rootfstype"), Some("jffs2"));
        assert_eq!(c.params.len(), 2);
        assert_eq!(Cmdline::parse("  \n"), Cmdline::default());
    }

    #[test]
    fn a_bare_word_is_not_a_key_with_value() {
        let c = Cmdline::parse("mtd=1");
        assert!(!c.has_word("mtd"));
        assert!(c.has("mtd"));
    }
}
