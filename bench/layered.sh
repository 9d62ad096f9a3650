#!/bin/sh
# Benchmark (issue #13): the same Debian minbase tree as one JFFS2 container and as a
# layered root (squashfs base + empty JFFS2 overlay), at its own size and with ballast to
# over 400 MB: the root's mount time as the init logs it, the uptime at which the init
# execs the real init, and the card space. QEMU TCG, 1 vCPU, Debian's 6.1 kernel; the
# "real init" is a two-line script that reports its uptime and powers off.
#
# Usage: bench/layered.sh            (BENCH_RUNS=N boots of each card, default 3)
# Prints the raw lines; BENCHMARKS.md quotes them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$(dirname "$here")"
log="${TMPDIR:-/tmp}/layered-bench.log"
# --release: the JFFS2 writer and the copies are the slow part of a debug build.
cargo test --release -p flashroot-tests --test layered_bench -- --ignored --nocapture >"$log" 2>&1 || {
    echo "layered-bench failed; its output is in $log" >&2
    exit 1
}
grep '^layered-bench:' "$log"
