//! Module resolution on small hand-written trees: modules.dep order, softdeps from
//! modules.softdep and from `.modinfo`, aliases, builtins, a tree without modules.dep,
//! and compressed modules (made with the xz, zstd and gzip tools, which must exist).

use std::path::Path;
use std::process::Command;

use flashroot_kmod::tree::IndexSource;
use flashroot_kmod::{resolve, ModuleTree};
use flashroot_testsupport::modinfo::synthetic_elf;

const KVER: &str = "6.1.0-test";

/// A module tree in a temporary directory.
struct Tree(tempfile::TempDir);

impl Tree {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }
    fn text(self, name: &str, text: &str) -> Self {
        std::fs::write(self.0.path().join(name), text).unwrap();
        self
    }
    /// A module at `path` whose `.modinfo` holds `fields` (plus `name=`).
    fn module(self, path: &str, fields: &[(&str, &str)]) -> Self {
        let full = self.0.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, elf_for(path, fields)).unwrap();
        self
    }
    fn load(&self) -> ModuleTree {
        ModuleTree::load(self.0.path(), KVER).unwrap()
    }
}

fn elf_for(path: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let name = flashroot_kmod::name_from_path(path).unwrap();
    let mut all = vec![("name", name.as_str())];
    all.extend_from_slice(fields);
    synthetic_elf(&all)
}

fn wanted(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The flash-boot disk chain in miniature: sd_mod needs crc-t10dif, whose softdep
/// `pre: crct10dif` is an alias of two modules.
fn disk_tree() -> Tree {
    Tree::new()
        .text(
            "modules.dep",
            "kernel/drivers/scsi/sd_mod.ko: kernel/lib/crc-t10dif.ko kernel/drivers/scsi/scsi_common.ko\n\
             kernel/lib/crc-t10dif.ko:\n\
             kernel/drivers/scsi/scsi_common.ko:\n\
             kernel/crypto/crct10dif_generic.ko:\n\
             kernel/arch/x86/crypto/crct10dif-pclmul.ko:\n\
             kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko\n\
             kernel/fs/fat/fat.ko:\n\
             kernel/fs/nls/nls_ascii.ko:\n\
             kernel/drivers/usb/storage/usb-storage.ko: kernel/drivers/scsi/scsi_common.ko\n",
        )
        .text("modules.softdep", "# Soft dependencies extracted from modules themselves.\nsoftdep crc-t10dif pre: crct10dif\n")
        .text(
            "modules.alias",
            "alias crypto-crct10dif crct10dif_generic\nalias crct10dif crct10dif_generic\n\
             alias crct10dif crct10dif-pclmul\nalias fs-vfat vfat\nalias nls_default nls_ascii\n",
        )
        .text("modules.builtin", "kernel/fs/ext4/ext4.ko\nkernel/lib/crc32c.ko\n")
        .module("kernel/drivers/scsi/sd_mod.ko", &[])
        .module("kernel/lib/crc-t10dif.ko", &[])
        .module("kernel/drivers/scsi/scsi_common.ko", &[])
        .module("kernel/crypto/crct10dif_generic.ko", &[])
        .module("kernel/arch/x86/crypto/crct10dif-pclmul.ko", &[])
        .module("kernel/fs/fat/vfat.ko", &[])
        .module("kernel/fs/fat/fat.ko", &[])
        .module("kernel/fs/nls/nls_ascii.ko", &[])
        .module("kernel/drivers/usb/storage/usb-storage.ko", &[])
}

#[test]
fn dependencies_and_softdep_aliases_come_first() {
    let tree = disk_tree();
    let r = resolve(&tree.load(), &wanted(&["sd_mod", "vfat", "nls_ascii"])).unwrap();
    assert_eq!(
        r.names(),
        [
            "crct10dif_generic",
            "crct10dif_pclmul",
            "crc_t10dif",
            "scsi_common",
            "sd_mod",
            "fat",
            "vfat",
            "nls_ascii"
        ]
    );
    let sd = r.modules.iter().find(|m| m.name == "sd_mod").unwrap();
    assert_eq!(sd.path, "kernel/drivers/scsi/sd_mod.ko");
    assert_eq!(
        sd.data,
        std::fs::read(tree.0.path().join(&sd.path)).unwrap()
    );
}

#[test]
fn dashes_and_underscores_are_one_name_and_aliases_resolve() {
    let tree = disk_tree();
    let r = resolve(
        &tree.load(),
        &wanted(&["usb_storage", "fs-vfat", "crc_t10dif", "usb-storage"]),
    )
    .unwrap();
    assert_eq!(
        r.names(),
        [
            "scsi_common",
            "usb_storage",
            "fat",
            "vfat",
            "crct10dif_generic",
            "crct10dif_pclmul",
            "crc_t10dif"
        ]
    );
}

#[test]
fn builtins_are_skipped_with_a_note() {
    let tree = disk_tree();
    let r = resolve(&tree.load(), &wanted(&["ext4", "fat"])).unwrap();
    assert_eq!(r.names(), ["fat"]);
    assert_eq!(
        r.notes,
        [format!("ext4: built into kernel {KVER}, skipped")]
    );
}

#[test]
fn aliases_of_builtins_from_builtin_modinfo_are_skipped() {
    let tree = disk_tree().text(
        "modules.builtin.modinfo",
        "crc32c_generic.alias=crypto-crc32c\0crc32c_generic.alias=crc32c\0crc32c_generic.license=GPL\0",
    );
    let r = resolve(&tree.load(), &wanted(&["crc32c", "fat"])).unwrap();
    assert_eq!(r.names(), ["fat"]);
    assert_eq!(
        r.notes,
        [format!("crc32c: built into kernel {KVER}, skipped")]
    );
}

/// depmod writes the aliases of loadable modules only to modules.alias; those of builtins
/// stay in modules.builtin.modinfo, and the two files together are the alias table.
#[test]
fn aliases_of_builtins_count_next_to_modules_alias() {
    let tree = disk_tree().text(
        "modules.builtin.modinfo",
        "crc32c_generic.alias=crypto-crc32c\0crc32c_generic.license=GPL\0",
    );
    let r = resolve(&tree.load(), &wanted(&["crypto-crc32c", "vfat"])).unwrap();
    assert_eq!(r.names(), ["fat", "vfat"]);
    assert_eq!(
        r.notes,
        [format!("crypto-crc32c: built into kernel {KVER}, skipped")]
    );
}

#[test]
fn a_missing_module_names_itself_and_the_kernel() {
    let tree = disk_tree();
    let err = resolve(&tree.load(), &wanted(&["fat", "jffs2"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("module jffs2 not found for kernel {KVER}")),
        "{err}"
    );
}

#[test]
fn a_missing_hard_dependency_is_an_error() {
    let tree = Tree::new()
        .text("modules.dep", "kernel/a.ko: kernel/b.ko\n")
        .module("kernel/a.ko", &[]);
    let err = resolve(&tree.load(), &wanted(&["a"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "module a needs b, which is not in the modules of kernel {KVER}"
        )),
        "{err}"
    );
}

#[test]
fn modinfo_softdeps_order_pre_before_and_post_after() {
    let tree = Tree::new()
        .text(
            "modules.dep",
            "kernel/m.ko: kernel/d.ko\nkernel/d.ko:\nkernel/p.ko:\nkernel/q.ko:\n",
        )
        .module("kernel/m.ko", &[("softdep", "pre: p post: q gone")])
        .module("kernel/d.ko", &[])
        .module("kernel/p.ko", &[])
        .module("kernel/q.ko", &[]);
    let r = resolve(&tree.load(), &wanted(&["m"])).unwrap();
    assert_eq!(r.names(), ["p", "d", "m", "q"]);
    assert_eq!(
        r.notes,
        [format!(
            "m: optional post: softdep gone not found for kernel {KVER}, skipped"
        )]
    );
}

#[test]
fn softdep_cycles_terminate() {
    let tree = Tree::new()
        .text("modules.dep", "kernel/a.ko:\nkernel/b.ko:\n")
        .module("kernel/a.ko", &[("softdep", "pre: b")])
        .module("kernel/b.ko", &[("softdep", "pre: a")]);
    let r = resolve(&tree.load(), &wanted(&["a"])).unwrap();
    assert_eq!(r.names(), ["b", "a"]);
}

#[test]
fn works_from_modinfo_alone() {
    let tree = Tree::new()
        .module(
            "kernel/fs/fat/vfat.ko",
            &[("depends", "fat"), ("alias", "fs-vfat")],
        )
        .module("kernel/fs/fat/fat.ko", &[("depends", "")])
        .module("kernel/lib/crc-t10dif.ko", &[("softdep", "pre: crct10dif")])
        .module(
            "kernel/crypto/crct10dif_generic.ko",
            &[("alias", "crct10dif"), ("alias", "crypto-crct10dif")],
        );
    let t = tree.load();
    assert_eq!(t.source, IndexSource::Modinfo);
    assert_eq!(t.module_count(), 4);
    let r = resolve(&t, &wanted(&["fs-vfat", "crc-t10dif"])).unwrap();
    assert_eq!(
        r.names(),
        ["fat", "vfat", "crct10dif_generic", "crc_t10dif"]
    );
}

/// Compresses `path` in place with a host tool (`xz`, `zstd`, `gzip`), as distributions
/// do; the tool is an oracle for our decoders, and its absence fails the test.
fn compress_with(tool: &str, args: &[&str], path: &Path) {
    let status = Command::new(tool)
        .args(args)
        .arg(path)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} (needed to make compressed module fixtures): {e}")
        });
    assert!(
        status.success(),
        "{tool} {args:?} {} failed: {status}",
        path.display()
    );
}

#[test]
fn compressed_modules_are_packed_uncompressed() {
    let tree = Tree::new()
        .module("kernel/fs/jffs2/jffs2.ko", &[])
        .module("kernel/drivers/mtd/mtd.ko", &[])
        .module("kernel/fs/overlayfs/overlay.ko", &[("softdep", "pre: mtd")]);
    let dir = tree.0.path();
    compress_with(
        "xz",
        &["--check=crc32"],
        &dir.join("kernel/fs/jffs2/jffs2.ko"),
    );
    compress_with(
        "zstd",
        &["-q", "--rm"],
        &dir.join("kernel/drivers/mtd/mtd.ko"),
    );
    compress_with("gzip", &["-n"], &dir.join("kernel/fs/overlayfs/overlay.ko"));
    let tree = tree.text(
        "modules.dep",
        "kernel/fs/jffs2/jffs2.ko.xz: kernel/drivers/mtd/mtd.ko.zst\n\
         kernel/drivers/mtd/mtd.ko.zst:\nkernel/fs/overlayfs/overlay.ko.gz:\n",
    );
    let r = resolve(&tree.load(), &wanted(&["jffs2", "overlay"])).unwrap();
    let got: Vec<(&str, &str, &str)> = r
        .modules
        .iter()
        .map(|m| (m.name.as_str(), m.source_path.as_str(), m.path.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "mtd",
                "kernel/drivers/mtd/mtd.ko.zst",
                "kernel/drivers/mtd/mtd.ko"
            ),
            (
                "jffs2",
                "kernel/fs/jffs2/jffs2.ko.xz",
                "kernel/fs/jffs2/jffs2.ko"
            ),
            (
                "overlay",
                "kernel/fs/overlayfs/overlay.ko.gz",
                "kernel/fs/overlayfs/overlay.ko"
            ),
        ]
    );
    for m in &r.modules {
        assert_eq!(
            m.data,
            elf_for(
                &m.path,
                if m.name == "overlay" {
                    &[("softdep", "pre: mtd")]
                } else {
                    &[]
                }
            ),
            "{}",
            m.name
        );
    }
}

#[test]
fn a_broken_index_file_names_file_and_line() {
    let tree = Tree::new().text("modules.dep", "kernel/a.ko:\ngarbage\n");
    let err = ModuleTree::load(tree.0.path(), KVER)
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(
            "modules.dep line 2: expected \"module.ko: dependencies...\", but got \"garbage\""
        ),
        "{err}"
    );
}
