//! Fixtures shared by the workspace's tests; no product code depends on this crate
//! except as a dev-dependency.
//!
//! - [`modinfo`]: kernel module objects made in memory (only a `.modinfo` section).
//! - [`default_config`]: the modules the embedded default config must bring in.

pub mod default_config;
pub mod modinfo;
