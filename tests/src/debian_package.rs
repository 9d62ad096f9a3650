//! Shared by the Debian package tests: the flashroot binary, the packages built from it by
//! `packaging/deb/build`, and a chroot with /proc mounted for as long as a guard lives.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace's top directory.
pub fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `flashroot` binary of this build (cargo builds only libraries for this test crate,
/// so build the binary target here; a no-op when it is current).
pub fn flashroot_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(top())
        .args(["build", "-p", "flashroot", "--bin", "flashroot"])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo build -p flashroot failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // target/debug/deps/<this test> -> target/debug/flashroot
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("flashroot");
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}

/// The two packages, as built by `packaging/deb/build --binary <bin> --out <out>`.
pub struct Debs {
    pub flashroot: PathBuf,
    pub initramfs_tool: PathBuf,
}

pub fn build_debs(bin: &Path, out: &Path) -> Debs {
    let result = must_run(
        Command::new(top().join("packaging/deb/build"))
            .arg("--binary")
            .arg(bin)
            .arg("--out")
            .arg(out)
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    let printed = String::from_utf8_lossy(&result.stdout).into_owned();
    let pick = |prefix: &str| {
        printed
            .lines()
            .map(PathBuf::from)
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .unwrap_or_else(|| panic!("no {prefix}*.deb among:\n{printed}"))
    };
    Debs {
        flashroot: pick("flashroot_"),
        initramfs_tool: pick("flashroot-initramfs-tool_"),
    }
}

/// Runs `cmd`, which must succeed; returns its output.
pub fn must_run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `dpkg-deb -c`: the paths in a package (without the leading `.`).
pub fn listing(deb: &Path) -> Vec<String> {
    let out = must_run(Command::new("dpkg-deb").arg("-c").arg(deb));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').to_string())
        .collect()
}

/// A chroot at `root` with /proc mounted until dropped (declare it after the temporary
/// directory that holds the root, so that it is dropped first).
pub struct Chroot {
    pub root: PathBuf,
}

impl Chroot {
    pub fn new(root: &Path) -> Self {
        must_run(
            Command::new("mount")
                .args(["-t", "proc", "proc"])
                .arg(root.join("proc")),
        );
        Chroot {
            root: root.to_path_buf(),
        }
    }

    /// `chroot <root> sh -c <script>`, non-interactive; returns (success, stdout+stderr).
    pub fn sh(&self, script: &str) -> (bool, String) {
        let out = Command::new("chroot")
            .arg(&self.root)
            .args(["/bin/sh", "-c", script])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LC_ALL", "C")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .expect("chroot runs (the test runs as root)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// [`Self::sh`], which must succeed.
    pub fn ok(&self, script: &str) -> String {
        let (ok, text) = self.sh(script);
        assert!(ok, "in the chroot, `{script}` failed:\n{text}");
        text
    }

    pub fn path(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute.trim_start_matches('/'))
    }
}

impl Drop for Chroot {
    fn drop(&mut self) {
        let proc_dir = self.root.join("proc");
        let done = Command::new("umount").arg(&proc_dir).status();
        if !done.is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&proc_dir).status();
        }
    }
}

/// Copies a tree with `cp -a` (owners, modes, links, device nodes kept).
pub fn copy_tree(from: &Path, to: &Path) {
    must_run(Command::new("cp").arg("-a").arg(from).arg(to));
    assert!(to.is_dir());
}

/// Reads a file that must exist.
pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
