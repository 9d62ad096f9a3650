//! The `flashroot jffs2` and `flashroot mkfs.jffs2` commands and the atomic image
//! writer: what the library (flashroot-jffs2, tested in its own crate) leaves to the CLI.

use std::fs;
use std::path::Path;
use std::process::Command;

use flashroot::jffs2::{scan, write_image, Options};
use flashroot_testsupport::jffs2::*;

fn opts(dir: &Path, erase: u32, pad_blocks: u64) -> Options {
    options_with_devtable(dir, erase, pad_blocks)
}

#[test]
fn cli_check_rejects_corruption_with_the_offset() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    let img = t.path().join("img");
    write_image(&src, &img, &opts(t.path(), 64 << 10, 16)).unwrap();
    let exe = env!("CARGO_BIN_EXE_flashroot");
    run_tool(Command::new(exe).args(["jffs2", "check"]).arg(&img));
    let mut bytes = fs::read(&img).unwrap();
    bytes[0x100] ^= 0xFF;
    fs::write(&img, &bytes).unwrap();
    let bad = Command::new(exe)
        .args(["jffs2", "check"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("at 0x00000"), "{out}");
}

#[test]
fn too_small_pad_and_too_few_blocks_are_errors() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, FULL);
    let img = t.path().join("img");
    fs::write(&img, b"a good image from before").unwrap();
    let e = write_image(&src, &img, &opts(t.path(), 64 << 10, 8)).unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("erase blocks") && text.contains("image size 524288 holds only 8"),
        "{text}"
    );
    assert_eq!(
        fs::read(&img).unwrap(),
        b"a good image from before",
        "a failed run keeps the old image"
    );
    let names: Vec<String> = fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains(".tmp")),
        "temporary file left behind: {names:?}"
    );

    let tiny = t.path().join("tiny");
    fs::create_dir(&tiny).unwrap();
    fs::write(tiny.join("f"), b"x").unwrap();
    let o = Options {
        pad_to: None,
        ..Options::default()
    };
    let e = format!("{:#}", write_image(&tiny, &img, &o).unwrap_err());
    assert!(e.contains("the kernel needs at least 5"), "{e}");
    let o = Options {
        pad_to: Some(4 * 65536),
        ..Options::default()
    };
    let e = format!("{:#}", write_image(&tiny, &img, &o).unwrap_err());
    assert!(e.contains("gives 4 erase blocks"), "{e}");
}

#[test]
fn cli_accepts_mkfs_jffs2_spellings() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    let table = t.path().join("devtable");
    fs::write(&table, devtable_text()).unwrap();
    let exe = env!("CARGO_BIN_EXE_flashroot");
    let a = t.path().join("a.img");
    let out = run_tool(
        Command::new(exe)
            .args(["mkfs.jffs2", "-d"])
            .arg(&src)
            .args([
                "-e", "128KiB", "-p", "4MiB", "-l", "-x", "rtime", "-m", "priority", "-D",
            ])
            .arg(&table)
            .arg("-o")
            .arg(&a),
    );
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(
        report.contains("32 erase blocks of 131072 bytes"),
        "{report}"
    );
    assert!(report.contains("summary:"), "{report}");
    // The same with the long, '=' spellings and through a symlink named mkfs.jffs2.
    let link = t.path().join("mkfs.jffs2");
    std::os::unix::fs::symlink(exe, &link).unwrap();
    let b = t.path().join("b.img");
    run_tool(
        Command::new(&link)
            .arg(format!("--root={}", src.display()))
            .args([
                "--eraseblock=131072",
                "--pad=4194304",
                "--little-endian",
                "--disable-compressor=rtime",
            ])
            .arg(format!("--devtable={}", table.display()))
            .arg(format!("--output={}", b.display())),
    );
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "both spellings give the same image"
    );
    let bad = Command::new(exe)
        .args(["mkfs.jffs2", "-d"])
        .arg(&src)
        .args(["-p", "100000", "-o"])
        .arg(t.path().join("c.img"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a multiple of the erase block size"));
}

#[test]
fn cli_ls_and_extract() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, SMALL);
    let img = t.path().join("img");
    write_image(&src, &img, &opts(t.path(), 64 << 10, 16)).unwrap();
    let exe = env!("CARGO_BIN_EXE_flashroot");
    let ls = run_tool(Command::new(exe).args(["jffs2", "ls"]).arg(&img));
    let text = String::from_utf8_lossy(&ls.stdout);
    assert!(text.contains("/dev/nvme0n1p5 [259:5]"), "{text}");
    assert!(text.contains("/link -> p4096"), "{text}");
    assert!(text.contains("/names/latin1-\\xe9t\\xe9"), "{text}");
    let out = t.path().join("out");
    run_tool(
        Command::new(exe)
            .args(["jffs2", "extract"])
            .arg(&img)
            .arg(&out),
    );
    assert_eq!(
        fs::read(out.join("p4097")).unwrap(),
        fs::read(src.join("p4097")).unwrap()
    );
    assert_eq!(
        fs::read(out.join("sparse")).unwrap(),
        fs::read(src.join("sparse")).unwrap()
    );
    assert_eq!(fs::read_link(out.join("link")).unwrap(), Path::new("p4096"));
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(out.join("sock"))
        .unwrap()
        .file_type()
        .is_socket());
    assert!(fs::symlink_metadata(out.join("dev/initctl"))
        .unwrap()
        .file_type()
        .is_fifo());
    let hard = |p: &str| std::os::unix::fs::MetadataExt::ino(&fs::metadata(out.join(p)).unwrap());
    assert_eq!(hard("hard/a"), hard("hard/b"));
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
    // The padding is kept. The one used block is the last, which keeps no summary (its
    // tail stays free for the kernel's writes, as the kernel leaves a block it has not
    // filled).
    assert_eq!((s.blocks_with_summary, s.blocks_empty), (0, 15));
}
