//! `flashroot generate`: man pages and shell completions from the CLI's own definitions,
//! for the Debian package (hidden from `--help`: packagers call it, users do not).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap_complete::Shell;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(clap::Subcommand, Debug)]
pub enum What {
    /// One roff page per command: flashroot.8, flashroot-build.8, ...
    Man {
        /// The directory to write into (created if missing).
        dir: PathBuf,
    },
    /// Completion scripts for bash, zsh and fish, named as each shell looks them up.
    Completions {
        /// The directory to write into (created if missing).
        dir: PathBuf,
    },
}

/// The man section: flashroot lives in /usr/sbin, a system administration command.
pub const MAN_SECTION: &str = "8";

pub fn run(args: Args, cli: clap::Command) -> anyhow::Result<()> {
    match args.what {
        What::Man { dir } => man_pages(cli, &dir),
        What::Completions { dir } => completions(cli, &dir),
    }
}

/// Writes `<dir>/flashroot.8` and `<dir>/flashroot-<sub>.8` for each visible subcommand.
pub fn man_pages(cli: clap::Command, dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut cli = cli;
    cli.build();
    write_page(&cli, "flashroot", dir)?;
    for sub in cli
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("flashroot-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).display_name(name.clone());
        write_page(&page, &name, dir)?;
    }
    Ok(())
}

fn write_page(cmd: &clap::Command, name: &str, dir: &Path) -> anyhow::Result<()> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section(MAN_SECTION)
        .render(&mut roff)
        .with_context(|| format!("rendering the man page of {name}"))?;
    let path = dir.join(format!("{name}.{MAN_SECTION}"));
    Ok(flashroot::atomic::write(&path, &roff)?)
}

/// `flashroot` (bash), `_flashroot` (zsh), `flashroot.fish` (fish).
pub fn completions(mut cli: clap::Command, dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cli, "flashroot", &mut script);
        let name = match shell {
            Shell::Bash => "flashroot",
            Shell::Zsh => "_flashroot",
            _ => "flashroot.fish",
        };
        flashroot::atomic::write(&dir.join(name), &script)?;
    }
    Ok(())
}
