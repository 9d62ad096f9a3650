//! The pure planner: config + command line in, the ordered list of steps out. The init
//! executes exactly this list and `flashroot plan` prints it, so a dry run on the host
//! shows what a boot will do.

use std::time::Duration;

use flashroot_config::load_order::LOAD_ORDER_PATH;
use flashroot_config::Config;
use nix::mount::MsFlags;

use crate::cmdline::Cmdline;
use crate::failure::Policy;
use crate::{layered, options};

/// Where the real root is assembled before switch_root.
pub const NEW_ROOT: &str = "/root";
/// The real init when `init=` is not given.
pub const DEFAULT_INIT: &str = "/sbin/init";
/// Mounts of the initramfs that move into the new root at switch_root.
pub const MOVED_MOUNTS: [&str; 4] = ["/dev", "/proc", "/sys", "/run"];
/// Overlays keep their upper and work directories on a tmpfs under here (inside /run,
/// which moves into the new root, so they stay visible there).
pub const OVERLAY_TMPFS_DIR: &str = "/run/flashroot/overlay";
pub const OVERLAY_UPPER: &str = "upper";
pub const OVERLAY_WORK: &str = "work";
/// The kernel's name of the overlay filesystem.
pub const OVERLAY_FS: &str = "overlay";

mod params;
mod steps;

use params::{bad, parse_root, read_only, Overrides, RootRef};
pub use params::{PlanError, KEY_BASE, KEY_CONTAINER, KEY_FAILSAFE, KEY_RESET};
pub use steps::*;

/// Plans the boot for `config` and the kernel command line.
pub fn plan(config: &Config, cmdline: &Cmdline) -> Result<Plan, PlanError> {
    let (mut failure, mut warnings) = Policy::resolve(&config.failure, cmdline);
    // What the builder packs; the init checks the file itself at boot.
    failure.shell = !config.initramfs.shell.is_empty();
    let overrides = Overrides::read(config, cmdline, &mut warnings)?;
    let mode = if cmdline.has_word(&config.trigger) {
        Mode::Flash
    } else {
        Mode::Normal
    };
    let mut steps = Vec::new();
    let brk = |steps: &mut Vec<Step>, at: BreakPoint| {
        if overrides.break_point == Some(at) {
            steps.push(Step::Break(at));
        }
    };
    brk(&mut steps, BreakPoint::Top);
    steps.push(Step::LoadModules {
        list: LOAD_ORDER_PATH.into(),
        all: overrides.all_modules,
        filesystems: Vec::new(),
    });
    brk(&mut steps, BreakPoint::Premount);
    if let Some(v) = cmdline.get("rootdelay") {
        let seconds = v
            .parse()
            .map_err(|_| bad("rootdelay", v, "expected a number of seconds"))?;
        steps.push(Step::Sleep { seconds });
    }
    let card = match mode {
        Mode::Flash => Some(plan_flash(config, cmdline, &overrides, &mut steps)),
        Mode::Normal => {
            plan_normal(config, cmdline, &overrides, &mut steps)?;
            None
        }
    };
    brk(&mut steps, BreakPoint::Bottom);
    let init = match cmdline.get("init") {
        Some(v) if v.starts_with('/') => v.to_string(),
        Some(v) => {
            return Err(bad(
                "init",
                v,
                "expected an absolute path such as /sbin/init",
            ))
        }
        None => DEFAULT_INIT.to_string(),
    };
    steps.push(Step::SwitchRoot(Switch {
        new_root: NEW_ROOT.into(),
        init,
        args: cmdline.init_args.clone(),
        prepare_shutdown: card.is_some(),
        card,
    }));
    let named = named_filesystems(&steps);
    for step in &mut steps {
        if let Step::LoadModules { filesystems, .. } = step {
            *filesystems = named.clone();
        }
    }
    Ok(Plan {
        mode,
        steps,
        failure,
        warnings,
    })
}

/// The filesystem types the plan mounts by name (the card, JFFS2, tmpfs, overlays,
/// `rootfstype=`), in order: their modules load with the drivers, while a probed root's
/// module loads only once its superblock has been read.
fn named_filesystems(steps: &[Step]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for step in steps {
        let fstype = match step {
            Step::Mount(m) => m.fstype.as_deref(),
            Step::Overlay { .. } => Some(OVERLAY_FS),
            _ => None,
        };
        let layered_types: &[&str] = match step {
            Step::LayeredRoot(_) => &[layered::SQUASHFS_FS, OVERLAY_FS],
            _ => &[],
        };
        for t in fstype.iter().chain(layered_types) {
            if !out.iter().any(|o| o == t) {
                out.push(t.to_string());
            }
        }
    }
    out
}

fn plan_flash(
    config: &Config,
    cmdline: &Cmdline,
    o: &Overrides,
    steps: &mut Vec<Step>,
) -> KeepCardStep {
    let card = &config.card;
    steps.push(Step::WaitDevice {
        device: o.card.clone(),
        timeout: Some(Duration::from_secs(o.timeout.into())),
    });
    // Read-write always: block2mtd opens its loop device for writing.
    let mut card_opts: Vec<String> = Vec::new();
    if let Some(cs) = &card.iocharset {
        card_opts.push(format!("iocharset={cs}"));
    }
    if let Some(cp) = card.codepage {
        card_opts.push(format!("codepage={cp}"));
    }
    card_opts.extend(card.options.iter().cloned());
    let (flags, data) = options::split(&card_opts);
    steps.push(Step::Mount(Mount {
        source: Source::Device(o.card.clone()),
        target: Target::Initramfs(card.mountpoint.0.clone()),
        fstype: Some(card.fstype.clone()),
        flags,
        data,
    }));
    // The root first: the others are mounted inside it.
    let mut containers: Vec<_> = config.containers.iter().collect();
    containers.sort_by_key(|c| c.mountpoint.0 != "/");
    for c in containers {
        let is_root = c.mountpoint.0 == "/";
        let file = match (&o.container, is_root) {
            (Some(f), true) => f.clone(),
            _ => c.file.0.clone(),
        };
        let erase_size = match (o.erase_size, is_root) {
            (Some(e), true) => e,
            _ => c.erase_size,
        };
        let label = c.label();
        if let (true, Some(base)) = (is_root, &c.base) {
            plan_layered_root(config, cmdline, o, c, base, &file, erase_size, steps);
            continue;
        }
        steps.push(Step::Container(ContainerSetup {
            file: format!("{}/{file}", card.mountpoint.0.trim_end_matches('/')),
            on_card: file.trim_start_matches('/').to_string(),
            erase_size,
            label: label.clone(),
            writes: o.writes,
            flush_ms: card.flush_ms,
        }));
        let mut opts = c.options.clone();
        if is_root {
            // `rootflags=` adds to the root container's configured options.
            opts.extend(cmdline.get("rootflags").map(str::to_string));
        }
        let (mut flags, data) = options::split(&opts);
        if is_root && read_only(cmdline, false) {
            flags |= MsFlags::MS_RDONLY;
        }
        steps.push(Step::Mount(Mount {
            source: Source::Name(format!("mtd:{label}")),
            target: Target::InRoot(c.mountpoint.0.clone()),
            fstype: Some("jffs2".into()),
            flags,
            data,
        }));
    }
    for t in &config.tmpfs {
        let mut opts = Vec::new();
        if let Some(m) = &t.mode {
            opts.push(format!("mode={m}"));
        }
        if let Some(s) = &t.size {
            opts.push(format!("size={s}"));
        }
        steps.push(Step::Mount(Mount {
            source: Source::Name("tmpfs".into()),
            target: Target::InRoot(t.path.0.clone()),
            fstype: Some("tmpfs".into()),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: opts.join(","),
        }));
    }
    for r in &config.ramdirs {
        steps.push(Step::RamDir(RamDirSetup {
            path: r.path.0.clone(),
            size: r.size.clone(),
            mode: r.mode.clone(),
            owner: r.owner.clone(),
            save_minutes: r.save_minutes,
        }));
    }
    for (i, ov) in config.overlays.iter().enumerate() {
        steps.push(Step::Overlay {
            target: Target::InRoot(ov.path.0.clone()),
            tmpfs_dir: format!("{OVERLAY_TMPFS_DIR}/{i}"),
            size: ov.size.clone(),
        });
    }
    KeepCardStep {
        mountpoint: card.mountpoint.0.clone(),
        how: card.keep,
        keep_at: card.keep_at.0.clone(),
    }
}

/// A layered root: the overlay container (as any container, unless failsafe puts a
/// tmpfs in its place), then the base and the overlayfs at the new root.
#[allow(clippy::too_many_arguments)]
fn plan_layered_root(
    config: &Config,
    cmdline: &Cmdline,
    o: &Overrides,
    c: &flashroot_config::Container,
    base: &flashroot_config::RelPath,
    file: &str,
    erase_size: flashroot_config::EraseSize,
    steps: &mut Vec<Step>,
) {
    let card = &config.card;
    let on_card = |f: &str| format!("{}/{f}", card.mountpoint.0.trim_end_matches('/'));
    let label = c.label();
    if o.failsafe {
        steps.push(Step::Mount(Mount {
            source: Source::Name("tmpfs".into()),
            target: Target::Initramfs(layered::OVERLAY_DIR.into()),
            fstype: Some("tmpfs".into()),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: "mode=0755".into(),
        }));
    } else {
        steps.push(Step::Container(ContainerSetup {
            file: on_card(file),
            on_card: file.trim_start_matches('/').to_string(),
            erase_size,
            label: label.clone(),
            writes: o.writes,
            flush_ms: card.flush_ms,
        }));
        let mut opts = c.options.clone();
        opts.extend(cmdline.get("rootflags").map(str::to_string));
        let (flags, data) = options::split(&opts);
        steps.push(Step::Mount(Mount {
            source: Source::Name(format!("mtd:{label}")),
            target: Target::Initramfs(layered::OVERLAY_DIR.into()),
            fstype: Some("jffs2".into()),
            flags,
            data,
        }));
    }
    let base = o.base.clone().unwrap_or_else(|| base.0.clone());
    let flags = if read_only(cmdline, false) {
        MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    steps.push(Step::LayeredRoot(LayeredRoot {
        base: on_card(&base),
        base_on_card: base,
        erase_size,
        overlay_on_card: file.trim_start_matches('/').to_string(),
        failsafe: o.failsafe,
        reset: (!o.failsafe).then(|| ResetCheck {
            marker: on_card(&layered::reset_marker(file)),
            requested: o.reset,
            label,
        }),
        flags,
        card_in_root: (card.keep == flashroot_config::KeepCard::Move)
            .then(|| card.keep_at.0.clone()),
    }));
}

fn plan_normal(
    config: &Config,
    cmdline: &Cmdline,
    o: &Overrides,
    steps: &mut Vec<Step>,
) -> Result<(), PlanError> {
    let Some(root) = cmdline.get("root") else {
        return Err(PlanError {
            param: "root=".into(),
            reason: format!(
                "no root= on the kernel command line and no `{}`",
                config.trigger
            ),
        });
    };
    let root = parse_root(root)?;
    let mut fstype = cmdline
        .get("rootfstype")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let source = match root {
        RootRef::Block(device) => {
            let timeout = if cmdline.has("rootwait") {
                None
            } else {
                Some(Duration::from_secs(o.timeout.into()))
            };
            steps.push(Step::WaitDevice {
                device: device.clone(),
                timeout,
            });
            Source::Device(device)
        }
        RootRef::Mtd(name) => {
            // Only JFFS2 mounts MTD devices by name; blkid cannot probe it.
            fstype.get_or_insert_with(|| "jffs2".into());
            Source::Name(name)
        }
    };
    let (mut flags, data) = options::split(&[cmdline.get("rootflags").unwrap_or("")]);
    // Like the kernel: read-only unless `rw`.
    if read_only(cmdline, true) {
        flags |= MsFlags::MS_RDONLY;
    }
    steps.push(Step::Mount(Mount {
        source,
        target: Target::InRoot("/".into()),
        fstype,
        flags,
        data,
    }));
    Ok(())
}

#[cfg(test)]
mod tests;
