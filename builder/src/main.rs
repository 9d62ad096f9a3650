//! The `flashroot` command. Errors become one message and exit code 1 here, and only here.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod cmd;

/// Boot Debian from a FAT-formatted flash card with a JFFS2 root.
///
/// flashroot builds the initramfs (a static /init, the kernel modules it needs and the
/// configuration) and writes the JFFS2 container images that the card carries.
#[derive(Parser, Debug)]
#[command(name = "flashroot", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build the flash-boot initramfs from a config and a kernel's modules.
    Build(cmd::build::Args),
    /// List the contents of an initramfs (like lsinitramfs).
    Ls(cmd::ls::Args),
    /// Write a JFFS2 image with erase block summary (mkfs.jffs2 + sumtool in one pass).
    #[command(name = "mkfs.jffs2")]
    MkfsJffs2(cmd::mkfs_jffs2::Args),
    /// Check, list or extract a JFFS2 image.
    Jffs2(cmd::jffs2::Args),
    /// Print the steps the /init would take for a kernel command line.
    Plan(cmd::plan::Args),
    /// Populate a boot card (a mounted FAT directory or a new whole-disk image).
    Card(cmd::card::Args),
    /// Turn a root directory (e.g. a debootstrap target) into a flash-ready root.
    ImportRoot(cmd::import_root::Args),
    /// Install a Debian kernel hook that keeps the card's kernel and initramfs current.
    InstallHook(cmd::install_hook::Args),
    /// Card wear by region from a QEMU write trace (`-d trace:blk_co_pwritev`).
    Wear(cmd::wear::Args),
    /// The running flashroot system: card, containers, real free space, RAM directories.
    Status(cmd::status::Args),
    /// Man pages and shell completions, for packagers.
    #[command(hide = true)]
    Generate(cmd::generate::Args),
    /// Factory reset of a layered root: the next boot empties its overlay.
    Reset(cmd::reset::Args),
    /// What a layered root's overlay holds: files copied up from the base and their cost.
    Overlay(cmd::overlay::Args),
    /// Merge a running layered root's overlay into a new base, with a rollback entry.
    Fold(cmd::fold::Args),
}

fn main() -> ExitCode {
    // Invoked through a symlink named mkfs.jffs2, behave as that subcommand.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_os_string());
    if invoked_as.as_deref() == Some(std::ffi::OsStr::new("mkfs.jffs2")) {
        args.insert(1, "mkfs.jffs2".into());
    }
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Command::Build(a) => cmd::build::run(a),
        Command::Ls(a) => cmd::ls::run(a),
        Command::MkfsJffs2(a) => cmd::mkfs_jffs2::run(a),
        Command::Jffs2(a) => cmd::jffs2::run(a),
        Command::Plan(a) => cmd::plan::run(a),
        Command::Card(a) => cmd::card::run(a),
        Command::ImportRoot(a) => cmd::import_root::run(a),
        Command::InstallHook(a) => cmd::install_hook::run(a),
        Command::Wear(a) => cmd::wear::run(a),
        Command::Status(a) => match cmd::status::run(a) {
            Ok(true) => return ExitCode::from(cmd::status::NEAR_ENOSPC_EXIT),
            other => other.map(|_| ()),
        },
        Command::Generate(a) => cmd::generate::run(a, Cli::command()),
        Command::Reset(a) => cmd::reset::run(a),
        Command::Overlay(a) => cmd::overlay::run(a),
        Command::Fold(a) => cmd::fold::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flashroot: error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, joined by ": ". Library errors put their source's text in
/// their own message and also return it from `source()`, so a cause whose text the
/// message already ends with is not repeated.
fn report(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if text.is_empty() {
            text = cause;
        } else if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::report;
    use anyhow::Context;

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        // rootprep::Error::Io shows its io::Error and returns it from source().
        let io = std::io::Error::from_raw_os_error(2);
        let text = io.to_string();
        let lib =
            flashroot::rootprep::tree::mode(std::path::Path::new("/nonexistent/x")).unwrap_err();
        let err = anyhow::Error::new(lib).context("importing root /src");
        assert_eq!(
            report(&err),
            format!("importing root /src: cannot stat /nonexistent/x: {text}")
        );
        // Plain anyhow context chains read as `{:#}` did.
        let err = Err::<(), _>(io).context("reading x").unwrap_err();
        assert_eq!(report(&err), format!("{err:#}"));
    }
}
