//! The card agent's journal: a file beside each container on the card
//! (`rootfs.img.journal`), which the agent makes at its first start and `flashroot card`
//! lays down empty, of [`DEFAULT_BYTES`], so that the first boot need not write it. Its
//! record format is the agent's own (the init's `agent::journal`).

/// The journal's file name is the container's with this suffix.
pub const SUFFIX: &str = ".journal";
/// The ring's size when the agent (or `flashroot card`) makes the file.
pub const DEFAULT_BYTES: u64 = 4 << 20;

/// The path of the journal beside `container`: `rootfs.img` → `rootfs.img.journal`.
pub fn path(container: &str) -> String {
    format!("{container}{SUFFIX}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_journal_sits_beside_the_container() {
        assert_eq!(super::path("rootfs.img"), "rootfs.img.journal");
        assert_eq!(super::path("img/usr.img"), "img/usr.img.journal");
    }
}
