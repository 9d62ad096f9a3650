//! Loading one kernel module with finit_module(2).

use std::ffi::CString;
use std::fs::File;

use nix::errno::Errno;
use nix::kmod::{finit_module, ModuleInitFlags};

use crate::error::BootError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loaded {
    Now,
    /// EEXIST: loaded before us (or built in); not an error.
    Already,
    /// ENODEV: the module refused to load because its hardware or CPU feature is absent
    /// (e.g. crct10dif-pclmul without PCLMULQDQ); as with modprobe, alternatives follow.
    NoDevice,
}

/// Loads the uncompressed module at `path` with `params` (`max_loop=8 ...`).
pub fn load(name: &str, path: &str, params: &str) -> Result<Loaded, BootError> {
    let object = || format!("{name} ({path})");
    let file = File::open(path).map_err(|e| BootError::io("load module", object(), &e))?;
    let params = CString::new(params).map_err(|_| {
        BootError::new(
            "load module",
            object(),
            format!("parameters contain a NUL byte: {params:?}"),
        )
    })?;
    match finit_module(&file, &params, ModuleInitFlags::empty()) {
        Ok(()) => Ok(Loaded::Now),
        Err(Errno::EEXIST) => Ok(Loaded::Already),
        Err(Errno::ENODEV) => Ok(Loaded::NoDevice),
        Err(e) => Err(BootError::errno("load module", object(), e)),
    }
}
