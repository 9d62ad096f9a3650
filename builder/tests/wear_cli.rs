//! `flashroot wear` end to end: a small card written by flashroot's FAT writer, a trace
//! with the card's and an output disk's writes, the table on stdout, errors on stderr.

use std::path::Path;
use std::process::{Command, Output};

use flashroot::disk::{write_fat_disk, FatContents, FatDiskOptions, FatKind, VolumeOptions};

const CARD_BLK: &str = "0x55d0c1c3e0a0";
const OUTPUT_BLK: &str = "0x55d0c2000000";

fn wear(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flashroot"))
        .arg("wear")
        .args(args)
        .output()
        .expect("flashroot runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn card(dir: &Path) -> std::path::PathBuf {
    let image = dir.join("card.img");
    let mut container = vec![0xFFu8; 256 << 10];
    container[..4].copy_from_slice(&[0x85, 0x19, 0x03, 0x20]);
    let mut contents = FatContents::new();
    contents.bytes("rootfs.img", container).unwrap();
    let options = FatDiskOptions {
        size: 40 << 20,
        disk_signature: 7,
        bootable: false,
        volume: VolumeOptions {
            label: "CLI".into(),
            volume_id: 7,
            kind: FatKind::Fat32,
        },
    };
    write_fat_disk(&image, &options, &contents).unwrap();
    image
}

fn line(blk: &str, offset: u64, bytes: u64) -> String {
    format!("blk_co_pwritev blk {blk} bs 0x1 offset {offset} bytes {bytes} flags 0x0\n")
}

#[test]
fn two_backends_need_blk_and_the_card_s_table_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let card = card(dir.path());
    let trace = dir.path().join("trace.log");
    // The boot sector once; the output disk's first sector; the last sector of the card.
    let mut log = line(CARD_BLK, 1 << 20, 512);
    log += &line(OUTPUT_BLK, 0, 4096);
    log += &line(CARD_BLK, (40 << 20) - 512, 512);
    std::fs::write(&trace, log).unwrap();
    let (card_arg, trace_arg) = (card.to_str().unwrap(), trace.to_str().unwrap());

    let out = wear(&["--card", card_arg, trace_arg]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{trace_arg}: writes of 2 block backends; choose the card's with --blk:"
        )) && stderr.contains(&format!("blk {CARD_BLK}: 2 writes, first at line 1"))
            && stderr.contains(&format!("blk {OUTPUT_BLK}: 1 writes, first at line 2")),
        "{stderr}"
    );

    let png = dir.path().join("wear.png");
    let out = wear(&[
        "--card",
        card_arg,
        trace_arg,
        "--blk",
        CARD_BLK,
        "--hours-from",
        "360",
        "--png",
        png.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    assert!(
        stdout.starts_with("2 write requests; run of 360 s\n"),
        "{stdout}"
    );
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row:\n{stdout}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    // sectors, written, writes, hottest, offset, writes, per hour (1 write in 0.1 h).
    assert_eq!(
        row("boot sector")[2..],
        ["1", "1", "1", "2048", "0", "1", "10", "-"]
    );
    // The card's last sector: free space, here, as the last cluster ends the card.
    let free = row("free space");
    assert_eq!([free[5], free[7], free[8]], ["81919", "1", "10"]);
    assert_eq!(std::fs::read(&png).unwrap()[..4], *b"\x89PNG");
}

#[test]
fn a_broken_trace_line_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let card = card(dir.path());
    let trace = dir.path().join("trace.log");
    let log = line(CARD_BLK, 1 << 20, 512)
        + "blk_co_pwritev blk 0x1 bs 0x1 offset -5 bytes 1 flags 0x0\n";
    std::fs::write(&trace, log).unwrap();
    let out = wear(&["--card", card.to_str().unwrap(), trace.to_str().unwrap()]);
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!(
            "flashroot: error: {}:2: offset: expected a byte count but got `-5`",
            trace.display()
        )
    );
}
