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

/// The xHCI controller that USB sticks and UAS disks share.
const XHCI_CONTROLLER: &str = "qemu-xhci,id=xhci";

/// How a disk is attached, i.e. which guest driver must find it. Each variant names the
/// QEMU devices it adds and the block device Debian's kernel makes of it; all the drivers
/// named are modules there, so the initramfs must load them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiskInterface {
    /// virtio-blk on PCI (`-drive if=virtio`): `/dev/vdX` via `virtio_pci` + `virtio_blk`.
    /// The output disk is one too, attached last, so it takes the next `vdX` after these.
    #[default]
    Virtio,
    /// The PIIX IDE controller of QEMU's `pc` machine (`-drive if=ide`): `/dev/sdX` via
    /// `ata_piix` + `sd_mod`.
    Ide,
    /// An AHCI SATA controller (`-device ahci` + `ide-hd`): `/dev/sdX` via `ahci` + `sd_mod`.
    Ahci,
    /// A USB mass-storage stick on an xHCI controller (`-device qemu-xhci` + `usb-storage`):
    /// `/dev/sdX` via `xhci_pci`, `usb_storage` + `sd_mod` (the closest to a card reader).
    Usb,
    /// A USB mass-storage stick on a USB 2.0 EHCI controller alone (`-device usb-ehci` +
    /// `usb-storage`), as on boards without xHCI: `/dev/sdX` via `ehci_pci`,
    /// `usb_storage` + `sd_mod`.
    UsbEhci,
    /// A USB Attached SCSI disk (`-device usb-uas` + `scsi-hd`) on the xHCI controller
    /// [`DiskInterface::Usb`] uses: `/dev/sdX` via `xhci_pci`, `uas` + `sd_mod`.
    UsbUas,
    /// A USB mass-storage stick on a USB 1.1 UHCI controller alone (`-device
    /// piix3-usb-uhci` + `usb-storage`), as on Intel boards of the 2000s: `/dev/sdX` via
    /// `uhci_hcd`, `usb_storage` + `sd_mod`.
    UsbUhci,
    /// A USB mass-storage stick on a USB 1.1 OHCI controller alone (`-device pci-ohci` +
    /// `usb-storage`), as on non-Intel boards: `/dev/sdX` via `ohci_pci`, `usb_storage` +
    /// `sd_mod`.
    UsbOhci,
    /// A SCSI disk on virtio-scsi (`-device virtio-scsi-pci` + `scsi-hd`): `/dev/sdX` via
    /// `virtio_pci`, `virtio_scsi` + `sd_mod`.
    VirtioScsi,
    /// An SD card in the slot of its own PCI SDHCI controller (`-device sdhci-pci` +
    /// `sd-card`): `/dev/mmcblkN` (partitions `mmcblkNpM`) via `sdhci_pci` + `mmc_block`.
    /// QEMU wants a writable image whose size is a power of two (64 MiB, not 48 MiB).
    Sd,
}

impl DiskInterface {
    /// Every interface, for tests that sweep them.
    pub const ALL: [DiskInterface; 10] = [
        DiskInterface::Virtio,
        DiskInterface::Ide,
        DiskInterface::Ahci,
        DiskInterface::Usb,
        DiskInterface::UsbEhci,
        DiskInterface::UsbUas,
        DiskInterface::UsbUhci,
        DiskInterface::UsbOhci,
        DiskInterface::VirtioScsi,
        DiskInterface::Sd,
    ];

    /// The controller all disks of this interface share, as a `-device` value whose `id`
    /// the disks name in their `bus=`; `None` when QEMU's `-drive if=` brings its own
    /// (virtio, IDE) or, for SD, when each card needs a controller of its own.
    pub fn shared_controller(self) -> Option<&'static str> {
        match self {
            DiskInterface::Ahci => Some("ahci,id=ahci"),
            DiskInterface::Usb | DiskInterface::UsbUas => Some(XHCI_CONTROLLER),
            DiskInterface::UsbEhci => Some("usb-ehci,id=ehci"),
            DiskInterface::UsbUhci => Some("piix3-usb-uhci,id=uhci"),
            DiskInterface::UsbOhci => Some("pci-ohci,id=ohci"),
            DiskInterface::VirtioScsi => Some("virtio-scsi-pci,id=scsi"),
            DiskInterface::Virtio | DiskInterface::Ide | DiskInterface::Sd => None,
        }
    }
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
    /// A power cut: the harness kills QEMU with SIGKILL at this point (the boot then ends
    /// as [`crate::Ending::Cut`]). What QEMU already wrote to the disk images survives;
    /// the guest's caches do not.
    pub cut: Option<Cut>,
}

/// When to cut the power: `delay` after the first console line containing `after`
/// arrived on the host, or `delay` after QEMU started when `after` is `None`. A needle
/// that never appears means no cut (the boot ends some other way, e.g. by the timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub after: Option<String>,
    pub delay: Duration,
}

impl Cut {
    /// `delay` after QEMU started.
    pub fn at(delay: Duration) -> Self {
        Cut { after: None, delay }
    }

    /// `delay` after the first console line containing `needle`.
    pub fn after_line(needle: impl Into<String>, delay: Duration) -> Self {
        Cut {
            after: Some(needle.into()),
            delay,
        }
    }
}

impl BootOptions {
    /// Defaults for `kernel`: no initrd, 512 MiB, one CPU, no disks, 120 s timeout, no cut.
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
            cut: None,
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
