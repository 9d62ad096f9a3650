//! `flashroot mkfs.jffs2`: mkfs.jffs2's options (so scripts switch by changing the command
//! name), writing the erase block summary itself and padding in the same pass.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use flashroot_config::parse_size;

use flashroot::jffs2::tree::Tree;
use flashroot::jffs2::{
    write_image, write_tree, Compression, CompressionMode, Compressor, EmptyBlocks, Endian,
    Error as Jffs2Error, Options, Squash, Times,
};

/// Write a JFFS2 image of a directory, with erase block summaries and padding.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Build the file system from DIR.
    #[arg(
        short = 'd',
        long = "root",
        visible_short_alias = 'r',
        value_name = "DIR",
        required_unless_present = "list_compressors"
    )]
    pub root: Option<PathBuf>,
    /// Write the image to FILE (stdout when absent).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Erase block size, e.g. 65536, 64KiB, 128K.
    #[arg(
        short = 'e',
        long = "eraseblock",
        value_name = "SIZE",
        default_value = "64KiB"
    )]
    pub eraseblock: String,
    /// Pad the image with free erase blocks to SIZE bytes (`-p SIZE` and `--pad=SIZE`
    /// both work); without SIZE, only the last block is completed, as always.
    #[arg(short = 'p', long = "pad", value_name = "SIZE", num_args = 0..=1, default_missing_value = "")]
    pub pad: Option<String>,
    /// Page size: data nodes never cross one (the target kernel's PAGE_SIZE).
    #[arg(
        short = 's',
        long = "pagesize",
        value_name = "SIZE",
        default_value = "4096"
    )]
    pub pagesize: String,
    /// Little-endian image (default; x86 and most ARM).
    #[arg(short = 'l', long = "little-endian", conflicts_with = "big_endian")]
    pub little_endian: bool,
    /// Big-endian image (for big-endian targets).
    #[arg(short = 'b', long = "big-endian")]
    pub big_endian: bool,
    /// No cleanmarkers at the start of erase blocks (NAND with OOB cleanmarkers).
    #[arg(short = 'n', long = "no-cleanmarkers")]
    pub no_cleanmarkers: bool,
    /// Cleanmarker size in bytes (default 12).
    #[arg(short = 'c', long = "cleanmarker", value_name = "SIZE")]
    pub cleanmarker: Option<String>,
    /// Compression mode: none, priority (first compressor that helps) or size (smallest).
    #[arg(
        short = 'm',
        long = "compression-mode",
        value_name = "MODE",
        default_value = "priority"
    )]
    pub compression_mode: String,
    /// Disable a compressor (zlib, rtime, lzo); repeatable.
    #[arg(short = 'x', long = "disable-compressor", value_name = "NAME")]
    pub disable: Vec<String>,
    /// Enable a compressor (zlib, rtime, lzo); repeatable.
    #[arg(short = 'X', long = "enable-compressor", value_name = "NAME")]
    pub enable: Vec<String>,
    /// List the compressors and exit.
    #[arg(short = 'L', long = "list-compressors")]
    pub list_compressors: bool,
    /// Make root the owner of every file and remove group/other write permission.
    #[arg(short = 'q', long = "squash")]
    pub squash: bool,
    /// Make root the owner of every file.
    #[arg(short = 'U', long = "squash-uids")]
    pub squash_uids: bool,
    /// Remove group and other write permission from every file.
    #[arg(short = 'P', long = "squash-perms")]
    pub squash_perms: bool,
    /// Set every time stamp to 0.
    #[arg(short = 'f', long = "faketime")]
    pub faketime: bool,
    /// mkfs.jffs2 device table: devices, fifos, directories, owners.
    #[arg(short = 'D', long = "devtable", value_name = "FILE")]
    pub devtable: Option<PathBuf>,
    /// Store extended attributes (only for kernels built with CONFIG_JFFS2_FS_XATTR).
    #[arg(long = "with-xattr")]
    pub with_xattr: bool,
    /// Do not write erase block summaries (the kernel then scans every byte at mount).
    #[arg(long = "no-summary")]
    pub no_summary: bool,
    /// How free erase blocks are written: "cleanmarker" (a cleanmarker each, as
    /// mkfs.jffs2 --pad writes them: the kernel takes them as free and writes nothing) or
    /// "erased" (bare 0xFF: the kernel erases them and writes a cleanmarker into each
    /// after the first mount).
    #[arg(
        long = "empty-blocks",
        value_name = "HOW",
        default_value = "cleanmarker"
    )]
    pub empty_blocks: String,
    /// Print the report even when stdout is the image.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

fn size_arg(flag: &str, text: &str) -> Result<u64> {
    parse_size(text).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

fn u32_arg(flag: &str, text: &str) -> Result<u32> {
    let v = size_arg(flag, text)?;
    u32::try_from(v).with_context(|| format!("{flag}: {text} is too large"))
}

/// mkfs.jffs2 reads a bare `-e` number below this as KiB (`-e 128` is 128 KiB).
const ERASE_KIB_BELOW: u32 = 4096;

/// `-e`: a size, where a bare number below 4096 means KiB, as in mkfs.jffs2.
fn erase_arg(text: &str) -> Result<u32> {
    let v = u32_arg("-e/--eraseblock", text)?;
    let bare = text.trim().bytes().all(|b| b.is_ascii_digit());
    Ok(if bare && v < ERASE_KIB_BELOW {
        v << 10
    } else {
        v
    })
}

/// Turns the raw arguments into image options.
pub fn options(a: &Args) -> Result<Options> {
    let mut compression = Compression::default();
    compression.mode = CompressionMode::from_name(&a.compression_mode)
        .map_err(|e| anyhow::anyhow!("-m/--compression-mode: {e}"))?;
    for name in &a.enable {
        compression.enable(Compressor::from_name(name).map_err(|e| anyhow::anyhow!("-X: {e}"))?);
    }
    for name in &a.disable {
        compression.disable(Compressor::from_name(name).map_err(|e| anyhow::anyhow!("-x: {e}"))?);
    }
    if compression.mode == CompressionMode::None {
        compression = Compression::none();
    }
    let erase_size = erase_arg(&a.eraseblock)?;
    let pad_to = match a.pad.as_deref() {
        None | Some("") => None,
        Some(p) => Some(size_arg("-p/--pad", p)?),
    };
    let cleanmarker = match (a.no_cleanmarkers, &a.cleanmarker) {
        (true, _) => None,
        (false, Some(c)) => Some(u32_arg("-c/--cleanmarker", c)?),
        (false, None) => Options::default().cleanmarker,
    };
    let empty_blocks = match a.empty_blocks.as_str() {
        "cleanmarker" => EmptyBlocks::Cleanmarker,
        "erased" => EmptyBlocks::Erased,
        other => bail!("--empty-blocks: expected cleanmarker or erased, got {other:?}"),
    };
    let times = if a.faketime {
        Times::Zero
    } else {
        flashroot::repro::Reproducibility::from_env()?.jffs2_times()
    };
    Ok(Options {
        erase_size,
        page_size: u32_arg("-s/--pagesize", &a.pagesize)?,
        endian: if a.big_endian {
            Endian::Big
        } else {
            Endian::Little
        },
        cleanmarker,
        summary: !a.no_summary,
        pad_to,
        empty_blocks,
        compression,
        squash: Squash {
            owners: a.squash || a.squash_uids,
            perms: a.squash || a.squash_perms,
        },
        times,
        devtable: a.devtable.clone(),
        xattrs: a.with_xattr,
        progress: true,
    })
}

/// The library's message, with the option that set the offending value named, the way
/// mkfs.jffs2 users spell it.
pub fn with_flags(e: &Jffs2Error) -> String {
    match e {
        Jffs2Error::EraseSizeVsPage { .. } => format!("-e/--eraseblock, -s/--pagesize: {e}"),
        Jffs2Error::CleanmarkerSize { .. } => format!("-c/--cleanmarker: {e}"),
        Jffs2Error::PadNotWholeBlocks { .. }
        | Jffs2Error::PadTooLarge { .. }
        | Jffs2Error::PadTooFewBlocks { .. }
        | Jffs2Error::TreeExceedsPad { .. } => format!("--pad: {e}"),
        Jffs2Error::TooFewBlocks { erase_size, .. } => format!(
            "{e}: use --pad={}",
            flashroot_jffs2::MIN_BLOCKS * u64::from(*erase_size)
        ),
        Jffs2Error::OwnerTooLarge { .. } => format!("{e} (use -U to make root the owner)"),
        Jffs2Error::DevTable { .. } => format!("-D/--devtable: {e}"),
        _ => e.to_string(),
    }
}

pub fn run(a: Args) -> Result<()> {
    if a.list_compressors {
        let defaults = Compression::default();
        for c in Compressor::ALL {
            let state = if defaults.enabled().contains(&c) {
                "enabled"
            } else {
                "disabled"
            };
            println!("{:<6} priority {:>2}  {state}", c.name(), c.priority());
        }
        return Ok(());
    }
    let opts = options(&a)?;
    let root = a.root.as_deref().context("-d/--root DIR is required")?;
    let report = match &a.output {
        Some(out) => write_image(root, out, &opts).map_err(|e| match e.image_error() {
            Some(image) => anyhow::anyhow!("{}: {}", out.display(), with_flags(image)),
            None => e.into(),
        })?,
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!("refusing to write an image to a terminal: give -o FILE");
            }
            let write = || {
                let tree = Tree::collect(root, &opts)?;
                let out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
                write_tree(&tree, out, &opts)
            };
            write().map_err(|e| anyhow::anyhow!(with_flags(&e)))?
        }
    };
    if a.output.is_some() || a.verbose {
        eprintln!("{report}");
    }
    if let Some(w) = report.reserve_warning() {
        eprintln!("flashroot: warning: {w}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erase_sizes_as_mkfs_jffs2_reads_them() {
        assert_eq!(erase_arg("128").unwrap(), 128 << 10);
        assert_eq!(erase_arg("65536").unwrap(), 65536);
        assert_eq!(erase_arg("64KiB").unwrap(), 65536);
        assert_eq!(erase_arg("1MiB").unwrap(), 1 << 20);
        assert!(erase_arg("lots")
            .unwrap_err()
            .to_string()
            .starts_with("-e/--eraseblock: "));
    }
}
