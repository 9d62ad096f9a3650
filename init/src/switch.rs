//! switch_root done right: checks first (PID 1, a mounted new root, a real init to run),
//! then `/` private, the API mounts and the card moved, the initramfs freed without
//! crossing devices or following symlinks, MS_MOVE + chroot, the console reopened, exec.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use flashroot_config::KeepCard;

use crate::error::BootError;
use crate::execute::Timing;
use crate::kmsg;
use crate::plan::{KeepCardStep, Switch, MOVED_MOUNTS};
use crate::rootpath;
use crate::sys::mount::{detach, make_private, move_mount};
use crate::sys::switch_root::{chdir, chroot, exec, is_pid1, is_ram_fs, reopen_console};
use crate::{early, record, shutdown};

/// The environment the kernel gives init; the real init gets this and nothing of ours.
const INIT_ENV: [&str; 2] = ["HOME=/", "TERM=linux"];
/// Any execute bit.
const EXEC_BITS: u32 = 0o111;

/// Switches to `s.new_root` and execs the real init; returns only the error that stopped it.
pub fn switch_root(s: &Switch, timing: &Timing) -> BootError {
    match try_switch(s, timing) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn try_switch(s: &Switch, timing: &Timing) -> Result<std::convert::Infallible, BootError> {
    let step = "switch_root";
    if !is_pid1() {
        return Err(BootError::new(
            step,
            format!("PID {}", std::process::id()),
            "must run as PID 1",
        ));
    }
    let root = Path::new(&s.new_root);
    let dev_of = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.dev())
            .map_err(|e| BootError::io(step, p.display().to_string(), &e))
    };
    if dev_of(root)? == dev_of(Path::new("/"))? {
        return Err(BootError::new(
            step,
            &s.new_root,
            "not a mountpoint: nothing is mounted there",
        ));
    }
    check_init(root, &s.init)?;

    // While /init and /run are both still here; a failure costs only a clean shutdown.
    if s.prepare_shutdown {
        match shutdown::prepare::prepare() {
            Ok(bytes) => info!(
                "prepared {} for systemd's shutdown: {} KiB of RAM in /run",
                shutdown::PROGRAM,
                bytes.div_ceil(1024)
            ),
            Err(e) => error!("error: {e}; shutdown will leave the card dirty"),
        }
    }
    if let Some(card) = &s.card {
        let kept_at = (card.how == KeepCard::Move).then_some(card.keep_at.as_str());
        if let Err(e) = record::card(kept_at) {
            error!("error: {e}; shutdown will not find the card");
        }
    }

    make_private("/")?;
    for m in MOVED_MOUNTS {
        let target = format!("{}{m}", s.new_root);
        std::fs::create_dir_all(&target)
            .map_err(|e| BootError::io("create mountpoint", &target, &e))?;
        move_mount(m, &target)?;
    }
    if let Some(card) = &s.card {
        keep_card(&s.new_root, card)?;
    }
    if is_ram_fs("/")? {
        let root_dev = dev_of(Path::new("/"))?;
        let freed = free_initramfs(Path::new("/"), root_dev);
        info!("freed the initramfs: {} KiB", freed / 1024);
    } else {
        info!("/ is not a ramfs or tmpfs: leaving its contents alone");
    }
    chdir(&s.new_root)?;
    move_mount(".", "/")?;
    chroot(".")?;
    chdir("/")?;
    early::restore_devkmsg();

    info!("{}", timing.summary(kmsg::now()));
    info!("exec {}", s.init);
    kmsg::close();
    reopen_console()?;
    let argv: Vec<String> = std::iter::once(s.init.clone())
        .chain(s.args.iter().cloned())
        .collect();
    let env: Vec<String> = INIT_ENV.iter().map(|s| s.to_string()).collect();
    Err(exec(&s.init, &argv, &env))
}

/// The real init must exist and be executable before anything irreversible happens.
fn check_init(root: &Path, init: &str) -> Result<(), BootError> {
    let object = format!("{init} in the new root");
    let resolved = rootpath::resolve(root, init)
        .map_err(|e| BootError::new("find the real init", &object, e.to_string()))?;
    let meta = std::fs::metadata(&resolved)
        .map_err(|e| BootError::io("find the real init", &object, &e))?;
    if !meta.is_file() || meta.permissions().mode() & EXEC_BITS == 0 {
        return Err(BootError::new(
            "find the real init",
            object,
            "not an executable file",
        ));
    }
    Ok(())
}

fn keep_card(new_root: &str, card: &KeepCardStep) -> Result<(), BootError> {
    match card.how {
        KeepCard::Move => {
            let target = format!("{new_root}{}", card.keep_at);
            std::fs::create_dir_all(&target)
                .map_err(|e| BootError::io("create mountpoint", &target, &e))?;
            move_mount(&card.mountpoint, &target)?;
            info!("the card stays reachable at {}", card.keep_at);
        }
        KeepCard::Detach => {
            detach(&card.mountpoint)?;
            info!("the card is detached; it stays mounted while the containers use it");
        }
    }
    Ok(())
}

/// Deletes everything on the device `dev` below `dir`, never crossing into other mounts
/// and never following symlinks. Returns the bytes of the files removed. Errors are
/// skipped: a file we cannot remove only costs memory.
fn free_initramfs(dir: &Path, dev: u64) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut freed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.dev() != dev {
            continue;
        }
        if meta.is_dir() {
            freed += free_initramfs(&path, dev);
            let _ = std::fs::remove_dir(&path);
        } else if std::fs::remove_file(&path).is_ok() {
            freed += meta.len();
        }
    }
    freed
}
