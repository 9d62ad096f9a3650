//! `flashroot fold`, on a running layered root: merges the base and the overlay into a new
//! base and lays it down, with an empty overlay container, in a new directory on the card
//! (`fold-<N>/`); then points the card's default and failsafe boot entries at it and adds
//! a `rollback` entry that boots the base and overlay of before. The running system is
//! not changed: the next boot uses the new base. Upgrading Debian becomes `apt-get
//! upgrade`, `flashroot fold`, reboot — and the `rollback` entry is the way back.
//!
//! The merge is the kernel's: a read-only overlayfs of the overlay's upper directory on
//! the base (whiteouts, opaque directories, owners, modes, extended attributes, devices
//! and hard links as overlayfs shows them), which mksquashfs reads. Changes made while the
//! fold runs may or may not be in it.
//!
//! With `--card DIR` it folds a card mounted on another machine (as root): the base is
//! extracted with unsquashfs, the overlay container with our JFFS2 reader, and
//! [`layered::apply_upper`] lays the upper directory over the base as overlayfs would.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use flashroot_config::format_size;
use flashroot_runtime::layered::{Record, BASE_DIR, OVERLAY_DIR, RECORD, UPPER};

use crate::cmd::import_root::load_config;
use flashroot::atomic;
use flashroot::card::layout::{journal_of, JOURNAL_BYTES, SYSLINUX_CFG};
use flashroot::card::syslinux_cfg::{LABEL_FAILSAFE, LABEL_FLASH};
use flashroot::{jffs2, layered, squashfs};

/// Where the merged view is mounted while mksquashfs reads it.
const MERGED: &str = "/run/flashroot/fold";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The new base's compression.
    #[arg(long, value_parser = crate::cmd::import_root::squashfs_compression(), default_value = "zstd")]
    pub compression: squashfs::Compression,
    /// Fold the card mounted at DIR (not the running system): its default boot entry
    /// names the base and overlay (else the config does).
    #[arg(long, value_name = "DIR")]
    pub card: Option<PathBuf>,
    /// With --card: the flashroot config the card was made with (default: embedded).
    #[arg(short, long, value_name = "FILE", requires = "card")]
    pub config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(card) = &args.card {
        return fold_card(card, &args);
    }
    let text = std::fs::read_to_string(RECORD)
        .with_context(|| format!("cannot read {RECORD}: is this a running layered root?"))?;
    let record = Record::parse(&text).map_err(|e| anyhow::anyhow!("{RECORD}: {e}"))?;
    if record.failsafe {
        bail!("this is a failsafe boot: the overlay is not mounted, there is nothing to fold");
    }
    let Some(card) = record.card.as_deref().map(PathBuf::from) else {
        bail!("{RECORD}: the card was detached at boot (keep = \"detach\"); fold needs it mounted");
    };
    let old = (record.base.clone(), record.overlay.clone());
    lay_down(&card, old, record.erase_size, |out| {
        merge_into(out, args.compression)
    })
}

/// The folded base written by `write_base` to `fold-<N>/`, an empty overlay container
/// beside it, and the boot entries pointed at them; `old` is (base, overlay) on the card.
fn lay_down(
    card: &Path,
    old: (String, String),
    erase_size: u32,
    write_base: impl FnOnce(&Path) -> anyhow::Result<squashfs::Report>,
) -> anyhow::Result<()> {
    let record_base = old.0;
    let record_overlay = old.1;
    let generation = layered::next_generation(card)?;
    let name = |p: &str| {
        Path::new(p)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.to_string())
    };
    let new_base = format!("{generation}/{}", name(&record_base));
    let new_overlay = format!("{generation}/{}", name(&record_overlay));
    std::fs::create_dir(card.join(&generation))
        .with_context(|| format!("cannot create {}", card.join(&generation).display()))?;

    let base_report = write_base(&card.join(&new_base))?;
    println!("{base_report}");
    let current = card.join(&record_overlay);
    let size = std::fs::metadata(&current)
        .with_context(|| format!("cannot stat {}", current.display()))?
        .len();
    let options = jffs2::Options {
        erase_size,
        pad_to: Some(size),
        ..Default::default()
    };
    atomic::write(
        &card.join(journal_of(&new_overlay)),
        &vec![0u8; JOURNAL_BYTES as usize],
    )?;
    layered::write_empty_overlay(&card.join(&new_overlay), &options)
        .with_context(|| format!("writing the empty overlay {new_overlay}"))?;
    println!(
        "wrote {new_overlay}: empty overlay container, {}",
        format_size(size)
    );

    let cfg_path = card.join(SYSLINUX_CFG);
    let cfg = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("cannot read {}", cfg_path.display()))?;
    let folded = layered::fold_syslinux_cfg(
        &cfg,
        LABEL_FLASH,
        LABEL_FAILSAFE,
        (&new_base, &new_overlay),
        (&record_base, &record_overlay),
    )
    .with_context(|| format!("{}", cfg_path.display()))?;
    atomic::write(&cfg_path, folded.as_bytes())?;
    println!(
        "{SYSLINUX_CFG}: {LABEL_FLASH} and {LABEL_FAILSAFE} boot {new_base} with {new_overlay}; \
         {} boots {} with {} as they are now. Reboot to use the folded base.",
        layered::LABEL_ROLLBACK,
        record_base,
        record_overlay
    );
    Ok(())
}

/// Folds a card mounted here: base and overlay named by its default entry, else the config.
fn fold_card(card: &Path, args: &Args) -> anyhow::Result<()> {
    let config = load_config(args.config.as_deref())?;
    let root = config.root_container();
    let Some(base) = &root.base else {
        bail!("the config's root container has no `base`: not a layered root");
    };
    let cfg = std::fs::read_to_string(card.join(SYSLINUX_CFG)).unwrap_or_default();
    let word = |key: &str| layered::entry_word(&cfg, LABEL_FLASH, key);
    let old_base = word(flashroot_runtime::keys::KEY_BASE).unwrap_or_else(|| base.0.clone());
    let old_overlay =
        word(flashroot_runtime::keys::KEY_CONTAINER).unwrap_or_else(|| root.file.0.clone());
    let scratch = std::env::temp_dir().join(format!("flashroot-fold-{}", std::process::id()));
    let result = (|| {
        let merged = scratch.join("merged");
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("cannot create {}", scratch.display()))?;
        let out = Command::new("unsquashfs")
            .args(["-no-progress", "-quiet", "-d"])
            .arg(&merged)
            .arg(card.join(&old_base))
            .output()
            .context("cannot run unsquashfs (package squashfs-tools)")?;
        if !out.status.success() {
            bail!(
                "unsquashfs {} failed (run as root to keep owners and devices): {}",
                card.join(&old_base).display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let image = card.join(&old_overlay);
        let bytes =
            std::fs::read(&image).with_context(|| format!("cannot read {}", image.display()))?;
        let scan = jffs2::reader::scan(&bytes, Some(root.erase_size.0))
            .and_then(|s| s.check().map(|()| s))
            .map_err(|e| anyhow::anyhow!("{}: {e}", image.display()))?;
        let fs = jffs2::Fs::new(&bytes, &scan);
        let overlay = scratch.join("overlay");
        let skipped = jffs2::extract::extract(&fs, &overlay)?;
        if skipped.owners + skipped.xattrs > 0 {
            bail!(
                "{}: {} owners and {} extended attributes could not be set (run as root)",
                image.display(),
                skipped.owners,
                skipped.xattrs
            );
        }
        let applied = layered::apply_upper(&overlay.join(UPPER), &merged)?;
        println!(
            "folded {old_overlay} into {old_base}: {} entries copied, {} deleted, {} opaque directories",
            applied.copied, applied.deleted, applied.opaque
        );
        lay_down(
            card,
            (old_base.clone(), old_overlay.clone()),
            root.erase_size.0,
            |out| {
                squashfs::write_base(
                    &merged,
                    out,
                    &squashfs::Options {
                        compression: args.compression,
                        ..Default::default()
                    },
                )
                .map_err(anyhow::Error::from)
            },
        )
    })();
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).with_context(|| {
            format!("cannot remove the scratch directory {}", scratch.display())
        })?;
    }
    result
}

/// Mounts the merged view read-only, writes it as a squashfs base to `out`, unmounts it.
fn merge_into(out: &Path, compression: squashfs::Compression) -> anyhow::Result<squashfs::Report> {
    std::fs::create_dir_all(MERGED).with_context(|| format!("cannot create {MERGED}"))?;
    let lower = format!("lowerdir={OVERLAY_DIR}/{UPPER}:{BASE_DIR}");
    let status = Command::new("mount")
        .args([
            "-t",
            "overlay",
            "-o",
            &format!("ro,{lower}"),
            "overlay",
            MERGED,
        ])
        .status()
        .context("cannot run mount")?;
    if !status.success() {
        bail!("mount -t overlay -o ro,{lower} overlay {MERGED} failed ({status})");
    }
    let options = squashfs::Options {
        compression,
        ..Default::default()
    };
    let written = squashfs::write_base(Path::new(MERGED), out, &options)
        .with_context(|| format!("writing the folded base {}", out.display()));
    let unmounted = Command::new("umount").arg(MERGED).status();
    let report = written?;
    if !unmounted.is_ok_and(|s| s.success()) {
        eprintln!("flashroot: warning: umount {MERGED} failed; it stays mounted (read-only)");
    }
    Ok(report)
}
