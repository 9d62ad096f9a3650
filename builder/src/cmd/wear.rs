//! `flashroot wear --card card.img trace.log`: which card sectors a QEMU run wrote, by
//! region, from a `-d trace:blk_co_pwritev` log; `--png` draws the heat map.

use std::path::PathBuf;

use anyhow::Context;

use flashroot::wear::{self, analyse, heatmap, RegionMap};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The card image the run used (its layout is read from its MBR, FAT and directories).
    #[arg(long)]
    pub card: PathBuf,
    /// QEMU's trace: `qemu-system-x86_64 ... -d trace:blk_co_pwritev -D trace.log`.
    pub trace: PathBuf,
    /// The run's length in guest seconds, for the rates per hour (default: the span of
    /// the trace's timestamps, host time, if it was written with `-msg timestamp=on`).
    #[arg(long, value_name = "SECONDS")]
    pub hours_from: Option<f64>,
    /// The card's block backend (`blk 0x...` in the trace), needed when the trace holds
    /// writes of several drives.
    #[arg(long, value_name = "POINTER", value_parser = parse_pointer)]
    pub blk: Option<u64>,
    /// Also draw the heat map into this PNG.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// The heat map's title (default: the trace's file name).
    #[arg(long)]
    pub title: Option<String>,
}

/// A `--blk` value that is no hex pointer.
#[derive(Debug)]
struct NotAPointer {
    text: String,
}

impl std::fmt::Display for NotAPointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "expected a hex pointer such as 0x55d0c1c3e0a0 but got {:?}",
            self.text
        )
    }
}

impl std::error::Error for NotAPointer {}

fn parse_pointer(text: &str) -> Result<u64, NotAPointer> {
    let hex = text.strip_prefix("0x").unwrap_or(text);
    u64::from_str_radix(hex, 16).map_err(|_| NotAPointer { text: text.into() })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let report =
        analyse(&args.card, &args.trace, args.blk, args.hours_from).map_err(|e| match e {
            // Several drives wrote: the choice is this command's --blk.
            wear::Error::AmbiguousBackend { path, backends } => anyhow::anyhow!(
                "{}: writes of {} block backends; choose the card's with --blk:{}",
                path.display(),
                backends.len(),
                wear::Error::backend_lines(&backends)
            ),
            e => e.into(),
        })?;
    print!("{}", report.table());
    if report.seconds.is_none() {
        println!("(give --hours-from SECONDS, the run's length, for rates per hour)");
    }
    if let Some(png) = &args.png {
        let map = RegionMap::read(&args.card)?;
        let title = args
            .title
            .clone()
            .unwrap_or_else(|| format!("card wear: {}", args.trace.display()));
        heatmap::write_png(&report, &map, &title, png)
            .with_context(|| format!("heat map {}", png.display()))?;
        println!("heat map: {}", png.display());
    }
    Ok(())
}
