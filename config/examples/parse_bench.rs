//! Times `Config::parse` of the embedded default, the work the init does at every boot.
//! A benchmark, not a test: `cargo run --release -p flashroot-config --example parse_bench
//! [--no-default-features] [-- ROUNDS]` prints the first (cold) parse and the mean of the rest.

use std::time::Instant;

use flashroot_config::{Config, DEFAULT_NAME, DEFAULT_TOML};

/// Enough rounds for a stable mean at tens of microseconds each.
const DEFAULT_ROUNDS: u32 = 10_000;

fn main() {
    let rounds: u32 = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .unwrap_or_else(|_| panic!("ROUNDS must be a positive number, but got {arg:?}")),
        None => DEFAULT_ROUNDS,
    };
    let cold = Instant::now();
    let first = Config::parse(DEFAULT_NAME, DEFAULT_TOML).expect("the default parses");
    let cold = cold.elapsed();
    let warm = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(Config::parse(
            std::hint::black_box(DEFAULT_NAME),
            std::hint::black_box(DEFAULT_TOML),
        ))
        .expect("the default parses");
    }
    assert_eq!(first.containers.len(), 1, "the default has one container");
    let per_parse = warm.elapsed() / rounds.max(1);
    println!(
        "Config::parse of the embedded default ({} bytes): first {cold:?}, mean of {rounds} more {per_parse:?}",
        DEFAULT_TOML.len()
    );
}
