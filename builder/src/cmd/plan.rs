//! `flashroot plan [-c CONFIG] --cmdline "..."`: the steps the /init would take for a
//! kernel command line, computed by the init's own planner (`flashroot_init::plan`).

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use flashroot_config::Config;
use flashroot_init::{plan, Cmdline};

/// Read when `--cmdline` is not given: plan for the running kernel's command line.
const HOST_CMDLINE: &str = "/proc/cmdline";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The configuration packed into the initramfs (default: the embedded default).
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// The kernel command line to plan for, quoted as one argument
    /// (default: this machine's /proc/cmdline).
    #[arg(long)]
    pub cmdline: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    print!("{}", render(&args)?);
    Ok(())
}

/// The plan as text, or the error the init would stop with.
pub fn render(args: &Args) -> anyhow::Result<String> {
    let config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| anyhow!("{e}"))?,
        None => Config::embedded_default(),
    };
    let text = match &args.cmdline {
        Some(t) => t.clone(),
        None => std::fs::read_to_string(HOST_CMDLINE)
            .with_context(|| format!("{HOST_CMDLINE}: cannot read (give --cmdline)"))?,
    };
    let plan = plan(&config, &Cmdline::parse(&text))
        .map_err(|e| anyhow!("the init would stop here: kernel command line: {e}"))?;
    Ok(plan.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmdline: &str) -> Args {
        Args {
            config: None,
            cmdline: Some(cmdline.into()),
        }
    }

    #[test]
    fn prints_the_flash_boot_steps() {
        let out = render(&args("console=ttyS0 mtd flashroot.card=LABEL=CARD")).unwrap();
        assert!(out.starts_with("flash boot"), "{out}");
        assert!(out.contains(" 2. wait up to 10s for LABEL=CARD\n"), "{out}");
        assert!(
            out.contains("mount -t jffs2 -o rw,noatime mtd:rootfs /root\n"),
            "{out}"
        );
        assert!(out.ends_with("on failure: reboot after 30s\n"), "{out}");
    }

    #[test]
    fn reports_what_the_init_would_stop_on() {
        let err = render(&args("quiet")).unwrap_err().to_string();
        assert_eq!(
            err,
            "the init would stop here: kernel command line: root=: no root= on the kernel command line and no `mtd`"
        );
    }

    #[test]
    fn reads_the_given_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        let toml = flashroot_config::DEFAULT_TOML
            .replace("device = \"/dev/sda1\"", "device = \"UUID=1234-ABCD\"");
        std::fs::write(&path, toml).unwrap();
        let out = render(&Args {
            config: Some(path),
            cmdline: Some("mtd".into()),
        })
        .unwrap();
        assert!(out.contains("wait up to 10s for UUID=1234-ABCD"), "{out}");
        let err = render(&Args {
            config: Some(dir.path().join("missing.toml")),
            cmdline: None,
        })
        .unwrap_err();
        assert!(err.to_string().contains("missing.toml"), "{err}");
    }
}
