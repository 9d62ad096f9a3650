//! `flashroot jffs2 check|ls|extract IMAGE`: read back a JFFS2 image, ours or
//! mkfs.jffs2 + sumtool's.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use flashroot_config::parse_size;
use flashroot_jffs2::mode::{S_IFBLK, S_IFCHR, S_IFLNK, S_IFMT};
use flashroot_jffs2::{check_image, extract, scan, Fs, Scan};

/// Check, list or extract a JFFS2 image.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Verify every node CRC and every erase block summary; name the offset of anything wrong.
    Check(ImageArgs),
    /// List the files.
    Ls(ImageArgs),
    /// Extract the files into DIR (which must not exist or be empty).
    Extract {
        #[command(flatten)]
        image: ImageArgs,
        dir: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    pub image: PathBuf,
    /// Erase block size; found from the summaries when absent.
    #[arg(short = 'e', long = "eraseblock", value_name = "SIZE")]
    pub eraseblock: Option<String>,
}

/// `check` lists at most this many problems; the count says how many there are.
const MAX_PROBLEMS_SHOWN: usize = 50;

fn read(a: &ImageArgs) -> Result<(Vec<u8>, Option<u32>)> {
    let bytes =
        std::fs::read(&a.image).with_context(|| format!("cannot read {}", a.image.display()))?;
    let erase = match &a.eraseblock {
        None => None,
        Some(t) => Some(
            u32::try_from(parse_size(t).map_err(|e| anyhow::anyhow!("-e/--eraseblock: {e}"))?)
                .context("-e/--eraseblock: too large")?,
        ),
    };
    Ok((bytes, erase))
}

/// The library's error about `a`'s image, with the flag that gave a wrong value named.
fn image_error(a: &ImageArgs, e: flashroot_jffs2::Error) -> anyhow::Error {
    match e {
        flashroot_jffs2::Error::BadEraseSize { .. } => anyhow::anyhow!("-e/--eraseblock: {e}"),
        e => anyhow::anyhow!("{}: {e}", a.image.display()),
    }
}

fn load(a: &ImageArgs) -> Result<(Vec<u8>, Scan)> {
    let (bytes, erase) = read(a)?;
    let s = scan(&bytes, erase).map_err(|e| image_error(a, e))?;
    Ok((bytes, s))
}

pub fn run(a: Args) -> Result<()> {
    match a.action {
        Action::Check(i) => check(&i),
        Action::Ls(i) => ls(&i),
        Action::Extract { image, dir } => extract_to(&image, &dir),
    }
}

fn check(a: &ImageArgs) -> Result<()> {
    let (bytes, erase) = read(a)?;
    let checked = check_image(&bytes, erase).map_err(|e| image_error(a, e))?;
    let (s, problems) = (&checked.scan, &checked.problems);
    let name = a.image.display();
    println!("{name}: {}", identity(s, erase.is_some()));
    if !problems.is_empty() {
        for p in problems.iter().take(MAX_PROBLEMS_SHOWN) {
            println!("{name}: {p}");
        }
        if problems.len() > MAX_PROBLEMS_SHOWN {
            println!(
                "{name}: ... and {} more",
                problems.len() - MAX_PROBLEMS_SHOWN
            );
        }
        bail!("{name}: {} problems found", problems.len());
    }
    println!(
        "{name}: OK: {} erase blocks of {} bytes ({} with summary, {} empty), {} nodes, {:?}",
        s.blocks,
        s.erase_size,
        s.blocks_with_summary,
        s.blocks_empty,
        s.nodes.len(),
        s.endian
    );
    Ok(())
}

/// What the image is: byte order and erase size, and where the size came from (the
/// rule is the one the init applies before mounting: flashroot_jffs2::probe).
fn identity(s: &Scan, given: bool) -> String {
    let Some(id) = s.identity else {
        return format!(
            "erased (all 0xFF): an empty JFFS2 file system, {} erase blocks of {} bytes",
            s.blocks, s.erase_size
        );
    };
    let order = match id.endian {
        flashroot_jffs2::Endian::Little => "little-endian",
        flashroot_jffs2::Endian::Big => "big-endian",
    };
    let how = match (id.erase_size, given) {
        (Some(f), _) => format!("erase blocks of {f} bytes (found in the image)"),
        (None, true) => format!("erase blocks of {} bytes (given)", s.erase_size),
        (None, false) => format!(
            "erase blocks of {} bytes (assumed: nothing in the image tells)",
            s.erase_size
        ),
    };
    format!("{order} JFFS2, {how}")
}

fn ls(a: &ImageArgs) -> Result<()> {
    let (bytes, s) = load(a)?;
    for p in &s.problems {
        eprintln!("flashroot: warning: {}: {p}", a.image.display());
    }
    let fs = Fs::new(&bytes, &s);
    for e in fs.walk()? {
        let extra = match e.mode & S_IFMT {
            S_IFLNK => format!(" -> {}", fs.data(e.ino)?.escape_ascii()),
            S_IFCHR | S_IFBLK => {
                let (ma, mi) = fs.device(e.ino)?;
                format!(" [{ma}:{mi}]")
            }
            _ => String::new(),
        };
        println!(
            "{:07o} {:>5} {:>5} {:>10} /{}{extra}",
            e.mode,
            e.uid,
            e.gid,
            e.size,
            e.path.escape_ascii()
        );
    }
    Ok(())
}

fn extract_to(a: &ImageArgs, dir: &Path) -> Result<()> {
    let (bytes, s) = load(a)?;
    if let Err(e) = s.check() {
        bail!(
            "{}: refusing to extract a damaged image:\n{e}",
            a.image.display()
        );
    }
    let fs = Fs::new(&bytes, &s);
    let skipped = extract::extract(&fs, dir)?;
    if skipped.owners > 0 {
        eprintln!(
            "flashroot: note: owners of {} entries not set (not root)",
            skipped.owners
        );
    }
    if skipped.xattrs > 0 {
        eprintln!(
            "flashroot: note: {} extended attributes not set",
            skipped.xattrs
        );
    }
    for s in &skipped.sockets {
        eprintln!("flashroot: note: socket {s} extracted as an empty file");
    }
    Ok(())
}
