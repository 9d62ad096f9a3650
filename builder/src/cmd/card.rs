//! `flashroot card`: populate a boot card — a mounted FAT directory, or a new whole-disk
//! image (MBR, one bootable FAT32 partition, syslinux) — with kernel, initramfs, the JFFS2
//! containers and a `syslinux.cfg` whose default entry boots the flash root.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use flashroot_config::{format_size, parse_size, Config};

use crate::cmd::import_root::load_config;
use flashroot::card::{self, image::DEFAULT_LABEL, BootConfig, ImageOptions, Payload};

/// The conventional root of the second entry, as in the classic recipe: the disk's
/// second partition.
const DEFAULT_CONVENTIONAL_ROOT: &str = "/dev/sda2";

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("where").required(true).args(["dir", "image"])))]
pub struct Args {
    /// The kernel image (e.g. /boot/vmlinuz-6.1.0-28-amd64).
    #[arg(long, value_name = "FILE")]
    pub kernel: PathBuf,
    /// The initramfs made by `flashroot build`.
    #[arg(long, value_name = "FILE")]
    pub initrd: PathBuf,
    /// The kernel release, recorded on the card for the kernel hook.
    #[arg(long, value_name = "VERSION")]
    pub kver: Option<String>,
    /// The root JFFS2 image, copied to the root container's file (`rootfs.img` by default).
    #[arg(long, value_name = "FILE")]
    pub rootfs: Option<PathBuf>,
    /// A layered root's squashfs base (from `import-root --layered`), copied to the
    /// config's `base` file; --rootfs is then its overlay container.
    #[arg(long, value_name = "FILE")]
    pub base: Option<PathBuf>,
    /// Another container image, as CARD_PATH=FILE (e.g. usr.img=out/usr.img).
    #[arg(long = "container", value_name = "CARD_PATH=FILE")]
    pub containers: Vec<String>,
    /// Populate this mounted FAT directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Write a whole-disk image file (replaced if it exists).
    #[arg(long, value_name = "FILE", requires = "size")]
    pub image: Option<PathBuf>,
    /// Size of the disk image, e.g. 256MiB.
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
    /// FAT volume label of the image.
    #[arg(long, default_value = DEFAULT_LABEL)]
    pub label: String,
    /// FAT volume serial and MBR disk signature, 8 hex digits (default: derived from the
    /// label and size, so the same command gives the same image).
    #[arg(long, value_name = "HEX")]
    pub serial: Option<String>,
    /// `root=` of the conventional entry.
    #[arg(long, value_name = "DEVICE", default_value = DEFAULT_CONVENTIONAL_ROOT)]
    pub conventional_root: String,
    /// Extra kernel command-line words for every entry (e.g. "console=ttyS0").
    #[arg(long, value_name = "WORDS", default_value = "")]
    pub append: String,
    /// The flashroot config (root label, trigger word, container files; default: embedded).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = load_config(args.config.as_deref())?;
    let containers = containers(&config, &args)?;
    let root = config
        .containers
        .iter()
        .find(|c| c.mountpoint.0 == "/")
        .expect("the config guarantees a root container");
    let payload = Payload {
        kernel: args.kernel.clone(),
        initrd: args.initrd.clone(),
        kver: args.kver.clone(),
        containers,
        files: base_file(&config, &args)?,
        boot: BootConfig {
            root_label: root.label(),
            trigger: config.trigger.clone(),
            conventional_root: args.conventional_root.clone(),
            append: args.append.clone(),
            layered: root.base.is_some(),
        },
    };
    if let Some(dir) = &args.dir {
        check_dir_has_containers(dir, &config, &payload)?;
        let actions = card::populate_dir(dir, &payload)
            .with_context(|| format!("populating card directory {}", dir.display()))?;
        for action in actions {
            println!("{action}");
        }
        println!(
            "card {} is ready; to boot it from the BIOS, install syslinux on its partition once: \
             syslinux --install /dev/sdXN (package syslinux) and \
             dd if=/usr/lib/syslinux/mbr/mbr.bin of=/dev/sdX bs=440 count=1 (package syslinux-common), \
             with the partition marked active",
            dir.display()
        );
        return Ok(());
    }
    let image = args
        .image
        .as_deref()
        .expect("clap requires --dir or --image");
    let size_text = args
        .size
        .as_deref()
        .expect("clap requires --size with --image");
    let size = parse_size(size_text).map_err(|e| anyhow::anyhow!("--size: {e}"))?;
    check_image_has_containers(&config, &payload)?;
    let serial = match &args.serial {
        Some(hex) => u32::from_str_radix(hex.trim_start_matches("0x"), 16)
            .map_err(|_| anyhow::anyhow!("--serial: expected 8 hex digits, but got {hex:?}"))?,
        None => default_serial(&args.label, size),
    };
    let options = ImageOptions {
        size,
        label: args.label.clone(),
        serial,
    };
    let report = card::write_image(image, &options, &payload)
        .with_context(|| format!("writing card image {}", image.display()))?;
    println!(
        "wrote {} ({}): FAT32 LABEL={} UUID={} PARTUUID={}, {} free; syslinux installed; \
         default entry: {}",
        image.display(),
        format_size(size),
        args.label,
        report.uuid,
        report.partuuid,
        format_size(
            u64::from(report.volume.free_clusters) * u64::from(report.volume.bytes_per_cluster)
        ),
        payload.boot.flash_cmdline()
    );
    Ok(())
}

/// `(card path, host file)` for --rootfs and each --container.
fn containers(config: &Config, args: &Args) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    if let Some(rootfs) = &args.rootfs {
        let root = config
            .containers
            .iter()
            .find(|c| c.mountpoint.0 == "/")
            .expect("the config guarantees a root container");
        out.push((root.file.0.clone(), rootfs.clone()));
    }
    for spec in &args.containers {
        let Some((card_path, host)) = spec.split_once('=') else {
            bail!("--container: expected CARD_PATH=FILE, but got {spec:?}");
        };
        out.push((
            card_path.trim_start_matches('/').to_string(),
            PathBuf::from(host),
        ));
    }
    Ok(out)
}

/// `(card path, host file)` for --base, which only a layered root's config takes.
fn base_file(config: &Config, args: &Args) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let Some(host) = &args.base else {
        return Ok(Vec::new());
    };
    let Some(base) = &config.root_container().base else {
        bail!(
            "--base {}: the config's root container has no `base` (a layered root needs base = \"base.sqfs\" in its [[container]])",
            host.display()
        );
    };
    if !flashroot::squashfs::is_squashfs(host)
        .with_context(|| format!("--base: cannot read {}", host.display()))?
    {
        bail!("--base {}: not a squashfs image", host.display());
    }
    Ok(vec![(base.0.clone(), host.clone())])
}

/// A new image must carry every container the config mounts.
fn check_image_has_containers(config: &Config, payload: &Payload) -> anyhow::Result<()> {
    if let Some(base) = &config.root_container().base {
        if !payload.files.iter().any(|(name, _)| *name == base.0) {
            bail!("the config's root is layered on the base {base}, but no --base was given");
        }
    }
    for c in &config.containers {
        if !payload.containers.iter().any(|(name, _)| *name == c.file.0) {
            bail!(
                "the config mounts container {} at {}, but no image was given for it \
                 (use --rootfs for / or --container {}=FILE)",
                c.file,
                c.mountpoint,
                c.file
            );
        }
    }
    Ok(())
}

/// A card directory must end up with every container: given now, or already there.
fn check_dir_has_containers(dir: &Path, config: &Config, payload: &Payload) -> anyhow::Result<()> {
    if let Some(base) = &config.root_container().base {
        let given = payload.files.iter().any(|(name, _)| *name == base.0);
        if !given && !dir.join(&base.0).is_file() {
            bail!(
                "card directory {} has no base {base} (the config's root is layered) and no --base was given",
                dir.display()
            );
        }
    }
    for c in &config.containers {
        let given = payload.containers.iter().any(|(name, _)| *name == c.file.0);
        if !given && !dir.join(&c.file.0).is_file() {
            bail!(
                "card directory {} has no container {} (mounted at {}) and none was given \
                 (use --rootfs for / or --container {}=FILE)",
                dir.display(),
                c.file,
                c.mountpoint,
                c.file
            );
        }
    }
    Ok(())
}

/// A serial that depends only on the label and size: reproducible images.
fn default_serial(label: &str, size: u64) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(label.as_bytes());
    hasher.update(&size.to_le_bytes());
    hasher.finalize()
}
