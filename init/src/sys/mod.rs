//! The only module that talks to the kernel below nix's safe wrappers, and the only
//! place allowed `unsafe` (the loop ioctls). Every error names what it acted on.

#[allow(unsafe_code)] // FIBMAP and FIGETBSZ: no nix wrappers
pub mod fibmap;
pub mod genetlink;
pub mod kmod;
#[allow(unsafe_code)] // the loop ioctls: nix has no typed wrappers for them
pub mod loopdev;
pub mod mount;
#[allow(unsafe_code)] // the nbd ioctls, prctl and mlockall: no nix wrappers
pub mod nbd;
pub mod node;
pub mod power;
pub mod process;
#[allow(unsafe_code)] // signal(SIGPIPE, SIG_DFL) before exec: nix marks it unsafe
pub mod switch_root;
pub mod uevent;
