//! Shared by the boot_flash, boot_normal and boot_failure tests: the pieces of a boot
//! built with flashroot's own code (initramfs pipeline, JFFS2 writer, card images), a
//! busybox "real init" that reports what it sees, and a parser for its report.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use flashroot::disk::{
    write_fat_disk, FatContents, FatDiskOptions, FatDiskReport, FatKind, VolumeOptions,
};
use flashroot::initramfs::{build_archive, BuildInputs};
use flashroot_config::Config;
use flashroot_cpio::WriterOptions;
use flashroot_kmod::ModuleTree;
use flashroot_qemu::{boot, debian_kernel, BootOptions, Cut, Disk, DiskInterface, Kernel, Outcome};

/// The static busybox of Debian's busybox-static: the report init's shell and tools.
pub const BUSYBOX: &str = "/bin/busybox";
/// Applets the report and power-cut inits call, linked into /bin of the test root.
const APPLETS: &[&str] = &[
    "sh",
    "cat",
    "echo",
    "ls",
    "tr",
    "env",
    "sort",
    "printf",
    "wc",
    "sync",
    "poweroff",
    "mkdir",
    "grep",
    "mount",
    "mv",
    "dd",
    "sha256sum",
    "df",
    "tail",
    "yes",
    "head",
    "awk",
    "readlink",
    "uniq",
    "kill",
    "sleep",
];
/// The card: one disk on the IDE controller (so `/dev/sda1` as in the default config).
pub const CARD_BYTES: u64 = 48 << 20;
pub const CARD_LABEL: &str = "FLASHROOT";
pub const CARD_VOLUME_ID: u32 = 0x1234_ABCD;
pub const CARD_UUID: &str = "1234-ABCD";
pub const DISK_SIGNATURE: u32 = 0xCAFE_0001;
/// Room for the report the guest writes back.
pub const OUTPUT_BYTES: u64 = 1 << 20;
/// Each container is padded to this, leaving the kernel free blocks to write into.
pub const CONTAINER_BYTES: u64 = 8 << 20;
/// Debian's kernel under TCG with module loading and a JFFS2 mount takes well under this.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// Always on the command line of these tests: fail fast and visibly.
pub const FAIL_FAST: &str = "flashroot.failure=poweroff flashroot.delay=0";

/// The report init, run as the real /sbin/init: it prints and hands back
/// /proc/self/mountinfo and a few facts, counts boots in the JFFS2 root, leaves a file on
/// the /tmp tmpfs, then syncs and powers off.
pub const REPORT_INIT: &str = r#"#!/bin/sh
export PATH=/bin
{
  echo "uptime=$(cat /proc/uptime)"
  echo "pid=$$"
  echo "sigign=$(grep SigIgn /proc/$$/status | tr -d 'SigIn:\t ')"
  echo "argv=$0 $*"
  echo "env=$(env | sort | tr '\n' ' ')"
  echo "boots_before=$(cat /var/lib/boots 2>/dev/null || echo 0)"
  if [ -e /tmp/volatile ]; then echo "volatile=present"; else echo "volatile=absent"; fi
  echo "card=$(ls /run/flashroot/card 2>&1 | tr '\n' ' ')"
  echo "usr_marker=$(cat /usr/marker 2>&1)"
  echo "--- mountinfo"
  cat /proc/self/mountinfo
  echo "--- end"
} > /run/report
mkdir -p /var/lib
echo $(( $(cat /var/lib/boots 2>/dev/null || echo 0) + 1 )) > /var/lib/boots
echo written > /tmp/volatile
echo "report-init: begin"
cat /run/report
echo "report-init: end"
{ printf 'FLASHROOT-OUTPUT %d\n' "$(wc -c < /run/report)"; cat /run/report; } > /dev/vda
sync
sync
poweroff -f
"#;

pub fn kernel() -> Kernel {
    debian_kernel().expect("Debian kernel (apt-get download linux-image-amd64)")
}

/// The flash-boot initramfs for `config_text`, built by flashroot's own pipeline with
/// the kernel's modules, uncompressed. Returns the archive's size in bytes.
pub fn initramfs(kernel: &Kernel, config_text: &str, out: &Path) -> u64 {
    let config = Config::parse("test config", config_text).expect("test config parses");
    let tree = ModuleTree::load(&kernel.modules_dir, &kernel.version).expect("module tree");
    let built = build_archive(&BuildInputs {
        config: &config,
        config_text,
        init: flashroot::EMBEDDED_INIT,
        modules: Some(&tree),
        extra_specs: &[],
        devices: None,
        root_fs: None,
        options: WriterOptions::default(),
    })
    .expect("initramfs builds");
    std::fs::write(out, &built.archive).unwrap();
    built.archive.len() as u64
}

/// A minimal root tree: busybox with its applets, the directories the init mounts on,
/// Debian's /var/run -> /run, and `init` (script text) as /sbin/init unless None.
pub fn root_tree(dir: &Path, init: Option<&str>) -> PathBuf {
    let root = dir.join("root-tree");
    for d in [
        "bin",
        "sbin",
        "dev",
        "proc",
        "sys",
        "run",
        "tmp",
        "var/log",
        "var/lock",
        "var/cache/apt",
        "var/lib",
        "etc",
        "usr",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(
        root.join("var/cache/apt/lower.txt"),
        "from the JFFS2 root\n",
    )
    .unwrap();
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).expect("busybox-static is installed");
    for a in APPLETS {
        symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    symlink("/run", root.join("var/run")).unwrap();
    if let Some(script) = init {
        let path = root.join("sbin/init");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    root
}

/// A JFFS2 image of `tree` by flashroot's writer, padded to [`CONTAINER_BYTES`]; the
/// writer's report says how full it is.
pub fn jffs2_image(tree: &Path, out: &Path, erase_size: u32) -> flashroot::jffs2::Report {
    let opts = flashroot::jffs2::Options {
        erase_size,
        pad_to: Some(CONTAINER_BYTES),
        ..Default::default()
    };
    flashroot::jffs2::write_image(tree, out, &opts).expect("JFFS2 image")
}

/// An MBR disk with one FAT32 partition holding `files` (name on the card, host path).
pub fn card(out: &Path, files: &[(&str, &Path)]) -> FatDiskReport {
    card_of_size(out, files, CARD_BYTES)
}

/// Boots `initrd` with the disks (the output disk comes last, as /dev/vda).
pub fn run(kernel: &Kernel, initrd: &Path, disks: Vec<Disk>, cmdline: &str) -> Outcome {
    run_with_cut(kernel, initrd, disks, cmdline, None)
}

/// [`run`], with the power cut at `cut` if given (the boot then ends as `Ending::Cut`).
pub fn run_with_cut(
    kernel: &Kernel,
    initrd: &Path,
    disks: Vec<Disk>,
    cmdline: &str,
    cut: Option<Cut>,
) -> Outcome {
    let mut options = BootOptions::for_kernel(kernel);
    options.initrd = Some(initrd.to_path_buf());
    options.cmdline = cmdline.into();
    options.disks = disks;
    options.output_disk = Some(OUTPUT_BYTES);
    options.timeout = BOOT_TIMEOUT;
    options.cut = cut;
    boot(&options).expect("QEMU runs")
}

pub fn ide(path: &Path) -> Disk {
    Disk::new(path, DiskInterface::Ide)
}

/// One line of /proc/self/mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: String,
    pub options: String,
    pub fstype: String,
    pub source: String,
    pub super_options: String,
}

/// What the report init handed back.
#[derive(Clone, Debug)]
pub struct Report {
    pub text: String,
    pub mounts: Vec<Mount>,
}

impl Report {
    pub fn from_outcome(outcome: &Outcome) -> Self {
        let bytes = outcome.expect_output();
        let text = String::from_utf8_lossy(bytes).into_owned();
        let mounts = text
            .split("--- mountinfo\n")
            .nth(1)
            .and_then(|rest| rest.split("--- end").next())
            .unwrap_or_default()
            .lines()
            .filter_map(parse_mountinfo_line)
            .collect();
        Self { text, mounts }
    }

    pub fn field(&self, key: &str) -> Option<&str> {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }

    /// The mount visible at `path` (the last one mounted there).
    pub fn mount_at(&self, path: &str) -> Option<&Mount> {
        self.mounts.iter().rev().find(|m| m.mount_point == path)
    }

    pub fn expect_mount(&self, path: &str, fstype: &str) -> &Mount {
        let m = self
            .mount_at(path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}; report:\n{}", self.text));
        assert_eq!(m.fstype, fstype, "{path}: {m:?}\nreport:\n{}", self.text);
        m
    }
}

/// `36 35 98:0 / /mnt rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
pub fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let left: Vec<&str> = left.split(' ').collect();
    let right: Vec<&str> = right.split(' ').collect();
    Some(Mount {
        mount_point: left.get(4)?.to_string(),
        options: left.get(5)?.to_string(),
        fstype: right.first()?.to_string(),
        source: right.get(1)?.to_string(),
        super_options: right.get(2).unwrap_or(&"").to_string(),
    })
}

/// The init's own summary line: total, waits, JFFS2 and module milliseconds.
pub fn init_timing(console: &str) -> Option<String> {
    console
        .lines()
        .find(|l| l.contains("flashroot: init done in"))
        .map(|l| l.to_string())
}

/// The Linux partition type of the MBR.
const TYPE_LINUX: u8 = 0x83;
pub const EXT4_BYTES: u64 = 64 << 20;
pub const EXT4_UUID: &str = "0f1e2d3c-4b5a-4968-8778-695a4b3c2d1e";
pub const EXT4_DISK_SIGNATURE: u32 = 0xE4E4_0001;

/// A disk with an MBR and one Linux partition at 1 MiB holding an ext4 copy of `tree`.
pub fn ext4_disk(tree: &Path, out: &Path) {
    ext4_disk_of_size(tree, out, EXT4_BYTES)
}

/// [`ext4_disk`] with a partition of `size` bytes (a Debian root needs more).
pub fn ext4_disk_of_size(tree: &Path, out: &Path, size: u64) {
    use flashroot::disk::mbr::{Mbr, Partition, SECTOR_SIZE};
    use flashroot::disk::PARTITION_OFFSET;
    use flashroot_testsupport::ext4::{write_ext4_image, Ext4Options};
    let fs = out.with_extension("ext4");
    let options = Ext4Options {
        size,
        uuid: EXT4_UUID.into(),
        label: Some("debroot".into()),
    };
    write_ext4_image(&fs, tree, &options).expect("ext4 image");
    let sector = SECTOR_SIZE as u64;
    let mbr = Mbr {
        disk_signature: EXT4_DISK_SIGNATURE,
        partitions: [
            Some(Partition {
                bootable: false,
                partition_type: TYPE_LINUX,
                first_lba: (PARTITION_OFFSET / sector) as u32,
                sectors: (size / sector) as u32,
            }),
            None,
            None,
            None,
        ],
    };
    let mut disk = vec![0u8; PARTITION_OFFSET as usize];
    disk[..SECTOR_SIZE].copy_from_slice(&mbr.encode());
    disk.extend_from_slice(&std::fs::read(&fs).unwrap());
    std::fs::write(out, disk).unwrap();
}

/// The embedded default config with `extra` modules (e.g. ext4 for a normal boot).
pub fn config_with_extra_modules(extra: &[&str]) -> String {
    let list: Vec<String> = extra.iter().map(|m| format!("{m:?}")).collect();
    let text = flashroot_config::DEFAULT_TOML.replacen(
        "extra = []",
        &format!("extra = [{}]", list.join(", ")),
        1,
    );
    assert_ne!(
        text,
        flashroot_config::DEFAULT_TOML,
        "the default config has no `extra = []` line any more"
    );
    text
}

/// A card whose size is a power of two, as QEMU's SD card wants (48 MiB is refused).
pub const POWER_OF_TWO_CARD_BYTES: u64 = 64 << 20;

/// [`card`] at another size, e.g. [`POWER_OF_TWO_CARD_BYTES`] for an SD card.
pub fn card_of_size(out: &Path, files: &[(&str, &Path)], size: u64) -> FatDiskReport {
    let mut contents = FatContents::new();
    for (name, host) in files {
        contents.host_file(name, host.to_path_buf()).unwrap();
    }
    let options = FatDiskOptions {
        size,
        disk_signature: DISK_SIGNATURE,
        bootable: false,
        volume: VolumeOptions {
            label: CARD_LABEL.into(),
            volume_id: CARD_VOLUME_ID,
            kind: FatKind::Fat32,
        },
    };
    write_fat_disk(out, &options, &contents).expect("card image")
}

/// Opens the section a report init may add after its mountinfo: /proc/modules, closed by
/// [`MODULES_END`].
pub const MODULES_BEGIN: &str = "--- modules\n";
pub const MODULES_END: &str = "--- end modules";

impl Report {
    /// Names of the modules listed in the report's /proc/modules section, in its order
    /// (the kernel lists the newest first); empty when the report has no such section.
    pub fn loaded_modules(&self) -> Vec<&str> {
        parse_proc_modules(
            self.text
                .split(MODULES_BEGIN)
                .nth(1)
                .and_then(|rest| rest.split(MODULES_END).next())
                .unwrap_or_default(),
        )
    }
}

/// Module names from /proc/modules text: the first word of each line
/// (`sd_mod 69632 2 - Live 0x0000000000000000`).
pub fn parse_proc_modules(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

/// fsck.vfat (dosfstools 4.2) on a volume whose dirty bit is set: "Dirty bit is set. Fs
/// was not properly unmounted and some data may be corrupt."
pub const FSCK_DIRTY: [&str; 2] = ["Dirty bit", "not properly unmounted"];
/// The kernel's FAT driver mounting such a volume.
pub const KERNEL_DIRTY: &str = "Volume was not properly unmounted";

/// `fsck.vfat -n` on the card's FAT partition (copied out: fsck.vfat takes no offset):
/// whether it is clean (no finding, no dirty bit), and what fsck.vfat said.
pub fn fsck_card_report(image: &Path, report: &FatDiskReport, dir: &Path) -> (bool, String) {
    use std::io::{Read, Seek, SeekFrom};
    let mut card = std::fs::File::open(image).unwrap();
    card.seek(SeekFrom::Start(report.partition_offset)).unwrap();
    let mut bytes = Vec::new();
    card.take(report.partition_bytes)
        .read_to_end(&mut bytes)
        .unwrap();
    let partition = dir.join("partition.img");
    std::fs::write(&partition, &bytes).unwrap();
    let out = Command::new("fsck.vfat")
        .arg("-n")
        .arg(&partition)
        .output()
        .expect("fsck.vfat (Debian package dosfstools) judges the card");
    std::fs::remove_file(&partition).unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let clean = out.status.success() && !FSCK_DIRTY.iter().any(|d| text.contains(d));
    (clean, text)
}

/// [`fsck_card_report`], which must find the card clean; returns fsck.vfat's output.
pub fn fsck_card(image: &Path, report: &FatDiskReport, dir: &Path) -> String {
    let (clean, text) = fsck_card_report(image, report, dir);
    assert!(clean, "fsck.vfat -n finds the card unclean:\n{text}");
    text
}

pub mod wear;
