//! Runs a [`Plan`] step by step: the same list `flashroot plan` prints.

use std::convert::Infallible;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use flashroot_config::load_order::ALIASES_PATH;
use flashroot_config::DeviceRef;
use nix::mount::MsFlags;

use crate::coldplug::Coldplug;
use crate::error::BootError;
use crate::failure::RESCUE_SHELL;
use crate::filesystems::{filesystem_missing, kernel_filesystems, kernel_knows};
use crate::plan::{
    Mode, Mount, Plan, RamDirSetup, Source, Step, Target, MOVED_MOUNTS, NEW_ROOT, OVERLAY_FS,
    OVERLAY_UPPER, OVERLAY_WORK,
};
use crate::sys;
use crate::{container, device, ramdir, record, rootpath, switch};

/// While the card is missing, load every packed driver after this long (or half the
/// timeout, when shorter): the last resort for a device no modalias of ours matches.
const LOAD_EVERY_DRIVER_AFTER: Duration = Duration::from_secs(4);

/// Where the boot's time went, for the summary before the switch.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    /// CLOCK_MONOTONIC when the init started.
    pub started: Duration,
    /// Waiting for devices, `rootdelay` and the rescue shell.
    pub waits: Duration,
    /// Inside finit_module (mostly the kernel's own work).
    pub modules: Duration,
    /// Inside the JFFS2 mount(2) calls (the kernel's scan).
    pub jffs2: Duration,
}

impl Timing {
    /// One line for the log: where the time since the init started went. "Own" is what
    /// remains outside waits, module loading and JFFS2 mounts; the CPU figures split the
    /// whole run into our user-space code and the kernel's work on our behalf.
    pub fn summary(&self, now: Duration) -> String {
        let total = now.saturating_sub(self.started);
        let own = total.saturating_sub(self.waits + self.modules + self.jffs2);
        let (user, system) = sys::process::cpu_times();
        format!(
            "init done in {} ms: waits {} ms, modules {} ms, JFFS2 mounts {} ms, own {} ms (CPU: user {} ms, kernel {} ms)",
            total.as_millis(),
            self.waits.as_millis(),
            self.modules.as_millis(),
            self.jffs2.as_millis(),
            own.as_millis(),
            user.as_millis(),
            system.as_millis()
        )
    }
}

struct Executor<'a> {
    plan: &'a Plan,
    /// Devices found by WaitDevice, for the mounts that follow.
    found: Vec<(DeviceRef, String)>,
    /// The module loader, from LoadModules on: it keeps loading drivers while we wait.
    coldplug: Option<Coldplug>,
    timing: Timing,
    /// RAM directories mounted, with their save interval, for the keeper.
    ramdirs: Vec<(String, u32)>,
}

/// Executes the plan; returns only with the error that stopped it.
pub fn run(plan: &Plan, started: Duration) -> Result<Infallible, BootError> {
    let mut ex = Executor {
        plan,
        found: Vec::new(),
        coldplug: None,
        ramdirs: Vec::new(),
        timing: Timing {
            started,
            ..Timing::default()
        },
    };
    for step in &plan.steps {
        info!("{step}");
        ex.step(step)?;
    }
    Err(BootError::new("boot", "plan", "ended without switch_root"))
}

fn timed<T>(slot: &mut Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    *slot += start.elapsed();
    out
}

impl Executor<'_> {
    fn step(&mut self, step: &Step) -> Result<(), BootError> {
        match step {
            Step::Break(_) => {
                timed(&mut self.timing.waits, rescue_shell);
                Ok(())
            }
            Step::LoadModules {
                list,
                all,
                filesystems,
            } => {
                let coldplug = Coldplug::start(list, ALIASES_PATH, *all, filesystems)?;
                self.timing.modules += coldplug.load_time;
                self.coldplug = Some(coldplug);
                Ok(())
            }
            Step::Sleep { seconds } => {
                timed(&mut self.timing.waits, || {
                    std::thread::sleep(Duration::from_secs((*seconds).into()))
                });
                Ok(())
            }
            Step::WaitDevice { device, timeout } => {
                let what = match self.plan.mode {
                    Mode::Flash => "the card",
                    Mode::Normal => "the root device",
                };
                let dev = self.wait_device(device, *timeout, what)?;
                if matches!(device, DeviceRef::Path(_)) {
                    info!("found {dev}");
                } else {
                    info!("found {device} at {dev}");
                }
                self.found.push((device.clone(), dev));
                Ok(())
            }
            Step::Mount(m) => self.mount(m),
            Step::Container(c) => container::setup(c),
            Step::Overlay {
                target,
                tmpfs_dir,
                size,
            } => {
                self.ensure_filesystem(OVERLAY_FS, &target.to_string())?;
                overlay(target, tmpfs_dir, size.as_deref())
            }
            Step::RamDir(r) => {
                self.ramdir(r);
                Ok(())
            }
            Step::LayeredRoot(l) => {
                self.ensure_filesystem(crate::layered::SQUASHFS_FS, &l.base)?;
                self.ensure_filesystem(OVERLAY_FS, NEW_ROOT)?;
                crate::layered::setup(l)
            }
            Step::SwitchRoot(s) => {
                if !self.ramdirs.is_empty() {
                    match ramdir::keeper::start(NEW_ROOT, &self.ramdirs) {
                        Ok(pid) => info!("RAM directories: keeper started as PID {pid}"),
                        Err(e) => error!("{e}; the RAM directories are not saved this boot"),
                    }
                    if let Err(e) = ramdir::keeper::install_systemd_unit(&self.ramdirs) {
                        error!("{e}; under systemd they are not saved at shutdown");
                    }
                }
                Err(switch::switch_root(s, &self.timing))
            }
        }
    }

    /// A RAM directory that cannot be loaded is no reason to stop the boot: it stays on
    /// the root (where shared writable mmap fails) and is not saved.
    fn ramdir(&mut self, r: &RamDirSetup) {
        let mounted = target_path(&Target::InRoot(r.path.clone())).and_then(|target| {
            let Some(target) = target else {
                return Ok(false);
            };
            ramdir::mount(
                NEW_ROOT,
                &r.path,
                &target,
                r.size.as_deref(),
                r.mode.as_deref(),
                r.owner.as_deref(),
            )?;
            Ok(true)
        });
        match mounted {
            Ok(true) => self.ramdirs.push((r.path.clone(), r.save_minutes)),
            Ok(false) => {}
            Err(e) => error!(
                "{e}; {} stays on the root this boot, and is not saved",
                r.path
            ),
        }
    }

    /// Waits for a device while coldplug loads the drivers of whatever appears; the
    /// time inside finit_module counts as modules, the rest as waiting.
    fn wait_device(
        &mut self,
        device: &DeviceRef,
        timeout: Option<Duration>,
        what: &str,
    ) -> Result<String, BootError> {
        let start = Instant::now();
        let Some(coldplug) = self.coldplug.as_mut() else {
            let dev = device::wait(device, timeout, what, &mut device::sleep);
            self.timing.waits += start.elapsed();
            return dev;
        };
        let loading_before = coldplug.load_time;
        let last_resort_at = timeout
            .map_or(LOAD_EVERY_DRIVER_AFTER, |t| t / 2)
            .min(LOAD_EVERY_DRIVER_AFTER);
        let mut last_resort_taken = false;
        let mut idle = |poll: Duration| {
            if !last_resort_taken && start.elapsed() >= last_resort_at {
                last_resort_taken = true;
                let unused = coldplug.unused_drivers();
                if !unused.is_empty() {
                    info!(
                        "{what} {device} has not appeared after {} ms; loading the drivers no device asked for: {}",
                        start.elapsed().as_millis(),
                        unused.join(" ")
                    );
                    coldplug.load_unused_drivers()?;
                }
            }
            coldplug.settle(poll)
        };
        let dev = device::wait(device, timeout, what, &mut idle).map_err(|mut e| {
            let undriven = crate::coldplug::undriven_storage();
            if !undriven.is_empty() {
                e.reason.push_str(&format!(
                    "; storage devices without a driver: {}; find the module with `modprobe -R <modalias>` and add it to [modules] load",
                    undriven.join(", ")
                ));
            }
            e
        });
        let loading = coldplug.load_time - loading_before;
        self.timing.modules += loading;
        self.timing.waits += start.elapsed().saturating_sub(loading);
        dev
    }

    fn mount(&mut self, m: &Mount) -> Result<(), BootError> {
        let source = match &m.source {
            Source::Name(n) => n.clone(),
            Source::Device(d) => match self.found.iter().find(|(r, _)| r == d) {
                Some((_, dev)) => dev.clone(),
                None => device::find(d)
                    .ok_or_else(|| BootError::new("mount", d.to_string(), "device not found"))?,
            },
        };
        let Some(target) = target_path(&m.target)? else {
            return Ok(());
        };
        match m.fstype.as_deref() {
            Some(fstype) => {
                let what = sys::mount::describe(&source, &target, Some(fstype), m.flags, &m.data);
                self.ensure_filesystem(fstype, &what)?;
                let mut spent = Duration::ZERO;
                let reads_before = (fstype == "jffs2")
                    .then(|| device_reads_under(&source))
                    .flatten();
                let r = timed(&mut spent, || {
                    sys::mount::mount(&source, &target, Some(fstype), m.flags, &m.data)
                });
                if fstype == "jffs2" {
                    self.timing.jffs2 += spent;
                    // What the scan read itself, beyond the read-ahead (`scanahead`).
                    let own_reads = reads_before.and_then(|(dev, before)| {
                        let after = block_device_reads(&dev)?;
                        Some(format!(
                            "; the scan read {dev} {} times itself",
                            after.saturating_sub(before)
                        ))
                    });
                    info!(
                        "mounted {source} in {} ms{}",
                        spent.as_millis(),
                        own_reads.unwrap_or_default()
                    );
                }
                r
            }
            None => {
                // What the superblock says goes first, and its module is loaded for it.
                let probed = device::probe(&source).map(|f| f.kind.fs_type());
                if let Some(fstype) = probed {
                    info!("{source}: {fstype} superblock");
                    let what = sys::mount::describe(&source, &target, None, m.flags, &m.data);
                    self.ensure_filesystem(fstype, &what)?;
                }
                probe_mount(&source, &target, m.flags, &m.data, probed)
            }
        }
    }

    /// Makes the kernel know `fstype` before `mount` (described) needs it: built in or
    /// loaded already (listed in /proc/filesystems), or by loading the packed module that
    /// registers it; else the error names the module to add.
    fn ensure_filesystem(&mut self, fstype: &str, mount: &str) -> Result<(), BootError> {
        if kernel_knows(fstype)? {
            return Ok(());
        }
        let start = Instant::now();
        let loaded = match self.coldplug.as_mut() {
            Some(c) => c.load_filesystem(fstype)?,
            None => false,
        };
        self.timing.modules += start.elapsed();
        if loaded {
            return Ok(());
        }
        Err(BootError::new("mount", mount, filesystem_missing(fstype)))
    }
}

/// The directory to mount on, created if missing; None when the mount is to be skipped.
fn target_path(target: &Target) -> Result<Option<String>, BootError> {
    let path = match target {
        Target::Initramfs(p) => p.clone(),
        Target::InRoot(p) => {
            let root = Path::new(NEW_ROOT);
            let resolved = rootpath::resolve(root, p)
                .map_err(|e| BootError::new("resolve mountpoint", p, e.to_string()))?;
            let inside = rootpath::inside(root, &resolved);
            if let Some(moved) = rootpath::beneath(&inside, &MOVED_MOUNTS).filter(|_| p != "/") {
                info!(
                    "skipping {p}: it is {inside} in the root, which gets the initramfs' {moved}"
                );
                return Ok(None);
            }
            resolved.display().to_string()
        }
    };
    std::fs::create_dir_all(&path).map_err(|e| BootError::io("create mountpoint", &path, &e))?;
    Ok(Some(path))
}

/// Tries each block filesystem the kernel knows, as the kernel does for `root=` without
/// `rootfstype=`; the `probed` type first (no failed attempts logged by the kernel).
fn probe_mount(
    source: &str,
    target: &str,
    flags: MsFlags,
    data: &str,
    probed: Option<&str>,
) -> Result<(), BootError> {
    let mut candidates = kernel_filesystems(false)?;
    if let Some(hint) = probed {
        candidates.sort_by_key(|c| c != hint);
    }
    for fstype in &candidates {
        if sys::mount::mount(source, target, Some(fstype), flags, data).is_ok() {
            info!("{source} is {fstype}");
            return Ok(());
        }
    }
    Err(BootError::new(
        "mount",
        sys::mount::describe(source, target, None, flags, data),
        format!(
            "no filesystem accepted it (tried {}); give rootfstype=",
            candidates.join(", ")
        ),
    ))
}

fn rescue_shell() {
    if Path::new(RESCUE_SHELL).exists() {
        info!("starting {RESCUE_SHELL}; exit it to go on booting");
        if let Err(e) = sys::process::run_shell(RESCUE_SHELL) {
            error!("error: rescue shell: {RESCUE_SHELL}: {e}");
        }
    } else {
        info!("no rescue shell packed ({RESCUE_SHELL}); going on");
    }
}

/// An overlay whose lower layer is the directory itself and whose upper and work
/// directories live on their own tmpfs.
fn overlay(target: &Target, tmpfs_dir: &str, size: Option<&str>) -> Result<(), BootError> {
    let Some(lower) = target_path(target)? else {
        return Ok(());
    };
    std::fs::create_dir_all(tmpfs_dir)
        .map_err(|e| BootError::io("create overlay tmpfs dir", tmpfs_dir, &e))?;
    let mut data = String::from("mode=0755");
    if let Some(s) = size {
        data.push_str(&format!(",size={s}"));
    }
    sys::mount::mount(
        "tmpfs",
        tmpfs_dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        &data,
    )?;
    let upper = format!("{tmpfs_dir}/{OVERLAY_UPPER}");
    let work = format!("{tmpfs_dir}/{OVERLAY_WORK}");
    for d in [&upper, &work] {
        std::fs::create_dir(d).map_err(|e| BootError::io("create overlay dir", d, &e))?;
    }
    // The merged directory shows the upper directory's owner and mode: copy the lower's.
    let meta =
        std::fs::metadata(&lower).map_err(|e| BootError::io("overlay lower dir", &lower, &e))?;
    std::os::unix::fs::chown(&upper, Some(meta.uid()), Some(meta.gid()))
        .map_err(|e| BootError::io("chown overlay upper dir", &upper, &e))?;
    std::fs::set_permissions(
        &upper,
        std::fs::Permissions::from_mode(meta.mode() & 0o7777),
    )
    .map_err(|e| BootError::io("chmod overlay upper dir", &upper, &e))?;
    let data = format!("lowerdir={lower},upperdir={upper},workdir={work}");
    sys::mount::mount("overlay", &lower, Some("overlay"), MsFlags::empty(), &data)
}

/// The block device under the MTD device `mtd:<label>` (from the boot's record of its
/// containers) and the reads it has completed so far.
fn device_reads_under(source: &str) -> Option<(String, u64)> {
    let label = source.strip_prefix("mtd:")?;
    let dev = record::container_device(label, "count the scan's reads").ok()?;
    let reads = block_device_reads(&dev)?;
    Some((dev, reads))
}

/// Read requests `/dev/<name>` has completed: the first field of its sysfs `stat`.
fn block_device_reads(dev: &str) -> Option<u64> {
    let name = dev.strip_prefix("/dev/")?;
    let stat = std::fs::read_to_string(format!("/sys/block/{name}/stat")).ok()?;
    stat.split_whitespace().next()?.parse().ok()
}
