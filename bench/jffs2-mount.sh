#!/bin/bash
# Mount time of JFFS2 images in QEMU with Debian's kernel, and a read-back check by the
# kernel itself: busybox initramfs, `mtd` `block2mtd` `jffs2` `loop` modules, each image
# attached with losetup + block2mtd, timed around `mount -t jffs2` with /proc/uptime,
# then `md5sum -c` of every file against the host.
#
# Usage: [PAD=256MiB] [TREE=/usr/lib/python3] [MEM=MiB] [LOG=file] bench/jffs2-mount.sh [FLASHROOT_BINARY] [KERNEL_ROOT]
#   KERNEL_ROOT: an unpacked linux-image package (boot/vmlinuz-*, lib/modules/*), default
#   the one the qemu crate caches in ~/.cache/flashroot/kernel/ (cargo run -p flashroot-qemu
#   --bin fetch-kernel fetches it).
set -euo pipefail

BIN=${1:-${CARGO_TARGET_DIR:-target}/release/flashroot}
KROOT=${2:-$(ls -d "${XDG_CACHE_HOME:-$HOME/.cache}"/flashroot/kernel/linux-image-*/ | head -1)}
VMLINUZ=$(ls "$KROOT"/boot/vmlinuz-* | head -1)
MODS=$(ls -d "$KROOT"/lib/modules/*/kernel | head -1)
PAD=${PAD:-128MiB}
# The five images live in the initramfs, so guest RAM grows with them.
PAD_MIB=$(( $(numfmt --from=iec "${PAD%iB}") >> 20 ))
MEM=${MEM:-$(( 5 * PAD_MIB + 768 ))}
for tool in qemu-system-x86_64 busybox cpio mkfs.jffs2 sumtool; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/jffs2-mount.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W"/ir/{bin,m,proc,sys,dev,mnt,tmp} "$W/src/sub"
cp "$(command -v busybox)" "$W/ir/bin/busybox"
for m in drivers/mtd/mtd.ko drivers/mtd/devices/block2mtd.ko fs/jffs2/jffs2.ko drivers/block/loop.ko; do
    cp "$MODS/$m" "$W/ir/m/"
done
# A small tree of every kind: text, binaries, a sparse file, links, a wide directory.
cp -a /usr/share/zoneinfo "$W/src/"
# TREE=dir adds a larger tree of real files (e.g. /usr/lib/python3), so that used blocks,
# which the summary describes, weigh against the free ones.
[ -n "${TREE:-}" ] && cp -a "$TREE" "$W/src/tree"
head -c 3000000 "$(command -v busybox)" > "$W/src/sub/bin"
truncate -s 400000 "$W/src/sparse"; echo tail >> "$W/src/sparse"
echo hello > "$W/src/a"; ln -s a "$W/src/link"; ln "$W/src/a" "$W/src/sub/hard"
for i in $(seq 1 1200); do echo "$i" > "$W/src/sub/e$i"; done
printf '/dev d 755 0 0 - - - - -\n/dev/nvme c 600 0 0 259 5 0 0 -\n/fifo p 644 0 0 - - - - -\n' > "$W/devtable"
(cd "$W/src" && find . -type f -print0 | sort -z | xargs -0 md5sum) > "$W/ir/host.md5"

"$BIN" mkfs.jffs2 -d "$W/src" -D "$W/devtable" -e 64KiB --pad="$PAD" --empty-blocks=erased -o "$W/ir/img-erased" 2>/dev/null
"$BIN" mkfs.jffs2 -d "$W/src" -D "$W/devtable" -e 64KiB --pad="$PAD" --empty-blocks=cleanmarker -o "$W/ir/img-cleanmarker" 2>/dev/null
"$BIN" mkfs.jffs2 -d "$W/src" -D "$W/devtable" -e 64KiB --pad="$PAD" --no-summary -o "$W/ir/img-nosummary" 2>/dev/null
"$BIN" mkfs.jffs2 -d "$W/src" -D "$W/devtable" -e 64KiB --pad="$PAD" -x zlib -x rtime -X lzo -o "$W/ir/img-lzo" 2>/dev/null
mkfs.jffs2 -d "$W/src" -e 64KiB --pad=$(( $(numfmt --from=iec "${PAD%iB}") )) -o "$W/mk.img"
sumtool -e 64KiB -i "$W/mk.img" -o "$W/ir/img-mtdutils"
python3 - "$W/ir/img-mtdutils" "$(stat -c %s "$W/mk.img")" <<'PY'
import sys
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "ab") as f:
    f.write(b"\xff" * (size - f.tell()))
PY

cat > "$W/ir/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in mtd block2mtd jffs2 loop; do insmod /m/$m.ko; done
i=0
# The first mount of a boot pays one-time costs (about +0.5 s at 256 MiB): warm up with
# the LZO image (cleanmarker-padded, so its mount writes nothing), then time every image.
for img in warmup:img-lzo img-erased img-cleanmarker img-nosummary img-lzo img-mtdutils; do
  label=${img%%:*}; img=${img#*:}
  losetup /dev/loop$i /$img
  echo "/dev/loop$i,65536" > /sys/module/block2mtd/parameters/block2mtd
  t0=$(cut -d' ' -f1 /proc/uptime)
  mount -t jffs2 mtd$i /mnt
  t1=$(cut -d' ' -f1 /proc/uptime)
  cd /mnt
  if md5sum -c /host.md5 >/tmp/md5 2>&1; then ok=all-files-match; else ok="MISMATCH: $(grep -vc ': OK' /tmp/md5)"; fi
  cd /
  echo "RESULT $label mount $(awk "BEGIN{print $t1-$t0}") s, $ok"
  umount /mnt
  i=$((i+1))
done
dmesg | grep -i jffs2 | grep -iv "version 2.2\|xattr subsystem" | sed 's/^/KERNEL /'
poweroff -f
INIT
chmod +x "$W/ir/init"
(cd "$W/ir" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$W/ir.cpio.gz")
echo "# kernel $VMLINUZ; images of $PAD, 64 KiB erase blocks; $(nproc) host CPUs, QEMU TCG, ${MEM} MiB guest"
timeout 900 qemu-system-x86_64 -m "$MEM" -nographic -no-reboot -kernel "$VMLINUZ" \
    -initrd "$W/ir.cpio.gz" -append "console=ttyS0 quiet panic=-1" 2>&1 | tee "${LOG:-/dev/null}" | grep -oE "(RESULT|KERNEL) .*"
