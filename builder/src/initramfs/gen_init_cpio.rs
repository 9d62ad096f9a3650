//! The kernel's `usr/gen_init_cpio` text format, accepted as an extra input so kernel
//! build scripts can switch to flashroot:
//!
//! ```text
//! file <name> <location> <mode> <uid> <gid> [<hard links>...]
//! dir <name> <mode> <uid> <gid>
//! nod <name> <mode> <uid> <gid> <dev_type: b|c> <maj> <min>
//! slink <name> <target> <mode> <uid> <gid>
//! pipe <name> <mode> <uid> <gid>
//! sock <name> <mode> <uid> <gid>
//! ```
//!
//! Modes are octal. `#` starts a comment line. `${VAR}` in a file location is replaced
//! from the environment, as gen_init_cpio does. flashroot archives are owned by root:
//! uid and gid are parsed and checked to be numbers, then recorded as 0.

use std::path::PathBuf;

use super::{Error, SpecProblem};

/// One line of the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecEntry {
    File {
        name: String,
        location: PathBuf,
        mode: u32,
        links: Vec<String>,
    },
    Dir {
        name: String,
        mode: u32,
    },
    Node {
        name: String,
        mode: u32,
        kind: DeviceKind,
        major: u32,
        minor: u32,
    },
    Symlink {
        name: String,
        target: String,
    },
    Pipe {
        name: String,
        mode: u32,
    },
    Socket {
        name: String,
        mode: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    Char,
    Block,
}

/// Parses a spec; `file` names it in errors with the line number.
/// `env` looks up variables for `${VAR}` in locations.
pub fn parse(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<SpecEntry>, Error> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        out.push(parse_line(&words, env).map_err(|problem| Error::Spec {
            file: file.to_string(),
            line: i + 1,
            problem,
        })?);
    }
    Ok(out)
}

fn parse_line(
    words: &[&str],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SpecEntry, SpecProblem> {
    let kind = words[0];
    let need = |n: usize, usage: &'static str| -> Result<(), SpecProblem> {
        if words.len() < n || (kind != "file" && words.len() > n) {
            return Err(SpecProblem::Fields {
                usage,
                got: words.len(),
            });
        }
        Ok(())
    };
    let name = || words[1].to_string();
    match kind {
        "file" => {
            need(
                6,
                "file <name> <location> <mode> <uid> <gid> [<hard links>]",
            )?;
            owner(words[4], words[5])?;
            Ok(SpecEntry::File {
                name: name(),
                location: PathBuf::from(expand(words[2], env)?),
                mode: octal(words[3])?,
                links: words[6..].iter().map(|s| s.to_string()).collect(),
            })
        }
        "dir" => {
            need(5, "dir <name> <mode> <uid> <gid>")?;
            owner(words[3], words[4])?;
            Ok(SpecEntry::Dir {
                name: name(),
                mode: octal(words[2])?,
            })
        }
        "nod" => {
            need(8, "nod <name> <mode> <uid> <gid> <dev_type> <maj> <min>")?;
            owner(words[3], words[4])?;
            let kind = match words[5] {
                "c" => DeviceKind::Char,
                "b" => DeviceKind::Block,
                other => return Err(SpecProblem::DeviceType { got: other.into() }),
            };
            Ok(SpecEntry::Node {
                name: name(),
                mode: octal(words[2])?,
                kind,
                major: number(words[6])?,
                minor: number(words[7])?,
            })
        }
        "slink" => {
            need(6, "slink <name> <target> <mode> <uid> <gid>")?;
            octal(words[3])?;
            owner(words[4], words[5])?;
            Ok(SpecEntry::Symlink {
                name: name(),
                target: words[2].to_string(),
            })
        }
        "pipe" => {
            need(5, "pipe <name> <mode> <uid> <gid>")?;
            owner(words[3], words[4])?;
            Ok(SpecEntry::Pipe {
                name: name(),
                mode: octal(words[2])?,
            })
        }
        "sock" => {
            need(5, "sock <name> <mode> <uid> <gid>")?;
            owner(words[3], words[4])?;
            Ok(SpecEntry::Socket {
                name: name(),
                mode: octal(words[2])?,
            })
        }
        other => Err(SpecProblem::Kind { got: other.into() }),
    }
}

fn octal(text: &str) -> Result<u32, SpecProblem> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| SpecProblem::Mode { got: text.into() })
}

fn number(text: &str) -> Result<u32, SpecProblem> {
    text.parse()
        .map_err(|_| SpecProblem::DeviceNumber { got: text.into() })
}

fn owner(uid: &str, gid: &str) -> Result<(), SpecProblem> {
    for (what, v) in [("uid", uid), ("gid", gid)] {
        v.parse::<u32>().map_err(|_| SpecProblem::Owner {
            what,
            got: v.into(),
        })?;
    }
    Ok(())
}

/// Replaces `${VAR}` with its value; an unset variable is an error.
fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, SpecProblem> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| SpecProblem::Unclosed { text: text.into() })?;
        let var = &after[..end];
        out.push_str(&env(var).ok_or_else(|| SpecProblem::Unset {
            text: text.into(),
            var: var.into(),
        })?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_every_kind() {
        let text = "# a comment\n\
                    dir /dev 0755 0 0\n\
                    nod /dev/console 0600 0 0 c 5 1\n\
                    nod /dev/sda 0660 0 6 b 8 0\n\
                    file /bin/busybox ${SRC}/busybox 0755 0 0 /bin/sh\n\
                    slink /bin/ls busybox 0777 0 0\n\
                    pipe /run/p 0644 0 0\n\
                    sock /run/s 0600 0 0\n";
        let env = |v: &str| (v == "SRC").then(|| "/usr/bin".to_string());
        let spec = parse("list.txt", text, &env).unwrap();
        assert_eq!(
            spec,
            [
                SpecEntry::Dir {
                    name: "/dev".into(),
                    mode: 0o755
                },
                SpecEntry::Node {
                    name: "/dev/console".into(),
                    mode: 0o600,
                    kind: DeviceKind::Char,
                    major: 5,
                    minor: 1
                },
                SpecEntry::Node {
                    name: "/dev/sda".into(),
                    mode: 0o660,
                    kind: DeviceKind::Block,
                    major: 8,
                    minor: 0
                },
                SpecEntry::File {
                    name: "/bin/busybox".into(),
                    location: "/usr/bin/busybox".into(),
                    mode: 0o755,
                    links: vec!["/bin/sh".into()]
                },
                SpecEntry::Symlink {
                    name: "/bin/ls".into(),
                    target: "busybox".into()
                },
                SpecEntry::Pipe {
                    name: "/run/p".into(),
                    mode: 0o644
                },
                SpecEntry::Socket {
                    name: "/run/s".into(),
                    mode: 0o600
                },
            ]
        );
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let cases = [
            (
                "dir /a 0755 0\n",
                "list line 1: expected \"dir <name> <mode> <uid> <gid>\", but got 4 fields",
            ),
            (
                "\nnod /a 0600 0 0 x 1 1\n",
                "list line 2: device type: expected \"c\" or \"b\", but got \"x\"",
            ),
            (
                "dir /a 0999 0 0\n",
                "list line 1: mode: expected octal permissions such as 0755, but got \"0999\"",
            ),
            (
                "pipe /a 0644 root 0\n",
                "list line 1: uid: expected a number, but got \"root\"",
            ),
            (
                "file /a ${NOPE}/a 0644 0 0\n",
                "list line 1: \"${NOPE}/a\": environment variable NOPE is not set",
            ),
            (
                "link /a /b\n",
                "list line 1: expected file, dir, nod, slink, pipe or sock, but got \"link\"",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse("list", text, &no_env).unwrap_err().to_string(),
                expected,
                "{text:?}"
            );
        }
    }
}
