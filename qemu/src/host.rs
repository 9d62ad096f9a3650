//! Running host programs: "not installed" becomes an error naming the Debian package.

use std::io;
use std::process::{Command, Output};

use crate::Error;

/// A host program and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub program: &'static str,
    pub package: &'static str,
}

pub const APT_CACHE: Tool = Tool {
    program: "apt-cache",
    package: "apt",
};
pub const APT_GET: Tool = Tool {
    program: "apt-get",
    package: "apt",
};
pub const DPKG_DEB: Tool = Tool {
    program: "dpkg-deb",
    package: "dpkg",
};
pub const QEMU_X86_64: Tool = Tool {
    program: "qemu-system-x86_64",
    package: "qemu-system-x86",
};
pub const DEPMOD: Tool = Tool {
    program: "depmod",
    package: "kmod",
};

impl Tool {
    /// A `Command` for this tool; pass it back to [`run`] or [`Tool::spawn_error`].
    pub fn command(&self) -> Command {
        Command::new(self.program)
    }

    /// Maps a spawn failure: "not found" names the package to install.
    pub fn spawn_error(&self, command: &Command, source: io::Error) -> Error {
        if source.kind() == io::ErrorKind::NotFound {
            Error::MissingTool {
                tool: self.program,
                package: self.package,
            }
        } else {
            Error::Spawn {
                command: describe(command),
                source,
            }
        }
    }

    /// Runs `command` to completion; a non-zero exit is an error carrying stderr.
    pub fn run(&self, command: &mut Command) -> Result<Output, Error> {
        let output = command.output().map_err(|e| self.spawn_error(command, e))?;
        if !output.status.success() {
            return Err(Error::CommandFailed {
                command: describe(command),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(output)
    }

    /// Like [`Tool::run`], returning stdout as text.
    pub fn run_stdout(&self, command: &mut Command) -> Result<String, Error> {
        let output = self.run(command)?;
        String::from_utf8(output.stdout).map_err(|e| {
            Error::unexpected(format!("output of `{}`", describe(command)), e.to_string())
        })
    }
}

/// `program arg1 arg2 ...`, for error messages.
pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_package_to_install() {
        let command = QEMU_X86_64.command();
        let error = QEMU_X86_64
            .spawn_error(&command, io::Error::from(io::ErrorKind::NotFound))
            .to_string();
        assert_eq!(
            error,
            "`qemu-system-x86_64` not found in PATH; install the Debian package `qemu-system-x86` (apt-get install qemu-system-x86)"
        );
        let denied = QEMU_X86_64
            .spawn_error(&command, io::Error::from(io::ErrorKind::PermissionDenied))
            .to_string();
        assert!(
            denied.starts_with("cannot run `qemu-system-x86_64`"),
            "{denied}"
        );
    }

    #[test]
    fn failure_carries_command_and_stderr() {
        let error = DEPMOD
            .run(Command::new("sh").args(["-c", "echo broken >&2; exit 3"]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`sh -c echo broken >&2; exit 3` failed"),
            "{error}"
        );
        assert!(error.ends_with("broken"), "{error}");
    }
}
