//! The progress bar `flashroot mkfs.jffs2` shows for large trees on a terminal.

use std::io::{self, IsTerminal};

/// Trees with less data than this get no progress bar.
const PROGRESS_MIN_BYTES: u64 = 32 << 20;
/// Characters of the bar itself.
const WIDTH: u64 = 40;

/// A one-line progress bar on stderr, only on a terminal and for large trees.
pub struct Progress {
    total: u64,
    done: u64,
    shown_percent: Option<u64>,
    enabled: bool,
}

impl Progress {
    pub fn new(wanted: bool, total: u64) -> Self {
        Self {
            total,
            done: 0,
            shown_percent: None,
            enabled: wanted && total >= PROGRESS_MIN_BYTES && io::stderr().is_terminal(),
        }
    }

    pub fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        if !self.enabled {
            return;
        }
        let pct = self.done * 100 / self.total.max(1);
        if self.shown_percent != Some(pct) {
            self.shown_percent = Some(pct);
            let filled = (pct * WIDTH / 100) as usize;
            eprint!(
                "\r[{}{}] {pct:3}% {} / {} MiB",
                "#".repeat(filled),
                " ".repeat(WIDTH as usize - filled),
                self.done >> 20,
                self.total >> 20
            );
        }
    }

    pub fn done(&mut self) {
        if self.enabled && self.shown_percent.is_some() {
            eprintln!();
        }
    }
}
