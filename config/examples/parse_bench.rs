//! Times reading the embedded default, the work the init does at every boot: the TOML
//! (`Config::parse`) or its compact form (`Config::from_compact`). A benchmark, not a test:
//! `cargo run --release -p flashroot-config --example parse_bench [--no-default-features]
//! [-- toml|compact [ROUNDS]]` prints the first (cold) read, then the minimum and median
//! of the following ones (the minimum is the figure that survives a busy machine).
//! Run under `qemu-x86_64`, the first parse approximates the init's cost under TCG, where
//! translating cold code dominates.

use std::time::{Duration, Instant};

use flashroot_config::{Config, DEFAULT_COMPACT, DEFAULT_NAME, DEFAULT_TOML};

/// Enough rounds for a stable median at tens of microseconds each.
const DEFAULT_ROUNDS: usize = 2_000;

/// Which form of the default to read.
#[derive(Clone, Copy)]
enum Form {
    Toml,
    Compact,
}

impl Form {
    fn text(self) -> &'static str {
        match self {
            Self::Toml => DEFAULT_TOML,
            Self::Compact => DEFAULT_COMPACT,
        }
    }
}

fn timed_read(form: Form) -> (Config, Duration) {
    let text = std::hint::black_box(form.text());
    let name = std::hint::black_box(DEFAULT_NAME);
    let start = Instant::now();
    let config = match form {
        Form::Toml => Config::parse(name, text),
        Form::Compact => Config::from_compact(name, text),
    }
    .expect("the embedded default reads");
    (std::hint::black_box(config), start.elapsed())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let form = match args.next().as_deref() {
        None | Some("toml") => Form::Toml,
        Some("compact") => Form::Compact,
        Some(other) => panic!("expected toml or compact, but got {other:?}"),
    };
    let rounds: usize = match args.next() {
        Some(arg) => match arg.parse() {
            Ok(n) if n > 0 => n,
            _ => panic!("ROUNDS must be a positive number, but got {arg:?}"),
        },
        None => DEFAULT_ROUNDS,
    };
    let (first, cold) = timed_read(form);
    assert_eq!(first.containers.len(), 1, "the default has one container");
    let mut warm: Vec<Duration> = (0..rounds).map(|_| timed_read(form).1).collect();
    warm.sort();
    println!(
        "{} of the embedded default ({} bytes): first {cold:?}; next {rounds}: min {:?}, median {:?}",
        match form {
            Form::Toml => "Config::parse",
            Form::Compact => "Config::from_compact",
        },
        form.text().len(),
        warm[0],
        warm[rounds / 2],
    );
}
