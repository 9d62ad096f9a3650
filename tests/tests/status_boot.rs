//! Issue #15, Done-when 3: `flashroot status` and `flashroot status --json` inside a booted
//! flash root (the card agent, a RAM directory, the default config), and the free space
//! they report judged by the kernel: a write of the sure free space succeeds, and writing
//! past the most it says ever fits fails with ENOSPC. Then status exits 2 (near ENOSPC).

use flashroot_tests::debian_package;
use flashroot_tests::flashboot;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use debian_package::{flashroot_binary, must_run};
use flashboot::*;

/// The root container: the (stripped) flashroot binary and its libraries take ~6 MiB of it.
const CONTAINER: u64 = 32 << 20;
const CARD: u64 = 64 << 20;
const ERASE: u64 = 64 << 10;

/// Runs status twice, then fills the root: first the sure free space (must succeed), then
/// past the most that can fit (must fail), then status again.
const STATUS_INIT: &str = r#"#!/bin/sh
export PATH=/bin:/usr/sbin
number() { grep "\"$1\":" /run/status.json | head -n 1 | tr -dc 0-9; }
{
  echo "--- human"
  flashroot status 2>&1
  echo "human_rc=$?"
  echo "--- end human"
  flashroot status --json > /run/status.json 2> /run/status.err
  echo "json_rc=$?"
  cat /run/status.err
  echo "--- json"
  cat /run/status.json
  echo "--- end json"
  free=$(number data_free)
  max=$(number data_free_max)
  head -c "$free" /dev/urandom > /fill 2> /run/under.err
  echo "under_rc=$?"
  echo "under_err=$(cat /run/under.err)"
  echo "under_size=$(wc -c < /fill)"
  # Past the most that fits, in a second file, page by page (busybox dd names the errno;
  # head would only say "I/O error").
  pages=$(( (max - free) / 4096 + 16 ))
  dd if=/dev/urandom of=/fill2 bs=4096 count="$pages" 2> /run/past.err
  echo "past_rc=$?"
  echo "past_err=$(grep -v records /run/past.err | tr '\n' ' ')"
  echo "past_size=$(( $(wc -c < /fill) + $(wc -c < /fill2) ))"
  flashroot status --json > /dev/null 2>&1
  echo "full_rc=$?"
  echo "--- mountinfo"
  cat /proc/self/mountinfo
  echo "--- end"
} > /run/report 2>&1
cat /run/report
{ printf 'FLASHROOT-OUTPUT %d\n' "$(wc -c < /run/report)"; cat /run/report; } > /dev/vda
sync
poweroff -f
"#;

/// Copies `bin` (stripped) to /usr/sbin/flashroot in `tree`, with the shared libraries
/// `ldd` names at the same paths.
fn install_flashroot(bin: &Path, tree: &Path) {
    let dest = tree.join("usr/sbin/flashroot");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::copy(bin, &dest).unwrap();
    must_run(Command::new("strip").arg("--strip-unneeded").arg(&dest));
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).unwrap();
    let out = must_run(Command::new("ldd").arg(bin));
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or `/lib64/ld-linux-x86-64.so.2 (0x...)`
        let path = line
            .split("=>")
            .last()
            .and_then(|r| r.split_whitespace().next())
            .filter(|p| p.starts_with('/'));
        let Some(path) = path else { continue };
        let target = tree.join(path.trim_start_matches('/'));
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(path, &target).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

fn section<'a>(text: &'a str, name: &str) -> &'a str {
    text.split(&format!("--- {name}\n"))
        .nth(1)
        .and_then(|rest| rest.split(&format!("--- end {name}")).next())
        .unwrap_or_else(|| panic!("no {name} section in the report:\n{text}"))
}

#[test]
fn status_reports_the_flash_root_and_its_free_space_is_what_the_kernel_allows() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let bin = flashroot_binary();
    let tree = root_tree(dir.path(), Some(STATUS_INIT));
    install_flashroot(&bin, &tree);
    let image = dir.path().join("rootfs.img");
    flashroot::jffs2::write_image(
        &tree,
        &image,
        &flashroot::jffs2::Options {
            erase_size: ERASE as u32,
            pad_to: Some(CONTAINER),
            ..Default::default()
        },
    )
    .expect("JFFS2 image");
    let card = dir.path().join("card.img");
    card_of_size(&card, &[("rootfs.img", &image)], CARD);
    let initrd = dir.path().join("initrd.img");
    initramfs(&kernel, flashroot_config::DEFAULT_TOML, &initrd);
    let outcome = run(
        &kernel,
        &initrd,
        vec![ide(&card)],
        &format!("mtd {FAIL_FAST}"),
    );
    outcome.expect_powered_off();
    let report = Report::from_outcome(&outcome);
    let text = &report.text;
    report.expect_mount("/", "jffs2");

    // Human form: every part named.
    let human = section(text, "human");
    assert_eq!(report.field("human_rc"), Some("0"), "{text}");
    for says in [
        "card: /dev/sda1 on /run/flashroot/card",
        "Fat32 dirty bit: set",
        "container rootfs.img: card agent (pid ",
        "writes to /dev/sda1, direct I/O",
        "flushed every 100 ms",
        "erase block 64KiB",
        "jffs2 / (",
        "for sure, never more than",
        "RAM directory /var/log:",
        "durability: ordered writes",
    ] {
        assert!(
            human.contains(says),
            "status does not say {says:?}:\n{human}"
        );
    }

    // JSON form: the same facts, typed.
    assert_eq!(report.field("json_rc"), Some("0"), "{text}");
    let json: serde_json::Value = serde_json::from_str(section(text, "json"))
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}):\n{text}"));
    assert_eq!(json["card"]["device"], "/dev/sda1", "{json:#}");
    assert_eq!(json["card"]["fat"]["kind"], "fat32");
    assert_eq!(json["card"]["fat"]["dirty"], true, "mounted read-write");
    let c = &json["containers"][0];
    assert_eq!(c["file"], "rootfs.img");
    assert_eq!(c["route"], "agent");
    assert_eq!(c["agent_running"], true);
    assert_eq!(c["direct_io"], true);
    assert_eq!(c["writes_to"], "/dev/sda1");
    assert_eq!(c["flush_ms"], 100);
    assert_eq!(c["mtd"]["erase_bytes"], ERASE);
    assert_eq!(c["mtd"]["size_bytes"], CONTAINER);
    let j = &json["jffs2"][0];
    assert_eq!(j["mountpoint"], "/");
    assert_eq!(j["container"], "rootfs.img");
    let space = &j["space"];
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("{v} in {json:#}"));
    let (free, max, df) = (
        n(&space["data_free"]),
        n(&space["data_free_max"]),
        n(&space["df_free"]),
    );
    assert!(free > 4 << 20 && free < max, "{space:#}");
    // build.c: 2 + (32 MiB / 50 + 512 * 100 + 65535) / 65536 = 14 blocks.
    assert_eq!(n(&space["reserve_bytes"]), 14 * ERASE, "{space:#}");
    let ramdir = json["ramdirs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/var/log")
        .unwrap_or_else(|| panic!("no /var/log RAM directory: {json:#}"));
    assert_eq!(ramdir["mounted"], true);
    assert_eq!(ramdir["save_minutes"], 60);
    assert!(json["ram_mounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["mountpoint"] == "/tmp" && m["fstype"] == "tmpfs"));
    assert_eq!(json["durability"]["writes"], "ordered");
    assert_eq!(json["near_enospc"]["near"], false);

    // The kernel's verdict: the sure free space fits, past the most there is does not.
    assert_eq!(
        report.field("under_rc"),
        Some("0"),
        "writing {free} bytes (status: sure free) failed; df said {df}:\n{text}"
    );
    assert_eq!(report.field("under_size"), Some(free.to_string().as_str()));
    assert_ne!(report.field("past_rc"), Some("0"), "{text}");
    assert!(
        report
            .field("past_err")
            .is_some_and(|e| e.contains("No space left on device")),
        "{text}"
    );
    let filled: u64 = report.field("past_size").unwrap().parse().unwrap();
    assert!(
        filled >= free && filled <= max,
        "the kernel took {filled} bytes; status said between {free} and {max}:\n{text}"
    );
    assert_eq!(
        report.field("full_rc"),
        Some("2"),
        "status near ENOSPC:\n{text}"
    );
    eprintln!("status said {free}..{max} (df {df}); the kernel took {filled}");
}
