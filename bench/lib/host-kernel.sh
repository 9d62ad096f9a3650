# Sourced by the bench scripts that run mkinitramfs (or modprobe) against a kernel unpacked
# in flashroot's cache: those tools read only /lib/modules/KVER and /boot/config-KVER.
#
# expose_kernel KVER MODDIR PKGROOT: links /lib/modules/KVER to MODDIR and copies
# PKGROOT/boot/config-KVER to /boot, each only when missing (needs root then).
expose_kernel() {
    local kver=$1 moddir=$2 pkgroot=$3
    if [ ! -e "/lib/modules/$kver" ]; then
        echo "linking /lib/modules/$kver -> $moddir (mkinitramfs and modprobe read only /lib/modules)" >&2
        mkdir -p /lib/modules && ln -s "$moddir" "/lib/modules/$kver"
    fi
    if [ ! -e "/boot/config-$kver" ] && [ -e "$pkgroot/boot/config-$kver" ]; then
        echo "copying $pkgroot/boot/config-$kver to /boot" >&2
        cp "$pkgroot/boot/config-$kver" /boot/
    fi
}
