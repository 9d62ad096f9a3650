//! `/run/flashroot/containers`: what the boot set up, for the shutdown program to undo
//! and for `flashroot status` to report. The init appends one line per container as it sets it up and the card line at
//! switch_root; /run moves into the real root, so the file is still there at shutdown.
//!
//! Text, one record per line, fields separated by a TAB:
//!
//! ```text
//! card<TAB><card mount in the real root, e.g. /run/flashroot/card, or - when detached>
//! container<TAB><file relative to the card root><TAB><backing device><TAB><mtd label><TAB><agent pid or ->
//! ```

use std::fmt;

pub const PATH: &str = "/run/flashroot/containers";
/// The directory [`PATH`] is in, made by the first record.
pub const DIR: &str = "/run/flashroot";
/// Written for a missing value (card detached, no agent).
const NONE: &str = "-";

/// One container as the boot set it up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRecord {
    /// The file, relative to the card's root, e.g. `rootfs.img`.
    pub file: String,
    /// The block device the file is attached to, e.g. `/dev/loop0` or `/dev/nbd0`.
    pub device: String,
    /// block2mtd's name for it (`mtd:<label>`).
    pub label: String,
    /// The process serving `device` (an nbd agent), if any.
    pub agent_pid: Option<u32>,
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Containers {
    /// `None`: no card line (the boot did not reach switch_root, or no card);
    /// `Some(None)`: the card was detached lazily; `Some(Some(path))`: mounted at path.
    pub card: Option<Option<String>>,
    pub containers: Vec<ContainerRecord>,
}

/// A line the parser refused, with its number (from 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// The card line: where the card stays in the real root (`None`: detached lazily).
pub fn card_line(path: Option<&str>) -> String {
    format!("card\t{}\n", path.unwrap_or(NONE))
}

/// One container's line.
pub fn container_line(r: &ContainerRecord) -> String {
    let pid = r
        .agent_pid
        .map_or_else(|| NONE.to_string(), |p| p.to_string());
    format!("container\t{}\t{}\t{}\t{pid}\n", r.file, r.device, r.label)
}

/// Parses the file. Unknown record kinds are refused: a newer init writing records
/// this shutdown program does not understand should be noticed, not skipped silently.
pub fn parse(text: &str) -> Result<Containers, ParseError> {
    let mut out = Containers::default();
    for (i, line) in text.lines().enumerate() {
        let bad = |reason: String| ParseError {
            line: i + 1,
            reason,
        };
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["card", path] => {
                let card = (*path != NONE).then(|| path.to_string());
                if card.as_deref().is_some_and(|p| !p.starts_with('/')) {
                    return Err(bad(format!("card path {path:?} is not absolute")));
                }
                out.card = Some(card);
            }
            ["container", file, device, label, pid] => {
                let agent_pid = match *pid {
                    NONE => None,
                    p => Some(
                        p.parse()
                            .map_err(|_| bad(format!("agent pid {p:?} is not a number or -")))?,
                    ),
                };
                if file.is_empty() || device.is_empty() || label.is_empty() {
                    return Err(bad("empty field in a container record".into()));
                }
                out.containers.push(ContainerRecord {
                    file: file.to_string(),
                    device: device.to_string(),
                    label: label.to_string(),
                    agent_pid,
                });
            }
            [kind @ ("card" | "container"), ..] => {
                return Err(bad(format!("a {kind} record with {} fields", fields.len())))
            }
            [kind, ..] => return Err(bad(format!("unknown record kind {kind:?}"))),
            [] => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loop0() -> ContainerRecord {
        ContainerRecord {
            file: "rootfs.img".into(),
            device: "/dev/loop0".into(),
            label: "rootfs".into(),
            agent_pid: None,
        }
    }

    #[test]
    fn writer_and_parser_agree() {
        let nbd = ContainerRecord {
            file: "usr.img".into(),
            device: "/dev/nbd0".into(),
            label: "usr".into(),
            agent_pid: Some(417),
        };
        let text = container_line(&loop0())
            + &container_line(&nbd)
            + &card_line(Some("/run/flashroot/card"));
        assert_eq!(
            text,
            "container\trootfs.img\t/dev/loop0\trootfs\t-\n\
             container\tusr.img\t/dev/nbd0\tusr\t417\n\
             card\t/run/flashroot/card\n"
        );
        assert_eq!(
            parse(&text).unwrap(),
            Containers {
                card: Some(Some("/run/flashroot/card".into())),
                containers: vec![loop0(), nbd],
            }
        );
    }

    #[test]
    fn detached_card_and_missing_card_line() {
        let detached = parse("card\t-\n").unwrap();
        assert_eq!(detached.card, Some(None));
        let none = parse(&container_line(&loop0())).unwrap();
        assert_eq!(none.card, None);
        assert_eq!(parse("").unwrap(), Containers::default());
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let e = parse("card\t-\ncontainer\trootfs.img\t/dev/loop0\n").unwrap_err();
        assert_eq!(e.to_string(), "line 2: a container record with 3 fields");
        let e = parse("container\ta\t/dev/nbd0\tl\tpid\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1: agent pid \"pid\" is not a number or -"
        );
        let e = parse("swap\t/dev/zram0\n").unwrap_err();
        assert_eq!(e.to_string(), "line 1: unknown record kind \"swap\"");
        let e = parse("card\trun/card\n").unwrap_err();
        assert_eq!(e.line, 1);
    }
}
