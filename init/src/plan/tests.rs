use super::*;
use crate::error::BootError;
use flashroot_config::{DeviceRef, EraseSize};

fn default_plan(cmdline: &str) -> Result<Plan, PlanError> {
    plan(&Config::embedded_default(), &Cmdline::parse(cmdline))
}

#[test]
fn smoke_boot_without_root_or_trigger_is_an_error_naming_both() {
    let err =
        default_plan("console=ttyS0 flashroot.failure=poweroff flashroot.delay=0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "root=: no root= on the kernel command line and no `mtd`"
    );
    let boot: BootError = err.into();
    assert_eq!(
        boot.to_string(),
        "kernel command line: root=: no root= on the kernel command line and no `mtd`"
    );
}

#[test]
fn flash_boot_with_the_default_config() {
    let p = default_plan("console=ttyS0 mtd").unwrap();
    assert_eq!(p.mode, Mode::Flash);
    let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
    let want = [
        "load the modules listed in /etc/flashroot/modules.order (drivers for the devices present, filesystems for vfat jffs2 tmpfs overlay now, others as mounts need them)",
        "wait up to 10s for /dev/sda1",
        "mount -t vfat -o rw,noatime,lazytime,iocharset=ascii,codepage=437 /dev/sda1 /flash",
        "container /flash/rootfs.img: check it is JFFS2 with 64KiB erase blocks, serve it from the card agent on a free nbd device (flash-ordered writes, flushed every 100 ms), block2mtd <device>,65536,rootfs -> mtd:rootfs",
        "mount -t jffs2 -o rw,noatime mtd:rootfs /root",
        "mount -t tmpfs -o rw,nosuid,nodev,mode=1777 tmpfs /root/tmp",
        "mount -t tmpfs -o rw,nosuid,nodev,mode=1777 tmpfs /root/var/lock",
        "mount -t tmpfs -o rw,nosuid,nodev,mode=0755 tmpfs /root/var/run",
        "RAM directory /var/log: a tmpfs filled from its saved copy in /var/lib/flashroot/ramdir/var/log (the first time: from the directory itself), saved back every 60 min and at shutdown by the keeper",
        "RAM directory /var/cache/man: a tmpfs owned by man:man filled from its saved copy in /var/lib/flashroot/ramdir/var/cache/man (the first time: from the directory itself), saved back every 60 min and at shutdown by the keeper",
        "overlay on /root/var/cache/apt: tmpfs at /run/flashroot/overlay/0 holding upper/ and work/, lowerdir=/root/var/cache/apt",
        "switch_root /root: copy the init to /run/initramfs/shutdown, move /dev /proc /sys /run, move /flash to /run/flashroot/card, free the initramfs, exec /sbin/init",
    ];
    assert_eq!(text, want);
}

#[test]
fn overrides_from_the_command_line() {
    let p = default_plan(
        "mtd flashroot.card=LABEL=CARD flashroot.container=img/root.jffs2 flashroot.erasesize=128KiB flashroot.timeout=3 ro init=/bin/sh -- single",
    )
    .unwrap();
    assert!(p.steps.contains(&Step::WaitDevice {
        device: DeviceRef::Label("CARD".into()),
        timeout: Some(Duration::from_secs(3))
    }));
    assert!(p.steps.contains(&Step::Container(ContainerSetup {
        file: "/flash/img/root.jffs2".into(),
        on_card: "img/root.jffs2".into(),
        erase_size: EraseSize(128 << 10),
        label: "rootfs".into(),
        writes: flashroot_config::CardWrites::Ordered,
        flush_ms: flashroot_config::DEFAULT_FLUSH_MS,
    })));
    let root_mount = p
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Mount(m) if m.fstype.as_deref() == Some("jffs2") => Some(m),
            _ => None,
        })
        .unwrap();
    assert!(root_mount
        .flags
        .contains(MsFlags::MS_RDONLY | MsFlags::MS_NOATIME));
    let Some(Step::SwitchRoot(s)) = p.steps.last() else {
        panic!("no switch_root: {p}")
    };
    assert_eq!(
        (s.init.as_str(), s.args.as_slice()),
        ("/bin/sh", &["single".to_string()][..])
    );
}

#[test]
fn rootflags_add_to_the_root_containers_options() {
    let p = default_plan("mtd rootflags=sync,compr=none").unwrap();
    let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
    assert!(
        text.contains(&"mount -t jffs2 -o rw,sync,noatime,compr=none mtd:rootfs /root".to_string()),
        "{p}"
    );
}

#[test]
fn two_containers_mount_root_first() {
    let toml = Config::embedded_default_toml_with(
        "[[container]]\nfile = \"usr.img\"\nmountpoint = \"/usr\"\nerase_size = \"128KiB\"\n",
    );
    let config = Config::parse("test.toml", &toml).unwrap();
    let p = plan(&config, &Cmdline::parse("mtd")).unwrap();
    let mounts: Vec<String> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Mount(m) if m.fstype.as_deref() == Some("jffs2") => {
                Some(format!("{} {}", m.source, m.target))
            }
            _ => None,
        })
        .collect();
    assert_eq!(mounts, ["mtd:rootfs /root", "mtd:usr /root/usr"]);
}

#[test]
fn normal_boot_waits_and_mounts_root_read_only_by_default() {
    let p =
        default_plan("root=UUID=0f5e-aa rootfstype=ext4 rootflags=data=journal,noatime").unwrap();
    assert_eq!(p.mode, Mode::Normal);
    assert_eq!(
        p.steps[1],
        Step::WaitDevice {
            device: DeviceRef::Uuid("0f5e-aa".into()),
            timeout: Some(Duration::from_secs(10))
        }
    );
    assert_eq!(
        p.steps[2].to_string(),
        "mount -t ext4 -o ro,noatime,data=journal UUID=0f5e-aa /root"
    );
    let Step::SwitchRoot(s) = &p.steps[3] else {
        panic!("{p}")
    };
    assert_eq!(s.card, None);
    assert_eq!(s.init, DEFAULT_INIT);
}

/// A named root type's module loads with the drivers; a probed root's only once its
/// superblock has been read (issue #12: the default image carries ext4 but loads it
/// only for an ext root).
#[test]
fn normal_boot_loads_a_named_root_type_at_once_and_a_probed_one_on_demand() {
    let filesystems = |cmdline: &str| match &default_plan(cmdline).unwrap().steps[0] {
        Step::LoadModules { filesystems, .. } => filesystems.clone(),
        other => panic!("{other}"),
    };
    assert_eq!(filesystems("root=/dev/sda1 rootfstype=ext4"), ["ext4"]);
    assert!(filesystems("root=UUID=0f5e-aa").is_empty());
    assert_eq!(
        default_plan("root=UUID=0f5e-aa").unwrap().steps[0].to_string(),
        "load the modules listed in /etc/flashroot/modules.order (drivers for the devices present, filesystems as mounts need them)"
    );
}

#[test]
fn normal_boot_forms_of_root() {
    let p = default_plan("root=/dev/vda2 rw rootwait rootdelay=2").unwrap();
    assert_eq!(p.steps[1], Step::Sleep { seconds: 2 });
    assert_eq!(
        p.steps[2],
        Step::WaitDevice {
            device: DeviceRef::Path("/dev/vda2".into()),
            timeout: None
        }
    );
    assert_eq!(
        p.steps[3].to_string(),
        "mount -t <probe> -o rw /dev/vda2 /root"
    );
    for (root, shown) in [("mtd:rootfs", "mtd:rootfs"), ("mtd0", "mtd0")] {
        let p = default_plan(&format!("root={root}")).unwrap();
        assert_eq!(
            p.steps[1].to_string(),
            format!("mount -t jffs2 -o ro {shown} /root")
        );
    }
    // No udev in the initramfs: its links are read as the references they stand for.
    for (root, device) in [
        (
            "/dev/disk/by-uuid/0f5e-aa",
            DeviceRef::Uuid("0f5e-aa".into()),
        ),
        (
            "/dev/disk/by-label/debian",
            DeviceRef::Label("debian".into()),
        ),
        (
            "/dev/disk/by-partuuid/0badcafe-02",
            DeviceRef::PartUuid("0badcafe-02".into()),
        ),
    ] {
        let p = default_plan(&format!("root={root}")).unwrap();
        assert_eq!(
            p.steps[1],
            Step::WaitDevice {
                device,
                timeout: Some(Duration::from_secs(10))
            },
            "{root}"
        );
    }
    let p = default_plan("root=PARTUUID=0badcafe-01").unwrap();
    assert_eq!(
        p.steps[1],
        Step::WaitDevice {
            device: DeviceRef::PartUuid("0badcafe-01".into()),
            timeout: Some(Duration::from_secs(10))
        }
    );
}

#[test]
fn bad_values_name_the_parameter() {
    let cases = [
        ("root=sda1", "root=sda1: expected a device path"),
        (
            "root=/dev/sda1 rootdelay=soon",
            "rootdelay=soon: expected a number of seconds",
        ),
        (
            "root=/dev/sda1 init=sbin/init",
            "init=sbin/init: expected an absolute path",
        ),
        (
            "mtd flashroot.erasesize=1000",
            "flashroot.erasesize=1000: erase size must be at least 8KiB",
        ),
        (
            "mtd flashroot.card=sda1",
            "flashroot.card=sda1: expected a device path",
        ),
        (
            "mtd flashroot.timeout=x",
            "flashroot.timeout=x: expected a number",
        ),
        (
            "mtd flashroot.container=../x",
            "flashroot.container=../x: expected a file path",
        ),
        (
            "mtd flashroot.break=never",
            "flashroot.break=never: expected top, premount or bottom",
        ),
    ];
    for (cmdline, want) in cases {
        let err = default_plan(cmdline).unwrap_err().to_string();
        assert!(err.starts_with(want), "{cmdline}: {err}");
    }
}

#[test]
fn break_points_and_warnings() {
    let p = default_plan("mtd flashroot.break flashroot.colour=blue").unwrap();
    assert_eq!(p.steps[1], Step::Break(BreakPoint::Premount));
    assert_eq!(p.warnings.len(), 1);
    assert!(
        p.warnings[0].starts_with("unknown parameter flashroot.colour ignored"),
        "{}",
        p.warnings[0]
    );
    let p = default_plan("mtd flashroot.break=bottom").unwrap();
    assert_eq!(p.steps[p.steps.len() - 2], Step::Break(BreakPoint::Bottom));
    let p = default_plan("mtd flashroot.break=top").unwrap();
    assert_eq!(p.steps[0], Step::Break(BreakPoint::Top));
}

#[test]
fn flashroot_modules_all_loads_every_module_and_refuses_other_words() {
    let load = |cmdline: &str| {
        default_plan(cmdline)
            .unwrap()
            .steps
            .into_iter()
            .find(|s| matches!(s, Step::LoadModules { .. }))
            .unwrap()
    };
    assert!(matches!(load("mtd"), Step::LoadModules { all: false, .. }));
    assert!(matches!(
        load("mtd flashroot.modules=present"),
        Step::LoadModules { all: false, .. }
    ));
    let all = load("mtd flashroot.modules=all");
    assert!(matches!(all, Step::LoadModules { all: true, .. }));
    assert_eq!(
        all.to_string(),
        "load every module listed in /etc/flashroot/modules.order (flashroot.modules=all)"
    );
    let err = default_plan("mtd flashroot.modules=some").unwrap_err();
    assert_eq!(
        err.to_string(),
        "flashroot.modules=some: expected all or present"
    );
}

#[test]
fn the_trigger_word_is_configurable() {
    let toml = flashroot_config::DEFAULT_TOML.replace("trigger = \"mtd\"", "trigger = \"flash\"");
    let config = Config::parse("t.toml", &toml).unwrap();
    assert_eq!(
        plan(&config, &Cmdline::parse("flash")).unwrap().mode,
        Mode::Flash
    );
    let err = plan(&config, &Cmdline::parse("mtd")).unwrap_err();
    assert!(err.reason.contains("no `flash`"), "{err}");
}

#[test]
fn detach_keeps_the_card_lazily() {
    let toml = flashroot_config::DEFAULT_TOML.replace("keep = \"move\"", "keep = \"detach\"");
    let config = Config::parse("t.toml", &toml).unwrap();
    let p = plan(&config, &Cmdline::parse("mtd")).unwrap();
    let text = p.steps.last().unwrap().to_string();
    assert!(text.contains("detach /flash lazily"), "{text}");
}

#[test]
fn plan_prints_mode_steps_and_policy() {
    let p = default_plan("mtd flashroot.failure=halt flashroot.delay=5").unwrap();
    let text = p.to_string();
    assert!(
        text.starts_with("flash boot (JFFS2 containers on the card)\n 1. load the modules"),
        "{text}"
    );
    assert!(text.ends_with("on failure: halt after 5s\n"), "{text}");
    let toml = flashroot_config::DEFAULT_TOML.replace("shell = \"\"", "shell = \"/bin/busybox\"");
    let with_shell = plan(
        &Config::parse("t.toml", &toml).unwrap(),
        &Cmdline::parse("mtd"),
    )
    .unwrap();
    assert!(
        with_shell
            .to_string()
            .ends_with("on failure: reboot (after the rescue shell) after 30s\n"),
        "{with_shell}"
    );
}

trait WithExtra {
    fn embedded_default_toml_with(extra: &str) -> String;
}

impl WithExtra for Config {
    /// The default config with more TOML inserted before `[[tmpfs]]` (arrays of tables
    /// must stay before the tables that follow them).
    fn embedded_default_toml_with(extra: &str) -> String {
        flashroot_config::DEFAULT_TOML.replacen("[[tmpfs]]", &format!("{extra}\n[[tmpfs]]"), 1)
    }
}

#[test]
fn writes_override_on_the_command_line() {
    let p = default_plan("mtd flashroot.writes=buffered").unwrap();
    let c = p
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Container(c) => Some(c),
            _ => None,
        })
        .unwrap();
    assert_eq!(c.writes, flashroot_config::CardWrites::Buffered);
    assert!(p.steps.iter().any(|s| s
        .to_string()
        .contains("attach it to a free loop device (buffered writes)")));
    let err = default_plan("mtd flashroot.writes=fast").unwrap_err();
    assert_eq!(err.param, "flashroot.writes=fast");
    assert_eq!(err.reason, "expected ordered or buffered");
}

fn layered_plan(cmdline: &str) -> Result<Plan, PlanError> {
    let text = flashroot_config::DEFAULT_TOML.replacen(
        "# base = \"base.sqfs\"",
        "base = \"base.sqfs\"",
        1,
    );
    let config = Config::parse("layered.toml", &text).unwrap();
    plan(&config, &Cmdline::parse(cmdline))
}

fn step_texts(p: &Plan) -> Vec<String> {
    p.steps.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_layered_root_mounts_the_overlay_container_then_the_base_then_overlayfs_at_the_root() {
    let p = layered_plan("mtd").unwrap();
    let text = step_texts(&p);
    assert_eq!(
        text[0],
        "load the modules listed in /etc/flashroot/modules.order (drivers for the devices present, filesystems for vfat jffs2 squashfs overlay tmpfs now, others as mounts need them)"
    );
    assert_eq!(
        &text[3..6],
        [
            "container /flash/rootfs.img: check it is JFFS2 with 64KiB erase blocks, serve it from the card agent on a free nbd device (flash-ordered writes, flushed every 100 ms), block2mtd <device>,65536,rootfs -> mtd:rootfs",
            "mount -t jffs2 -o rw,noatime mtd:rootfs /run/flashroot/layers/overlay",
            "layered root: attach /flash/base.sqfs read-only to a free loop device, mount -t squashfs -o ro <loop> /run/flashroot/layers/base, if /flash/rootfs.img.reset exists: empty /run/flashroot/layers/overlay (keeping the files /etc/flashroot/reset-keep lists), flush mtd:rootfs to the card, remove it; mount -t overlay -o lowerdir=/run/flashroot/layers/base,upperdir=/run/flashroot/layers/overlay/upper,workdir=/run/flashroot/layers/overlay/work overlay /root",
        ]
    );
    // The rest of the config applies on top, inside the new root.
    assert_eq!(
        text[6],
        "mount -t tmpfs -o rw,nosuid,nodev,mode=1777 tmpfs /root/tmp"
    );
    assert!(text.last().unwrap().starts_with("switch_root /root"));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn failsafe_puts_a_tmpfs_in_the_overlay_containers_place_and_skips_the_reset() {
    let p = layered_plan("mtd flashroot.failsafe flashroot.reset").unwrap();
    let text = step_texts(&p);
    assert!(
        !text.iter().any(|t| t.starts_with("container ")),
        "{text:#?}"
    );
    assert_eq!(
        text[3],
        "mount -t tmpfs -o rw,nosuid,nodev,mode=0755 tmpfs /run/flashroot/layers/overlay"
    );
    assert!(text[4].contains("failsafe: the upper layer is the tmpfs at /run/flashroot/layers/overlay, rootfs.img is not touched"), "{}", text[4]);
    assert!(!text[4].contains("reset"), "{}", text[4]);
    assert_eq!(
        p.warnings,
        ["flashroot.reset ignored: flashroot.failsafe leaves the overlay untouched"]
    );
}

#[test]
fn reset_on_the_command_line_writes_the_marker_first() {
    let p = layered_plan("mtd flashroot.reset").unwrap();
    let Some(Step::LayeredRoot(l)) = p.steps.iter().find(|s| matches!(s, Step::LayeredRoot(_)))
    else {
        panic!("no layered root step");
    };
    let r = l.reset.as_ref().unwrap();
    assert!(r.requested);
    assert_eq!(r.marker, "/flash/rootfs.img.reset");
    assert_eq!(l.card_in_root.as_deref(), Some("/run/flashroot/card"));
    assert!(p.steps[5]
        .to_string()
        .contains("write /flash/rootfs.img.reset (flashroot.reset), "));
}

#[test]
fn failsafe_and_reset_are_ignored_with_a_warning_without_a_base() {
    let p = default_plan("mtd flashroot.failsafe").unwrap();
    assert_eq!(
        p.warnings,
        ["flashroot.failsafe ignored: the root container has no base (not a layered root)"]
    );
    assert!(p.steps.iter().any(|s| matches!(s, Step::Container(_))));
}

#[test]
fn base_and_container_on_the_command_line_pick_a_generation() {
    let p =
        layered_plan("mtd flashroot.base=fold-2/base.sqfs flashroot.container=fold-2/rootfs.img")
            .unwrap();
    let text = step_texts(&p);
    assert!(
        text[3].starts_with("container /flash/fold-2/rootfs.img: "),
        "{}",
        text[3]
    );
    assert!(
        text[5].starts_with("layered root: attach /flash/fold-2/base.sqfs read-only"),
        "{}",
        text[5]
    );
    assert!(
        text[5].contains("if /flash/fold-2/rootfs.img.reset exists"),
        "{}",
        text[5]
    );
    let err = layered_plan("mtd flashroot.base=../x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "flashroot.base=../x: expected a file path on the card such as base.sqfs"
    );
}
