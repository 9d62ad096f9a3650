//! The `flashroot build` pipeline: config, init and modules in; a newc archive out.
//!
//! [`build_archive`] collects everything into a [`plan::Plan`] and lays it out once;
//! compression ([`compression`]), the kernel choice ([`kernel`]) and the atomic write
//! ([`crate::atomic`]) are separate steps the CLI strings together. [`image`] reads images
//! back (for `flashroot ls`), [`gen_init_cpio`] parses the kernel's text spec.

pub mod compression;
mod error;
pub mod gen_init_cpio;
pub mod image;
pub mod kernel;
pub mod load_list;
pub mod plan;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use flashroot_config::load_order::{self, ModuleEntry, ALIASES_PATH, LOAD_ORDER_PATH};
use flashroot_config::{Config, COMPACT_PATH, CONFIG_PATH};

pub use error::{Error, SpecProblem};
use flashroot_cpio::{NewcWriter, WriterOptions};
use flashroot_kmod::{self as modules, ModuleTree};
use gen_init_cpio::{DeviceKind, SpecEntry};
use plan::{Data, Node, Plan};

/// Directories the init needs besides the card mountpoint: mountpoints for devtmpfs,
/// proc, sysfs, /run and the new root, the config's directory and a scratch /tmp.
pub const INIT_DIRS: [&str; 7] = ["dev", "proc", "sys", "run", "root", "etc/flashroot", "tmp"];
/// Permissions of plain directories, files and executables in the archive.
const DIR_MODE: u32 = 0o755;
const TMP_MODE: u32 = 0o1777;
const FILE_MODE: u32 = 0o644;
const EXEC_MODE: u32 = 0o755;
/// `/dev/console`: the kernel opens it for the init's stdio before running `/init`.
const CONSOLE_PATH: &str = "dev/console";
const CONSOLE_MODE: u32 = 0o600;
const CONSOLE_MAJOR: u32 = 5;
const CONSOLE_MINOR: u32 = 1;
/// Where the rescue shell goes.
pub const SHELL_PATH: &str = "bin/sh";
/// The init.
pub const INIT_PATH: &str = "init";

/// Everything a build reads.
pub struct BuildInputs<'a> {
    pub config: &'a Config,
    /// The config text packed for the init (the user's file, or the embedded default).
    pub config_text: &'a str,
    pub init: &'a [u8],
    /// The kernel's module tree; `None` builds an archive without modules.
    pub modules: Option<&'a ModuleTree>,
    /// gen_init_cpio spec files, besides those the config lists.
    pub extra_specs: &'a [PathBuf],
    /// Host-only: the modaliases of the machine the initramfs is for; the config's drivers
    /// no such device needs are left out. `None` packs every driver the config names.
    pub devices: Option<&'a [String]>,
    /// Host-only: the filesystem type of the machine's root (`ext4`), whose module is
    /// packed even when the config does not name it, so the image boots that root.
    pub root_fs: Option<&'a str>,
    pub options: WriterOptions,
}

/// The uncompressed archive and what went into it.
#[derive(Clone, Debug)]
pub struct BuildOutput {
    pub archive: Vec<u8>,
    pub load_order: Vec<ModuleEntry>,
    /// Builtins skipped, optional softdeps missing.
    pub notes: Vec<String>,
    pub entries: usize,
}

/// Adds the module registering `fstype` (by its `fs-<type>` alias, as the kernel asks
/// for it) to `wanted`; returns the note saying what became of it.
fn add_root_filesystem(tree: &ModuleTree, fstype: &str, wanted: &mut Vec<String>) -> String {
    let alias = format!("{}{fstype}", load_list::FS_ALIAS_PREFIX);
    match tree.lookup(&alias) {
        modules::tree::Lookup::Modules(found) => {
            let names = found.join(" ");
            let known = found
                .iter()
                .any(|m| wanted.iter().any(|w| modules::normalize_name(w) == *m));
            if !known {
                wanted.push(alias);
            }
            format!("host-only: this machine's root is {fstype}: packing {names}")
        }
        modules::tree::Lookup::Builtin => {
            format!("host-only: this machine's root is {fstype}, built into kernel {}", tree.kver)
        }
        modules::tree::Lookup::NotFound => format!(
            "host-only: this machine's root is {fstype}, for which kernel {} has no module ({alias}); not packed",
            tree.kver
        ),
    }
}

/// Builds the uncompressed newc archive.
pub fn build_archive(inputs: &BuildInputs) -> Result<BuildOutput, Error> {
    let config = inputs.config;
    let mut plan = Plan::default();
    let mut notes = Vec::new();

    for dir in INIT_DIRS {
        let mode = if dir == "tmp" { TMP_MODE } else { DIR_MODE };
        plan.add(dir, Node::Dir { mode }, "the directories the init needs")?;
    }
    plan.add(
        &config.card.mountpoint.0,
        Node::Dir { mode: DIR_MODE },
        "the config's card.mountpoint",
    )?;
    plan.add(
        CONSOLE_PATH,
        Node::CharDev {
            mode: CONSOLE_MODE,
            major: CONSOLE_MAJOR,
            minor: CONSOLE_MINOR,
        },
        "the console",
    )?;
    plan.add(
        INIT_PATH,
        file(EXEC_MODE, Data::Bytes(inputs.init.to_vec())),
        "the init",
    )?;
    plan.add(
        CONFIG_PATH,
        file(
            FILE_MODE,
            Data::Bytes(inputs.config_text.as_bytes().to_vec()),
        ),
        "the config",
    )?;
    // What the init reads: the same config, validated, without TOML (issue #4/#5: the
    // TOML reader was a quarter of the init's code and most of its config time under TCG).
    plan.add(
        COMPACT_PATH,
        file(FILE_MODE, Data::Bytes(config.to_compact().into_bytes())),
        "the config in compact form",
    )?;

    let mut load_order = Vec::new();
    let mut aliases = String::new();
    if let Some(tree) = inputs.modules {
        let mut wanted = config.wanted_modules();
        if let Some(fstype) = inputs.root_fs {
            notes.push(add_root_filesystem(tree, fstype, &mut wanted));
        }
        let mut resolution =
            modules::resolve(tree, &wanted).map_err(|e| Error::Modules(e.into()))?;
        if let Some(devices) = inputs.devices {
            let selection = load_list::select_for_devices(&resolution, devices)?;
            notes.push(format!(
                "host-only: left out {} (no device among the {} given needs them)",
                if selection.dropped.is_empty() {
                    "no driver".to_string()
                } else {
                    selection.dropped.join(" ")
                },
                devices.len()
            ));
            resolution =
                modules::resolve(tree, &selection.keep).map_err(|e| Error::Modules(e.into()))?;
        }
        notes.extend(resolution.notes.iter().cloned());
        let params: BTreeMap<String, &String> = config
            .modules
            .params
            .iter()
            .map(|(k, v)| (modules::normalize_name(k), v))
            .collect();
        let base = format!("/lib/modules/{}", tree.kver);
        let list = load_list::load_list(&resolution, &base, &params, true)?;
        // Each module goes where its load-order entry says the init finds it.
        for (m, entry) in resolution.modules.into_iter().zip(&list.entries) {
            plan.add(
                &entry.path,
                file(FILE_MODE, Data::Bytes(m.data)),
                &format!("module {}", m.name),
            )?;
        }
        load_order = list.entries;
        aliases = list.aliases;
    } else if !config.wanted_modules().is_empty() {
        return Err(Error::NoModuleTree);
    }
    plan.add(
        LOAD_ORDER_PATH,
        file(
            FILE_MODE,
            Data::Bytes(load_order::render(&load_order).into_bytes()),
        ),
        "the module load order",
    )?;
    if !aliases.is_empty() {
        plan.add(
            ALIASES_PATH,
            file(FILE_MODE, Data::Bytes(aliases.into_bytes())),
            "the drivers' device aliases",
        )?;
    }

    if !config.initramfs.shell.is_empty() {
        let shell = Path::new(&config.initramfs.shell);
        if !shell.is_file() {
            return Err(Error::ShellMissing {
                shell: config.initramfs.shell.clone(),
            });
        }
        plan.add(
            SHELL_PATH,
            file(EXEC_MODE, Data::Host(shell.to_path_buf())),
            "the config's [initramfs] shell",
        )?;
    }
    for extra in &config.initramfs.files {
        add_host_tree(&mut plan, Path::new(&extra.source), &extra.target.0)?;
    }
    let specs = config
        .initramfs
        .gen_init_cpio
        .iter()
        .map(PathBuf::from)
        .chain(inputs.extra_specs.iter().cloned());
    for spec in specs {
        add_spec(&mut plan, &spec)?;
    }

    let mut writer = NewcWriter::new(Vec::new(), inputs.options);
    let layout = plan.write(&mut writer)?;
    let archive = writer.finish().map_err(|e| Error::Finish(e.into()))?;
    Ok(BuildOutput {
        archive,
        load_order,
        notes,
        entries: layout.entries,
    })
}

fn file(mode: u32, data: Data) -> Node {
    Node::File {
        mode,
        data,
        links: Vec::new(),
    }
}

/// Adds a host file, symlink, device or directory tree (recursively) at `target`.
fn add_host_tree(plan: &mut Plan, source: &Path, target: &str) -> Result<(), Error> {
    let origin = format!("[[initramfs.files]] source {}", source.display());
    if !source.exists() && source.symlink_metadata().is_err() {
        return Err(Error::HostTreeMissing {
            source_path: source.to_path_buf(),
        });
    }
    for entry in walkdir::WalkDir::new(source).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::HostTree {
            source_path: source.to_path_buf(),
            source: e,
        })?;
        let host_file = |source| Error::HostFile {
            path: entry.path().to_path_buf(),
            source,
        };
        let rel = entry
            .path()
            .strip_prefix(source)
            .expect("walkdir stays under its root");
        let path = if rel.as_os_str().is_empty() {
            target.to_string()
        } else {
            format!("{}/{}", target.trim_end_matches('/'), rel.to_string_lossy())
        };
        let meta = entry.path().symlink_metadata().map_err(host_file)?;
        let mode = meta.mode() & flashroot_cpio::newc::PERM_MASK;
        let ft = meta.file_type();
        let (major, minor) = split_dev(meta.rdev());
        let node = if ft.is_dir() {
            Node::Dir { mode }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(host_file)?;
            Node::Symlink {
                target: target.to_string_lossy().into_owned(),
            }
        } else if ft.is_file() {
            file(mode, Data::Host(entry.path().to_path_buf()))
        } else if ft.is_char_device() {
            Node::CharDev { mode, major, minor }
        } else if ft.is_block_device() {
            Node::BlockDev { mode, major, minor }
        } else if ft.is_fifo() {
            Node::Fifo { mode }
        } else {
            Node::Socket { mode }
        };
        plan.add(
            &path,
            node,
            &format!("{origin} ({})", entry.path().display()),
        )?;
    }
    Ok(())
}

/// glibc's `major()`/`minor()` for a 64-bit `dev_t`.
fn split_dev(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// Adds every entry of a gen_init_cpio spec file.
fn add_spec(plan: &mut Plan, spec: &Path) -> Result<(), Error> {
    let name = spec.display().to_string();
    let text = std::fs::read_to_string(spec).map_err(|source| Error::SpecRead {
        path: spec.to_path_buf(),
        source,
    })?;
    let env = |v: &str| std::env::var(v).ok();
    for (i, entry) in gen_init_cpio::parse(&name, &text, &env)?
        .into_iter()
        .enumerate()
    {
        let origin = format!("{name} entry {}", i + 1);
        let (path, node) = match entry {
            SpecEntry::File {
                name,
                location,
                mode,
                links,
            } => (
                name,
                Node::File {
                    mode,
                    data: Data::Host(location),
                    links,
                },
            ),
            SpecEntry::Dir { name, mode } => (name, Node::Dir { mode }),
            SpecEntry::Node {
                name,
                mode,
                kind: DeviceKind::Char,
                major,
                minor,
            } => (name, Node::CharDev { mode, major, minor }),
            SpecEntry::Node {
                name,
                mode,
                kind: DeviceKind::Block,
                major,
                minor,
            } => (name, Node::BlockDev { mode, major, minor }),
            SpecEntry::Symlink { name, target } => (name, Node::Symlink { target }),
            SpecEntry::Pipe { name, mode } => (name, Node::Fifo { mode }),
            SpecEntry::Socket { name, mode } => (name, Node::Socket { mode }),
        };
        plan.add(&path, node, &origin)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_device_numbers_like_glibc() {
        assert_eq!(split_dev(0x0501), (5, 1));
        assert_eq!(split_dev((259 << 8) | 3), (259, 3));
        // glibc's makedev() for a major and minor beyond the old 8+8 bits.
        let (major, minor) = (0x1234u64, 0x56789u64);
        let rdev = ((major & 0xfff) << 8)
            | ((major & !0xfff) << 32)
            | (minor & 0xff)
            | ((minor & !0xff) << 12);
        assert_eq!(split_dev(rdev), (0x1234, 0x56789));
    }
}
