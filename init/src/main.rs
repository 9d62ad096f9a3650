//! flashroot's /init: PID 1 of the initramfs. Everything lives in the library so that the
//! host can test it and `flashroot plan` can run the same planner. The same binary is
//! the shutdown program, copied at boot to /run/initramfs/shutdown, and the card agent
//! (argv[0] `@flashroot-agent`) and the RAM directory keeper (`flashroot-ramdirs`):
//! argv[0] says which one runs.

use std::path::Path;

use flashroot_init::{agent, ramdir, shutdown};

fn main() {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some((argv0, rest)) = args.split_first() {
        if argv0 == agent::AGENT_ARGV0 {
            agent::main(rest)
        }
        if argv0 == ramdir::keeper::KEEPER_ARGV0 {
            ramdir::keeper::main(rest)
        }
        if argv0 == ramdir::keeper::SAVE_ARGV0 {
            ramdir::keeper::main_save(rest)
        }
    }
    let name = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str());
    if name == Some(shutdown::NAME) {
        shutdown::run(&args)
    }
    flashroot_init::boot::run()
}
