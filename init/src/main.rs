//! flashroot's /init: PID 1 of the initramfs. Everything lives in the library so that the
//! host can test it and `flashroot plan` can run the same planner.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.split_first() {
        Some((argv0, rest)) if argv0 == flashroot_init::agent::AGENT_ARGV0 => {
            flashroot_init::agent::main(rest)
        }
        _ => flashroot_init::boot::run(),
    }
}
