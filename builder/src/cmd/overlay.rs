//! `flashroot overlay`: what a running layered root's overlay holds against its base —
//! the files copied up from the base and what they cost, the new files, the deleted ones —
//! and the overlay filesystem's real free space (as `flashroot status` reports it: the
//! kernel's write reserve left out).

use std::path::{Path, PathBuf};

use anyhow::Context;
use flashroot_config::format_size;
use flashroot_runtime::layered::{BASE_DIR, OVERLAY_DIR, UPPER};

use flashroot::layered::overlay_usage;
use flashroot::status::{self, System};

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
        println!(
            "overlay filesystem {}: {}",
            parent.display(),
            free_space(parent)
        );
    }
    Ok(())
}

/// The free space of the JFFS2 filesystem mounted at `dir`, as `flashroot status` words it;
/// df's figure when `dir` is no JFFS2 mount.
fn free_space(dir: &Path) -> String {
    let system = System {
        root: PathBuf::from("/"),
        near_enospc_bytes: 0,
    };
    let found = status::jffs2_at(&system, &dir.to_string_lossy())
        .ok()
        .flatten();
    match (found, nix::sys::statvfs::statvfs(dir)) {
        (Some(j), _) => status::free_space(&j),
        (None, Ok(v)) => format!(
            "df says {} free (not a JFFS2 mount, so the kernel's write reserve is not known)",
            format_size(v.blocks_available() * v.fragment_size())
        ),
        (None, Err(e)) => format!("statfs failed: {e}"),
    }
}
