//! Issue #3: what `mkfs.jffs2` + `sumtool` get wrong, shown with the real tools next to ours.

use std::fs;
use std::process::Command;

use flashroot_jffs2::{scan, Fs, Options};
use flashroot_testsupport::jffs2::{run_tool, write_image};

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
