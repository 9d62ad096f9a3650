//! flashroot's /init: PID 1 of the initramfs. Everything lives in the library so that the
//! host can test it and `flashroot plan` can run the same planner.

fn main() {
    flashroot_init::boot::run()
}
