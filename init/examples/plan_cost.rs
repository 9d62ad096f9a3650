//! What the init's own host-testable work costs natively: parsing the packed config, the
//! command line and planning the boot. A benchmark, not a test:
//! `cargo run --release -p flashroot-init --example plan_cost`.

use std::time::Instant;

use flashroot_config::{Config, DEFAULT_TOML};
use flashroot_init::{plan, Cmdline};

const ROUNDS: u32 = 200;
const CMDLINE: &str =
    "BOOT_IMAGE=/vmlinuz console=ttyS0,115200n8 mtd flashroot.card=LABEL=FLASHROOT quiet";

fn main() {
    let start = Instant::now();
    for _ in 0..ROUNDS {
        std::hint::black_box(Config::parse("flashroot.toml", DEFAULT_TOML).unwrap());
    }
    let config_cost = start.elapsed() / ROUNDS;

    let config = Config::embedded_default();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let cmdline = Cmdline::parse(CMDLINE);
        std::hint::black_box(plan(&config, &cmdline).unwrap());
    }
    let plan_cost = start.elapsed() / ROUNDS;
    println!("config parse: {config_cost:?} per run; cmdline parse + plan: {plan_cost:?} per run");
}
