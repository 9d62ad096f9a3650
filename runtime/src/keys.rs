//! The words of the kernel command line that flashroot's init reads: the planner in the
//! init parses them, and the builder writes them into boot entries (`flashroot card`,
//! `flashroot fold`) and reads them back from the entries it made.

/// Every flashroot word starts with this.
pub const PREFIX: &str = "flashroot.";
/// `flashroot.card=DEV`: the card, a path, `LABEL=`, `UUID=` or `PARTUUID=`.
pub const KEY_CARD: &str = "flashroot.card";
/// `flashroot.container=FILE`: the root container on the card.
pub const KEY_CONTAINER: &str = "flashroot.container";
/// `flashroot.erasesize=SIZE`: the root container's erase block size.
pub const KEY_ERASE_SIZE: &str = "flashroot.erasesize";
/// `flashroot.timeout=N`: seconds to wait for the card.
pub const KEY_TIMEOUT: &str = "flashroot.timeout";
/// `flashroot.break[=top|premount|bottom]`: a rescue shell at that point.
pub const KEY_BREAK: &str = "flashroot.break";
/// `flashroot.modules=all`: load every packed module at once instead of the drivers of
/// the devices present (`present`, the default).
pub const KEY_MODULES: &str = "flashroot.modules";
/// `flashroot.writes=buffered|ordered`: the card's write mode for this boot, e.g. to boot
/// the classic way when the nbd module is missing.
pub const KEY_WRITES: &str = "flashroot.writes";
/// `flashroot.failsafe`: a layered root boots its base alone, with a tmpfs upper layer.
pub const KEY_FAILSAFE: &str = "flashroot.failsafe";
/// `flashroot.reset`: a layered root's overlay is emptied (factory reset) at this boot.
pub const KEY_RESET: &str = "flashroot.reset";
/// `flashroot.base=FILE`: a layered root's base on the card for this boot (with
/// `flashroot.container=`, how `flashroot fold` points the boot entries at a generation).
pub const KEY_BASE: &str = "flashroot.base";
/// `flashroot.failure=reboot|halt|poweroff` overrides `[failure] action`.
pub const KEY_FAILURE: &str = "flashroot.failure";
/// `flashroot.delay=N` overrides `[failure] delay`.
pub const KEY_DELAY: &str = "flashroot.delay";

/// Every flashroot word the init knows; it warns about any other.
pub const ALL: &[&str] = &[
    KEY_CARD,
    KEY_CONTAINER,
    KEY_ERASE_SIZE,
    KEY_TIMEOUT,
    KEY_BREAK,
    KEY_MODULES,
    KEY_WRITES,
    KEY_FAILSAFE,
    KEY_RESET,
    KEY_BASE,
    KEY_FAILURE,
    KEY_DELAY,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_the_prefix_and_is_listed_once() {
        for (i, key) in ALL.iter().enumerate() {
            assert!(key.starts_with(PREFIX), "{key}");
            assert!(!ALL[i + 1..].contains(key), "{key} listed twice");
        }
    }
}
