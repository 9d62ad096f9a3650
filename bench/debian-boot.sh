#!/bin/sh
# Benchmark: a real minimal Debian (debootstrap --variant=minbase with systemd-sysv and
# udev) booted from a flashroot card under QEMU (TCG, 1 vCPU, Debian's 6.1 kernel), as
# tests/tests/debian_boot.rs does it. Writes bench/debian-results.md.
#
# Usage: bench/debian-boot.sh        (RUNS=N runs, default 3; the median is reported)
# The first run on a machine also pays for debootstrap (cached under ~/.cache/flashroot).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
runs=${RUNS:-3}
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT

cd "$repo"
i=0
while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    echo "debian-boot: run $i of $runs" >&2
    # --release: the JFFS2 writer is the slow part of a debug test build, not the boot.
    log="${TMPDIR:-/tmp}/debian-boot-run-$i.log"
    cargo test -q --release -p flashroot-tests --test debian_boot \
        debootstrap_minbase_boots_to_multi_user_from_the_card -- --nocapture >"$log" 2>&1 || true
    if ! grep '^debian boot:' "$log" >>"$lines"; then
        echo "debian-boot: run $i failed; its output is in $log" >&2
        exit 1
    fi
done

# "debian boot: multi-user.target reached at 19.0 s guest uptime; QEMU wall time to
#  power-off 27.9 s; /init started at Some(2.5) s; [ 5.79] flashroot: init done in 3264 ms:
#  waits 0 ms, modules 1176 ms, JFFS2 mounts 1795 ms, ..."
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.*$1 \\([0-9.]*\\).*/\\1/p" "$lines" | median; }
multi_user=$(field 'multi-user.target reached at')
wall=$(field 'QEMU wall time to power-off')
init_ms=$(field 'init done in')
jffs2_ms=$(field 'JFFS2 mounts')
modules_ms=$(field 'modules')
image=$(sed -n 's/.*JFFS2 image written in [0-9.]* s: \([0-9]* bytes: [^)]*)\).*/\1/p' "$lines" | head -n 1)

cat >"$here/debian-results.md" <<RESULTS
# Debian from the card: boot time

Command: \`bench/debian-boot.sh\` (RUNS=$runs, median), i.e. \`tests/tests/debian_boot.rs\`:
debootstrap bookworm \`--variant=minbase --include=systemd-sysv,udev\` prepared by
\`rootprep\` (as \`flashroot import-root\`), JFFS2 by our writer (64 KiB erase blocks, summary,
192 MiB container: $image), initramfs by \`flashroot build\` (default config, uncompressed),
all on a 256 MiB card image made by \`flashroot card\`, attached as IDE disk.
QEMU: TCG (no KVM), 1 vCPU, 1 GiB, Debian kernel via -kernel/-initrd (the firmware path
SeaBIOS -> syslinux is covered by tests/tests/card_boot.rs). Machine: $(nproc) CPUs, shared.
Date: $(date -u +%Y-%m-%d)

| milestone | median |
|---|---|
| flashroot init done (guest clock) | $init_ms ms |
| of which: loading modules | $modules_ms ms |
| of which: JFFS2 mount (192 MiB) | $jffs2_ms ms |
| systemd reaches multi-user.target (guest uptime) | $multi_user s |
| QEMU wall time, start to power-off after the probe | $wall s |

Notes:
- Without \`udev\` in the root, systemd never sees \`dev-ttyS0.device\` and the serial getty holds
  multi-user.target back for its 90 s job timeout (measured: 117.6 s instead of about 20 s).
- The JFFS2 mount is most of the init's time: the 192 MiB container has about 1,600 free
  erase blocks, each visited at mount; a smaller container mounts faster (see bench/jffs2*).
- The same boot through the firmware (SeaBIOS -> syslinux MBR -> syslinux -> kernel, no
  -kernel/-initrd), with a busybox root, takes about 24 s of QEMU wall time to power-off
  (tests/tests/card_boot.rs): the BIOS disk reads of kernel and initramfs are slow under TCG.

Raw lines:

\`\`\`
$(cat "$lines")
\`\`\`
RESULTS
echo "wrote $here/debian-results.md" >&2
