//! The one error type of the boot: every failure names the step, the object it was
//! working on (device, file, module, mountpoint) and the reason (usually the errno text).

use std::fmt;

use nix::errno::Errno;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootError {
    /// The phase that failed, e.g. "mount", "wait for the card", "load module".
    pub step: String,
    /// What it failed on, e.g. "/dev/sda1 on /flash (vfat, rw, iocharset=ascii)".
    pub object: String,
    /// Why, e.g. "No such device" or "expected 64KiB erase blocks, but the image has 128KiB".
    pub reason: String,
    /// The errno behind `reason`, when a system call failed, for callers that tolerate some.
    pub errno: Option<Errno>,
}

impl BootError {
    pub fn new(
        step: impl Into<String>,
        object: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            step: step.into(),
            object: object.into(),
            reason: reason.into(),
            errno: None,
        }
    }

    /// The reason is the errno's text ("No such file or directory"), as the C library says it.
    pub fn errno(step: impl Into<String>, object: impl Into<String>, errno: Errno) -> Self {
        Self {
            errno: Some(errno),
            ..Self::new(step, object, errno.desc())
        }
    }

    /// From a std I/O error, keeping only its OS text when there is one.
    pub fn io(step: impl Into<String>, object: impl Into<String>, err: &std::io::Error) -> Self {
        match err.raw_os_error() {
            Some(code) => Self::errno(step, object, Errno::from_raw(code)),
            None => Self::new(step, object, err.to_string()),
        }
    }
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.step, self.object, self.reason)
    }
}

impl std::error::Error for BootError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_step_object_and_errno_text() {
        let e = BootError::errno("mount", "/dev/sda1 on /flash", Errno::ENODEV);
        assert_eq!(e.to_string(), "mount: /dev/sda1 on /flash: No such device");
    }

    #[test]
    fn io_errors_keep_the_os_text() {
        let io = std::io::Error::from_raw_os_error(libc_enoent());
        let e = BootError::io("read", "/etc/x", &io);
        assert_eq!(e.reason, "No such file or directory");
        assert_eq!(e.errno, Some(Errno::ENOENT));
        assert_eq!(BootError::new("a", "b", "c").errno, None);
    }

    fn libc_enoent() -> i32 {
        Errno::ENOENT as i32
    }
}
