//! The only module that talks to the kernel below nix's safe wrappers, and the only
//! place allowed `unsafe` (`unsafe_code` is denied workspace-wide, Cargo.toml). Every
//! error names what it acted on.
//!
//! Where `unsafe` is used here: [`fibmap`] (FIBMAP and FIGETBSZ: no nix wrappers),
//! [`loopdev`] (the loop ioctls: nix has no typed wrappers), [`nbd`] (the nbd ioctls,
//! prctl and mlockall), [`switch_root`] (signal(SIGPIPE, SIG_DFL) before exec: nix marks
//! it unsafe).

#![allow(unsafe_code)]

pub mod fibmap;
pub mod genetlink;
pub mod kmod;
pub mod loopdev;
pub mod mount;
pub mod nbd;
pub mod node;
pub mod power;
pub mod process;
pub mod switch_root;
pub mod uevent;
