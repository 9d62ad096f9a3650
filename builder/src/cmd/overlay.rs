//! `flashroot overlay`: what a running layered root's overlay holds against its base —
//! the files copied up from the base and what they cost, the new files, the deleted ones —
//! and the overlay filesystem's free space as the kernel reports it.

use std::path::PathBuf;

use anyhow::Context;
use flashroot_config::format_size;
use flashroot_init::layered::{BASE_DIR, OVERLAY_DIR, UPPER};

use crate::layered::overlay_usage;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The overlay's upper directory (default: the running layered root's).
    #[arg(long, value_name = "DIR")]
    pub upper: Option<PathBuf>,
    /// The base it lies on (default: the running layered root's).
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// How many of the largest files of each kind to list.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let upper = args
        .upper
        .unwrap_or_else(|| PathBuf::from(format!("{OVERLAY_DIR}/{UPPER}")));
    let base = args.base.unwrap_or_else(|| PathBuf::from(BASE_DIR));
    let usage = overlay_usage(&upper, &base)
        .with_context(|| format!("comparing {} with {}", upper.display(), base.display()))?;
    println!(
        "copied up from the base: {} files, {} (each changed file costs its whole size again)",
        usage.copied_up.len(),
        format_size(usage.copied_up_bytes())
    );
    for (path, bytes) in usage.copied_up.iter().take(args.top) {
        println!("  {:>10}  {path}", format_size(*bytes));
    }
    println!(
        "new files: {}, {}",
        usage.added.len(),
        format_size(usage.added_bytes())
    );
    for (path, bytes) in usage.added.iter().take(args.top) {
        println!("  {:>10}  {path}", format_size(*bytes));
    }
    println!(
        "deleted from the base: {} (they still take their space in the base)",
        usage.deleted.len()
    );
    if let Some(parent) = upper.parent() {
        if let Ok(s) = nix::sys::statvfs::statvfs(parent) {
            let free = s.blocks_available() * s.fragment_size();
            let total = s.blocks() * s.fragment_size();
            println!(
                "overlay filesystem {}: {} of {} free as the kernel counts it (JFFS2 counts space its garbage collection has yet to reclaim; compression makes the room for new data larger or smaller)",
                parent.display(),
                format_size(free),
                format_size(total)
            );
        }
    }
    Ok(())
}
