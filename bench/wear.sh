#!/bin/sh
# Benchmark: card wear under QEMU (TCG, 1 vCPU, Debian's 6.1 kernel). Each run boots a
# 48 MiB card with QEMU tracing every guest write to it (-d trace:blk_co_pwritev), runs a
# named workload as the real init, and maps the writes onto the card's regions with
# `flashroot wear` (table + PNG heat map under bench/wear/).
#
# Workloads: appends  a 100-byte line appended every 0.2 s, a state file renamed every 1 s
#            logger   20 log lines (~120 B) every 0.5 s to a log on the root, sync every 5 s
#            apt      a Debian root (the cached debootstrap tree, 192 MiB container on a
#                     256 MiB card; ext4: a 512 MiB partition): apt-get installs three local
#                     packages (24 files of 24 KiB each), upgrades them and purges them, in a
#                     loop until SECONDS have passed (at least once)
# Recipes:   flashroot  the default config (ordered card agent, card noatime,lazytime)
#            classic    writes = "buffered", card options = [] (loop device, plain vfat)
#            ext4       the same root as ext4 on the card's partition, booted with root=
#
# Usage: bench/wear.sh [WORKLOAD[:SECONDS] ...]   (default: appends:60 logger:60)
#        RECIPES="flashroot classic ext4" (default) picks the recipes.
#        bench/wear.sh appends:1800 is the long run of issue 11.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$(dirname "$here")"
recipes=${RECIPES:-flashroot classic ext4}
[ $# -gt 0 ] || set -- appends:60 logger:60
cargo build -q --release -p flashroot
flashroot=target/release/flashroot
# The test binary itself, so that several wear.sh runs (one per recipe, for the long run)
# can share the machine without waiting for cargo's lock on the build directory.
runner=$(cargo test --release -p flashroot-tests --test wear --no-run 2>&1 |
    sed -n 's/.*Executable tests\/wear.rs (\(.*\))$/\1/p')
[ -x "$runner" ] || { echo "wear: no test binary for tests/wear.rs" >&2; exit 1; }
for spec in "$@"; do
    workload=${spec%%:*}
    seconds=60
    [ "$workload" = "$spec" ] || seconds=${spec#*:}
    for recipe in $recipes; do
        name=$workload-${seconds}s-$recipe
        out=bench/wear/$name
        WEAR_WORKLOAD=$workload WEAR_RECIPE=$recipe WEAR_SECONDS=$seconds WEAR_OUT=$out \
            "$runner" bench_wear_run --ignored --nocapture 2>&1 | grep '^wear ' ||
            { echo "wear: $name failed" >&2; exit 1; }
        guest=$(cat "$out/guest-seconds")
        echo "== $name"
        "$flashroot" wear --card "$out/card.img" "$out/trace.log" --hours-from "$guest" \
            --png "bench/wear/$name.png" --title "$workload, $seconds s, $recipe" |
            tee "$out/table.txt"
    done
done
