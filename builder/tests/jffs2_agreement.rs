//! Issue #14: the init's pre-mount check and `flashroot jffs2 check` agree about every
//! image of a corpus: ours in both byte orders and many geometries, mkfs.jffs2's and
//! mkfs.jffs2 + sumtool's, erased, foreign and damaged ones.
//!
//! The init sees the head of a container and a configured erase size; it decides whether
//! the image is JFFS2, in the kernel's byte order, made with that erase size, of whole
//! blocks. `flashroot jffs2 check` reads the whole image and says what it is (its first
//! line), then checks every node. On what both decide, they must agree:
//!
//! - the CLI refuses the bytes as JFFS2 exactly when the init refuses them for every
//!   erase size, with the same message;
//! - a big-endian image for the CLI is one the init refuses for its byte order;
//! - an erase size the CLI finds is the one size the init accepts (when the image is of
//!   whole blocks), every other configured size being a mismatch naming it; when the CLI
//!   finds none, the init calls no size a mismatch;
//! - an image the CLI passes, the init accepts; an image the init refuses, the CLI fails.
//!
//! Damage past the head (a flipped bit in the data) fails only the CLI: the init does not
//! read that far, by design (it reads a few hundred KiB of a container at boot).

use std::fs;
use std::path::Path;
use std::process::Command;

use flashroot::jffs2::{write_image, EmptyBlocks, Endian, Error, Options};
use flashroot_init::jffs2check;
use flashroot_testsupport::jffs2::{make_tree, noise, run_tool, TreeSpec, SMALL};

const KIB: u32 = 1024;
/// The erase sizes the init is configured with, for every image.
const CONFIGURED: [u32; 6] = [8 * KIB, 16 * KIB, 32 * KIB, 64 * KIB, 128 * KIB, 256 * KIB];

/// Every image is padded to this size (a whole number of blocks of every size here).
const IMAGE_BYTES: usize = 2 << 20;

/// What `flashroot jffs2 check` said about an image.
#[derive(Debug)]
struct Cli {
    passed: bool,
    /// Its first line after "IMAGE: ", or None when it refused the bytes as JFFS2.
    identity: Option<String>,
    output: String,
}

fn cli_check(image: &Path) -> Cli {
    let out = Command::new(env!("CARGO_BIN_EXE_flashroot"))
        .args(["jffs2", "check"])
        .arg(image)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let prefix = format!("{}: ", image.display());
    let identity = stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix(&prefix))
        .map(str::to_owned);
    Cli {
        passed: out.status.success(),
        identity,
        output: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// The init's verdict for configured erase size `erase`, from the head it reads.
fn init_check(bytes: &[u8], erase: u32) -> Result<(), Error> {
    let head = &bytes[..jffs2check::prefix_len(erase, bytes.len() as u64)];
    jffs2check::check(head, bytes.len() as u64, erase)
}

/// The erase size in the CLI's identity line, when it found one in the image.
fn found_size(identity: &str) -> Option<u32> {
    let (_, rest) = identity.split_once("erase blocks of ")?;
    let (n, how) = rest.split_once(" bytes ")?;
    (how == "(found in the image)").then(|| n.parse().unwrap())
}

/// Checks one image; returns a line for the table printed on failure.
fn judge(name: &str, path: &Path) -> String {
    let bytes = fs::read(path).unwrap();
    let cli = cli_check(path);
    let init: Vec<(u32, Result<(), Error>)> = CONFIGURED
        .iter()
        .map(|&e| (e, init_check(&bytes, e)))
        .collect();
    let ctx = format!("{name}: CLI said:\n{}\ninit said: {init:?}", cli.output);
    match &cli.identity {
        None => {
            // Refused as JFFS2: the same message from the init, for every size.
            assert!(!cli.passed, "{ctx}");
            for (_, v) in &init {
                let e = v.as_ref().expect_err(&ctx);
                assert!(matches!(e, Error::Empty | Error::NotJffs2 { .. }), "{ctx}");
                assert!(cli.output.contains(&e.to_string()), "{ctx}");
            }
        }
        Some(id) if id.starts_with("big-endian") => {
            for (_, v) in &init {
                let e = v.as_ref().expect_err(&ctx);
                assert!(
                    matches!(e, Error::ByteOrder { .. } | Error::HeaderCrc { .. }),
                    "{ctx}"
                );
            }
        }
        Some(id) => {
            let found = found_size(id);
            for (erase, v) in &init {
                match (v, found) {
                    (Err(Error::HeaderCrc { offset, .. }), _) => {
                        assert!(!cli.passed, "{ctx}");
                        assert!(
                            cli.output
                                .contains(&format!("at {offset:#010x}: node header CRC")),
                            "{ctx}"
                        );
                    }
                    (
                        Err(Error::EraseSizeMismatch {
                            configured,
                            found: f,
                        }),
                        Some(found),
                    ) => {
                        assert_eq!((*configured, *f), (*erase, found), "{ctx}");
                    }
                    (Err(Error::NotWholeBlocks { .. }), Some(found)) if found == *erase => {
                        assert!(!cli.passed, "{ctx}");
                        assert!(
                            cli.output.contains("is not a multiple of the erase size"),
                            "{ctx}"
                        );
                    }
                    (Err(Error::NotWholeBlocks { .. }), None) => {
                        assert_ne!(bytes.len() as u64 % u64::from(*erase), 0, "{ctx}");
                    }
                    (Ok(()), Some(found)) => assert_eq!(*erase, found, "{ctx}"),
                    (Ok(()), None) => {}
                    (other, _) => panic!("{ctx}\ndisagree at {erase}: {other:?}"),
                }
            }
            if cli.passed {
                let size = found.unwrap_or(64 * KIB);
                assert!(
                    init.iter().any(|(e, v)| *e == size && v.is_ok()),
                    "{ctx}\nthe CLI passed the image, the init refuses {size}"
                );
            }
        }
    }
    let verdicts: Vec<String> = init
        .iter()
        .map(|(e, v)| format!("{}K:{}", e / KIB, if v.is_ok() { "ok" } else { "no" }))
        .collect();
    format!(
        "{name:<28} cli {:<4} {:<70} init {}",
        if cli.passed { "ok" } else { "FAIL" },
        cli.identity.as_deref().unwrap_or("(not JFFS2)"),
        verdicts.join(" ")
    )
}

fn ours(src: &Path, out: &Path, erase: u32, f: impl FnOnce(&mut Options)) {
    let mut o = Options {
        erase_size: erase,
        pad_to: Some(IMAGE_BYTES as u64),
        ..Options::default()
    };
    f(&mut o);
    write_image(src, out, &o).unwrap();
}

fn mkfs(src: &Path, out: &Path, args: &[&str]) {
    run_tool(
        Command::new("mkfs.jffs2")
            .arg("-d")
            .arg(src)
            .args(args)
            .arg("-o")
            .arg(out),
    );
}

/// mkfs.jffs2 then sumtool, padded again with 0xFF to [`IMAGE_BYTES`].
fn mkfs_sumtool(t: &Path, src: &Path, out: &Path, erase: u32, extra: &[&str]) {
    let raw = t.join("raw.img");
    let e = format!("--eraseblock={erase}");
    let mut args = vec![e.as_str(), "-l"];
    args.extend_from_slice(extra);
    mkfs(src, &raw, &args);
    let mut cmd = Command::new("sumtool");
    cmd.args(["-p", &e, "-l"]).args(extra);
    cmd.arg("-i").arg(&raw).arg("-o").arg(out);
    run_tool(&mut cmd);
    let mut bytes = fs::read(out).unwrap();
    bytes.resize(bytes.len().max(IMAGE_BYTES), 0xFF);
    fs::write(out, bytes).unwrap();
}

fn corrupt(from: &Path, to: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = fs::read(from).unwrap();
    f(&mut bytes);
    fs::write(to, bytes).unwrap();
}

#[test]
fn init_check_and_cli_check_agree_on_the_corpus() {
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let src = t.join("src");
    // Enough data that block 0 is full at the larger sizes too.
    make_tree(
        &src,
        TreeSpec {
            big: true,
            socket: false,
            ..SMALL
        },
    );
    let mut corpus: Vec<(String, std::path::PathBuf)> = Vec::new();
    let mut add = |name: &str| {
        let p = t.join(format!("{name}.img"));
        corpus.push((name.to_string(), p.clone()));
        p
    };

    // Ours.
    for erase in [8 * KIB, 16 * KIB, 64 * KIB, 128 * KIB] {
        ours(&src, &add(&format!("ours-{}k", erase / KIB)), erase, |_| {});
    }
    ours(&src, &add("ours-16k-nosummary"), 16 * KIB, |o| {
        o.summary = false
    });
    ours(&src, &add("ours-64k-bare"), 64 * KIB, |o| {
        o.summary = false;
        o.cleanmarker = None;
    });
    ours(&src, &add("ours-32k-erased-padding"), 32 * KIB, |o| {
        o.empty_blocks = EmptyBlocks::Erased
    });
    ours(&src, &add("ours-64k-big-endian"), 64 * KIB, |o| {
        o.endian = Endian::Big
    });

    // mtd-utils.
    for erase in [16 * KIB, 64 * KIB, 128 * KIB] {
        let e = format!("--eraseblock={erase}");
        let pad = format!("--pad={IMAGE_BYTES}");
        mkfs(
            &src,
            &add(&format!("mkfs-{}k", erase / KIB)),
            &[&e, "-l", &pad],
        );
        mkfs_sumtool(
            t,
            &src,
            &add(&format!("mkfs-sumtool-{}k", erase / KIB)),
            erase,
            &[],
        );
    }
    mkfs(
        &src,
        &add("mkfs-64k-no-cleanmarkers"),
        &["--eraseblock=65536", "-n", "--pad=2097152"],
    );
    mkfs_sumtool(t, &src, &add("mkfs-sumtool-64k-n"), 64 * KIB, &["-n"]);
    mkfs(
        &src,
        &add("mkfs-64k-big-endian"),
        &["--eraseblock=65536", "-b", "--pad=2097152"],
    );

    // Not JFFS2, erased, damaged.
    fs::write(add("empty"), b"").unwrap();
    fs::write(add("erased-5x64k"), vec![0xFF; 5 * 64 * KIB as usize]).unwrap();
    fs::write(add("noise"), noise(7, 256 * KIB as usize)).unwrap();
    fs::write(add("text"), b"not an image at all\n".repeat(10_000)).unwrap();
    let good = t.join("ours-64k.img");
    let mkfs64 = t.join("mkfs-sumtool-64k.img");
    corrupt(&good, &add("bad-magic"), |b| b[..4].fill(0));
    corrupt(&good, &add("bad-first-header-crc"), |b| b[4] ^= 0x40);
    corrupt(&good, &add("bad-first-node"), |b| b[40] ^= 0x01);
    corrupt(&good, &add("bad-data-past-the-head"), |b| {
        let at = b.len() / 2 + 1000;
        b[at] ^= 0x10
    });
    corrupt(&good, &add("truncated"), |b| b.truncate(b.len() - 4096));
    corrupt(&mkfs64, &add("sumtool-block0-summary-broken"), |b| {
        let marker = 64 * KIB as usize - 8;
        let at = u32::from_le_bytes(b[marker..marker + 4].try_into().unwrap()) as usize;
        b[at + 40] ^= 0x80;
    });
    corrupt(&mkfs64, &add("sumtool-block0-marker-broken"), |b| {
        b[64 * KIB as usize - 1] ^= 0x01;
    });

    let table: Vec<String> = corpus.iter().map(|(name, p)| judge(name, p)).collect();
    println!("{} images:\n{}", table.len(), table.join("\n"));
    assert_eq!(table.len(), 28, "the corpus");
}
