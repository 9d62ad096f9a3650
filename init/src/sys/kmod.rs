//! Loading one kernel module with finit_module(2).

use std::ffi::CString;
use std::fs::File;

use nix::errno::Errno;
use nix::kmod::{delete_module, finit_module, DeleteModuleFlags, ModuleInitFlags};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removed {
    Now,
    /// ENOENT: not loaded (or built into the kernel).
    NotLoaded,
}

/// `rmmod name` without waiting: a module still in use is an error (EAGAIN), not a hang.
pub fn remove(name: &str) -> Result<Removed, BootError> {
    let c_name = CString::new(name)
        .map_err(|_| BootError::new("remove module", name, "name contains a NUL byte"))?;
    match delete_module(&c_name, DeleteModuleFlags::O_NONBLOCK) {
        Ok(()) => Ok(Removed::Now),
        Err(Errno::ENOENT) => Ok(Removed::NotLoaded),
        Err(e) => Err(BootError::errno("remove module", name, e)),
    }
}
