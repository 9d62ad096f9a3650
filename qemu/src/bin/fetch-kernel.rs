//! Prints where Debian's kernel is cached, fetching it first if needed.
//!
//! Output is shell-friendly `KEY=value` lines (`eval "$(cargo run -q -p flashroot-qemu --bin fetch-kernel)"`):
//! `KVER`, `VMLINUZ`, `MODULES_DIR`, `CONFIG` (empty if absent), `BOOT_IMAGE` (what to give
//! `qemu -kernel`: the PVH `vmlinux` if extracted, else `vmlinuz`), `PACKAGE`, `PACKAGE_VERSION`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match flashroot_qemu::debian_kernel() {
        Ok(kernel) => {
            let config = kernel
                .config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            println!("KVER={}", kernel.version);
            println!("VMLINUZ={}", kernel.vmlinuz.display());
            println!("MODULES_DIR={}", kernel.modules_dir.display());
            println!("CONFIG={config}");
            // The image to hand to `qemu -kernel`: the PVH vmlinux when available.
            println!("BOOT_IMAGE={}", kernel.boot_image().display());
            println!("PACKAGE={}", kernel.package);
            println!("PACKAGE_VERSION={}", kernel.package_version);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("fetch-kernel: {error}");
            ExitCode::FAILURE
        }
    }
}
