#!/bin/sh
# Benchmark: write throughput of the JFFS2 root under QEMU (TCG, 1 vCPU, Debian's 6.1
# kernel): 20 MB of random data copied with dd, plain and with conv=fsync, with the
# default ordered card writes (the card agent) and with the classic buffered loop device.
# Usage: bench/write-speed.sh   (RUNS=N per mode, default 3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$(dirname "$here")"
runs=${RUNS:-3}
for writes in ordered buffered; do
    i=0
    while [ "$i" -lt "$runs" ]; do
        i=$((i + 1))
        FLASHROOT_BENCH_WRITES=$writes cargo test -q --release -p flashroot-tests \
            --test boot_flash bench_write_speed -- --ignored --nocapture 2>&1 |
            grep '^write-speed' || { echo "write-speed: $writes run $i failed" >&2; exit 1; }
    done
done
