//! mkfs.jffs2/genext2fs device tables (`-D FILE`): lines of
//! `<path> <type> <mode> <uid> <gid> <major> <minor> <start> <inc> <count>`, so that
//! non-root users can put devices, fifos and owners into an image. Pure parser.

use crate::error::{Error, Result};

/// What a line makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryType {
    /// `f`: changes mode and owner of an existing regular file.
    File,
    /// `d`: a directory, created when missing.
    Dir,
    /// `c`
    CharDev,
    /// `b`
    BlockDev,
    /// `p`
    Fifo,
    /// `s`: a socket (our extension; mkfs.jffs2 has none).
    Socket,
}

/// One path to create or change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Absolute path inside the image, as raw bytes.
    pub path: Vec<u8>,
    /// What the line makes or changes.
    pub kind: EntryType,
    /// Permission bits (and setuid/setgid/sticky).
    pub perm: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device major number (0 for others).
    pub major: u32,
    /// Device minor number (0 for others).
    pub minor: u32,
}

/// Fields on a line.
const FIELDS: usize = 10;
/// The permission bits a table may set.
const PERM_MASK: u32 = 0o7777;

/// Parses a device table; `name` is used in errors, which give the line number.
/// Err: [`Error::DevTable`].
/// A line with a count expands to `path<start>`, `path<start+1>`… with minors
/// `minor`, `minor+inc`….
pub fn parse(name: &str, text: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = |problem: String| Error::DevTable {
            file: name.into(),
            line: i + 1,
            problem,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != FIELDS {
            return Err(at(format!(
                "expected {FIELDS} fields (path type mode uid gid major minor start inc count), got {}",
                f.len()
            )));
        }
        let num = |idx: usize, what: &str| -> Result<u32> {
            if f[idx] == "-" {
                return Ok(0);
            }
            f[idx]
                .parse::<u32>()
                .map_err(|_| at(format!("{what} must be a number, got {:?}", f[idx])))
        };
        let kind = match f[1] {
            "f" => EntryType::File,
            "d" => EntryType::Dir,
            "c" => EntryType::CharDev,
            "b" => EntryType::BlockDev,
            "p" => EntryType::Fifo,
            "s" => EntryType::Socket,
            other => {
                return Err(at(format!(
                    "unknown type {other:?}: expected f, d, c, b, p or s"
                )))
            }
        };
        let perm = u32::from_str_radix(f[2], 8)
            .ok()
            .filter(|m| m & !PERM_MASK == 0)
            .ok_or_else(|| at(format!("mode must be octal permissions, got {:?}", f[2])))?;
        let path = f[0];
        if !path.starts_with('/') {
            return Err(at(format!("path must be absolute, got {path:?}")));
        }
        let (uid, gid, major, minor) = (
            num(3, "uid")?,
            num(4, "gid")?,
            num(5, "major")?,
            num(6, "minor")?,
        );
        let (start, inc, count) = (num(7, "start")?, num(8, "inc")?, num(9, "count")?);
        let entry = Entry {
            path: path.as_bytes().to_vec(),
            kind,
            perm,
            uid,
            gid,
            major,
            minor,
        };
        if count == 0 {
            out.push(entry);
            continue;
        }
        for n in 0..count {
            let mut e = entry.clone();
            e.path = format!("{path}{}", start + n).into_bytes();
            e.minor = minor + n * inc;
            out.push(e);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_and_ranges() {
        let t = "# comment\n/dev d 755 0 0 - - - - -\n\
                 /dev/nvme0n1p5 b 660 0 6 259 5 0 0 -\n/dev/tty c 666 0 5 4 0 0 1 2\n";
        let e = parse("t", t).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].kind, EntryType::Dir);
        assert_eq!(e[0].perm, 0o755);
        assert_eq!(
            e[1],
            Entry {
                path: b"/dev/nvme0n1p5".to_vec(),
                kind: EntryType::BlockDev,
                perm: 0o660,
                uid: 0,
                gid: 6,
                major: 259,
                minor: 5
            }
        );
        assert_eq!((e[2].path.as_slice(), e[2].minor), (&b"/dev/tty0"[..], 0));
        assert_eq!((e[3].path.as_slice(), e[3].minor), (&b"/dev/tty1"[..], 1));
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = |text: &str| parse("dt", text).unwrap_err().to_string();
        assert_eq!(
            err("\n/dev/x q 644 0 0 0 0 0 0 0\n"),
            "dt:2: unknown type \"q\": expected f, d, c, b, p or s"
        );
        assert_eq!(
            err("/dev/x c 9999 0 0 0 0 0 0 0"),
            "dt:1: mode must be octal permissions, got \"9999\""
        );
        assert!(err("/dev/x c 644 0 0").starts_with("dt:1: expected 10 fields"));
        assert!(err("dev c 644 0 0 1 1 0 0 0").contains("absolute"));
    }
}
