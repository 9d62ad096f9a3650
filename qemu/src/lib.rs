//! QEMU boot harness for flashroot tests: Debian's kernel, TCG, serial console capture.
//!
//! - [`kernel`]: Debian's amd64 kernel, fetched with apt and cached in `~/.cache/flashroot/kernel`.
//! - [`options`]: [`BootOptions`], one struct per boot (kernel, initrd, cmdline, disks, timeout),
//!   and [`Cut`], a power cut (SIGKILL) after a console line plus a delay, or at a fixed time.
//! - [`runner`]: [`boot`] runs QEMU and watches the console until the guest ends.
//! - [`outcome`]: [`Outcome`] and [`Ending`] (powered off, rebooted, halted, panicked, timed out,
//!   cut) with assertion helpers that print the last console lines, and each console line's
//!   arrival time on the host.
//! - [`output_disk`]: the framing a guest uses to hand results back on a raw disk.
//! - [`vmlinux`]: the ELF kernel inside the bzImage, for fast PVH boots under TCG.
//!
//! ```no_run
//! use flashroot_qemu::{boot, debian_kernel, BootOptions};
//! let kernel = debian_kernel()?;
//! let mut options = BootOptions::for_kernel(&kernel);
//! options.initrd = Some("initrd.img".into());
//! options.cmdline = "rdinit=/init".into();
//! boot(&options)?.expect_powered_off().expect_console("running as PID 1");
//! # Ok::<(), flashroot_qemu::Error>(())
//! ```

mod apt;
mod error;
mod host;
pub mod kernel;
pub mod options;
pub mod outcome;
pub mod output_disk;
pub mod runner;
pub mod vmlinux;

pub use error::Error;
pub use kernel::{debian_kernel, Kernel};
pub use options::{BootOptions, Cut, Disk, DiskInterface};
pub use outcome::{Ending, Outcome};
pub use runner::{boot, boot_in};
