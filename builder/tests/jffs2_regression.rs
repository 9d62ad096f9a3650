//! Issue #3: what `mkfs.jffs2` + `sumtool` get wrong, shown with the real tools next to ours.

mod jffs2_common;

use std::fs;
use std::process::Command;

use flashroot::jffs2::{scan, write_image, Fs, Options};
use jffs2_common::run_tool;

/// mkfs.jffs2 stores every device number in the old 16-bit form: 259:5 comes back as 3:5.
/// Ours uses the 4-byte form whenever a number does not fit a byte.
#[test]
fn issue_3_device_259_5_survives() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(src.join("dev")).unwrap();
    let table = t.path().join("devtable");
    fs::write(&table, "/dev/nvme0n1p5 b 660 0 6 259 5 0 0 -\n").unwrap();
    let device = |image: &[u8]| {
        let s = scan(image, Some(65536)).unwrap();
        let fs_ = Fs::new(image, &s);
        let e = fs_
            .walk()
            .unwrap()
            .into_iter()
            .find(|e| e.path == b"dev/nvme0n1p5")
            .unwrap();
        fs_.device(e.ino).unwrap()
    };

    let theirs = t.path().join("mk.img");
    run_tool(
        Command::new("mkfs.jffs2")
            .arg("-d")
            .arg(&src)
            .arg("-D")
            .arg(&table)
            .arg("-o")
            .arg(&theirs),
    );
    assert_eq!(
        device(&fs::read(&theirs).unwrap()),
        (3, 5),
        "mkfs.jffs2 still truncates the major"
    );

    let ours = t.path().join("ours.img");
    let o = Options {
        devtable: Some(table),
        pad_to: Some(5 * 65536),
        ..Options::default()
    };
    write_image(&src, &ours, &o).unwrap();
    assert_eq!(device(&fs::read(&ours).unwrap()), (259, 5));
}

/// `mkfs.jffs2 -p SIZE` (with a space) pads only to the end of the erase block, and sumtool
/// drops empty blocks; `flashroot mkfs.jffs2 -p SIZE` gives SIZE bytes, summaries included.
#[test]
fn issue_3_spaced_pad_and_sumtool_padding() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f"), b"data\n").unwrap();
    let size = 1u64 << 20;

    let mk = t.path().join("mk.img");
    run_tool(
        Command::new("mkfs.jffs2")
            .arg("-d")
            .arg(&src)
            .args(["-p", &size.to_string(), "-o"])
            .arg(&mk),
    );
    assert!(
        fs::metadata(&mk).unwrap().len() < size,
        "mkfs.jffs2 ignores the spaced -p SIZE"
    );
    let mk = t.path().join("mk2.img");
    run_tool(
        Command::new("mkfs.jffs2")
            .arg("-d")
            .arg(&src)
            .arg(format!("--pad={size}"))
            .arg("-o")
            .arg(&mk),
    );
    let sum = t.path().join("sum.img");
    run_tool(
        Command::new("sumtool")
            .arg("-i")
            .arg(&mk)
            .arg("-o")
            .arg(&sum),
    );
    assert!(
        fs::metadata(&sum).unwrap().len() < size,
        "sumtool drops the padding"
    );

    let ours = t.path().join("ours.img");
    run_tool(
        Command::new(env!("CARGO_BIN_EXE_flashroot"))
            .args(["mkfs.jffs2", "-d"])
            .arg(&src)
            .args(["-p", &size.to_string(), "-o"])
            .arg(&ours),
    );
    let bytes = fs::read(&ours).unwrap();
    assert_eq!(bytes.len() as u64, size);
    let s = scan(&bytes, None).unwrap();
    s.check().unwrap();
    assert_eq!((s.blocks_with_summary, s.blocks_empty), (1, 15));
}
