use super::*;

/// The embedded default with `from` replaced by `to` (exactly once), parsed as `test.toml`.
fn parse_edited(from: &str, to: &str) -> Result<Config, ConfigError> {
    assert_eq!(
        DEFAULT_TOML.matches(from).count(),
        1,
        "fixture edit {from:?} is ambiguous"
    );
    Config::parse("test.toml", &DEFAULT_TOML.replacen(from, to, 1))
}

/// The 1-based line of the first occurrence of `needle` in the edited default.
fn line_of(from: &str, to: &str, needle: &str) -> usize {
    let text = DEFAULT_TOML.replacen(from, to, 1);
    let offset = text.find(needle).expect("needle in fixture");
    text[..offset].matches('\n').count() + 1
}

/// The key a deserialization error names: its path with `path-errors`, none without
/// (the init's build, which reports toml's line, column and message only).
fn deser_key(path: &str) -> &str {
    if cfg!(feature = "path-errors") {
        path
    } else {
        ""
    }
}

/// A deserialization error: `line` comes from toml's span either way; `key` is the path
/// that `path-errors` adds.
fn assert_error(err: &ConfigError, line: usize, key: &str, message_part: &str) {
    let key = deser_key(key);
    let shown = err.to_string();
    assert_eq!(err.file, "test.toml", "{shown}");
    assert_eq!(err.line, Some(line), "{shown}");
    assert_eq!(err.key, key, "{shown}");
    assert!(err.message.contains(message_part), "{shown}");
    assert!(shown.starts_with(&format!("test.toml:{line}:")), "{shown}");
    if key.is_empty() {
        assert!(!shown.contains("key `"), "{shown}");
    } else {
        assert!(shown.contains(&format!("`{key}`")), "{shown}");
    }
}

/// A cross-key error from `validate`: it always names the key; the line of the value
/// needs the spanned second parse that only `path-errors` does.
fn assert_cross_key_error(err: &ConfigError, line: usize, key: &str, message_part: &str) {
    let shown = err.to_string();
    assert_eq!(err.file, "test.toml", "{shown}");
    assert_eq!(err.key, key, "{shown}");
    assert!(err.message.contains(message_part), "{shown}");
    if cfg!(feature = "path-errors") {
        assert_eq!(err.line, Some(line), "{shown}");
        assert!(shown.starts_with(&format!("test.toml:{line}:")), "{shown}");
    } else {
        assert_eq!(err.line, None, "{shown}");
        assert!(shown.starts_with("test.toml: key `"), "{shown}");
    }
}

#[test]
fn embedded_default_is_the_classic_layout() {
    let c = Config::embedded_default();
    assert_eq!(c.trigger, "mtd");
    assert_eq!(c.card.device, DeviceRef::Path("/dev/sda1".into()));
    assert_eq!(c.card.fstype, "vfat");
    assert_eq!(c.card.keep, KeepCard::Move);
    assert_eq!(c.card.writes, CardWrites::Ordered);
    assert_eq!(c.card.options, ["noatime", "lazytime"]);
    assert_eq!(c.card.flush_ms, DEFAULT_FLUSH_MS);
    assert_eq!(c.containers.len(), 1);
    let root = &c.containers[0];
    assert_eq!(root.file.0, "rootfs.img");
    assert_eq!(root.mountpoint.0, "/");
    assert_eq!(root.erase_size, EraseSize(65536));
    assert_eq!(root.label(), "rootfs");
    assert_eq!(root.options, ["noatime"]);
    let tmpfs: Vec<&str> = c.tmpfs.iter().map(|t| t.path.0.as_str()).collect();
    assert_eq!(tmpfs, ["/tmp", "/var/lock", "/var/run"]);
    let ramdirs: Vec<(&str, u32)> = c
        .ramdirs
        .iter()
        .map(|r| (r.path.0.as_str(), r.save_minutes))
        .collect();
    assert_eq!(ramdirs, [("/var/log", 60), ("/var/cache/man", 60)]);
    assert_eq!(c.overlays[0].path.0, "/var/cache/apt");
    assert_eq!(c.failure.action, FailureAction::Reboot);
    assert_eq!(c.initramfs.compression, Compression::Gzip);
    use flashroot_testsupport::default_config::{FLASH_BOOT_MUST_HAVE, NEEDED_BY_OTHERS};
    for m in FLASH_BOOT_MUST_HAVE
        .iter()
        .filter(|m| !NEEDED_BY_OTHERS.contains(m))
    {
        assert!(c.modules.wanted().iter().any(|w| w == m), "{m} missing");
    }
}

#[test]
fn card_accepts_every_device_form() {
    for dev in [
        "/dev/mmcblk0p1",
        "LABEL=FLASH",
        "UUID=1234-ABCD",
        "PARTUUID=0badcafe-01",
    ] {
        let c = parse_edited("device = \"/dev/sda1\"", &format!("device = \"{dev}\"")).unwrap();
        assert_eq!(c.card.device.to_string(), dev);
    }
}

#[test]
fn several_containers_each_with_its_own_erase_size() {
    let extra = "[[container]]\nfile = \"usr.img\"\nmountpoint = \"/usr\"\nerase_size = \"128KiB\"\n\n[[tmpfs]]\npath = \"/tmp\"";
    let c = parse_edited("[[tmpfs]]\npath = \"/tmp\"", extra).unwrap();
    assert_eq!(c.containers.len(), 2);
    assert_eq!(c.containers[1].erase_size, EraseSize(128 << 10));
    assert_eq!(c.containers[1].label(), "usr");
}

#[test]
fn erase_size_accepts_integers_and_suffixes() {
    let c = parse_edited("erase_size = \"64KiB\"", "erase_size = 131072").unwrap();
    assert_eq!(c.containers[0].erase_size, EraseSize(131072));
    let c = parse_edited("erase_size = \"64KiB\"", "erase_size = \"256k\"").unwrap();
    assert_eq!(c.containers[0].erase_size, EraseSize(256 << 10));
}

#[test]
fn unknown_key_is_refused_with_line_and_key() {
    let err = parse_edited("keep = \"move\"", "keep = \"move\"\nkeeep = 1").unwrap_err();
    assert_error(
        &err,
        line_of("keep = \"move\"", "keep = \"move\"\nkeeep = 1", "keeep"),
        "card.keeep",
        "unknown field `keeep`",
    );
}

#[test]
fn unknown_top_level_key_is_refused() {
    let err = parse_edited("trigger = \"mtd\"", "trigger = \"mtd\"\ntriger = \"x\"").unwrap_err();
    assert_eq!(err.key, deser_key("triger"), "{err}");
    assert_eq!(
        err.line,
        Some(line_of(
            "trigger = \"mtd\"",
            "trigger = \"mtd\"\ntriger = \"x\"",
            "triger ="
        ))
    );
}

#[test]
fn wrong_type_is_refused_with_line_and_key() {
    let err = parse_edited("timeout = 10", "timeout = \"ten\"").unwrap_err();
    assert_error(
        &err,
        line_of("timeout = 10", "timeout = \"ten\"", "timeout ="),
        "card.timeout",
        "invalid type",
    );
}

#[test]
fn erase_size_not_a_power_of_two_is_refused() {
    let err = parse_edited("erase_size = \"64KiB\"", "erase_size = 100000").unwrap_err();
    assert_error(
        &err,
        line_of(
            "erase_size = \"64KiB\"",
            "erase_size = 100000",
            "erase_size = 1",
        ),
        "container[0].erase_size",
        "power of two",
    );
}

#[test]
fn erase_size_under_8k_is_refused() {
    let err = parse_edited("erase_size = \"64KiB\"", "erase_size = \"4KiB\"").unwrap_err();
    assert_error(
        &err,
        line_of(
            "erase_size = \"64KiB\"",
            "erase_size = \"4KiB\"",
            "erase_size = \"4",
        ),
        "container[0].erase_size",
        "at least 8KiB",
    );
}

#[test]
fn two_containers_on_one_mountpoint_are_refused() {
    let extra = "[[container]]\nfile = \"other.img\"\nmountpoint = \"/\"\nerase_size = 65536\n\n[[tmpfs]]\npath = \"/tmp\"";
    let err = parse_edited("[[tmpfs]]\npath = \"/tmp\"", extra).unwrap_err();
    let line = line_of(
        "[[tmpfs]]\npath = \"/tmp\"",
        extra,
        "mountpoint = \"/\"\nerase_size = 65536",
    );
    assert_cross_key_error(
        &err,
        line,
        "container[1].mountpoint",
        "already the mountpoint of container[0]",
    );
}

#[test]
fn trailing_slash_does_not_hide_a_duplicate_mountpoint() {
    let extra = "[[container]]\nfile = \"a.img\"\nmountpoint = \"/usr\"\nerase_size = 65536\n\n[[container]]\nfile = \"b.img\"\nmountpoint = \"/usr/\"\nerase_size = 65536\n\n[[tmpfs]]\npath = \"/tmp\"";
    let err = parse_edited("[[tmpfs]]\npath = \"/tmp\"", extra).unwrap_err();
    assert_eq!(err.key, "container[2].mountpoint", "{err}");
}

#[test]
fn relative_mountpoint_is_refused() {
    let err = parse_edited("mountpoint = \"/\"", "mountpoint = \"root\"").unwrap_err();
    assert_error(
        &err,
        line_of(
            "mountpoint = \"/\"",
            "mountpoint = \"root\"",
            "mountpoint = \"root",
        ),
        "container[0].mountpoint",
        "absolute path",
    );
}

#[test]
fn relative_tmpfs_path_is_refused() {
    let err = parse_edited("path = \"/var/lock\"", "path = \"var/lock\"").unwrap_err();
    assert_error(
        &err,
        line_of(
            "path = \"/var/lock\"",
            "path = \"var/lock\"",
            "path = \"var/lock",
        ),
        "tmpfs[1].path",
        "absolute path",
    );
}

#[test]
fn missing_root_container_is_refused() {
    let err = parse_edited("mountpoint = \"/\"", "mountpoint = \"/data\"").unwrap_err();
    assert_eq!(err.key, "container", "{err}");
    assert!(err.message.contains("mountpoint = \"/\""), "{err}");
}

#[test]
fn bad_device_names_the_card_key() {
    let err = parse_edited("device = \"/dev/sda1\"", "device = \"sda1\"").unwrap_err();
    assert_error(
        &err,
        line_of(
            "device = \"/dev/sda1\"",
            "device = \"sda1\"",
            "device = \"sda1",
        ),
        "card.device",
        "LABEL=",
    );
}

#[test]
fn unknown_enum_value_names_the_choices() {
    let err = parse_edited("action = \"reboot\"", "action = \"explode\"").unwrap_err();
    assert_eq!(err.key, deser_key("failure.action"), "{err}");
    assert!(err.message.contains("reboot"), "{err}");
}

#[test]
fn toml_syntax_error_names_the_line() {
    let err = Config::parse("broken.toml", "trigger = \"mtd\"\n[card\n").unwrap_err();
    assert_eq!(err.file, "broken.toml");
    assert_eq!(err.line, Some(2), "{err}");
}

#[test]
fn container_on_card_must_not_escape_it() {
    let err = parse_edited("file = \"rootfs.img\"", "file = \"../rootfs.img\"").unwrap_err();
    assert_eq!(err.key, deser_key("container[0].file"), "{err}");
    assert!(err.message.contains("a file path on the card"), "{err}");
}

#[test]
fn load_reads_a_file_and_names_it() {
    let dir = std::env::temp_dir().join(format!("flashroot-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        DEFAULT_TOML.replacen("erase_size = \"64KiB\"", "erase_size = 3000", 1),
    )
    .unwrap();
    let err = Config::load(&path).unwrap_err();
    assert_eq!(err.file, path.display().to_string());
    let shown = err.to_string();
    assert!(
        shown.contains(deser_key("container[0].erase_size")),
        "{err}"
    );
    assert!(shown.contains("at least 8KiB but got 3000"), "{err}");
    let missing = Config::load(&dir.join("nope.toml")).unwrap_err();
    assert!(
        missing.to_string().contains("nope.toml: cannot read"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_containers_with_one_label_are_refused() {
    // "/usr" gets the label "usr" by default; the second container asks for it explicitly.
    let extra = "[[container]]\nfile = \"usr.img\"\nmountpoint = \"/usr\"\nerase_size = 65536\n\n[[container]]\nfile = \"opt.img\"\nmountpoint = \"/opt\"\nerase_size = 65536\nlabel = \"usr\"\n\n[[tmpfs]]\npath = \"/tmp\"";
    let err = parse_edited("[[tmpfs]]\npath = \"/tmp\"", extra).unwrap_err();
    let line = line_of("[[tmpfs]]\npath = \"/tmp\"", extra, "mountpoint = \"/opt\"");
    assert_cross_key_error(
        &err,
        line,
        "container[2].label",
        "MTD label \"usr\" is already used by container[1]",
    );
}

#[test]
fn trigger_with_a_space_is_refused() {
    let err = parse_edited("trigger = \"mtd\"", "trigger = \"mt d\"").unwrap_err();
    let line = line_of(
        "trigger = \"mtd\"",
        "trigger = \"mt d\"",
        "trigger = \"mt d\"",
    );
    assert_cross_key_error(&err, line, "trigger", "one word, but got \"mt d\"");
}

#[test]
fn card_writes_buffered_is_the_classic_recipe() {
    let c = parse_edited("writes = \"ordered\"", "writes = \"buffered\"").unwrap();
    assert_eq!(c.card.writes, CardWrites::Buffered);
    let err = parse_edited("writes = \"ordered\"", "writes = \"sometimes\"").unwrap_err();
    assert_eq!(err.key, deser_key("card.writes"), "{err}");
    assert!(err.message.contains("ordered"), "{err}");
}

#[test]
fn flush_interval_out_of_range_is_refused() {
    for ms in [0, 5, 60_001] {
        let err = parse_edited("flush_ms = 100", &format!("flush_ms = {ms}")).unwrap_err();
        assert_eq!(err.key, "card.flush_ms", "{err}");
        assert!(err.message.contains(&format!("but got {ms}")), "{err}");
    }
    let c = parse_edited("flush_ms = 100", "flush_ms = 250").unwrap();
    assert_eq!(c.card.flush_ms, 250);
}

#[test]
fn a_ramdir_may_not_overlap_another_ram_mount_nor_be_the_root() {
    let add = |entry: &str| format!("{DEFAULT_TOML}\n{entry}\n");
    for (entry, part) in [
        (
            "[[ramdir]]\npath = \"/var/log/journal\"",
            "overlaps the [[ramdir]] at /var/log",
        ),
        (
            "[[ramdir]]\npath = \"/var\"",
            "where the RAM directories are saved",
        ),
        (
            "[[ramdir]]\npath = \"/tmp/x\"",
            "overlaps the [[tmpfs]] at /tmp",
        ),
        (
            "[[ramdir]]\npath = \"/var/cache/apt\"",
            "overlaps the [[overlay]] at /var/cache/apt",
        ),
        ("[[ramdir]]\npath = \"/\"", "the root itself"),
        (
            "[[ramdir]]\npath = \"/var/lib\"",
            "where the RAM directories are saved",
        ),
        (
            "[[ramdir]]\npath = \"/srv/db\"\nsave_minutes = 0",
            "at least 1",
        ),
    ] {
        let err = Config::parse("test.toml", &add(entry)).unwrap_err();
        assert!(err.to_string().contains(part), "{entry}: {err}");
    }
    let ok = Config::parse("test.toml", &add("[[ramdir]]\npath = \"/var/lib/db\"")).unwrap();
    assert_eq!(
        ok.ramdirs.last().unwrap().save_minutes,
        DEFAULT_SAVE_MINUTES
    );
    assert_eq!(
        Config::from_compact("t.conf", &ok.to_compact()).unwrap(),
        ok
    );
}

#[test]
fn a_layered_root_names_its_base_and_packs_squashfs() {
    let c = parse_edited("# base = \"base.sqfs\"", "base = \"/base.sqfs\"").unwrap();
    let root = c.root_container();
    assert_eq!(root.base, Some(RelPath("base.sqfs".into())));
    assert_eq!(root.file.0, "rootfs.img");
    assert!(c.wanted_modules().iter().any(|m| m == SQUASHFS_MODULE));
    assert!(!Config::embedded_default()
        .wanted_modules()
        .iter()
        .any(|m| m == SQUASHFS_MODULE));
    assert_eq!(Config::from_compact("t.conf", &c.to_compact()).unwrap(), c);
}

#[test]
fn only_the_root_container_has_a_base() {
    let extra = "[[container]]\nfile = \"usr.img\"\nmountpoint = \"/usr\"\nerase_size = 65536\nbase = \"usr.sqfs\"\n\n[[tmpfs]]\npath = \"/tmp\"";
    let err = parse_edited("[[tmpfs]]\npath = \"/tmp\"", extra).unwrap_err();
    assert_cross_key_error(
        &err,
        line_of(
            "[[tmpfs]]\npath = \"/tmp\"",
            extra,
            "mountpoint = \"/usr\"\nerase_size = 65536\nbase",
        ),
        "container[1].base",
        "only the root container (mountpoint = \"/\") can have a base, but usr.img is mounted at /usr",
    );
}

#[test]
fn a_base_is_not_the_container_itself() {
    let err = parse_edited("# base = \"base.sqfs\"", "base = \"rootfs.img\"").unwrap_err();
    assert_eq!(err.key, "container[0].base", "{err}");
    assert!(
        err.message
            .contains("the base rootfs.img cannot be the container's own file"),
        "{err}"
    );
}
