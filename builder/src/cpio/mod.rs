//! newc cpio archives: the header format ([`newc`]), a streaming writer ([`writer`]).

pub mod newc;
pub mod writer;

pub use writer::{NewcWriter, WriterOptions};
