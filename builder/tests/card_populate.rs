//! `flashroot card` in both modes. The whole-disk image is checked with peer tools: mtools
//! reads the FAT volume, fsck.vfat checks it, and the MBR is compared with syslinux's boot
//! code. A missing tool fails the test (it is an oracle, not an option).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PARTITION_OFFSET: u64 = 1 << 20;
const MBR_BIN: &str = "/usr/lib/syslinux/mbr/mbr.bin";

struct Inputs {
    dir: tempfile::TempDir,
    kernel: PathBuf,
    initrd: PathBuf,
    rootfs: PathBuf,
}

fn inputs() -> Inputs {
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("vmlinuz-test");
    let initrd = dir.path().join("initrd-test.img");
    let rootfs = dir.path().join("rootfs-test.img");
    fs::write(&kernel, vec![0x4b; 300_000]).unwrap();
    fs::write(&initrd, vec![0x49; 100_000]).unwrap();
    fs::write(&rootfs, vec![0xff; 1 << 20]).unwrap();
    Inputs {
        dir,
        kernel,
        initrd,
        rootfs,
    }
}

fn flashroot(args: &[&str], path_env: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flashroot"));
    cmd.arg("card").args(args);
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    cmd.output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs an mtools command on the image's partition.
fn mtools(tool: &str, image: &Path, args: &[&str]) -> String {
    let out = Command::new(tool)
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(format!("{}@@{PARTITION_OFFSET}", image.display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (Debian package mtools) is needed: {e}"));
    ok(&out)
}

#[test]
fn whole_disk_image_has_boot_code_active_fat32_and_syslinux() {
    let i = inputs();
    let image = i.dir.path().join("card.img");
    let stdout = ok(&flashroot(
        &[
            "--kernel",
            s(&i.kernel),
            "--initrd",
            s(&i.initrd),
            "--rootfs",
            s(&i.rootfs),
            "--kver",
            "6.1.0-9-amd64",
            "--image",
            s(&image),
            "--size",
            "48MiB",
            "--serial",
            "C0FFEE01",
            "--append",
            "console=ttyS0",
        ],
        None,
    ));
    assert!(
        stdout.starts_with(&format!(
            "wrote {} (48MiB): FAT32 LABEL=FLASHROOT UUID=C0FF-EE01 PARTUUID=c0ffee01-01, ",
            image.display()
        )),
        "{stdout}"
    );
    let bytes = fs::read(&image).unwrap();
    assert_eq!(bytes.len(), 48 << 20);
    let mbr_code = fs::read(MBR_BIN).expect("syslinux-common's mbr.bin is the oracle");
    assert_eq!(&bytes[..440], &mbr_code[..440], "MBR boot code");
    assert_eq!(
        &bytes[440..444],
        &[0x01, 0xEE, 0xFF, 0xC0],
        "disk signature"
    );
    assert_eq!(bytes[446], 0x80, "the partition is active");
    assert_eq!(bytes[446 + 4], 0x0C, "FAT32 LBA");
    assert!(
        !image.with_extension("img.flashroot-new").exists(),
        "no partial image may remain"
    );

    let listing = mtools("mdir", &image, &["-a", "-b", "::/"]);
    let mut names: Vec<&str> = listing
        .lines()
        .map(|l| l.trim_start_matches("::/"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "flashroot.kver",
            "flashroot.kver.old",
            "initrd.img",
            "initrd.old.img",
            "ldlinux.c32",
            "ldlinux.sys",
            "rootfs.img",
            "rootfs.img.journal",
            "syslinux.cfg",
            "vmlinuz",
            "vmlinuz.old"
        ]
    );
    let cfg = mtools("mtype", &image, &["::/syslinux.cfg"]);
    assert!(cfg.contains("DEFAULT flashroot\n"), "{cfg}");
    assert!(
        cfg.contains(
            "LABEL flashroot\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.img root=mtd:rootfs rootfstype=jffs2 mtd console=ttyS0\n"
        ),
        "{cfg}"
    );
    assert!(
        cfg.contains("LABEL conventional\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.img root=/dev/sda2 ro console=ttyS0\n"),
        "{cfg}"
    );
    let copied = i.dir.path().join("vmlinuz.copied");
    mtools("mcopy", &image, &["::/vmlinuz.old", s(&copied)]);
    assert_eq!(fs::read(&copied).unwrap(), fs::read(&i.kernel).unwrap());

    // fsck.vfat checks a whole volume: give it the partition alone.
    let partition = i.dir.path().join("partition.img");
    fs::write(&partition, &bytes[PARTITION_OFFSET as usize..]).unwrap();
    let fsck = Command::new("fsck.vfat")
        .arg("-n")
        .arg(&partition)
        .output()
        .expect("fsck.vfat (Debian package dosfstools) is the oracle");
    assert!(
        fsck.status.success(),
        "{}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
}

#[test]
fn same_command_gives_the_same_image() {
    let i = inputs();
    let mut images = Vec::new();
    for name in ["a.img", "b.img"] {
        let image = i.dir.path().join(name);
        ok(&flashroot(
            &[
                "--kernel",
                s(&i.kernel),
                "--initrd",
                s(&i.initrd),
                "--rootfs",
                s(&i.rootfs),
                "--image",
                s(&image),
                "--size",
                "40MiB",
            ],
            None,
        ));
        images.push(fs::read(&image).unwrap());
    }
    // ldlinux.sys carries no timestamp we set, but mtools stamps it with the time; compare
    // everything up to the partition: MBR, identity, partition table.
    assert_eq!(images[0][..512], images[1][..512]);
}

#[test]
fn missing_boot_loader_names_the_packages() {
    let i = inputs();
    let empty_path = i.dir.path().join("no-tools");
    fs::create_dir(&empty_path).unwrap();
    let image = i.dir.path().join("card.img");
    let out = flashroot(
        &[
            "--kernel",
            s(&i.kernel),
            "--initrd",
            s(&i.initrd),
            "--rootfs",
            s(&i.rootfs),
            "--image",
            s(&image),
            "--size",
            "40MiB",
        ],
        Some(&empty_path),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "installing the boot loader needs syslinux (package syslinux), mcopy (package mtools); \
             install them with: apt-get install syslinux mtools"
        ),
        "{stderr}"
    );
    assert!(!image.exists());
}

#[test]
fn image_without_the_root_container_is_refused() {
    let i = inputs();
    let image = i.dir.path().join("card.img");
    let out = flashroot(
        &[
            "--kernel",
            s(&i.kernel),
            "--initrd",
            s(&i.initrd),
            "--image",
            s(&image),
            "--size",
            "40MiB",
        ],
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "the config mounts container rootfs.img at /, but no image was given for it \
             (use --rootfs for / or --container rootfs.img=FILE)"
        ),
        "{stderr}"
    );
}

#[test]
fn directory_mode_rotates_the_previous_pair() {
    let i = inputs();
    let card = i.dir.path().join("card");
    fs::create_dir(&card).unwrap();
    let run = |kernel: &Path, kver: &str| {
        ok(&flashroot(
            &[
                "--kernel",
                s(kernel),
                "--initrd",
                s(&i.initrd),
                "--rootfs",
                s(&i.rootfs),
                "--kver",
                kver,
                "--dir",
                s(&card),
            ],
            None,
        ))
    };
    let first = run(&i.kernel, "1");
    assert!(
        first
            .contains("no previous pair yet: copied the new one as vmlinuz.old and initrd.old.img"),
        "{first}"
    );
    assert_eq!(
        fs::read(card.join("vmlinuz.old")).unwrap(),
        fs::read(&i.kernel).unwrap()
    );
    assert!(card.join("syslinux.cfg").is_file());
    assert_eq!(
        fs::read(card.join("rootfs.img")).unwrap(),
        fs::read(&i.rootfs).unwrap()
    );
    // The card agent's journal beside the container: empty, its full size.
    let journal = card.join("rootfs.img.journal");
    assert_eq!(fs::read(&journal).unwrap(), vec![0u8; 4 << 20]);
    // A journal left by the old container (here: garbage) never meets the new one.
    fs::write(
        &journal,
        b"FRJRNL01 an unfinished release of the old container",
    )
    .unwrap();

    let again = run(&i.kernel, "1");
    assert_eq!(fs::read(&journal).unwrap(), vec![0u8; 4 << 20]);
    assert!(
        again.contains("kept vmlinuz and initrd.img: unchanged"),
        "{again}"
    );

    let kernel2 = i.dir.path().join("vmlinuz-2");
    fs::write(&kernel2, b"second kernel").unwrap();
    let upgrade = run(&kernel2, "2");
    assert!(
        upgrade.contains("kept the previous pair as vmlinuz.old and initrd.old.img"),
        "{upgrade}"
    );
    assert_eq!(fs::read(card.join("vmlinuz")).unwrap(), b"second kernel");
    assert_eq!(
        fs::read(card.join("vmlinuz.old")).unwrap(),
        fs::read(&i.kernel).unwrap()
    );
    assert_eq!(
        fs::read_to_string(card.join("flashroot.kver")).unwrap(),
        "2\n"
    );
    assert_eq!(
        fs::read_to_string(card.join("flashroot.kver.old")).unwrap(),
        "1\n"
    );
    let leftovers: Vec<_> = fs::read_dir(&card)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".flashroot-new"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn directory_without_any_container_is_refused_by_name() {
    let i = inputs();
    let card = i.dir.path().join("card");
    fs::create_dir(&card).unwrap();
    let out = flashroot(
        &[
            "--kernel",
            s(&i.kernel),
            "--initrd",
            s(&i.initrd),
            "--dir",
            s(&card),
        ],
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "card directory {} has no container rootfs.img (mounted at /) and none was given",
            card.display()
        )),
        "{stderr}"
    );
}
