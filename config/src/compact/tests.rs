use super::*;

/// Every optional field set, lists with several entries, and values that need escapes.
const FULL_TOML: &str = r#"
trigger = "flash"

[card]
device = "LABEL=MY CARD"
fstype = "vfat"
mountpoint = "/card"
iocharset = "utf8"
codepage = 850
timeout = 25
keep = "detach"
keep_at = "/mnt/card"

[[container]]
file = "images/root.img"
mountpoint = "/"
erase_size = "128KiB"
label = "root"
options = ["noatime", "compr=zlib"]

[[container]]
file = "usr.img"
mountpoint = "/usr"
erase_size = 65536

[[tmpfs]]
path = "/tmp"
size = "50%"
mode = "1777"

[[tmpfs]]
path = "/var/log"

[[overlay]]
path = "/var/cache/apt"
size = "64M"

[[overlay]]
path = "/var/lib/apt"

[modules]
load = ["loop", "jffs2"]
extra = ["tab\there"]
[modules.params]
loop = "max_loop=8 max_part=2"
block2mtd = "back\\slash\nnewline"

[failure]
action = "poweroff"
delay = 5

[initramfs]
compression = "zstd"
shell = "/bin/busybox"
files = [{ source = "/etc/hosts", target = "/etc/hosts" }]
gen_init_cpio = ["nod /dev/console 0600 0 0 c 5 1", "dir /mnt 0755 0 0"]
"#;

fn full() -> Config {
    Config::parse("full.toml", FULL_TOML).expect("the fixture is valid")
}

/// The compact default with `from` replaced by `to` (exactly once), read as `test.conf`.
fn read_edited(from: &str, to: &str) -> Result<Config, ConfigError> {
    assert_eq!(
        DEFAULT_COMPACT.matches(from).count(),
        1,
        "fixture edit {from:?} is ambiguous"
    );
    Config::from_compact("test.conf", &DEFAULT_COMPACT.replacen(from, to, 1))
}

/// The 1-based line of `needle` in the edited compact default.
fn line_of(from: &str, to: &str, needle: &str) -> usize {
    let text = DEFAULT_COMPACT.replacen(from, to, 1);
    let offset = text.find(needle).expect("needle in fixture");
    text[..offset].matches('\n').count() + 1
}

fn assert_error(err: &ConfigError, line: Option<usize>, key: &str, message_part: &str) {
    let shown = err.to_string();
    assert_eq!(err.file, "test.conf", "{shown}");
    assert_eq!(err.line, line, "{shown}");
    assert_eq!(err.key, key, "{shown}");
    assert!(err.message.contains(message_part), "{shown}");
}

#[test]
fn default_conf_is_the_toml_default() {
    let expected = Config::embedded_default().to_compact();
    assert!(
        DEFAULT_COMPACT == expected,
        "config/default.conf is stale; regenerate it with \
         `cargo run -p flashroot-config --example compact_default > config/default.conf`"
    );
    assert_eq!(
        Config::embedded_default_compact(),
        Config::embedded_default()
    );
}

#[test]
fn every_field_round_trips() {
    let config = full();
    let text = config.to_compact();
    assert_eq!(Config::from_compact("full.conf", &text), Ok(config));
}

#[test]
fn fixture_sets_what_the_default_leaves_out() {
    // Otherwise the round trip would not exercise those fields.
    let c = full();
    assert_eq!(c.containers[0].label(), "root");
    assert_eq!(c.card.codepage, Some(850));
    assert_eq!(c.tmpfs[0].size.as_deref(), Some("50%"));
    assert_eq!(c.overlays[0].size.as_deref(), Some("64M"));
    assert_eq!(c.modules.extra, ["tab\there"]);
    assert_eq!(c.modules.params.len(), 2);
    assert_eq!(c.initramfs.files.len(), 1);
    assert_eq!(c.initramfs.gen_init_cpio.len(), 2);
}

#[test]
fn writes_one_field_a_line_with_escapes() {
    let text = full().to_compact();
    assert!(
        text.starts_with("flashroot compact config 1\ntrigger\tflash\n"),
        "{text}"
    );
    assert!(text.contains("\ncard.device\tLABEL=MY CARD\n"), "{text}");
    assert!(
        text.contains("\ncontainer\ncontainer.file\timages/root.img\n"),
        "{text}"
    );
    assert!(text.contains("\ncontainer.erase_size\t131072\n"), "{text}");
    assert!(text.contains("\nmodules.extra\ttab\\there\n"), "{text}");
    assert!(
        text.contains("\nmodules.param\tblock2mtd\tback\\\\slash\\nnewline\n"),
        "{text}"
    );
    assert!(
        text.contains("\ninitramfs.file\t/etc/hosts\t/etc/hosts\n"),
        "{text}"
    );
}

#[test]
fn escapes_round_trip() {
    let mut out = String::new();
    escape_into(&mut out, "a\tb\\c\nd\re");
    assert_eq!(out, "a\\tb\\\\c\\nd\\re");
    assert_eq!(unescape(&out), Ok("a\tb\\c\nd\re".to_string()));
    assert!(unescape("bad\\q").unwrap_err().to_string().contains("\\q"));
    assert!(unescape("trailing\\")
        .unwrap_err()
        .to_string()
        .contains("escape"));
}

#[test]
fn header_is_required() {
    let err = Config::from_compact("test.conf", "trigger\tmtd\n").unwrap_err();
    assert_error(&err, Some(1), "", "flashroot compact config 1");
    let err = read_edited("config 1\n", "config 2\n").unwrap_err();
    assert!(err.message.contains("same flashroot"), "{err}");
}

#[test]
fn bad_value_names_line_and_key() {
    let (from, to) = ("erase_size\t65536", "erase_size\t100000");
    let err = read_edited(from, to).unwrap_err();
    assert_error(
        &err,
        Some(line_of(from, to, "container.erase_size")),
        "container.erase_size",
        "power of two",
    );
    let (from, to) = ("card.keep\tmove", "card.keep\texplode");
    let err = read_edited(from, to).unwrap_err();
    assert_error(
        &err,
        Some(line_of(from, to, "card.keep\t")),
        "card.keep",
        "expected move or detach, but got \"explode\"",
    );
    let (from, to) = ("card.timeout\t10", "card.timeout\tten");
    let err = read_edited(from, to).unwrap_err();
    assert_error(
        &err,
        Some(line_of(from, to, "card.timeout")),
        "card.timeout",
        "expected a number, but got \"ten\"",
    );
    let (from, to) = ("tmpfs.path\t/var/lock", "tmpfs.path\tvar/lock");
    let err = read_edited(from, to).unwrap_err();
    assert_error(
        &err,
        Some(line_of(from, to, "tmpfs.path\tvar")),
        "tmpfs.path",
        "absolute path",
    );
}

#[test]
fn unknown_and_repeated_keys_are_refused() {
    let (from, to) = ("card.keep\tmove\n", "card.keep\tmove\ncard.keeep\tmove\n");
    let err = read_edited(from, to).unwrap_err();
    assert_error(
        &err,
        Some(line_of(from, to, "card.keeep")),
        "card.keeep",
        "unknown key",
    );
    let (from, to) = ("trigger\tmtd\n", "trigger\tmtd\ntrigger\tflash\n");
    let err = read_edited(from, to).unwrap_err();
    assert_error(
        &err,
        Some(line_of(from, to, "trigger\tflash")),
        "trigger",
        "given twice",
    );
    let (from, to) = ("trigger\tmtd\n", "trigger\tmtd\textra\n");
    let err = read_edited(from, to).unwrap_err();
    assert_error(&err, Some(2), "trigger", "expected one value, but got 2");
}

#[test]
fn missing_keys_are_named() {
    let err = read_edited("card.timeout\t10\n", "").unwrap_err();
    assert_error(&err, None, "card.timeout", "missing");
    let (from, to) = ("container.file\trootfs.img\n", "");
    let err = read_edited(from, to).unwrap_err();
    assert_error(
        &err,
        Some(line_of(from, to, "container\n")),
        "container.file",
        "missing",
    );
}

#[test]
fn list_keys_need_their_entry_line() {
    let (from, to) = ("overlay\noverlay.path", "overlay.path");
    let err = read_edited(from, to).unwrap_err();
    assert_error(
        &err,
        Some(line_of(from, to, "overlay.path")),
        "overlay.path",
        "needs a bare \"overlay\" line before it",
    );
}

#[test]
fn cross_key_rules_apply_too() {
    let (from, to) = (
        "overlay\noverlay.path",
        "container\ncontainer.file\tother.img\ncontainer.mountpoint\t/\ncontainer.erase_size\t65536\noverlay\noverlay.path",
    );
    let err = read_edited(from, to).unwrap_err();
    assert_error(
        &err,
        None,
        "container[1].mountpoint",
        "already the mountpoint of container[0]",
    );
}

#[test]
fn load_compact_names_the_file() {
    let dir = std::env::temp_dir().join(format!("flashroot-compact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flashroot.conf");
    std::fs::write(&path, full().to_compact()).unwrap();
    assert_eq!(Config::load_compact(&path), Ok(full()));
    let missing = Config::load_compact(&dir.join("nope.conf")).unwrap_err();
    assert!(
        missing.to_string().contains("nope.conf: cannot read"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_key_twice_in_one_entry_is_refused() {
    let (from, to) = (
        "container.option\tnoatime\n",
        "container.option\tnoatime\ncontainer.label\ta\ncontainer.label\tb\n",
    );
    let err = read_edited(from, to).unwrap_err();
    assert_error(
        &err,
        Some(line_of(from, to, "container.label\tb")),
        "container.label",
        "given twice",
    );
    // Repeated keys append instead.
    let (from, to) = (
        "container.option\tnoatime\n",
        "container.option\tnoatime\ncontainer.option\tsync\n",
    );
    assert_eq!(
        read_edited(from, to).unwrap().containers[0].options,
        ["noatime", "sync"]
    );
}
