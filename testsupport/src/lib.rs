//! flashroot-testsupport: fixtures and oracles shared by the test suites of several
//! crates, instead of `#[path]` reach-ins into another crate's tests.
//!
//! - [`jffs2`]: a source tree with every file kind, what reading its image back must
//!   give, and the mtd-utils oracles (jffs2dump, mkfs.jffs2, sumtool).

pub mod jffs2;
