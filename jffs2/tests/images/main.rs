//! The crate's integration tests, in one test binary (one link instead of three): images
//! written and read back against the peer tools, mutated images fed to the reader, and
//! the mtd-utils regressions.

mod mountscan;
mod mutations;
mod regression;
mod roundtrip;
