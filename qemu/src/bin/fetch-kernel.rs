//! Prints where Debian's kernel is cached, fetching it first if needed.
//!
//! Output is shell-friendly `KEY=value` lines (`eval "$(cargo run -q -p flashroot-qemu --bin fetch-kernel)"`):
//! `KVER`, `VMLINUZ`, `MODULES_DIR`, `CONFIG` (empty if absent), `BOOT_IMAGE` (what to give
//! `qemu -kernel`: the PVH `vmlinux` if extracted, else `vmlinuz`), `PACKAGE`, `PACKAGE_VERSION`.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let kernel = match flashroot_qemu::debian_kernel() {
        Ok(kernel) => kernel,
        Err(error) => {
            eprintln!("fetch-kernel: {error}");
            return ExitCode::FAILURE;
        }
    };
    let config = kernel
        .config
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let text = format!(
        "KVER={}\nVMLINUZ={}\nMODULES_DIR={}\nCONFIG={config}\nBOOT_IMAGE={}\nPACKAGE={}\nPACKAGE_VERSION={}\n",
        kernel.version,
        kernel.vmlinuz.display(),
        kernel.modules_dir.display(),
        kernel.boot_image().display(),
        kernel.package,
        kernel.package_version,
    );
    // One write; a reader that closes early (`| head -1`) is not an error worth a panic.
    match std::io::stdout().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fetch-kernel: writing to stdout: {error}");
            ExitCode::FAILURE
        }
    }
}
