//! A layered root's names and records: where the init leaves both layers mounted, the
//! record `/run/flashroot/layered` ([`RECORD`]) that tells `flashroot reset`,
//! `flashroot overlay` and `flashroot fold` where they came from, and the factory reset
//! marker beside the overlay container on the card ([`reset_marker`], [`write_marker`]).
//! Mounting the layers and the reset itself are the init's (`flashroot_init::layered`).

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

/// Where both layers stay mounted (moves into the real root with /run).
pub const LAYERS_DIR: &str = "/run/flashroot/layers";
/// The squashfs base, read-only.
pub const BASE_DIR: &str = "/run/flashroot/layers/base";
/// The overlay container's JFFS2 (or the failsafe tmpfs): `upper/` and `work/`.
pub const OVERLAY_DIR: &str = "/run/flashroot/layers/overlay";
/// overlayfs' upper directory, inside [`OVERLAY_DIR`].
pub const UPPER: &str = "upper";
/// overlayfs' work directory, inside [`OVERLAY_DIR`].
pub const WORK: &str = "work";
/// What the boot set up, for the tools on the running system.
pub const RECORD: &str = "/run/flashroot/layered";
/// The reset marker is the container's file name with this suffix.
pub const RESET_SUFFIX: &str = ".reset";
/// The marker's text (its presence is what counts).
const RESET_TEXT: &str = "flashroot factory reset pending\n";
/// [`Record::card`] when the card was detached.
const NONE: &str = "-";
const MODE_LAYERED: &str = "layered";
const MODE_FAILSAFE: &str = "failsafe";

/// The reset marker beside `container` on the card: `overlay.img` → `overlay.img.reset`.
pub fn reset_marker(container: &str) -> String {
    format!("{}{RESET_SUFFIX}", container.trim_start_matches('/'))
}

/// Writes the reset marker `path` and makes it durable on the card: the file's data,
/// then its directory entry (fsync of the directory).
pub fn write_marker(path: &Path) -> io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(RESET_TEXT.as_bytes())?;
    f.sync_all()?;
    sync_parent(path)
}

/// fsync of the directory `path` is in: its entries (a marker made or removed) reach the
/// card.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    std::fs::File::open(parent)?.sync_all()
}

/// [`RECORD`]: tab-separated `key value` lines: `card` (the card in the real root, or
/// `-`), `base` and `overlay` (files on the card), `mode` (`layered` or `failsafe`),
/// `erase_size` (the overlay container's, in bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Where the card is in the real root; `None` when it was detached.
    pub card: Option<String>,
    /// The squashfs base, relative to the card's root.
    pub base: String,
    /// The overlay container, relative to the card's root.
    pub overlay: String,
    /// Booted with `flashroot.failsafe`: the upper layer is a tmpfs.
    pub failsafe: bool,
    /// The overlay container's erase block size, in bytes.
    pub erase_size: u32,
}

/// A record that lacks a line, or whose erase size is not a number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    MissingLine { key: &'static str },
    EraseSize { value: String },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingLine { key } => write!(f, "no {key} line"),
            Self::EraseSize { value } => write!(f, "erase_size {value:?} is not a number"),
        }
    }
}

impl std::error::Error for RecordError {}

impl Record {
    /// The record's text, as the init writes it.
    pub fn text(&self) -> String {
        format!(
            "card\t{}\nbase\t{}\noverlay\t{}\nmode\t{}\nerase_size\t{}\n",
            self.card.as_deref().unwrap_or(NONE),
            self.base,
            self.overlay,
            if self.failsafe {
                MODE_FAILSAFE
            } else {
                MODE_LAYERED
            },
            self.erase_size
        )
    }

    /// Reads the record's text back.
    pub fn parse(text: &str) -> Result<Self, RecordError> {
        let field = |key: &'static str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('\t'))
                .map(str::to_string)
                .ok_or(RecordError::MissingLine { key })
        };
        let card = field("card")?;
        Ok(Self {
            card: (card != NONE).then_some(card),
            base: field("base")?,
            overlay: field("overlay")?,
            failsafe: field("mode")? == MODE_FAILSAFE,
            erase_size: {
                let value = field("erase_size")?;
                value
                    .parse()
                    .map_err(|_| RecordError::EraseSize { value })?
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_sits_beside_the_container() {
        assert_eq!(reset_marker("overlay.img"), "overlay.img.reset");
        assert_eq!(reset_marker("/img/o.img"), "img/o.img.reset");
    }

    #[test]
    fn the_marker_is_written_and_says_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join(reset_marker("overlay.img"));
        write_marker(&marker).unwrap();
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), RESET_TEXT);
    }

    #[test]
    fn the_record_reads_back() {
        let r = Record::parse(
            "card\t/run/flashroot/card\nbase\tbase.sqfs\noverlay\trootfs.img\nmode\tlayered\nerase_size\t65536\n",
        )
        .unwrap();
        assert_eq!(r.erase_size, 65536);
        assert_eq!(r.card.as_deref(), Some("/run/flashroot/card"));
        assert_eq!(
            (r.base.as_str(), r.overlay.as_str(), r.failsafe),
            ("base.sqfs", "rootfs.img", false)
        );
        assert_eq!(
            Record::parse("card\t-\n").unwrap_err().to_string(),
            "no base line"
        );
        assert_eq!(
            Record::parse("card\t-\nbase\tb\noverlay\to\nmode\tlayered\nerase_size\t64k\n")
                .unwrap_err()
                .to_string(),
            "erase_size \"64k\" is not a number"
        );
    }

    #[test]
    fn writer_and_parser_agree() {
        for (card, failsafe) in [(Some("/run/flashroot/card"), false), (None, true)] {
            let r = Record {
                card: card.map(str::to_string),
                base: "base-2.sqfs".into(),
                overlay: "overlay-2.img".into(),
                failsafe,
                erase_size: 131072,
            };
            assert_eq!(Record::parse(&r.text()).unwrap(), r);
        }
    }
}
