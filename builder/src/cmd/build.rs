//! `flashroot build`: the flash-boot initramfs from a config and a kernel's modules.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use flashroot_config::{Compression, Config, DEFAULT_TOML};

use flashroot::initramfs::{self, compression, kernel, load_list, BuildInputs};
use flashroot_cpio::WriterOptions;
use flashroot_kmod::sysfs::{modaliases_under, SYS_BUS};

/// Where --host-only reads this machine's root filesystem type.
const MOUNTINFO: &str = flashroot_runtime::mountinfo::PATH;
use flashroot_kmod::ModuleTree;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The configuration to build from and pack [default: the embedded default].
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where to write the initramfs (replaced atomically).
    #[arg(short, long, value_name = "FILE", default_value = "initrd.img")]
    pub output: PathBuf,
    /// Kernel release whose modules to pack, from /lib/modules/VER [default: the running kernel's].
    #[arg(long, value_name = "VER")]
    pub kver: Option<String>,
    /// A module directory to pack from instead of /lib/modules/VER (its name is the release unless --kver is given).
    #[arg(long, value_name = "DIR")]
    pub modules_dir: Option<PathBuf>,
    /// Compression, overriding the config's [initramfs] compression.
    #[arg(long, value_enum)]
    pub compression: Option<CompressionArg>,
    /// Pack this file as /init instead of the embedded static init.
    #[arg(long, value_name = "PATH")]
    pub init: Option<PathBuf>,
    /// A further spec in the kernel's gen_init_cpio format (repeatable).
    #[arg(long = "gen-init-cpio", value_name = "FILE")]
    pub gen_init_cpio: Vec<PathBuf>,
    /// The kernel's build config for the CONFIG_RD_* check [default: /boot/config-VER if it exists].
    #[arg(long, value_name = "FILE")]
    pub kernel_config: Option<PathBuf>,
    /// Host-only: pack only the config's drivers that a device of this machine needs
    /// (matched by the modaliases in /sys/bus/*/devices/*/modalias, as dracut -H does),
    /// and the module of this machine's root filesystem.
    #[arg(long, conflicts_with = "devices")]
    pub host_only: bool,
    /// Host-only for another machine: its modaliases, one a line, made there with
    /// `cat /sys/bus/*/devices/*/modalias > FILE`.
    #[arg(long, value_name = "FILE")]
    pub devices: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum CompressionArg {
    Gzip,
    Zstd,
    Xz,
    None,
}

impl From<CompressionArg> for Compression {
    fn from(c: CompressionArg) -> Self {
        match c {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
            CompressionArg::Xz => Compression::Xz,
            CompressionArg::None => Compression::None,
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (config, config_text) = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read", path.display()))?;
            let mut config = Config::parse(&path.display().to_string(), &text)?;
            anchor_host_paths(&mut config, path.parent().unwrap_or(Path::new("")));
            (config, text)
        }
        None => (Config::embedded_default(), DEFAULT_TOML.to_string()),
    };
    let init = match &args.init {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("--init {}: cannot read", path.display()))?,
        None => flashroot::embedded_init()
            .context("no --init given")?
            .to_vec(),
    };
    let compression = args
        .compression
        .map(Compression::from)
        .unwrap_or(config.initramfs.compression);
    let options = WriterOptions {
        mtime: flashroot::repro::Reproducibility::from_env()?.cpio_mtime(),
    };
    let say = |msg: &str| {
        if !args.quiet {
            eprintln!("flashroot: {msg}");
        }
    };

    let needs_modules =
        !config.wanted_modules().is_empty() || args.kver.is_some() || args.modules_dir.is_some();
    let tree = if needs_modules {
        let running = kernel::running_kernel();
        let choice = kernel::choose(
            args.kver.as_deref(),
            args.modules_dir.as_deref(),
            std::path::Path::new(kernel::MODULES_ROOT),
            running.as_deref(),
        )
        .map_err(kernel_flag_error)?;
        if let Some(note) = &choice.note {
            eprintln!("flashroot: note: {note}");
        }
        check_kernel_config(&args, compression, &choice)?;
        Some(ModuleTree::load(&choice.modules_dir, &choice.kver).map_err(|e| anyhow!(e))?)
    } else {
        None
    };

    let devices = match (&args.devices, args.host_only) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--devices {}: cannot read", path.display()))?;
            Some(load_list::parse_devices(
                &path.display().to_string(),
                &text,
            )?)
        }
        (None, true) => {
            let found = modaliases_under(std::path::Path::new(SYS_BUS));
            if found.is_empty() {
                return Err(anyhow!(
                    "--host-only: no device modalias under {SYS_BUS} (is sysfs mounted?)"
                ));
            }
            Some(found)
        }
        (None, false) => None,
    };
    let root_fs = if args.host_only {
        Some(host_root_fs()?)
    } else {
        None
    };
    let built = initramfs::build_archive(&BuildInputs {
        config: &config,
        config_text: &config_text,
        init: &init,
        modules: tree.as_ref(),
        extra_specs: &args.gen_init_cpio,
        devices: devices.as_deref(),
        root_fs: root_fs.as_deref(),
        options,
    })?;
    for note in &built.notes {
        say(&format!("note: {note}"));
    }
    let image = compression::compress_archive(compression, &built.archive)
        .context("compressing the archive")?;
    flashroot::atomic::write(&args.output, &image)?;
    say(&format!(
        "wrote {} ({}, {} bytes; {} bytes uncompressed, {} entries, {} modules{})",
        args.output.display(),
        compression::name(compression),
        image.len(),
        built.archive.len(),
        built.entries,
        built.load_order.len(),
        tree.as_ref()
            .map(|t| format!(" for {}", t.kver))
            .unwrap_or_default(),
    ));
    Ok(())
}

/// A kernel choice that failed, said in terms of the flags that made it.
fn kernel_flag_error(e: initramfs::Error) -> anyhow::Error {
    use initramfs::Error as E;
    match &e {
        E::ModulesDirUnnamed { dir } => anyhow!(
            "--modules-dir {}: cannot tell the kernel version from it; add --kver",
            dir.display()
        ),
        E::ModulesDirMissing { dir } => {
            anyhow!("--modules-dir {}: not a directory", dir.display())
        }
        E::KernelMissing {
            kver,
            dir,
            root,
            found,
        } => anyhow!(
            "--kver {kver}: {} does not exist; found: {}",
            dir.display(),
            if found.is_empty() {
                format!("nothing under {}", root.display())
            } else {
                found.join(", ")
            }
        ),
        E::NoKernels { .. } => anyhow!("{e}; pass --kver or --modules-dir"),
        _ => anyhow::Error::new(e),
    }
}

/// The filesystem type of this machine's `/`.
fn host_root_fs() -> anyhow::Result<String> {
    let text = std::fs::read_to_string(MOUNTINFO)
        .with_context(|| format!("--host-only: cannot read {MOUNTINFO}"))?;
    root_fs_of(&text).ok_or_else(|| anyhow!("--host-only: no mount of / in {MOUNTINFO}"))
}

/// The type of the last mount on `/` in a mountinfo text (the one on top).
fn root_fs_of(mountinfo: &str) -> Option<String> {
    flashroot_runtime::mountinfo::parse(mountinfo)
        .into_iter()
        .rev()
        .find(|m| m.mountpoint == "/")
        .map(|m| m.fstype)
}

/// Relative host paths in `[initramfs]` (shell, files' sources, gen_init_cpio specs) are
/// taken relative to the config file, as its reader would expect, not to the current
/// directory (a kernel hook runs from anywhere).
fn anchor_host_paths(config: &mut Config, config_dir: &Path) {
    let anchor = |p: &mut String| {
        if !p.is_empty() && Path::new(p.as_str()).is_relative() {
            *p = config_dir.join(p.as_str()).display().to_string();
        }
    };
    anchor(&mut config.initramfs.shell);
    for f in &mut config.initramfs.files {
        anchor(&mut f.source);
    }
    for spec in &mut config.initramfs.gen_init_cpio {
        anchor(spec);
    }
}

/// Refuses a compression the kernel cannot unpack, when its build config is at hand.
fn check_kernel_config(
    args: &Args,
    c: Compression,
    choice: &kernel::KernelChoice,
) -> anyhow::Result<()> {
    let candidates = match &args.kernel_config {
        Some(p) => vec![p.clone()],
        None => kernel::config_candidates(&choice.kver, &choice.modules_dir),
    };
    for path in candidates {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return Ok(compression::check_kernel_config(
                    c,
                    &path.display().to_string(),
                    &text,
                )?)
            }
            Err(e) if args.kernel_config.is_some() => {
                return Err(anyhow!(
                    "--kernel-config {}: cannot read: {e}",
                    path.display()
                ))
            }
            Err(_) => continue,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_type_is_that_of_the_top_mount_on_slash() {
        let text = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:5 / /dev rw shared:2 - devtmpfs udev rw
40 22 0:40 / / rw shared:9 - btrfs /dev/sdb1 rw
";
        assert_eq!(root_fs_of(text).as_deref(), Some("btrfs"));
        assert_eq!(root_fs_of("23 1 0:5 / /dev rw - devtmpfs udev rw\n"), None);
    }
}
