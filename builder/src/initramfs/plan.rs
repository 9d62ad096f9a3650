//! Collect, then lay out: every source (the init, the config, modules, extra files,
//! gen_init_cpio specs) adds entries to a [`Plan`], which refuses conflicting paths and
//! names both origins; [`Plan::write`] then emits directories first and everything else
//! in sorted path order, so the same inputs always give the same archive.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flashroot_cpio::writer::normalize;
use flashroot_cpio::NewcWriter;

use super::Error;

/// What a path holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Dir {
        mode: u32,
    },
    File {
        mode: u32,
        data: Data,
        links: Vec<String>,
    },
    Symlink {
        target: String,
    },
    CharDev {
        mode: u32,
        major: u32,
        minor: u32,
    },
    BlockDev {
        mode: u32,
        major: u32,
        minor: u32,
    },
    Fifo {
        mode: u32,
    },
    Socket {
        mode: u32,
    },
}

/// File contents: in memory, or a host file read (and size-checked) while writing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    Bytes(Vec<u8>),
    Host(PathBuf),
}

#[derive(Clone, Debug)]
struct Planned {
    node: Node,
    /// Who asked for it, for conflict messages ("the config's [initramfs] shell").
    origin: String,
}

/// The archive's contents before layout.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    entries: BTreeMap<String, Planned>,
    /// Extra names of hard link sets (written with their first name), with their origin.
    link_names: BTreeMap<String, String>,
}

/// Counts of what [`Plan::write`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub entries: usize,
}

impl Plan {
    /// Adds `node` at `path`; the same directory twice is fine, anything else twice is an
    /// error naming the path and both origins.
    pub fn add(&mut self, path: &str, node: Node, origin: &str) -> Result<(), Error> {
        let bad_path = |source: flashroot_cpio::Error| Error::Path {
            origin: origin.to_string(),
            source: source.into(),
        };
        let path = normalize(path).map_err(bad_path)?;
        if path.is_empty() {
            return match node {
                Node::Dir { .. } => Ok(()),
                _ => Err(Error::RootNotDir {
                    origin: origin.to_string(),
                }),
            };
        }
        if let Some(first) = self.link_names.get(&path) {
            return Err(conflict(&path, first, origin));
        }
        let mut new_links = Vec::new();
        if let Node::File { links, .. } = &node {
            for link in links {
                let link = normalize(link).map_err(bad_path)?;
                if let Some(first) = self
                    .entries
                    .get(&link)
                    .map(|e| &e.origin)
                    .or(self.link_names.get(&link))
                {
                    return Err(conflict(&link, first, origin));
                }
                if link == path || new_links.contains(&link) {
                    return Err(Error::LinkTwice {
                        origin: origin.to_string(),
                        link,
                    });
                }
                new_links.push(link);
            }
        }
        if !self.entries.contains_key(&path) {
            for link in new_links {
                self.link_names.insert(link, origin.to_string());
            }
        }
        match self.entries.get(&path) {
            Some(existing) if existing.node == node && matches!(node, Node::Dir { .. }) => Ok(()),
            Some(existing) => Err(conflict(&path, &existing.origin, origin)),
            None => {
                self.entries.insert(
                    path,
                    Planned {
                        node,
                        origin: origin.to_string(),
                    },
                );
                Ok(())
            }
        }
    }

    /// Whether `path` is planned.
    pub fn contains(&self, path: &str) -> bool {
        normalize(path).is_ok_and(|p| self.entries.contains_key(&p))
    }

    /// Writes the archive: directories in sorted order (so parents precede children),
    /// then every other entry in sorted order.
    pub fn write<W: Write>(&self, writer: &mut NewcWriter<W>) -> Result<Layout, Error> {
        let mut layout = Layout::default();
        for (path, p) in &self.entries {
            if let Node::Dir { mode } = p.node {
                writer
                    .dir(path, mode)
                    .map_err(|e| written(path, p, e.into()))?;
                layout.entries += 1;
            }
        }
        for (path, p) in &self.entries {
            write_node(writer, path, &p.node).map_err(|e| written(path, p, e))?;
            layout.entries += match &p.node {
                Node::Dir { .. } => 0,
                Node::File { links, .. } => 1 + links.len(),
                _ => 1,
            };
        }
        Ok(layout)
    }
}

fn write_node<W: Write>(w: &mut NewcWriter<W>, path: &str, node: &Node) -> io::Result<()> {
    match node {
        Node::Dir { .. } => Ok(()),
        Node::File { mode, data, links } if links.is_empty() => match data {
            Data::Bytes(bytes) => Ok(w.file(path, *mode, bytes)?),
            Data::Host(host) => {
                let mut f = File::open(host).map_err(|e| at(host, "cannot open", e))?;
                let size = f.metadata().map_err(|e| at(host, "cannot stat", e))?.len();
                w.file_from_reader(path, *mode, size, &mut f)
                    .map_err(|e| at(host, "cannot pack", e.into()))
            }
        },
        Node::File { mode, data, links } => {
            let bytes = match data {
                Data::Bytes(bytes) => bytes.clone(),
                Data::Host(host) => read_host(host)?,
            };
            let mut names = vec![path];
            names.extend(links.iter().map(String::as_str));
            Ok(w.hard_links(&names, *mode, &bytes)?)
        }
        Node::Symlink { target } => Ok(w.symlink(path, target)?),
        Node::CharDev { mode, major, minor } => Ok(w.char_dev(path, *mode, *major, *minor)?),
        Node::BlockDev { mode, major, minor } => Ok(w.block_dev(path, *mode, *major, *minor)?),
        Node::Fifo { mode } => Ok(w.fifo(path, *mode)?),
        Node::Socket { mode } => Ok(w.socket(path, *mode)?),
    }
}

/// Reads a host file whole, checking that its size did not change while it was read.
fn read_host(host: &Path) -> io::Result<Vec<u8>> {
    let mut f = File::open(host).map_err(|e| at(host, "cannot open", e))?;
    let size = f.metadata().map_err(|e| at(host, "cannot stat", e))?.len();
    let mut bytes = Vec::with_capacity(size as usize);
    f.read_to_end(&mut bytes)
        .map_err(|e| at(host, "cannot read", e))?;
    if bytes.len() as u64 != size {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: expected {size} bytes but read {}; did it change while being packed?",
                host.display(),
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

fn at(host: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {what}: {e}", host.display()))
}

fn written(path: &str, p: &Planned, source: io::Error) -> Error {
    Error::Write {
        path: path.to_string(),
        origin: p.origin.clone(),
        source,
    }
}

fn conflict(path: &str, first: &str, second: &str) -> Error {
    Error::Twice {
        path: path.to_string(),
        first: first.to_string(),
        second: second.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashroot_cpio::reader::read_archive;
    use flashroot_cpio::WriterOptions;

    #[test]
    fn lays_out_directories_first_then_sorted() {
        let mut plan = Plan::default();
        plan.add(
            "/init",
            Node::File {
                mode: 0o755,
                data: Data::Bytes(b"x".to_vec()),
                links: vec![],
            },
            "the init",
        )
        .unwrap();
        plan.add(
            "/dev/console",
            Node::CharDev {
                mode: 0o600,
                major: 5,
                minor: 1,
            },
            "console",
        )
        .unwrap();
        plan.add("/tmp", Node::Dir { mode: 0o1777 }, "dirs")
            .unwrap();
        plan.add("/dev", Node::Dir { mode: 0o755 }, "dirs").unwrap();
        plan.add("/dev", Node::Dir { mode: 0o755 }, "again")
            .unwrap();
        let mut w = NewcWriter::new(Vec::new(), WriterOptions::default());
        assert_eq!(plan.write(&mut w).unwrap(), Layout { entries: 4 });
        let (entries, _) = read_archive(&w.finish().unwrap(), 0).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["dev", "tmp", "dev/console", "init"]);
        assert_eq!(entries[1].header.mode, 0o41777);
    }

    #[test]
    fn conflicts_name_both_origins() {
        let mut plan = Plan::default();
        plan.add(
            "/bin/sh",
            Node::Symlink {
                target: "busybox".into(),
            },
            "list.txt line 3",
        )
        .unwrap();
        let err = plan
            .add(
                "bin/sh",
                Node::File {
                    mode: 0o755,
                    data: Data::Host("/bin/busybox".into()),
                    links: vec![],
                },
                "the config's [initramfs] shell",
            )
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "/bin/sh is added twice: by list.txt line 3 and by the config's [initramfs] shell"
        );
    }

    #[test]
    fn hard_link_names_conflict_too() {
        let mut plan = Plan::default();
        let set = Node::File {
            mode: 0o755,
            data: Data::Bytes(b"x".to_vec()),
            links: vec!["/bin/sh".into()],
        };
        plan.add("/bin/busybox", set, "spec line 1").unwrap();
        let err = plan
            .add(
                "/bin/sh",
                Node::Symlink {
                    target: "busybox".into(),
                },
                "spec line 2",
            )
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "/bin/sh is added twice: by spec line 1 and by spec line 2"
        );
        let twice = Node::File {
            mode: 0o644,
            data: Data::Bytes(vec![]),
            links: vec!["b".into(), "/b".into()],
        };
        let err = plan.add("a", twice, "spec line 3").unwrap_err().to_string();
        assert_eq!(err, "spec line 3: /b is named twice in one hard link set");
    }

    #[test]
    fn a_missing_host_file_is_named() {
        let mut plan = Plan::default();
        plan.add(
            "/x",
            Node::File {
                mode: 0o644,
                data: Data::Host("/nonexistent/x".into()),
                links: vec![],
            },
            "extra",
        )
        .unwrap();
        let mut w = NewcWriter::new(Vec::new(), WriterOptions::default());
        let err = plan.write(&mut w).unwrap_err().to_string();
        assert!(
            err.starts_with("x (extra): /nonexistent/x: cannot open:"),
            "{err}"
        );
    }
}
