//! QEMU's `blk_co_pwritev` trace: every write a guest device makes to a block backend.
//!
//! `qemu-system-x86_64 -d trace:blk_co_pwritev -D trace.log` writes one line per request
//! (QEMU 7.2, `block/trace-events`):
//!
//! ```text
//! blk_co_pwritev blk 0x55d0c1c3e0a0 bs 0x55d0c1c45b50 offset 1048576 bytes 4096 flags 0x0
//! ```
//!
//! With `-msg timestamp=on` each line starts with `PID@SECONDS.MICROS:` (host wall time).
//! Other lines (other trace events, QEMU's messages) are skipped; a `blk_co_pwritev` line
//! that does not parse is an error naming its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{BackendSummary, Error};

/// The trace event, as QEMU names it at the start of the line.
pub const EVENT: &str = "blk_co_pwritev";

/// One guest write request to one block backend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Write {
    /// 1-based line of the trace file.
    pub line: usize,
    /// The BlockBackend pointer: one per `-drive`, constant for the run.
    pub blk: u64,
    /// Byte offset on the drive.
    pub offset: u64,
    pub bytes: u64,
    /// Host seconds, when the trace was written with `-msg timestamp=on`.
    pub time: Option<f64>,
}

/// Every write of a trace file, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub path: PathBuf,
    pub writes: Vec<Write>,
}

impl Trace {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &String::from_utf8_lossy(&text))
    }

    /// Parses trace text; `path` only names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, Error> {
        let mut writes = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            match parse_line(line, number) {
                Ok(Some(write)) => writes.push(write),
                Ok(None) => {}
                Err(problem) => {
                    return Err(Error::TraceLine {
                        path: path.to_path_buf(),
                        line: number,
                        problem,
                    })
                }
            }
        }
        if writes.is_empty() {
            return Err(Error::NoWrites {
                path: path.to_path_buf(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            writes,
        })
    }

    /// Each backend that wrote, in order of its first write.
    pub fn backends(&self) -> Vec<BackendSummary> {
        let mut by_blk: BTreeMap<u64, BackendSummary> = BTreeMap::new();
        for w in &self.writes {
            let entry = by_blk.entry(w.blk).or_insert(BackendSummary {
                blk: w.blk,
                writes: 0,
                first_line: w.line,
                highest_byte: 0,
            });
            entry.writes += 1;
            entry.highest_byte = entry.highest_byte.max(w.offset + w.bytes);
        }
        let mut list: Vec<BackendSummary> = by_blk.into_values().collect();
        list.sort_by_key(|b| b.first_line);
        list
    }

    /// The writes of the card's backend. The pointers are heap addresses, so nothing in the
    /// trace itself says which drive is which: with one backend it is the card, with several
    /// the caller must name it (`blk`), and a wrong guess fails rather than mixing two disks.
    pub fn card_writes(&self, blk: Option<u64>) -> Result<Vec<Write>, Error> {
        let backends = self.backends();
        let chosen = match (blk, backends.as_slice()) {
            (Some(blk), _) => {
                if !backends.iter().any(|b| b.blk == blk) {
                    return Err(Error::UnknownBackend {
                        path: self.path.clone(),
                        blk,
                    });
                }
                blk
            }
            (None, [only]) => only.blk,
            (None, _) => {
                return Err(Error::AmbiguousBackend {
                    path: self.path.clone(),
                    backends,
                })
            }
        };
        Ok(self
            .writes
            .iter()
            .filter(|w| w.blk == chosen)
            .copied()
            .collect())
    }

    /// Host seconds between the first and last timestamped write, if the trace has times.
    pub fn timestamp_span(&self) -> Option<f64> {
        let first = self.writes.iter().find_map(|w| w.time)?;
        let last = self.writes.iter().rev().find_map(|w| w.time)?;
        Some(last - first)
    }
}

/// What is wrong with a `blk_co_pwritev` line of a trace (the error adds file and line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineProblem {
    /// Field `name` expected, `got` found, in `text` (the line).
    Field {
        name: &'static str,
        got: String,
        text: String,
    },
    /// Field `name` missing from `text`.
    Missing { name: &'static str, text: String },
    /// The `blk` value is no pointer.
    Pointer { got: String },
    /// `offset` or `bytes` (`field`) is no byte count.
    ByteCount { field: &'static str, got: String },
    /// The `-msg timestamp=on` prefix's seconds do not parse.
    Timestamp { got: String },
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Field { name, got, text } => {
                write!(f, "expected field `{name}` but got `{got}` in {text:?}")
            }
            Self::Missing { name, text } => write!(f, "field `{name}` missing in {text:?}"),
            Self::Pointer { got } => write!(f, "blk: expected a pointer but got `{got}`"),
            Self::ByteCount { field, got } => {
                write!(f, "{field}: expected a byte count but got `{got}`")
            }
            Self::Timestamp { got } => {
                write!(f, "timestamp: expected SECONDS.MICROS but got `{got}`")
            }
        }
    }
}

/// `Ok(None)` for a line of another event; `Err` for a `blk_co_pwritev` line that is broken.
fn parse_line(line: &str, number: usize) -> Result<Option<Write>, LineProblem> {
    let (time, body) = split_timestamp(line)?;
    let mut words = body.split_ascii_whitespace();
    if words.next() != Some(EVENT) {
        return Ok(None);
    }
    let mut field = |name: &'static str| -> Result<&str, LineProblem> {
        match (words.next(), words.next()) {
            (Some(key), Some(value)) if key == name => Ok(value),
            (Some(key), _) if key != name => Err(LineProblem::Field {
                name,
                got: key.into(),
                text: line.into(),
            }),
            _ => Err(LineProblem::Missing {
                name,
                text: line.into(),
            }),
        }
    };
    let blk = field("blk")?;
    let _bs = field("bs")?;
    let offset = field("offset")?;
    let bytes = field("bytes")?;
    let _flags = field("flags")?;
    let blk = parse_pointer(blk).ok_or_else(|| LineProblem::Pointer { got: blk.into() })?;
    let count = |field: &'static str, got: &str| {
        got.parse::<u64>().map_err(|_| LineProblem::ByteCount {
            field,
            got: got.into(),
        })
    };
    let offset = count("offset", offset)?;
    let bytes = count("bytes", bytes)?;
    Ok(Some(Write {
        line: number,
        blk,
        offset,
        bytes,
        time,
    }))
}

/// Splits `PID@SECONDS.MICROS:` off a line written with `-msg timestamp=on`.
fn split_timestamp(line: &str) -> Result<(Option<f64>, &str), LineProblem> {
    let Some((prefix, rest)) = line.split_once(':') else {
        return Ok((None, line));
    };
    let Some((pid, seconds)) = prefix.split_once('@') else {
        return Ok((None, line));
    };
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return Ok((None, line));
    }
    let time = seconds.parse::<f64>().map_err(|_| LineProblem::Timestamp {
        got: seconds.into(),
    })?;
    Ok((Some(time), rest))
}

/// `%p` as glibc prints it: `0x55d0…`, or `(nil)`.
fn parse_pointer(text: &str) -> Option<u64> {
    if text == "(nil)" {
        return Some(0);
    }
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str =
        "blk_co_pwritev blk 0x55d0c1c3e0a0 bs 0x55d0c1c45b50 offset 1048576 bytes 512 flags 0x0";
    const OUTPUT: &str =
        "blk_co_pwritev blk 0x55d0c2000000 bs 0x55d0c2001000 offset 0 bytes 4096 flags 0x0";

    fn parse(text: &str) -> Result<Trace, Error> {
        Trace::parse(Path::new("trace.log"), text)
    }

    #[test]
    fn parses_plain_and_timestamped_lines_and_skips_other_events() {
        let text = format!(
            "{CARD}\nblk_root_attach child 0x1 blk 0x2 bs 0x3\n1234@1700000000.250000:{OUTPUT}\n"
        );
        let trace = parse(&text).unwrap();
        assert_eq!(
            trace.writes,
            vec![
                Write {
                    line: 1,
                    blk: 0x55d0_c1c3_e0a0,
                    offset: 1_048_576,
                    bytes: 512,
                    time: None
                },
                Write {
                    line: 3,
                    blk: 0x55d0_c200_0000,
                    offset: 0,
                    bytes: 4096,
                    time: Some(1_700_000_000.25)
                },
            ]
        );
    }

    #[test]
    fn a_broken_line_is_named_with_file_and_line() {
        let text =
            format!("{CARD}\nblk_co_pwritev blk 0x1 bs 0x2 offset twelve bytes 512 flags 0x0\n");
        let error = parse(&text).unwrap_err().to_string();
        assert_eq!(
            error,
            "trace.log:2: offset: expected a byte count but got `twelve`"
        );
        let error = parse("blk_co_pwritev blk 0x1 bs 0x2 bytes 512\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("trace.log:1: expected field `offset` but got `bytes`"),
            "{error}"
        );
    }

    #[test]
    fn an_event_with_a_longer_name_is_not_a_write() {
        let text = format!("blk_co_pwritev_part blk 0x1\n{CARD}\n");
        assert_eq!(parse(&text).unwrap().writes.len(), 1);
    }

    #[test]
    fn a_trace_without_writes_is_refused() {
        let error = parse("qemu: terminating on signal 15\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("no blk_co_pwritev line"), "{error}");
    }

    #[test]
    fn one_backend_is_the_card_several_need_a_choice() {
        let single = parse(&format!("{CARD}\n{CARD}\n")).unwrap();
        assert_eq!(single.card_writes(None).unwrap().len(), 2);

        let both = parse(&format!("{CARD}\n{OUTPUT}\n{CARD}\n")).unwrap();
        let error = both.card_writes(None).unwrap_err().to_string();
        assert_eq!(
            error,
            "trace.log: writes of 2 block backends; choose the card's:\n  \
             blk 0x55d0c1c3e0a0: 2 writes, first at line 1, up to byte 1049088\n  \
             blk 0x55d0c2000000: 1 writes, first at line 2, up to byte 4096"
        );
        let card = both.card_writes(Some(0x55d0_c1c3_e0a0)).unwrap();
        assert_eq!(card.iter().map(|w| w.line).collect::<Vec<_>>(), [1, 3]);
        let error = both.card_writes(Some(0x99)).unwrap_err().to_string();
        assert_eq!(error, "trace.log: no write of block backend 0x99");
    }
}
