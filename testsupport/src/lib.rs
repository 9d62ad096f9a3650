//! Fixtures shared by the workspace's tests; no product code depends on this crate
//! except as a dev-dependency.
//!
//! - [`modinfo`]: kernel module objects made in memory (only a `.modinfo` section).

pub mod modinfo;
