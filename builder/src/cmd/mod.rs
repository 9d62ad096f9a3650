//! One module per subcommand: its clap `Args` and a `run` that returns an error to print.

pub mod build;
pub mod card;
pub mod fold;
pub mod generate;
pub mod import_root;
pub mod install_hook;
pub mod jffs2;
pub mod ls;
pub mod mkfs_jffs2;
pub mod overlay;
pub mod plan;
pub mod reset;
pub mod status;
pub mod wear;
