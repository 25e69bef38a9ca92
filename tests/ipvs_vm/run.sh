#!/usr/bin/env bash
# Boots the IPVS VM prepared by build.sh with GUEST_SCRIPT as the guest's /test.sh and FILES
# copied into the guest's / (by base name), prints the guest's console, and exits with the guest
# script's rc (qemu's own failures: 124 timeout, 125 qemu error).
#
#   tests/ipvs_vm/run.sh WORKDIR GUEST_SCRIPT [FILES...]
#
# Env: KEEPLITE_BIN (a static keeplite, e.g. target/x86_64-unknown-linux-musl/release/keeplite,
# installed as the guest's /usr/sbin/keeplite), IPVS_VM_TIMEOUT (s, default 240), IPVS_VM_MEM
# (MiB, default 512), IPVS_VM_SMP (vCPUs, default 1).
# TCG only: this host's /dev/kvm is a nested KVM that hangs stock kernels, and TCG boots Debian's
# kernel to /init in about 2 s anyway.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 WORKDIR GUEST_SCRIPT [FILES...]" >&2; exit 2; }
W=$(cd "$1" && pwd)
SCRIPT=$2
shift 2
[ -f "$W/ready" ] || { echo "ipvs-vm: $W is not built (run build.sh $W)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null ||
    { echo "ipvs-vm: qemu-system-x86_64 missing (apt-get install qemu-system-x86)" >&2; exit 2; }

RUN=$(mktemp -d "$W/run.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
mkdir -p "$RUN/root"
cp "$SCRIPT" "$RUN/root/test.sh"
chmod +x "$RUN/root/test.sh"
for f in "$@"; do
    cp -L "$f" "$RUN/root/"
done
if [ -n "${KEEPLITE_BIN:-}" ]; then
    mkdir -p "$RUN/root/usr/sbin"
    cp -L "$KEEPLITE_BIN" "$RUN/root/usr/sbin/keeplite"
fi
# A second cpio after the base one overlays its files: no need to rebuild the base.
(cd "$RUN/root" && find . | "$W/x/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$RUN/extra.cpio.gz"
cat "$W/base.cpio.gz" "$RUN/extra.cpio.gz" >"$RUN/initrd.cpio.gz"

start=$(date +%s%N)
set +e
timeout "${IPVS_VM_TIMEOUT:-240}" qemu-system-x86_64 -m "${IPVS_VM_MEM:-512}" -smp "${IPVS_VM_SMP:-1}" \
    -nographic -no-reboot -net none -monitor none -serial stdio \
    -kernel "$W/vmlinux" -initrd "$RUN/initrd.cpio.gz" \
    -append 'console=ttyS0 quiet panic=-1 oops=panic' \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null 2>&1 |
    # SeaBIOS clears the terminal with escape sequences; the serial console adds CRs.
    sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' -e 's/\r$//'
qrc=${PIPESTATUS[0]}
set -e
ms=$((($(date +%s%N) - start) / 1000000))
echo "[ipvs-vm] qemu exit $qrc after $((ms / 1000)).$(printf %03d $((ms % 1000))) s" >&2
case $qrc in
    124) echo "[ipvs-vm] timed out" >&2; exit 124 ;;
    # isa-debug-exit: (rc << 1) | 1.
    *) if [ $((qrc & 1)) -eq 1 ]; then exit $((qrc >> 1)); fi ;;
esac
# qemu exited by itself (0: guest powered off without writing its rc, e.g. a kernel panic).
echo "[ipvs-vm] guest ended without reporting an rc" >&2
exit 125
