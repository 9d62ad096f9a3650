//! `flashroot import-root`: turn a root directory (e.g. a debootstrap target) into a
//! flash-ready root, on a copy or in place, and print every change made.

use std::path::PathBuf;

use anyhow::Context;
use flashroot_config::Config;

use crate::rootprep::{self, Target};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["output", "in_place"])))]
pub struct Args {
    /// The root directory to import (left untouched unless --in-place).
    pub source: PathBuf,
    /// Copy the source here (a new or empty directory) and prepare the copy.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Modify the source directory itself.
    #[arg(long)]
    pub in_place: bool,
    /// The flashroot config whose tmpfs, overlay and container entries shape the root
    /// (default: the embedded default).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = load_config(args.config.as_deref())?;
    let target = match &args.output {
        Some(dir) => Target::Copy(dir),
        None => Target::InPlace,
    };
    let (root, report) = rootprep::import(&args.source, target, &config)
        .with_context(|| format!("importing root {}", args.source.display()))?;
    print!("{report}");
    println!(
        "flash-ready root: {} ({} changes)",
        root.display(),
        report.modifications().count()
    );
    Ok(())
}

/// The config at `path`, or the embedded default.
pub fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::embedded_default()),
    }
}
