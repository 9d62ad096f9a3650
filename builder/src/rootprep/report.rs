//! The list of changes an import made, one line each, so users can review what flashroot did
//! to their root.

use std::fmt;

/// One change made to the prepared root. Paths are as seen inside the root (`/var/tmp`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The source tree was copied to the target directory first.
    Copied { from: String, to: String },
    /// A directory was created (it was missing), with this mode.
    CreatedDir { path: String, mode: u32 },
    /// The contents of a directory were removed: something is mounted over it at boot.
    Emptied {
        path: String,
        entries: usize,
        why: &'static str,
    },
    /// A directory's permission bits were changed.
    ModeSet { path: String, from: u32, to: u32 },
    /// `path` is now a symlink to `target`; `replaced` tells what was there before.
    Symlinked {
        path: String,
        target: String,
        replaced: Option<String>,
    },
    /// A regenerable file was removed to save card space.
    RemovedFile {
        path: String,
        bytes: u64,
        why: &'static str,
    },
    /// A line written into `/etc/fstab`.
    FstabLine(String),
    /// A file written whole (created or replaced), with this mode.
    WroteFile {
        path: String,
        mode: u32,
        why: &'static str,
    },
    /// A file's contents were removed; the file itself stays.
    EmptiedFile {
        path: String,
        bytes: u64,
        why: &'static str,
    },
    /// A package's file was moved aside with `dpkg-divert --local --rename`, so dpkg
    /// installs the package's future versions of it at `to` and leaves `path` to us.
    Diverted { path: String, to: String },
    /// Something the root lacks that the user should know about; nothing was changed.
    Warning(String),
    /// Something that was checked and left alone, with the reason.
    Kept { path: String, why: String },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Copied { from, to } => write!(f, "copied {from} to {to}"),
            Change::CreatedDir { path, mode } => write!(f, "created {path} (mode {mode:04o})"),
            Change::Emptied { path, entries, why } => {
                write!(f, "emptied {path}: removed {entries} entries ({why})")
            }
            Change::ModeSet { path, from, to } => {
                write!(f, "changed mode of {path} from {from:04o} to {to:04o}")
            }
            Change::Symlinked {
                path,
                target,
                replaced,
            } => match replaced {
                Some(old) => write!(f, "replaced {path} ({old}) with a symlink to {target}"),
                None => write!(f, "created symlink {path} -> {target}"),
            },
            Change::RemovedFile { path, bytes, why } => {
                write!(f, "removed {path} ({bytes} bytes; {why})")
            }
            Change::FstabLine(line) => write!(f, "added to /etc/fstab: {line}"),
            Change::WroteFile { path, mode, why } => {
                write!(f, "wrote {path} (mode {mode:04o}; {why})")
            }
            Change::EmptiedFile { path, bytes, why } => {
                write!(f, "emptied {path}: removed {bytes} bytes ({why})")
            }
            Change::Diverted { path, to } => write!(
                f,
                "diverted {path} to {to} (dpkg-divert --local --rename: package upgrades \
                 install there and leave {path} alone)"
            ),
            Change::Warning(text) => write!(f, "warning: {text}"),
            Change::Kept { path, why } => write!(f, "kept {path}: {why}"),
        }
    }
}

/// Every change, in the order made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub changes: Vec<Change>,
}

impl Report {
    pub(crate) fn push(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// Changes that modified the tree (everything but [`Change::Kept`] and
    /// [`Change::Warning`]).
    pub fn modifications(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| !matches!(c, Change::Kept { .. } | Change::Warning(_)))
    }

    /// The warnings' texts.
    pub fn warnings(&self) -> impl Iterator<Item = &str> {
        self.changes.iter().filter_map(|c| match c {
            Change::Warning(text) => Some(text.as_str()),
            _ => None,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            writeln!(f, "{change}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_path_and_reason() {
        let report = Report {
            changes: vec![
                Change::Emptied {
                    path: "/tmp".into(),
                    entries: 3,
                    why: "a tmpfs is mounted there at boot",
                },
                Change::Symlinked {
                    path: "/var/tmp".into(),
                    target: "/tmp".into(),
                    replaced: Some("a directory".into()),
                },
                Change::CreatedDir {
                    path: "/run".into(),
                    mode: 0o755,
                },
            ],
        };
        assert_eq!(
            report.to_string(),
            "emptied /tmp: removed 3 entries (a tmpfs is mounted there at boot)\n\
             replaced /var/tmp (a directory) with a symlink to /tmp\n\
             created /run (mode 0755)\n"
        );
    }
}
