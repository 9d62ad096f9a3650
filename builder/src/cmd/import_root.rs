//! `flashroot import-root`: turn a root directory (e.g. a debootstrap target) into a
//! flash-ready root, on a copy, in place, or straight into a JFFS2 image, and print every
//! change made.

use std::path::{Path, PathBuf};

use anyhow::Context;
use flashroot_config::{parse_size, Config};

use flashroot::rootprep::{self, Target};
use flashroot::{jffs2, layered, squashfs};

#[derive(clap::Args, Debug)]
#[command(group(
    clap::ArgGroup::new("target")
        .required(true)
        .args(["output", "in_place", "image"])
))]
pub struct Args {
    /// The root directory to import (left untouched unless --in-place).
    pub source: PathBuf,
    /// Copy the source here (a new or empty directory) and prepare the copy.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Modify the source directory itself.
    #[arg(long)]
    pub in_place: bool,
    /// Write the prepared root straight into this JFFS2 image (through a temporary copy
    /// that is removed afterwards), with the root container's erase size from the config.
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// With --image: pad the image with free erase blocks to SIZE (e.g. 256MiB), so the
    /// kernel has room to write.
    #[arg(long, value_name = "SIZE", requires = "image")]
    pub pad: Option<String>,
    /// A layered root: write the prepared root as a squashfs base to --base, and --image
    /// as its empty overlay container (padded to --pad, default 64MiB).
    #[arg(long, requires_all = ["image", "base"])]
    pub layered: bool,
    /// With --layered: the squashfs base to write.
    #[arg(long, value_name = "FILE", requires = "layered")]
    pub base: Option<PathBuf>,
    /// With --layered: the base's compression (all are read by Debian's kernel).
    #[arg(long, value_parser = squashfs_compression(), default_value = "zstd", requires = "layered")]
    pub compression: squashfs::Compression,
    /// The flashroot config whose tmpfs, overlay and container entries shape the root
    /// (default: the embedded default).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `--compression` of a squashfs base: mksquashfs's words, with what each is good for.
pub(crate) fn squashfs_compression(
) -> impl clap::builder::TypedValueParser<Value = squashfs::Compression> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    use squashfs::Compression;
    let help = |c: Compression| match c {
        Compression::Zstd => {
            "The default: 5% larger than xz on a Debian tree, decompressed several times \
             faster (what a boot under QEMU's TCG and a slow CPU both notice), written 1.8x \
             faster"
        }
        Compression::Xz => "The smallest base; the slowest to write and to read",
        Compression::Gzip | Compression::Lz4 | Compression::Lzo => "",
    };
    let values = Compression::ALL.map(|c| match help(c) {
        "" => PossibleValue::new(c.word()),
        h => PossibleValue::new(c.word()).help(h),
    });
    PossibleValuesParser::new(values)
        .map(|word| Compression::from_word(&word).expect("one of the possible values"))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = load_config(args.config.as_deref())?;
    if let Some(image) = &args.image {
        return import_to_image(&args, image, &config);
    }
    let target = match &args.output {
        Some(dir) => Target::Copy(dir),
        None => Target::InPlace,
    };
    let (root, report) = rootprep::import(&args.source, target, &config)
        .with_context(|| format!("importing root {}", args.source.display()))?;
    print!("{report}");
    println!(
        "flash-ready root: {} ({} changes{})",
        root.display(),
        report.modifications().count(),
        warning_count(&report)
    );
    Ok(())
}

/// Prepares a temporary copy next to `image`, writes the JFFS2 image from it, removes it.
fn import_to_image(args: &Args, image: &Path, config: &Config) -> anyhow::Result<()> {
    let pad_to = match &args.pad {
        Some(text) => Some(parse_size(text).map_err(|e| anyhow::anyhow!("--pad: {e}"))?),
        None => None,
    };
    let root_container = config.root_container();
    if args.layered && root_container.base.is_none() {
        anyhow::bail!(
            "--layered: the config's root container has no `base`; add base = \"base.sqfs\" to its [[container]] (the init must know the root is layered)"
        );
    }
    let options = jffs2::Options {
        erase_size: root_container.erase_size.0,
        pad_to: match (pad_to, args.layered) {
            (None, true) => Some(layered::DEFAULT_OVERLAY_BYTES),
            (pad, _) => pad,
        },
        times: flashroot::repro::Reproducibility::from_env()?.jffs2_times(),
        ..Default::default()
    };
    let scratch = scratch_dir(image);
    let result = rootprep::import(&args.source, Target::Copy(&scratch), config)
        .with_context(|| format!("importing root {}", args.source.display()))
        .and_then(|(root, report)| {
            print!("{report}");
            if let (true, Some(base)) = (args.layered, &args.base) {
                let sq = squashfs::Options {
                    compression: args.compression,
                    ..Default::default()
                };
                let written = squashfs::write_base(&root, base, &sq)
                    .with_context(|| format!("writing the squashfs base {}", base.display()))?;
                println!("{written}");
                let written = layered::write_empty_overlay(image, &options).with_context(|| {
                    format!("writing the overlay container {}", image.display())
                })?;
                return Ok((report, written));
            }
            let written = jffs2::write_image(&root, image, &options)
                .with_context(|| format!("writing JFFS2 image {}", image.display()))?;
            Ok((report, written))
        });
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("cannot remove the scratch copy {}", scratch.display()))?;
    }
    let (report, written) = result?;
    println!("{}", written.to_string().trim_end());
    println!(
        "flash-ready JFFS2 image: {} ({} changes to the root{})",
        image.display(),
        report.modifications().count(),
        warning_count(&report)
    );
    if let Some(note) = args
        .layered
        .then(|| layered::slow_mount_note(&written))
        .flatten()
    {
        println!("{note}");
    }
    Ok(())
}

/// ", 1 warning" for the summary line; empty when there is none.
fn warning_count(report: &rootprep::Report) -> String {
    match report.warnings().count() {
        0 => String::new(),
        1 => ", 1 warning".into(),
        n => format!(", {n} warnings"),
    }
}

/// `<image>.flashroot-root-<pid>`: on the image's filesystem, unique per run.
fn scratch_dir(image: &Path) -> PathBuf {
    let mut name = image.as_os_str().to_os_string();
    name.push(format!(".flashroot-root-{}", std::process::id()));
    PathBuf::from(name)
}

/// The config at `path`, or the embedded default.
pub fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::embedded_default()),
    }
}
