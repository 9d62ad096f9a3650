//! `flashroot install-hook`: install the Debian kernel hook that keeps the card's kernel
//! and initramfs current on every kernel upgrade.

use std::path::PathBuf;

use anyhow::Context;
use flashroot_config::{Config, CONFIG_PATH};

use flashroot::card::hook::{self, HookSettings};

/// Where `--install-binary` puts flashroot inside `--root`, and the hook's default binary
/// when installing into another root.
const BINARY_IN_ROOT: &str = "/usr/local/bin/flashroot";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The root to install into (e.g. a debootstrap target before it becomes a card image).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The card's directory on the running system (default: the config's `card.keep_at`,
    /// where the init leaves the card mounted).
    #[arg(long, value_name = "DIR")]
    pub card: Option<String>,
    /// The flashroot binary the hook runs (default: this binary when --root is /, else
    /// /usr/local/bin/flashroot).
    #[arg(long, value_name = "PATH")]
    pub flashroot: Option<String>,
    /// The config the hook passes to `flashroot build` when it exists.
    #[arg(long, value_name = "PATH", default_value = CONFIG_PATH)]
    pub config: String,
    /// Build each new initramfs host-only: only the drivers this box's devices need
    /// (smaller; boots only machines with the same disk controllers).
    #[arg(long)]
    pub host_only: bool,
    /// Also copy this flashroot binary to /usr/local/bin/flashroot inside --root.
    #[arg(long)]
    pub install_binary: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let into_other_root = args.root != std::path::Path::new("/");
    if args.install_binary {
        let exe = std::env::current_exe().context("cannot find the running flashroot binary")?;
        let dest = args.root.join(BINARY_IN_ROOT.trim_start_matches('/'));
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::copy(&exe, &dest)
            .with_context(|| format!("cannot copy {} to {}", exe.display(), dest.display()))?;
        println!("installed {}", dest.display());
    }
    let flashroot = match args.flashroot {
        Some(path) => path,
        None if into_other_root || args.install_binary => BINARY_IN_ROOT.to_string(),
        None => std::env::current_exe()
            .context("cannot find the running flashroot binary; pass --flashroot")?
            .display()
            .to_string(),
    };
    let card = args
        .card
        .unwrap_or_else(|| Config::embedded_default().card.keep_at.0);
    let settings = HookSettings {
        flashroot,
        card,
        config: args.config,
        host_only: args.host_only,
    };
    let path = hook::install(&args.root, &settings)
        .with_context(|| format!("installing the kernel hook into {}", args.root.display()))?;
    println!(
        "installed {} (card {}, flashroot {}, config {}{})",
        path.display(),
        settings.card,
        settings.flashroot,
        settings.config,
        if settings.host_only {
            ", host-only"
        } else {
            ""
        }
    );
    Ok(())
}
