#!/bin/bash
# Wall time and image size: `flashroot mkfs.jffs2` (summary and padding in one pass)
# against the mtd-utils pipeline it replaces, with the same compression (mkfs.jffs2's
# default: zlib, then rtime) and geometry:
#   mkfs.jffs2 --pad=SIZE, then sumtool (which drops empty blocks), then 0xFF re-padding.
#
# Usage: bench/jffs2.sh [FLASHROOT_BINARY] [SOURCE_DIRS...]
# Defaults: target/release/flashroot (or $CARGO_TARGET_DIR/release/flashroot) and about
# 100 MiB of real files: python, perl and locale sources, qemu firmware, zoneinfo.
set -euo pipefail

ERASE=${ERASE:-65536}
PAD=${PAD:-268435456}      # 256 MiB container
RUNS=${RUNS:-3}
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/flashroot}
shift || true
SOURCES=("$@")
if [ ${#SOURCES[@]} -eq 0 ]; then
    SOURCES=(/usr/lib/python3 /usr/share/perl /usr/share/i18n /usr/share/qemu /usr/share/zoneinfo)
fi

for tool in mkfs.jffs2 sumtool /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install mtd-utils time)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "missing $BIN: cargo build --release -p flashroot" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jffs2-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/tree"
for s in "${SOURCES[@]}"; do
    cp -a "$s" "$WORK/tree/" 2>/dev/null || true
done
TREE_BYTES=$(du -sb "$WORK/tree" | cut -f1)
TREE_FILES=$(find "$WORK/tree" | wc -l)

seconds() { # command... → wall seconds on stdout
    /usr/bin/time -f %e -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    cat "$WORK/t"
}

mtd_pipeline() {
    mkfs.jffs2 -d "$WORK/tree" -e "$ERASE" --pad="$PAD" -o "$WORK/mk.img"
    sumtool -e "$ERASE" -i "$WORK/mk.img" -o "$WORK/sum.img"
    stat -c %s "$WORK/sum.img" > "$WORK/sum.size"
    # sumtool drops empty blocks: pad to the container size again with 0xFF.
    head -c $((PAD - $(stat -c %s "$WORK/sum.img"))) /dev/zero | tr '\000' '\377' >> "$WORK/sum.img"
}
export -f mtd_pipeline
export WORK ERASE PAD

echo "# tree: $TREE_BYTES bytes, $TREE_FILES entries from ${SOURCES[*]}"
echo "# nproc: $(nproc); CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "# erase block $ERASE, padded to $PAD"
for i in $(seq "$RUNS"); do
    # Both start from a warm page cache (the tree was just copied and read).
    find "$WORK/tree" -type f -exec cat {} + >/dev/null
    ours=$(seconds "$BIN" mkfs.jffs2 -d "$WORK/tree" -e "$ERASE" --pad="$PAD" -o "$WORK/ours.img")
    mtd=$(seconds bash -c mtd_pipeline)
    echo "run $i: flashroot ${ours}s, mkfs.jffs2+sumtool+pad ${mtd}s"
done
"$BIN" mkfs.jffs2 -d "$WORK/tree" -e "$ERASE" --pad="$PAD" -o "$WORK/ours.img" 2>"$WORK/report"
OURS_USED=$(sed -n 's/.* blocks of [0-9]* bytes, \([0-9]*\) used.*/\1/p' "$WORK/report")
MTD_USED=$(( $(cat "$WORK/sum.size") / ERASE ))
echo "used erase blocks: flashroot $OURS_USED, mkfs.jffs2+sumtool $MTD_USED ($(( OURS_USED * ERASE )) vs $(( MTD_USED * ERASE )) bytes)"
echo "flashroot report:"; sed 's/^/  /' "$WORK/report"
"$BIN" jffs2 check "$WORK/ours.img"
"$BIN" jffs2 check "$WORK/sum.img"
