//! flashroot-testsupport (being split out of the builder; see issue #14): fixtures that
//! only tests use, kept out of the product library.
//!
//! - [`ext4`]: ext4 images via `mkfs.ext4 -d`, for normal `root=` boot tests.

pub mod ext4;
