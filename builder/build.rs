//! Builds the static /init (crate `init/`, x86_64 musl, profile `init`) so that the
//! `flashroot` binary carries it: one file to install, and `flashroot build` never
//! packs an init built from other sources than itself.
//!
//! - `FLASHROOT_INIT_BIN=/path/to/init` at build time embeds that file instead.
//! - When the init does not build, the build fails. `FLASHROOT_INIT_LAST_GOOD=1` asks
//!   explicitly for the last init that did build (while `init/` is being edited); it is
//!   embedded with a cargo warning, and the build still fails if there is none.
//! - Without the default feature `embedded-init` (library-only builds: docs, docs.rs)
//!   nothing is built and no musl target is needed; `flashroot::embedded_init()` then
//!   returns an error that says so.

use std::path::{Path, PathBuf};
use std::process::Command;

const INIT_TARGET: &str = "x86_64-unknown-linux-musl";

fn main() {
    println!("cargo:rerun-if-env-changed=FLASHROOT_INIT_BIN");
    println!("cargo:rerun-if-env-changed=FLASHROOT_INIT_LAST_GOOD");
    if std::env::var_os("CARGO_FEATURE_EMBEDDED_INIT").is_none() {
        return;
    }
    if let Ok(path) = std::env::var("FLASHROOT_INIT_BIN") {
        println!("cargo:rerun-if-changed={path}");
        println!("cargo:rustc-env=FLASHROOT_INIT_BIN={path}");
        return;
    }
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    for watched in [
        "init/src",
        "init/Cargo.toml",
        "config/src",
        "config/flashroot.toml",
        "config/Cargo.toml",
        // Crates the init links: the JFFS2 core (its container check), kmod (coldplug) and
        // runtime (the files it leaves for the tools, the command-line words).
        "jffs2/src",
        "jffs2/Cargo.toml",
        "kmod/src",
        "kmod/Cargo.toml",
        "runtime/src",
        "runtime/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    // A target dir of its own: the outer build holds the lock on its own.
    let outer_target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let target_dir = outer_target.join("flashroot-init");
    let bin = target_dir.join(INIT_TARGET).join("init").join("init");
    if let Err(why) = build_init(&workspace, &target_dir) {
        let last_good_wanted =
            std::env::var_os("FLASHROOT_INIT_LAST_GOOD").is_some_and(|v| v == "1");
        if !last_good_wanted {
            panic!(
                "{why}\n(FLASHROOT_INIT_LAST_GOOD=1 embeds the last init that did build, if any)"
            );
        }
        if !bin.exists() {
            panic!("{why}\n(FLASHROOT_INIT_LAST_GOOD=1, but no init was ever built here)");
        }
        println!(
            "cargo:warning=the init does not build ({why}); FLASHROOT_INIT_LAST_GOOD=1: \
             embedding the previous build {}",
            bin.display()
        );
    }
    assert!(bin.exists(), "the init build produced no {}", bin.display());
    println!("cargo:rustc-env=FLASHROOT_INIT_BIN={}", bin.display());
}

fn build_init(workspace: &Path, target_dir: &Path) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "flashroot-init",
        "--profile",
        "init",
        "--target",
        INIT_TARGET,
    ])
    .arg("--manifest-path")
    .arg(workspace.join("Cargo.toml"))
    .env("CARGO_TARGET_DIR", target_dir);
    // The outer build's flags and wrappers (clippy-driver, host RUSTFLAGS) are not the init's.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let keep = key == "CARGO_HOME" || key == "CARGO_MAKEFLAGS" || key == "CARGO_TARGET_DIR";
        if (key.starts_with("CARGO_") && !keep) || key.starts_with("RUSTC_") || key == "RUSTFLAGS" {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo to build the init: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo build -p flashroot-init --profile init --target {INIT_TARGET}` failed ({status}); \
             run it to see why (is the target installed? rustup target add {INIT_TARGET})"
        ))
    }
}
