//! flashroot's /init as a library, so that the host can test it and `flashroot plan` can
//! run the very planner the init runs.
//!
//! - [`boot`]: the phases, from the early mounts to the exec of the real init.
//! - Pure, tested on fixtures: [`cmdline`] (the kernel command line), [`mod@plan`] (config +
//!   command line → the ordered steps), [`blkid`] (FAT, ext2/3/4, btrfs, XFS, f2fs, squashfs
//!   superblocks, MBR/GPT partition ids), [`jffs2check`] (is a container JFFS2, with the configured erase size?),
//!   [`modalias`] (kernel uevents: a new device and its modalias),
//!   [`options`] (mount options), [`rootpath`] (symlinks resolved inside the new root).
//! - At boot: [`execute`] runs the steps, [`device`] finds block devices, [`filesystems`]
//!   says which types the kernel knows, [`coldplug`] loads drivers and filesystems, [`container`]
//!   sets up loop + block2mtd, [`switch`]
//!   does switch_root, [`failure`] the failure policy, [`kmsg`] the logging.
//! - At shutdown: [`shutdown`] (the same binary, run as /run/initramfs/shutdown)
//!   undoes the boot from [`containers_file`] and [`mountinfo`] (pure, tested, in
//!   `flashroot-runtime`, which the tools on the running system read them with too).
//! - [`sys`]: the system calls, the only module with `unsafe` (denied everywhere else by the
//!   workspace lints).

#[macro_use]
pub mod kmsg;
pub mod agent;
pub mod blkid;
pub mod boot;
pub mod cmdline;
pub mod coldplug;
pub mod container;
pub mod device;
mod early;
pub mod error;
pub mod execute;
pub mod failure;
pub mod fatchain;
pub mod filesystems;
pub mod jffs2check;
pub mod layered;
pub mod modalias;
pub mod options;
pub mod plan;
pub mod ramdir;
mod record;
pub mod rootpath;
pub mod scanahead;
pub mod shutdown;
pub mod switch;
pub mod sys;

// The formats the boot shares with the tools on the running system, under the names the
// init's modules have always used.
pub use flashroot_runtime::{containers_file, mountinfo};

pub use cmdline::Cmdline;
pub use error::BootError;
pub use plan::{plan, Plan, PlanError, Step};
