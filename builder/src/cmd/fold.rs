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

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use flashroot_config::format_size;
use flashroot_init::layered::{Record, BASE_DIR, OVERLAY_DIR, RECORD, UPPER};

use crate::card::layout::{journal_of, JOURNAL_BYTES, SYSLINUX_CFG};
use crate::card::payload::write_atomic;
use crate::card::syslinux_cfg::{LABEL_FAILSAFE, LABEL_FLASH};
use crate::{jffs2, layered, squashfs};

/// Where the merged view is mounted while mksquashfs reads it.
const MERGED: &str = "/run/flashroot/fold";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The new base's compression.
    #[arg(long, value_enum, default_value = "zstd")]
    pub compression: squashfs::Compression,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(RECORD)
        .with_context(|| format!("cannot read {RECORD}: is this a running layered root?"))?;
    let record = Record::parse(&text).map_err(|e| anyhow::anyhow!("{RECORD}: {e}"))?;
    if record.failsafe {
        bail!("this is a failsafe boot: the overlay is not mounted, there is nothing to fold");
    }
    let Some(card) = record.card.as_deref().map(PathBuf::from) else {
        bail!("{RECORD}: the card was detached at boot (keep = \"detach\"); fold needs it mounted");
    };
    let generation = layered::next_generation(&card)?;
    let name = |p: &str| {
        Path::new(p)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.to_string())
    };
    let new_base = format!("{generation}/{}", name(&record.base));
    let new_overlay = format!("{generation}/{}", name(&record.overlay));
    std::fs::create_dir(card.join(&generation))
        .with_context(|| format!("cannot create {}", card.join(&generation).display()))?;

    let base_report = merge_into(&card.join(&new_base), args.compression)?;
    println!("{base_report}");
    let current = card.join(&record.overlay);
    let size = std::fs::metadata(&current)
        .with_context(|| format!("cannot stat {}", current.display()))?
        .len();
    let options = jffs2::Options {
        erase_size: record.erase_size,
        pad_to: Some(size),
        ..Default::default()
    };
    write_atomic(
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
        (&record.base, &record.overlay),
    )
    .with_context(|| format!("{}", cfg_path.display()))?;
    write_atomic(&cfg_path, folded.as_bytes())?;
    println!(
        "{SYSLINUX_CFG}: {LABEL_FLASH} and {LABEL_FAILSAFE} boot {new_base} with {new_overlay}; \
         {} boots {} with {} as they are now. Reboot to use the folded base.",
        layered::LABEL_ROLLBACK,
        record.base,
        record.overlay
    );
    Ok(())
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
