//! The `flashroot build` pipeline: config, init and modules in; a compressed newc
//! archive out.

pub mod compression;
