//! Fixtures and oracles shared by the test suites of several crates, instead of `#[path]`
//! reach-ins into another crate's tests; no product code depends on this crate except as a
//! dev-dependency.
//!
//! - [`jffs2`]: a source tree with every file kind, what reading its image back must give,
//!   and the mtd-utils oracles (jffs2dump, mkfs.jffs2, sumtool).
//! - [`modinfo`]: kernel module objects made in memory (only a `.modinfo` section).
//! - [`default_config`]: the modules the embedded default config must bring in.
//! - [`ext4`]: ext4 images via `mkfs.ext4 -d`, for normal `root=` boot tests.
//! - [`oracle`]: running the peer tools that judge our output.

pub mod default_config;
pub mod ext4;
pub mod jffs2;
pub mod modinfo;
pub mod oracle;
