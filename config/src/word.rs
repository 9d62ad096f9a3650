//! The config's enums as the one lowercase word users write (`keep = "move"`), for the
//! readers and writers that do not go through serde.

use crate::{CardWrites, Compression, FailureAction, KeepCard};

/// An enum whose values are written as single words. The words are those serde's
/// `rename_all = "lowercase"` reads from TOML (a test holds the two together).
pub trait Word: Copy + PartialEq + 'static {
    /// Every value with its word.
    const WORDS: &'static [(Self, &'static str)];

    /// The word for `self`.
    fn word(self) -> &'static str {
        Self::WORDS
            .iter()
            .find(|(value, _)| *value == self)
            .map(|(_, word)| *word)
            .expect("WORDS lists every value")
    }

    /// The value written as `word`, if any.
    fn from_word(word: &str) -> Option<Self> {
        Self::WORDS
            .iter()
            .find(|(_, w)| *w == word)
            .map(|(value, _)| *value)
    }

    /// "a, b or c", for error messages.
    fn choices() -> String {
        let words: Vec<&str> = Self::WORDS.iter().map(|(_, w)| *w).collect();
        match words.split_last() {
            Some((last, [])) => (*last).to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

impl Word for KeepCard {
    const WORDS: &'static [(Self, &'static str)] =
        &[(Self::Move, "move"), (Self::Detach, "detach")];
}

impl Word for CardWrites {
    const WORDS: &'static [(Self, &'static str)] =
        &[(Self::Ordered, "ordered"), (Self::Buffered, "buffered")];
}

impl Word for FailureAction {
    const WORDS: &'static [(Self, &'static str)] = &[
        (Self::Reboot, "reboot"),
        (Self::Halt, "halt"),
        (Self::Poweroff, "poweroff"),
    ];
}

impl Word for Compression {
    const WORDS: &'static [(Self, &'static str)] = &[
        (Self::Gzip, "gzip"),
        (Self::Zstd, "zstd"),
        (Self::Xz, "xz"),
        (Self::None, "none"),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each word must read back through serde as the same value, or the compact form
    /// and the TOML would disagree about what a word means.
    fn agrees_with_serde<T: Word + serde::de::DeserializeOwned + std::fmt::Debug>() {
        #[derive(serde::Deserialize)]
        struct Doc<T> {
            value: T,
        }
        for &(value, word) in T::WORDS {
            let doc: Doc<T> = toml::from_str(&format!("value = {word:?}")).unwrap();
            assert_eq!(doc.value, value, "{word}");
            assert_eq!(value.word(), word);
            assert_eq!(T::from_word(word), Some(value));
        }
        assert_eq!(T::from_word("nonsense"), None);
    }

    #[test]
    fn words_agree_with_serde() {
        agrees_with_serde::<KeepCard>();
        agrees_with_serde::<CardWrites>();
        agrees_with_serde::<FailureAction>();
        agrees_with_serde::<Compression>();
    }

    #[test]
    fn choices_read_as_a_list() {
        assert_eq!(FailureAction::choices(), "reboot, halt or poweroff");
        assert_eq!(KeepCard::choices(), "move or detach");
    }
}
