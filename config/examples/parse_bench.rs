//! Times `Config::parse` of the embedded default, the work the init does at every boot.
//! A benchmark, not a test: `cargo run --release -p flashroot-config --example parse_bench
//! [--no-default-features] [-- ROUNDS]` prints the first (cold) parse, then the minimum and
//! median of the following ones (the minimum is the figure that survives a busy machine).
//! Run under `qemu-x86_64`, the first parse approximates the init's cost under TCG, where
//! translating cold code dominates.

use std::time::{Duration, Instant};

use flashroot_config::{Config, DEFAULT_NAME, DEFAULT_TOML};

/// Enough rounds for a stable median at tens of microseconds each.
const DEFAULT_ROUNDS: usize = 2_000;

fn timed_parse() -> (Config, Duration) {
    let start = Instant::now();
    let config = Config::parse(
        std::hint::black_box(DEFAULT_NAME),
        std::hint::black_box(DEFAULT_TOML),
    )
    .expect("the embedded default parses");
    (std::hint::black_box(config), start.elapsed())
}

fn main() {
    let rounds: usize = match std::env::args().nth(1) {
        Some(arg) => match arg.parse() {
            Ok(n) if n > 0 => n,
            _ => panic!("ROUNDS must be a positive number, but got {arg:?}"),
        },
        None => DEFAULT_ROUNDS,
    };
    let (first, cold) = timed_parse();
    assert_eq!(first.containers.len(), 1, "the default has one container");
    let mut warm: Vec<Duration> = (0..rounds).map(|_| timed_parse().1).collect();
    warm.sort();
    println!(
        "Config::parse of the embedded default ({} bytes): first {cold:?}; next {rounds}: min {:?}, median {:?}",
        DEFAULT_TOML.len(),
        warm[0],
        warm[rounds / 2],
    );
}
