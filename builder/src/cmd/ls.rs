//! `flashroot ls IMAGE`: lists an initramfs like `lsinitramfs`, every part of a
//! concatenated image (early microcode, then the compressed main archive) in order.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{anyhow, Context};

use flashroot::initramfs::image::read_image;
use flashroot_cpio::newc::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFSOCK};
use flashroot_cpio::reader::Entry;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The initramfs image (uncompressed, gzip, zstd or xz; parts may be concatenated).
    pub image: PathBuf,
    /// Long listing: mode, links, owner, group, size (or device number), mtime (UTC).
    #[arg(short = 'l', long)]
    pub long: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.image)
        .with_context(|| format!("{}: cannot read", args.image.display()))?;
    let segments = read_image(&bytes).map_err(|e| anyhow!("{}: {e}", args.image.display()))?;
    let mut out = String::new();
    for entry in segments.iter().flat_map(|s| &s.entries) {
        if args.long {
            out.push_str(&long_line(entry));
        } else {
            out.push_str(&entry.name);
        }
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

/// One `ls -l`-style line: `drwxr-xr-x   2 0        0               0 1970-01-01 00:00 dev`.
pub fn long_line(e: &Entry) -> String {
    let h = &e.header;
    let size = match h.file_type() {
        S_IFCHR | S_IFBLK => format!("{:>3}, {:>3}", h.rdevmajor, h.rdevminor),
        _ => h.filesize.to_string(),
    };
    let mut line = format!(
        "{} {:>3} {:<8} {:<8} {:>8} {} {}",
        mode_string(h.mode),
        h.nlink,
        h.uid,
        h.gid,
        size,
        utc_minutes(h.mtime as i64),
        e.name
    );
    if let Some(target) = e.link_target() {
        let _ = write!(line, " -> {target}");
    }
    line
}

/// `ls`'s mode string: type letter, then rwx triplets with s/S and t/T.
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & S_IFMT {
        S_IFDIR => 'd',
        S_IFLNK => 'l',
        S_IFCHR => 'c',
        S_IFBLK => 'b',
        S_IFIFO => 'p',
        S_IFSOCK => 's',
        _ => '-',
    };
    let mut s = String::from(kind);
    // (read bit, write bit, execute bit, special bit, special letter)
    for (shift, special, letter) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 0o7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => letter,
            (false, true) => letter.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// `YYYY-MM-DD HH:MM` in UTC (Howard Hinnant's civil-from-days).
fn utc_minutes(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashroot_cpio::newc::{Header, S_IFREG};

    #[test]
    fn mode_strings() {
        assert_eq!(mode_string(S_IFDIR | 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(S_IFDIR | 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(S_IFREG | 0o4644), "-rwSr--r--");
        assert_eq!(mode_string(S_IFCHR | 0o600), "crw-------");
        assert_eq!(mode_string(S_IFLNK | 0o777), "lrwxrwxrwx");
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc_minutes(0), "1970-01-01 00:00");
        assert_eq!(utc_minutes(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(utc_minutes(951_782_400), "2000-02-29 00:00");
    }

    #[test]
    fn long_lines_show_devices_and_links() {
        let console = Entry {
            offset: 0,
            name: "dev/console".into(),
            header: Header {
                mode: S_IFCHR | 0o600,
                nlink: 1,
                rdevmajor: 5,
                rdevminor: 1,
                ..Header::default()
            },
            data: vec![],
        };
        assert_eq!(
            long_line(&console),
            "crw-------   1 0        0          5,   1 1970-01-01 00:00 dev/console"
        );
        let link = Entry {
            offset: 0,
            name: "bin/sh".into(),
            header: Header {
                mode: S_IFLNK | 0o777,
                nlink: 1,
                filesize: 7,
                ..Header::default()
            },
            data: b"busybox".to_vec(),
        };
        assert_eq!(
            long_line(&link),
            "lrwxrwxrwx   1 0        0               7 1970-01-01 00:00 bin/sh -> busybox"
        );
    }
}
