#!/usr/bin/env bash
# Packs the host's keepalived (Debian's, dynamically linked) with the shared libraries it needs
# into a tar that guest.sh unpacks over the guest's /, to run it as the reference next to
# keeplite. The guest has the same Debian's ld.so (build.sh copied it).
#
#   tests/lb_vm/pack-keepalived.sh OUT.tar
#
# Exit 3 (and no OUT) when the host has no keepalived (apt-get install keepalived).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT.tar" >&2; exit 2; }
OUT=$1
KA=$(command -v keepalived || true)
[ -n "$KA" ] || KA=/usr/sbin/keepalived
[ -x "$KA" ] || { echo "no keepalived on this host" >&2; exit 3; }
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
# The tar's "." lands on the guest's /: mktemp's 0700 would lock script_user out of it.
chmod 755 "$STAGE"
mkdir -p "$STAGE/usr/sbin" "$STAGE/lib/x86_64-linux-gnu"
cp -L "$KA" "$STAGE/usr/sbin/keepalived"
ldd "$KA" | awk '/=>/ && $3 ~ /^\// { print $3 }' | while read -r lib; do
    cp -L "$lib" "$STAGE/lib/x86_64-linux-gnu/"
done
# Uncompressed: run.sh's cpio is gzipped anyway, and the kernel unpacks that faster than the
# guest's busybox would.
tar -C "$STAGE" -cf "$OUT.tmp" .
mv "$OUT.tmp" "$OUT"
