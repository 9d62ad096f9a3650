//! newc cpio archives: the header format ([`newc`]), a streaming writer ([`writer`]) and a reader ([`reader`]).

pub mod newc;
pub mod reader;
pub mod writer;

pub use writer::{NewcWriter, WriterOptions};
