//! `flashroot reset`: ask for a factory reset of a layered root. It writes the reset
//! marker beside the overlay container on the card (synced); the next boot's init empties
//! the overlay (keeping the files `/etc/flashroot/reset-keep` lists) before mounting it,
//! and removes the marker only once the empty overlay is on the card. A power cut before
//! the marker is on the card changes nothing; any cut after it ends, at the next boot, in
//! an empty overlay.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use flashroot_runtime::layered::{reset_marker, write_marker, Record, RECORD};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The card's directory, for a card mounted on another machine (default: the running
    /// system's card, from /run/flashroot/layered).
    #[arg(long, value_name = "DIR", requires = "container")]
    pub card: Option<PathBuf>,
    /// With --card: the overlay container's file on the card (e.g. rootfs.img).
    #[arg(long, value_name = "FILE", requires = "card")]
    pub container: Option<String>,
    /// Withdraw a pending reset (remove the marker) instead.
    #[arg(long)]
    pub cancel: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (card, container) = match (&args.card, &args.container) {
        (Some(card), Some(container)) => (card.clone(), container.clone()),
        _ => from_record(Path::new(RECORD))?,
    };
    let marker = card.join(reset_marker(&container));
    if args.cancel {
        match std::fs::remove_file(&marker) {
            Ok(()) => println!("factory reset withdrawn: removed {}", marker.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                println!(
                    "no factory reset pending ({} does not exist)",
                    marker.display()
                )
            }
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", marker.display())),
        }
        return Ok(());
    }
    write_marker(&marker).with_context(|| format!("cannot write {}", marker.display()))?;
    println!(
        "factory reset pending: {} is on the card; the next boot empties the overlay {container} \
         (keeping what /etc/flashroot/reset-keep lists) before mounting it. Reboot to reset; \
         `flashroot reset --cancel` withdraws it.",
        marker.display()
    );
    Ok(())
}

/// The card and the overlay container of the running layered root.
fn from_record(path: &Path) -> anyhow::Result<(PathBuf, String)> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}: is this a running layered root? (give --card and --container for a card mounted here)",
            path.display()
        )
    })?;
    let record = Record::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let Some(card) = record.card else {
        bail!(
            "{}: the card was detached at boot (keep = \"detach\"); mount it and give --card and --container",
            path.display()
        );
    };
    Ok((PathBuf::from(card), record.overlay))
}
