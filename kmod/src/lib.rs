//! Kernel module metadata for an initramfs: which `.ko` files it carries, in which
//! order its init loads them, and which driver a device asks for. Decided at build time
//! (so an init only follows a list) and matched at boot (coldplug) with the same code.
//!
//! One job per module: [`dep`] (modules.dep), [`softdep`] (modules.softdep and the
//! `softdep=` field of `.modinfo`), [`alias`] (modules.alias globs and the matcher of
//! names and device modaliases), [`builtin`] (modules.builtin), [`modinfo`] (the
//! `.modinfo` ELF section), [`sysfs`] (the modaliases of the devices a running kernel
//! sees). With the default feature `tree`: [`tree`] (a kernel's
//! module directory on disk), [`resolve`] (closure and load order) and [`decompress`]
//! (`.ko.xz`/`.ko.zst`/`.ko.gz`). Without it the crate needs only std, for a static init.
//!
//! Parsers take text and the file's name (for errors); only [`sysfs`] and [`tree`] read
//! files (the directory they are given), and nothing here writes any. Every error is an [`Error`] with the file and line as
//! fields.
//!
//! # Examples
//!
//! Which drivers a device asks for, from a modules.alias:
//!
//! ```
//! use flashroot_kmod::alias::AliasTable;
//!
//! let aliases = AliasTable::parse(
//!     "modules.alias",
//!     "# Aliases extracted from modules themselves.\n\
//!      alias pci:v00008086d00007010sv*sd*bc*sc*i* ata_piix\n\
//!      alias pci:v*d*sv*sd*bc01sc01i* ata_generic\n\
//!      alias fs-vfat vfat\n",
//! )?;
//! // QEMU's PIIX3 IDE controller, as /sys/bus/pci/devices/*/modalias gives it.
//! let device = "pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80";
//! assert_eq!(aliases.modules_for(device), ["ata_piix", "ata_generic"]);
//! # Ok::<(), flashroot_kmod::Error>(())
//! ```
//!
//! A module's dependencies, in load order, from a small module tree (feature `tree`):
//!
//! ```
//! # #[cfg(feature = "tree")] {
//! use flashroot_kmod::{resolve, ModuleTree};
//! use flashroot_testsupport::modinfo::synthetic_elf;
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::create_dir_all(dir.path().join("kernel/fs/fat")).unwrap();
//! for name in ["fat", "vfat"] {
//!     let module = synthetic_elf(&[("name", name)]);
//!     std::fs::write(dir.path().join(format!("kernel/fs/fat/{name}.ko")), module).unwrap();
//! }
//! std::fs::write(
//!     dir.path().join("modules.dep"),
//!     "kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko\nkernel/fs/fat/fat.ko:\n",
//! )
//! .unwrap();
//!
//! let tree = ModuleTree::load(dir.path(), "6.1.0-test").unwrap();
//! let resolution = resolve(&tree, &["vfat".to_string()]).unwrap();
//! assert_eq!(resolution.names(), ["fat", "vfat"]);
//! assert_eq!(resolution.modules[1].requires, ["fat"]);
//! # }
//! ```

#![warn(missing_docs)]

pub mod alias;
pub mod builtin;
#[cfg(feature = "tree")]
pub mod decompress;
pub mod dep;
pub mod error;
pub mod modinfo;
#[cfg(feature = "tree")]
pub mod resolve;
pub mod softdep;
pub mod sysfs;
#[cfg(feature = "tree")]
pub mod tree;

pub use alias::AliasTable;
pub use error::{Error, ErrorKind};
#[cfg(feature = "tree")]
pub use resolve::{resolve, Resolution, ResolvedModule};
#[cfg(feature = "tree")]
pub use tree::ModuleTree;

/// The canonical spelling of a module name: `-` and `_` are equivalent in module names
/// (the kernel and kmod compare them as equal), so everything is keyed by the `_` form.
pub fn normalize_name(name: &str) -> String {
    name.replace('-', "_")
}

/// Module file suffixes, the uncompressed one first.
pub const MODULE_SUFFIXES: [&str; 4] = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"];

/// The normalized module name of a module path (`kernel/fs/fat/vfat.ko.xz` → `vfat`),
/// or `None` when the file is not a module.
pub fn name_from_path(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    MODULE_SUFFIXES
        .iter()
        .rev()
        .find_map(|suffix| file.strip_suffix(suffix))
        .filter(|stem| !stem.is_empty())
        .map(normalize_name)
}

/// The path a module has inside the initramfs: same relative path, stored uncompressed.
pub fn uncompressed_path(path: &str) -> String {
    for suffix in &MODULE_SUFFIXES[1..] {
        if let Some(stem) = path.strip_suffix(suffix) {
            return format!("{stem}.ko");
        }
    }
    path.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized() {
        assert_eq!(normalize_name("usb-storage"), "usb_storage");
        assert_eq!(
            name_from_path("kernel/drivers/usb/storage/usb-storage.ko.zst").as_deref(),
            Some("usb_storage")
        );
        assert_eq!(
            name_from_path("kernel/fs/fat/vfat.ko").as_deref(),
            Some("vfat")
        );
        assert_eq!(name_from_path("modules.dep"), None);
        assert_eq!(name_from_path("kernel/x/.ko"), None);
    }

    #[test]
    fn compressed_paths_lose_their_suffix() {
        assert_eq!(
            uncompressed_path("kernel/fs/jffs2/jffs2.ko.xz"),
            "kernel/fs/jffs2/jffs2.ko"
        );
        assert_eq!(
            uncompressed_path("kernel/fs/jffs2/jffs2.ko.gz"),
            "kernel/fs/jffs2/jffs2.ko"
        );
        assert_eq!(
            uncompressed_path("kernel/fs/jffs2/jffs2.ko"),
            "kernel/fs/jffs2/jffs2.ko"
        );
    }
}
