//! flashroot's /init as a library: the boot phases ([`boot`]), the pure parts the host
//! tests and `flashroot plan` share ([`cmdline`], [`plan`], [`blkid`], [`jffs2check`]),
//! and the only module with `unsafe`, [`sys`].

#[macro_use]
pub mod kmsg;
pub mod blkid;
pub mod boot;
pub mod cmdline;
pub mod device;
mod early;
pub mod error;
pub mod execute;
pub mod failure;
pub mod jffs2check;
pub mod options;
pub mod plan;
pub mod rootpath;
pub mod switch;
pub mod sys;

pub use cmdline::Cmdline;
pub use error::BootError;
pub use plan::{plan, Plan, PlanError, Step};
