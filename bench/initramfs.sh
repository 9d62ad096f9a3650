#!/bin/sh
# Benchmark: `flashroot build` (default flash-boot config) against initramfs-tools'
# `mkinitramfs` with MODULES=dep and MODULES=most and the classic hooks, same kernel,
# same compression (gzip), side by side in one run. Writes bench/initramfs-results.md.
#
# Usage: bench/initramfs.sh [KVER [MODULES_DIR]]
#   KVER         kernel release [default: the newest Debian kernel cached by the test
#                harness in ~/.cache/flashroot/kernel]
#   MODULES_DIR  its module tree [default: from the same cache entry]
# Env: FLASHROOT=path/to/flashroot (else built with `cargo build --release`),
#      RUNS=N timed runs per tool (default 3; the median is reported). Run it on an
#      idle machine: timings on a shared one move by 2x between runs.
#
# mkinitramfs only reads /lib/modules/KVER and /boot/config-KVER: when they are missing
# and we are root, they are linked/copied from the cache entry (a benchmark machine).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
runs=${RUNS:-3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/flashroot/kernel

if [ $# -ge 1 ]; then
    kver=$1
    moddir=${2:-/lib/modules/$kver}
else
    moddir=$(ls -d "$cache"/*/lib/modules/* 2>/dev/null | sort -V | tail -n 1)
    [ -n "$moddir" ] || { echo "no cached kernel in $cache; run: cargo run -p flashroot-qemu --bin fetch-kernel" >&2; exit 1; }
    kver=$(basename "$moddir")
fi
pkgroot=$(dirname "$(dirname "$(dirname "$moddir")")")

for tool in mkinitramfs gzip; do
    command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install initramfs-tools-core)" >&2; exit 1; }
done
. "$here/lib/host-kernel.sh"
expose_kernel "$kver" "$moddir" "$pkgroot"

if [ -z "${FLASHROOT:-}" ]; then
    (cd "$repo" && cargo build --quiet --release -p flashroot)
    FLASHROOT=${CARGO_TARGET_DIR:-$repo/target}/release/flashroot
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The classic recipe: initramfs-tools' own hooks and config, the flash-boot modules
# listed in /etc/initramfs-tools/modules, gzip like ours.
flash_modules=$(sed -n '/^load = \[/,/^\]/p' "$repo/config/flashroot.toml" | grep -o '"[^"]*"' | tr -d '"')
make_confdir() { # $1 = MODULES value
    dir=$work/conf-$1
    cp -r /etc/initramfs-tools "$dir"
    sed -i "s/^MODULES=.*/MODULES=$1/; s/^COMPRESS=.*/COMPRESS=gzip/" "$dir/initramfs.conf"
    printf '%s\n' $flash_modules >> "$dir/modules"
    echo "$dir"
}
conf_dep=$(make_confdir dep)
conf_most=$(make_confdir most)

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# time_runs NAME OUTPUT COMMAND...: runs COMMAND $runs times; prints "NAME ms bytes".
time_runs() {
    name=$1 out=$2
    shift 2
    for _ in $(seq "$runs"); do
        rm -f "$out"
        t0=$(now)
        "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; echo "$name failed" >&2; exit 1; }
        t1=$(now)
        echo $(( (t1 - t0) / 1000000 ))
    done | median > "$work/ms"
    echo "$name $(cat "$work/ms") $(stat -c %s "$out")"
}

results=$work/results
{
    time_runs "flashroot build (gzip)" "$work/fr-gzip.img" "$FLASHROOT" build -q --modules-dir "$moddir" -o "$work/fr-gzip.img"
    time_runs "flashroot build --compression zstd" "$work/fr-zstd.img" "$FLASHROOT" build -q --modules-dir "$moddir" --compression zstd -o "$work/fr-zstd.img"
    time_runs "flashroot build --compression xz" "$work/fr-xz.img" "$FLASHROOT" build -q --modules-dir "$moddir" --compression xz -o "$work/fr-xz.img"
    time_runs "flashroot build --host-only (gzip; this machine's drivers)" "$work/fr-host.img" "$FLASHROOT" build -q --modules-dir "$moddir" --host-only -o "$work/fr-host.img"
    time_runs "flashroot build --devices qemu-pc-ide.txt (gzip; the test VM's drivers)" "$work/fr-qemu.img" "$FLASHROOT" build -q --modules-dir "$moddir" --devices "$here/devices/qemu-pc-ide.txt" -o "$work/fr-qemu.img"
    time_runs "mkinitramfs MODULES=dep (gzip)" "$work/mk-dep.img" mkinitramfs -d "$conf_dep" -o "$work/mk-dep.img" "$kver"
    time_runs "mkinitramfs MODULES=most (gzip)" "$work/mk-most.img" mkinitramfs -d "$conf_most" -o "$work/mk-most.img" "$kver"
} > "$results"

fr_ms=$(head -n 1 "$results" | awk '{print $(NF-1)}')
table=$(awk -v base="$fr_ms" '{
    bytes = $NF; ms = $(NF-1); $NF = ""; $(NF-1) = ""; sub(/ +$/, "");
    printf "| %s | %.3f | %d | %.2f | %.1fx |\n", $0, ms / 1000, bytes, bytes / 1048576, ms / base
}' "$results")
mods=$("$FLASHROOT" ls "$work/fr-gzip.img" | grep -c '\.ko$')
mods_host=$("$FLASHROOT" ls "$work/fr-host.img" | grep -c '\.ko$')
mods_qemu=$("$FLASHROOT" ls "$work/fr-qemu.img" | grep -c '\.ko$')
host_pci=$(cat /sys/bus/pci/devices/*/modalias 2>/dev/null | cut -c1-22 | sort -u | tr '\n' ' ')
mods_dep=$(zcat "$work/mk-dep.img" 2>/dev/null | cpio -it --quiet 2>/dev/null | grep -c '\.ko' || true)
mods_most=$(zcat "$work/mk-most.img" 2>/dev/null | cpio -it --quiet 2>/dev/null | grep -c '\.ko' || true)
init_bytes=$("$FLASHROOT" ls -l "$work/fr-gzip.img" | awk '$NF == "init" {print $5; exit}')
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
load=$(cut -d' ' -f1-3 /proc/loadavg)

report=$(cat <<REPORT
# initramfs build: flashroot vs mkinitramfs

Command: \`bench/initramfs.sh $kver\` (median of $runs runs each, wall time, one after the other)
Machine: $(nproc) CPUs, $cpu; $(date -u +%Y-%m-%d); load average at the end: $load
Kernel: $kver (Debian package, modules from $moddir)
Tools: $("$FLASHROOT" --version), initramfs-tools $(dpkg-query -W -f '${Version}' initramfs-tools-core 2>/dev/null || echo '?')

| build | time (s) | size (bytes) | size (MiB) | time vs flashroot |
|---|---|---|---|---|
$table

Modules packed: flashroot $mods (the default config's flash-boot set with its dependencies and
softdeps; host-only $mods_host for this machine, whose PCI devices are $host_pci; $mods_qemu for
the QEMU IDE machine of bench/devices/qemu-pc-ide.txt), mkinitramfs MODULES=dep $mods_dep, MODULES=most $mods_most. Both mkinitramfs runs list
the same flash-boot modules in their \`modules\` file and use initramfs-tools' stock hooks
(busybox, klibc-utils, kmod, udev, fsck, ...); MODULES=dep adds the modules of the build host's
own root device. flashroot's time includes resolving modules.dep/softdeps/aliases, reading the
modules and compressing; its size includes the static /init ($init_bytes bytes).
REPORT
)
echo "$report"
echo "$report" > "$here/initramfs-results.md"
echo "wrote $here/initramfs-results.md" >&2
