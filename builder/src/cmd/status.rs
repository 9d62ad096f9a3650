//! `flashroot status`: the running flashroot system, for people or (`--json`) for scripts.

use std::path::PathBuf;

use anyhow::Context;
use flashroot_config::parse_size;

use flashroot::status::{self, System};

/// Below this much sure room for data on the root, `status` exits with [`NEAR_ENOSPC_EXIT`].
pub const DEFAULT_MIN_FREE: &str = "4MiB";
/// The exit status when the root is near ENOSPC (1 stays "could not report").
pub const NEAR_ENOSPC_EXIT: u8 = 2;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the report as JSON (one object; sizes in bytes, times in seconds).
    #[arg(long)]
    pub json: bool,
    /// The root's JFFS2 counts as near ENOSPC (exit status 2) with less than this much
    /// room for data left, e.g. 16MiB.
    #[arg(long, value_name = "SIZE", default_value = DEFAULT_MIN_FREE)]
    pub min_free: String,
    /// Read the system below this directory instead of / (for tests and rescue systems).
    #[arg(long, value_name = "DIR", default_value = "/", hide = true)]
    pub root: PathBuf,
}

/// Prints the report; `Ok(true)` when the root is near ENOSPC.
pub fn run(args: Args) -> anyhow::Result<bool> {
    let near_enospc_bytes =
        parse_size(&args.min_free).map_err(|e| anyhow::anyhow!("--min-free: {e}"))?;
    let report = status::gather(&System {
        root: args.root.clone(),
        near_enospc_bytes,
    })
    .context("flashroot status")?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("serialising the status")?
        );
    } else {
        print!("{}", status::human(&report));
    }
    Ok(report.near_enospc.near)
}
