#!/bin/bash
# Boot timeline of issue #5: kernel start -> /init -> real init, for flashroot's init
# against the classic initramfs-tools recipe and a busybox shell /init doing the same
# steps. Same kernel (Debian's, the PVH vmlinux the test harness boots), same QEMU
# command line as the harness (pc, TCG, 1 CPU, 512 MiB, serial console, IDE card), same
# card: a FAT32 disk holding a 32 MiB JFFS2 rootfs.img (with summary) made by
# `flashroot mkfs.jffs2`, whose /sbin/init prints /proc/uptime and powers off.
#
# Per variant, median of RUNS boots (each on a fresh copy of the card): guest uptime when
# the kernel runs /init (its "Run /init as init process" printk.time stamp), guest uptime
# when the real init starts, host wall time of the QEMU run; and initramfs size and build
# time. Writes bench/boot-timeline-results.md.
#
# Usage: bench/boot-timeline.sh
# Env: FLASHROOT=path/to/flashroot (else `cargo build --release -p flashroot`), RUNS=N
#      (default 3), VARIANTS="ours-trimmed busybox ..." (a subset of the rows, default
#      all; a subset only prints its table), MODES="verbose quiet" (boot each row with
#      the harness's verbose console, and with `quiet`; default both), LOGS=DIR (keep every boot's console log),
#      KROOT=an unpacked linux-image package (default: the qemu crate's cache,
#      ~/.cache/flashroot/kernel; `cargo run -p flashroot-qemu --bin fetch-kernel` fills it). Needs root for mkinitramfs (it reads /lib/modules/KVER and /boot).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
files=$here/boot-timeline
runs=${RUNS:-3}
# A card boot under TCG takes seconds; this only stops a hung guest.
boot_timeout_s=300
qemu_memory_mib=512
erase_size=64KiB
container_size=32MiB
card_size=64MiB

kroot=${KROOT:-$(ls -d "${XDG_CACHE_HOME:-$HOME/.cache}"/flashroot/kernel/linux-image-*/ | head -n 1)}
moddir=$(ls -d "$kroot"/lib/modules/* | head -n 1)
kver=$(basename "$moddir")
# The PVH vmlinux boots about 6 s faster under TCG than the bzImage (see qemu/src/vmlinux.rs).
boot_image=$(ls "$kroot"/boot/vmlinux-* 2>/dev/null | head -n 1 || true)
[ -n "$boot_image" ] || boot_image=$(ls "$kroot"/boot/vmlinuz-* | head -n 1)

for tool in qemu-system-x86_64 mkinitramfs modprobe cpio gzip busybox losetup; do
    command -v "$tool" >/dev/null || { echo "boot-timeline: missing $tool" >&2; exit 1; }
done
. "$here/lib/host-kernel.sh"
expose_kernel "$kver" "$moddir" "$kroot"

if [ -z "${FLASHROOT:-}" ]; then
    (cd "$repo" && cargo build --quiet --release -p flashroot)
    FLASHROOT=${CARGO_TARGET_DIR:-$repo/target}/release/flashroot
fi

all_variants="ours-default ours-host-only ours-trimmed classic-most classic-list busybox"
variants=${VARIANTS:-$all_variants}
wanted() { case " $variants " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
for variant in $variants; do
    wanted_known=" $all_variants "
    case $wanted_known in *" $variant "*) ;; *) echo "boot-timeline: unknown variant $variant (known: $all_variants)" >&2; exit 1 ;; esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/boot-timeline.XXXXXX")
trap 'rm -rf "$work"' EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}'; }
# The modules of this machine's flash boot, without the comments.
machine_modules() { grep -v '^#' "$files/modules.list"; }

# --- the card: JFFS2 root with the reporting real init, on a FAT32 disk --------------
tree=$work/root-tree
mkdir -p "$tree"/{bin,sbin,dev,proc,sys,run,tmp,etc,usr,var/log,var/lock,var/lib,var/cache/apt}
cp /bin/busybox "$tree/bin/busybox"
for applet in sh cat echo poweroff dmesg grep; do ln -s busybox "$tree/bin/$applet"; done
ln -s /run "$tree/var/run"
cp "$files/real-init" "$tree/sbin/init"
# Erase block summary is on by default.
"$FLASHROOT" mkfs.jffs2 -d "$tree" -e "$erase_size" --pad="$container_size" -o "$work/rootfs.img" 2>/dev/null

# --- the initramfs variants ------------------------------------------------------------
# build_timed NAME OUTPUT COMMAND...: builds once, records "NAME ms bytes" in $work/builds.
build_timed() {
    local name=$1 out=$2 t0 t1
    shift 2
    rm -f "$out"
    t0=$(now_ms)
    "$@" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; echo "boot-timeline: building $name failed" >&2; exit 1; }
    t1=$(now_ms)
    echo "$name $((t1 - t0)) $(stat -c %s "$out")" >> "$work/builds"
}

# flashroot, the embedded default config (every disk controller of the config's list);
# always built: the card carries it.
build_timed ours-default "$work/ours-default.img" \
    "$FLASHROOT" build -q --modules-dir "$moddir" --kver "$kver" -o "$work/ours-default.img"
# flashroot host-only for the test VM, from the modaliases captured in such a guest.
wanted ours-host-only && build_timed ours-host-only "$work/ours-host-only.img" \
    "$FLASHROOT" build -q --devices "$here/devices/qemu-pc-ide.txt" --modules-dir "$moddir" --kver "$kver" -o "$work/ours-host-only.img"
# flashroot, modules.load trimmed to this machine's.
trimmed_list=$(machine_modules | sed 's/.*/"&",/' | tr '\n' ' ')
awk -v list="$trimmed_list" '
    /^load = \[/ { print "load = [ " list "]"; skipping = 1; next }
    skipping && /^\]/ { skipping = 0; next }
    !skipping { print }
' "$repo/config/flashroot.toml" > "$work/trimmed.toml"
grep -q '^load = \[ "ata_piix"' "$work/trimmed.toml" || { echo "boot-timeline: could not trim modules.load in config/flashroot.toml" >&2; exit 1; }
wanted ours-trimmed && build_timed ours-trimmed "$work/ours-trimmed.img" \
    "$FLASHROOT" build -q -c "$work/trimmed.toml" --modules-dir "$moddir" --kver "$kver" -o "$work/ours-trimmed.img"

# initramfs-tools: a private confdir (never the host's), the classic hook and scripts.
make_confdir() { # $1 = MODULES value
    local dir=$work/conf-$1
    cp -r /etc/initramfs-tools "$dir"
    cp -r "$files/classic/hooks" "$files/classic/scripts" "$dir/"
    sed -i "s/^MODULES=.*/MODULES=$1/; s/^COMPRESS=.*/COMPRESS=gzip/" "$dir/initramfs.conf"
    machine_modules >> "$dir/modules"
    echo "$dir"
}
for modules in most list; do
    wanted "classic-$modules" || continue
    confdir=$(make_confdir "$modules")
    build_timed "classic-$modules" "$work/classic-$modules.img" \
        mkinitramfs -d "$confdir" -o "$work/classic-$modules.img" "$kver"
done

# The busybox shell /init: the modules in the order modprobe resolves (dependencies and
# softdeps first), uncompressed as the kernel ships them.
build_busybox() {
    local ir=$work/busybox-ir path
    rm -rf "$ir"
    mkdir -p "$ir"/{bin,dev,proc,sys,run,root,lib/modules}
    cp /bin/busybox "$ir/bin/busybox"
    cp "$files/busybox-init" "$ir/init"
    mknod "$ir/dev/console" c 5 1
    : > "$ir/modules.order"
    for module in $(machine_modules); do
        modprobe -S "$kver" --show-depends "$module" | awk '$1 == "insmod" {print $2}'
    done | awk '!seen[$0]++' | while read -r path; do
        cp "$path" "$ir/lib/modules/"
        basename "$path" >> "$ir/modules.order"
    done
    (cd "$ir" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -6 > "$1")
}
wanted busybox && build_timed busybox "$work/busybox.img" build_busybox "$work/busybox.img"

"$FLASHROOT" card --image "$work/card.img" --size "$card_size" --kernel "$kroot/boot/vmlinuz-$kver" \
    --initrd "$work/ours-default.img" --kver "$kver" --rootfs "$work/rootfs.img" > /dev/null

# --- boots -----------------------------------------------------------------------------
# The harness's command line (qemu/src/options.rs) plus printk.time=1 for the stamps.
base_cmdline="console=ttyS0,115200 panic=-1 printk.time=1"
modes=${MODES:-verbose quiet}
# A row is a variant booted in a mode: "busybox" (verbose) or "busybox+quiet".
rows=$(for variant in $variants; do
    for mode in $modes; do
        case $mode in
        verbose) echo "$variant" ;;
        quiet) echo "$variant+quiet" ;;
        *) echo "boot-timeline: unknown mode $mode (verbose, quiet)" >&2; exit 1 ;;
        esac
    done
done)
cmdline_of() { # ROW
    case $1 in *+quiet) echo -n "quiet " ;; esac
    case ${1%+quiet} in
    ours-*) echo "$base_cmdline mtd flashroot.failure=poweroff flashroot.delay=0" ;;
    classic-*) echo "$base_cmdline root=mtd0 rootfstype=jffs2 rootflags=noatime" ;;
    busybox) echo "$base_cmdline" ;;
    esac
}

# boot ROW RUN: one boot on a fresh card; appends "ROW RUN init_s real_s wall_ms in_s",
# in_s being the time from /init to the real init of this boot.
boot() {
    local variant=$1 run=$2 log=$work/console-$1-$2.log t0 t1 init_s real_s
    cp "$work/card.img" "$work/card-run.img"
    t0=$(now_ms)
    timeout "$boot_timeout_s" qemu-system-x86_64 -machine pc,accel=tcg -no-reboot \
        -m "$qemu_memory_mib" -smp 1 -nodefaults -display none -serial stdio -monitor none \
        -kernel "$boot_image" -append "$(cmdline_of "$variant")" -initrd "$work/${variant%+quiet}.img" \
        -drive "file=$work/card-run.img,format=raw,id=disk0,if=ide,index=0" \
        < /dev/null 2>&1 | tr -d '\r' > "$log" || true
    t1=$(now_ms)
    # With `quiet` the stamp comes from the real init's dmesg, else from the console.
    init_s=$(sed -n 's/^\[ *\([0-9.]*\)\] Run \/init as init process.*/\1/p' "$log" | head -n 1)
    real_s=$(sed -n 's/.*REAL-INIT uptime=\([0-9.]*\).*/\1/p' "$log" | head -n 1)
    if [ -z "$init_s" ] || [ -z "$real_s" ]; then
        echo "boot-timeline: $variant run $run did not reach the real init; console tail:" >&2
        tail -n 30 "$log" >&2
        cp "$log" "${TMPDIR:-/tmp}/boot-timeline-failed-$variant.log"
        echo "boot-timeline: whole console in ${TMPDIR:-/tmp}/boot-timeline-failed-$variant.log" >&2
        exit 1
    fi
    echo "$variant $run $init_s $real_s $((t1 - t0)) $(awk -v i="$init_s" -v r="$real_s" 'BEGIN {printf "%.3f", r - i}')" >> "$work/boots"
    if [ -n "${LOGS:-}" ]; then mkdir -p "$LOGS" && cp "$log" "$LOGS/"; fi
    echo "  $variant run $run: /init at $init_s s, real init at $real_s s, wall $((t1 - t0)) ms" >&2
}

# Round-robin, so that a change of the shared machine's load hits every variant alike.
for run in $(seq "$runs"); do
    for row in $rows; do
        boot "$row" "$run"
    done
done

# --- the report ------------------------------------------------------------------------
column_median() { # ROW FIELD
    awk -v v="$1" -v f="$2" '$1 == v {print $f}' "$work/boots" | median
}
label_of() { # ROW
    case $1 in *+quiet) echo -n "quiet: " ;; esac
    case ${1%+quiet} in
    ours-default) echo "flashroot, default config (every disk driver packed; coldplug loads this machine's)" ;;
    ours-host-only) echo "flashroot, default config built --devices qemu-pc-ide.txt (host-only)" ;;
    ours-trimmed) echo "flashroot, modules.load trimmed to this machine" ;;
    classic-most) echo "initramfs-tools MODULES=most + classic hook" ;;
    classic-list) echo "initramfs-tools MODULES=list + classic hook" ;;
    busybox) echo "busybox shell /init, same steps" ;;
    esac
}
table=$(for row in $rows; do
    read -r _ build_ms bytes < <(grep "^${row%+quiet} " "$work/builds")
    init_s=$(column_median "$row" 3)
    real_s=$(column_median "$row" 4)
    wall_ms=$(column_median "$row" 5)
    in_s=$(column_median "$row" 6)
    awk -v l="$(label_of "$row")" -v i="$init_s" -v r="$real_s" -v w="$wall_ms" -v d="$in_s" \
        -v b="$bytes" -v t="$build_ms" 'BEGIN {
        printf "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", l, i, r, d, w / 1000, b / 1048576, t / 1000
    }'
done)
all_runs=$(awk '{printf "| %s | %s | %s | %s | %s | %.2f |\n", $1, $2, $3, $4, $6, $5 / 1000}' "$work/boots")
# Our init's own summary, from every boot of the flashroot rows.
summaries=$(for row in $rows; do
    case $row in ours-*) ;; *) continue ;; esac
    for run in $(seq "$runs"); do
        line=$(grep -o 'init done in.*' "$work/console-$row-$run.log" | head -n 1)
        echo "- $row run $run: ${line:-no summary line}"
    done
done)
init_bytes=$("$FLASHROOT" ls -l "$work/ours-default.img" | awk '$NF == "init" {print $5; exit}')
modules_of() { # IMAGE
    "$FLASHROOT" ls "$1" 2>/dev/null | grep -c '\.ko' || true
}
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')

cat > "$work/results.md" <<REPORT
# Boot timeline: flashroot's init vs initramfs-tools vs a busybox shell init

Command: \`bench/boot-timeline.sh\` (RUNS=$runs; median of $runs boots per row, boots taken
round-robin over the rows)
Machine: $(nproc) CPUs, $cpu; $(date -u '+%Y-%m-%d %H:%M UTC'); load average at the end:
$(cut -d' ' -f1-3 /proc/loadavg) (a machine shared with other builds: absolute times move between
runs, compare rows of one run)
Kernel: $kver, $(basename "$boot_image") (PVH), QEMU $(qemu-system-x86_64 --version | head -n 1 | awk '{print $4}') TCG,
1 vCPU, ${qemu_memory_mib} MiB; the card on IDE (/dev/sda1), a FAT32 disk of $card_size holding a
$container_size rootfs.img ($erase_size erase blocks, summary) written by \`flashroot mkfs.jffs2\`.
Tools: $("$FLASHROOT" --version), initramfs-tools $(dpkg-query -W -f '${Version}' initramfs-tools-core 2>/dev/null || echo '?'),
busybox-static $(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || echo '?'); every initramfs gzip-compressed.

"/init" is the printk.time stamp of the kernel's "Run /init as init process"; "real init" is
/proc/uptime as printed by the root's /sbin/init as its first act; "in initramfs" is their
difference per boot (each column is its own median: the kernel's part moves with the host's
load, so compare rows by "in initramfs"). Wall is the host's time for the whole QEMU run (to the real init's poweroff).
Rows marked "quiet" add \`quiet\` to the command line: the kernel and the inits then print
(almost) nothing on the 115200-baud serial console, whose every line costs the printing
task several ms under TCG.

| initramfs | /init (s) | real init (s) | in initramfs (s) | wall (s) | size (MiB) | build (s) |
|---|---|---|---|---|---|---|
$table

Modules in the initramfs: flashroot default $(modules_of "$work/ours-default.img"), host-only $(modules_of "$work/ours-host-only.img" 2>/dev/null), trimmed $(modules_of "$work/ours-trimmed.img" 2>/dev/null);
busybox init $(wc -l < "$work/busybox-ir/modules.order" 2>/dev/null) ($(tr '\n' ' ' < "$work/busybox-ir/modules.order" 2>/dev/null)).
flashroot's static /init: $init_bytes bytes (\`flashroot ls -l\` of the built image).

Our init's own timing summary (its last line before the switch; "own" = total - waits - modules -
JFFS2 mounts; with \`quiet\` read back from the kernel log by the real init):
$summaries

All boots (uptime seconds, wall seconds):

| row | run | /init | real init | in initramfs | wall |
|---|---|---|---|---|---|
$all_runs
REPORT
cat "$work/results.md"
# The hand-written reading below this marker in the results file survives a re-run.
reading_marker='<!-- reading: written by hand, kept by boot-timeline.sh -->'
if [ "$variants" = "$all_variants" ]; then
    if grep -qF "$reading_marker" "$here/boot-timeline-results.md" 2>/dev/null; then
        { echo; sed -n "/$reading_marker/,\$p" "$here/boot-timeline-results.md"; } >> "$work/results.md"
    fi
    cp "$work/results.md" "$here/boot-timeline-results.md"
    echo "wrote $here/boot-timeline-results.md" >&2
fi
