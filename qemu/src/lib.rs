//! QEMU boot harness for flashroot tests.
//!
//! - [`kernel`]: Debian's amd64 kernel, fetched with apt and cached in `~/.cache/flashroot/kernel`.

mod apt;
mod error;
mod host;
pub mod kernel;

pub use error::Error;
pub use kernel::{debian_kernel, Kernel};
