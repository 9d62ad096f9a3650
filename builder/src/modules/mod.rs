//! Kernel module resolution: which `.ko` files the initramfs carries and in which order
//! the init loads them. Decided here, at build time, so the init only follows a list.
//!
//! One job per module: [`dep`] (modules.dep), [`softdep`] (modules.softdep and the
//! `softdep=` field of `.modinfo`), [`alias`] (modules.alias globs), [`builtin`]
//! (modules.builtin), [`modinfo`] (the `.modinfo` ELF section), [`decompress`]
//! (`.ko.xz`/`.ko.zst`/`.ko.gz`), [`tree`] (a kernel's module directory on disk) and
//! [`resolve`] (closure and load order).

pub mod alias;
pub mod builtin;
pub mod decompress;
pub mod dep;
pub mod modinfo;
pub mod resolve;
pub mod softdep;
pub mod tree;

pub use resolve::{resolve, Resolution, ResolvedModule};
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
