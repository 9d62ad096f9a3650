//! One options struct per boot.

use std::path::PathBuf;
use std::time::Duration;

use crate::Kernel;

/// Guest RAM. Debian's kernel plus a small initramfs needs far less; 512 MiB leaves room
/// for tmpfs-heavy tests without slowing TCG.
pub const DEFAULT_MEMORY_MIB: u32 = 512;
/// Wall-clock limit. Debian's kernel reaches /init after about 3 s (PVH `vmlinux`) or
/// 9-11 s (`vmlinuz`) of wall time under TCG here, on a loaded 2-core machine.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Kernel parameters the harness always puts first (later ones on the command line win):
/// the console on the first serial port (captured), and reboot right away on panic so
/// QEMU (`-no-reboot`) exits instead of hanging.
pub const HARNESS_CMDLINE: &str = "console=ttyS0,115200 panic=-1";

/// How a disk is attached, i.e. which guest driver must find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiskInterface {
    /// virtio-blk on PCI: `/dev/vdX`, module `virtio_blk`.
    #[default]
    Virtio,
    /// The PIIX IDE controller of QEMU's `pc` machine: `/dev/sdX` via `ata_piix` + `sd_mod`.
    Ide,
    /// An AHCI SATA controller: `/dev/sdX` via `ahci` + `sd_mod`.
    Ahci,
    /// A USB mass-storage stick on an xHCI controller: `/dev/sdX` via `xhci_pci`,
    /// `usb-storage` + `sd_mod` (the closest to a card reader).
    Usb,
}

/// A raw disk image for the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub path: PathBuf,
    pub interface: DiskInterface,
    /// Attach read-only (the guest sees a write-protected disk).
    pub read_only: bool,
}

impl Disk {
    /// A writable virtio disk.
    pub fn virtio(path: impl Into<PathBuf>) -> Self {
        Self::new(path, DiskInterface::Virtio)
    }

    pub fn new(path: impl Into<PathBuf>, interface: DiskInterface) -> Self {
        Disk {
            path: path.into(),
            interface,
            read_only: false,
        }
    }
}

/// Everything about one boot.
#[derive(Debug, Clone, PartialEq)]
pub struct BootOptions {
    /// The kernel QEMU loads directly (`-kernel`); `None` boots from the disks through the
    /// firmware (SeaBIOS), e.g. a card with a boot loader. Then `initrd` and `cmdline` must be
    /// empty: the boot loader chooses them.
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    /// Kernel parameters, appended after [`HARNESS_CMDLINE`].
    pub cmdline: String,
    pub memory_mib: u32,
    pub cpus: u32,
    /// Disks in attachment order (per interface, the first is `vda`/`sda`).
    pub disks: Vec<Disk>,
    /// Size in bytes of a zeroed virtio output disk attached after `disks`; its framed payload
    /// (see [`crate::output_disk`]) comes back as [`crate::Outcome::output`].
    pub output_disk: Option<u64>,
    pub timeout: Duration,
    /// Extra QEMU arguments, appended last.
    pub extra_qemu_args: Vec<String>,
}

impl BootOptions {
    /// Defaults for `kernel`: no initrd, 512 MiB, one CPU, no disks, 120 s timeout.
    pub fn new(kernel: impl Into<PathBuf>) -> Self {
        BootOptions {
            kernel: Some(kernel.into()),
            ..Self::firmware()
        }
    }

    /// A firmware boot from the first bootable disk (no `-kernel`); otherwise as [`Self::new`].
    pub fn firmware() -> Self {
        BootOptions {
            kernel: None,
            initrd: None,
            cmdline: String::new(),
            memory_mib: DEFAULT_MEMORY_MIB,
            cpus: 1,
            disks: Vec::new(),
            output_disk: None,
            timeout: DEFAULT_TIMEOUT,
            extra_qemu_args: Vec::new(),
        }
    }

    /// Defaults for Debian's cached kernel, booting its fastest image ([`Kernel::boot_image`]).
    pub fn for_kernel(kernel: &Kernel) -> Self {
        Self::new(kernel.boot_image())
    }

    /// The command line the kernel gets.
    pub fn full_cmdline(&self) -> String {
        if self.cmdline.trim().is_empty() {
            HARNESS_CMDLINE.to_owned()
        } else {
            format!("{HARNESS_CMDLINE} {}", self.cmdline.trim())
        }
    }
}
