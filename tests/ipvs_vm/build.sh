#!/usr/bin/env bash
# Prepares (once) what the IPVS VM tests boot: Debian's stock kernel as an uncompressed vmlinux,
# and a base initramfs with busybox, ipvsadm (+ its libraries), strace, the IPVS modules and a
# modules.dep, so the guest's /sbin/modprobe (busybox) autoloads ip_vs and its schedulers.
#
#   tests/ipvs_vm/build.sh [WORKDIR]     (default: ${CARGO_TARGET_DIR:-target}/ipvs-vm)
#
# Nothing is installed system-wide: the packages are fetched with `apt-get download` and unpacked
# under WORKDIR (installing linux-image-amd64 would drag initramfs-tools in and touch the host's
# boot). Needs: apt-get, dpkg, xz, readelf (binutils), gzip; qemu-system-x86 to boot (run.sh).
# The result is cached: WORKDIR/ready is written last, and a second call returns at once.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
W=${1:-${CARGO_TARGET_DIR:-$HERE/../../target}/ipvs-vm}
mkdir -p "$W"
W=$(cd "$W" && pwd)

# Parallel test binaries may call this at the same time: one builds, the others wait.
exec 9>"$W/.lock"
flock 9

# The stamp names the inputs: a changed /init or module list rebuilds.
STAMP=$(cat "$HERE/build.sh" | sha256sum | cut -c1-16)
if [ -f "$W/ready" ] && [ "$(cat "$W/ready")" = "$STAMP" ]; then
    exit 0
fi
rm -f "$W/ready"
t0=$SECONDS
log() { echo "[ipvs-vm build +$((SECONDS - t0))s] $*" >&2; }

for tool in apt-get apt-cache dpkg xz readelf gzip flock; do
    command -v "$tool" >/dev/null || { echo "ipvs-vm: $tool is missing" >&2; exit 2; }
done

# 1) packages: kernel, busybox, ipvsadm and its libraries, kmod (depmod/modprobe), strace.
# The kernel package is whatever linux-image-amd64 points at today (6.1.x on Debian 12).
resolve_kernel() {
    # awk reads to the end: an early exit could kill apt-cache with SIGPIPE under pipefail.
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ && !found++ {print $2}'
}
KPKG=$(resolve_kernel)
if [ -z "$KPKG" ] && [ "$(id -u)" -eq 0 ]; then
    # A fresh machine may have no package lists yet.
    log "apt-get update"
    apt-get update -qq >&2 || true
    KPKG=$(resolve_kernel)
fi
[ -n "$KPKG" ] || { echo "ipvs-vm: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 2; }
PKGS=("$KPKG" busybox-static ipvsadm libnl-3-200 libnl-genl-3-200 libpopt0 kmod strace libunwind8)
mkdir -p "$W/debs"
missing=()
for p in "${PKGS[@]}"; do
    ls "$W/debs/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "downloading ${missing[*]}"
    # apt-get download as root warns that it cannot drop to the _apt user: harmless.
    (cd "$W/debs" && timeout 600 apt-get download -qq "${missing[@]}" 2>&1 |
        grep -v 'Download is performed unsandboxed' || true)
fi
for p in "${PKGS[@]}"; do
    ls "$W/debs/${p}_"*.deb >/dev/null 2>&1 || { echo "ipvs-vm: could not download $p" >&2; exit 2; }
done
rm -rf "$W/x"
# Only this run's packages: debs/ may still hold an older kernel.
for p in "${PKGS[@]}"; do
    for d in "$W/debs/${p}_"*.deb; do dpkg -x "$d" "$W/x"; done
done
K=${KPKG#linux-image-}
[ -d "$W/x/lib/modules/$K" ] || { echo "ipvs-vm: $KPKG has no lib/modules/$K" >&2; exit 2; }
log "kernel $K"
mkdir -p "$W/tools"
# kmod is one binary that acts by its argv[0].
for t in depmod modprobe; do ln -sf ../x/bin/kmod "$W/tools/$t"; done
# The .deb ships no modules.dep.
"$W/tools/depmod" -b "$W/x" "$K"

# 2) vmlinux: qemu boots an uncompressed ELF kernel through its PVH note, skipping the in-guest
# decompressor (2-3 s under TCG). The xz stream starts at the magic FD 37 7A 58 5A 00.
off=$(LC_ALL=C grep -m1 -obUaP '\xFD\x37\x7A\x58\x5A\x00' "$W/x/boot/vmlinuz-$K" | awk -F: 'NR == 1 {print $1}')
# xz complains about the bytes after the stream ("corrupt"): expected, the ELF is complete.
tail -c +$((off + 1)) "$W/x/boot/vmlinuz-$K" | xz -dc >"$W/vmlinux.tmp" 2>/dev/null || true
# grep -c reads to the end: with -q, readelf could die of SIGPIPE and pipefail would say "no note".
readelf -n "$W/vmlinux.tmp" | grep -c '0x00000012' >/dev/null ||
    { echo "ipvs-vm: extracted vmlinux has no PVH entry note" >&2; exit 2; }
mv "$W/vmlinux.tmp" "$W/vmlinux"

# 3) the root file system.
MODS="ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_sed
      ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_mh ip_vs_pe_sip crc32c_generic veth dummy"
R=$W/root
rm -rf "$R"
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,lib64,lib/x86_64-linux-gnu,lib/modules/$K}
cp "$W/x/bin/busybox" "$R/bin/"
for a in $("$W/x/bin/busybox" --list); do
    [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
# The kernel's request_module() runs /sbin/modprobe: busybox's reads modules.dep.
ln -sf ../bin/busybox "$R/sbin/modprobe"
for m in $MODS; do
    "$W/tools/modprobe" -d "$W/x" -S "$K" --show-depends "$m"
done | awk '$1 == "insmod" {print $2}' | sort -u | while read -r f; do
    rel=${f#*/lib/modules/$K/}
    mkdir -p "$R/lib/modules/$K/$(dirname "$rel")"
    cp "$f" "$R/lib/modules/$K/$rel"
done
cp "$W/x/lib/modules/$K"/modules.{order,builtin,builtin.modinfo} "$R/lib/modules/$K/"
"$W/tools/depmod" -b "$R" "$K"
cp "$W/x/sbin/ipvsadm" "$R/usr/sbin/"
cp "$W/x/usr/bin/strace" "$R/usr/bin/"
# Their shared libraries: from the unpacked packages first, the host's (same Debian) otherwise.
LIBPATH=$W/x/lib/x86_64-linux-gnu:$W/x/usr/lib/x86_64-linux-gnu
for bin in "$W/x/sbin/ipvsadm" "$W/x/usr/bin/strace"; do
    LD_LIBRARY_PATH=$LIBPATH ldd "$bin" | awk '/=>/ {print $3}'
done | sort -u | while read -r lib; do
    cp -L "$lib" "$R/lib/x86_64-linux-gnu/"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$R/lib64/"

cat >"$R/init" <<'EOF'
#!/bin/sh
# keeplite IPVS VM: mount, run /test.sh (appended by run.sh), hand its rc to qemu, power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
# DR and TUN destinations need a local routing table: EINVAL until some interface is up.
ip link set lo up
echo "=== guest up $(cut -d' ' -f1 /proc/uptime)s kernel=$(uname -r)"
rc=0
if [ -x /test.sh ]; then
    cd /
    /test.sh
    rc=$?
else
    echo "no /test.sh"
    rc=3
fi
echo "=== guest done $(cut -d' ' -f1 /proc/uptime)s rc=$rc"
# isa-debug-exit: qemu exits with (rc << 1) | 1. rc is clamped to 1..127 so qemu's code stays
# distinguishable from its own failures.
[ "$rc" -gt 127 ] && rc=127
printf "\\$(printf %o "$rc")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
EOF
chmod +x "$R/init"
(cd "$R" && find . | "$W/x/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$W/base.cpio.gz"
log "base initramfs $(du -h "$W/base.cpio.gz" | cut -f1)"
# The unpacked module tree is most of the 0.5 GB; the initramfs has what it needs, and a rebuild
# unpacks again.
rm -rf "$W/x/lib/modules" "$W/root"
echo "$STAMP" >"$W/ready"
