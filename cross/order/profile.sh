#!/usr/bin/env bash
# Regenerates cross/order/keeplite.order, the link order of keeplite's functions (see
# cross/order/README.md): profiles which functions each keeplite process runs on
# examples/keepalived.conf and groups them so that each process's code is contiguous.
#
#   sudo bash cross/order/profile.sh            (about 5 minutes)
#
# Needs what tests/ipvs_vm/ needs (qemu-system-x86, the VM built by tests/ipvs_vm/build.sh,
# which this script runs when needed) and valgrind (apt-get install valgrind): the profile is
# taken in the IPVS VM because the checker child needs IPVS. Env: CARGO_TARGET_DIR, WORK (the VM
# dir, default $CARGO_TARGET_DIR/ipvs-vm), KEEP (keep the
# temp dir with the console and the profiles).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=$(cd "$ROOT" && realpath -m "${CARGO_TARGET_DIR:-target}")
MUSL=x86_64-unknown-linux-musl
VMWORK=${WORK:-$TARGET/ipvs-vm}
log() { printf 'profile.sh: %s\n' "$*" >&2; }

VG=/usr/libexec/valgrind
[ -x $VG/callgrind-amd64-linux ] || { log "needs valgrind (apt-get install valgrind)"; exit 3; }
[ -f "$VMWORK/ready" ] || bash "$ROOT/tests/ipvs_vm/build.sh" "$VMWORK" >&2

# The release build as shipped, but with its symbols (-C strip=none after the profile's own
# -C strip): the names valgrind reports are the ones the linker orders by. Not
# CARGO_PROFILE_RELEASE_STRIP: a profile setting changes Rust's symbol hashes, and the order
# would then name no function of the shipped build. The order file itself is left out so that
# the profile never depends on a previous order.
log "building keeplite (release, $MUSL, with symbols) ..."
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET/order-profile \
    CARGO_ENCODED_RUSTFLAGS=$(printf '%s\x1f' -C relocation-model=static -C linker=rust-lld -C strip=none | sed 's/\x1f$//') \
    cargo build --release --quiet --target $MUSL --bin keeplite)
BIN=$TARGET/order-profile/$MUSL/release/keeplite

OUT=$(mktemp -d /tmp/keeplite-order.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$OUT"' EXIT
tar -C $VG -cf "$OUT/vg.tar" callgrind-amd64-linux default.supp
cp "$ROOT/examples/keepalived.conf" "$OUT/keepalived.conf"
log "profiling in the IPVS VM (console: $OUT/console.txt) ..."
KEEPLITE_BIN=$BIN IPVS_VM_TIMEOUT=${IPVS_VM_TIMEOUT:-900} IPVS_VM_MEM=1024 IPVS_VM_SMP=2 \
    \
    bash "$ROOT/tests/ipvs_vm/run.sh" "$VMWORK" "$ROOT/cross/order/profile_guest.sh" \
    "$ROOT/tests/bench/example_guest.sh" "$OUT/vg.tar" "$OUT/keepalived.conf" >"$OUT/console.txt" 2>&1 ||
    { log "the VM run failed:"; tail -n 40 "$OUT/console.txt" >&2; exit 1; }
grep '^NOTE' "$OUT/console.txt" >&2 || true
python3 "$ROOT/cross/order/make_order.py" "$BIN" "$OUT/console.txt" >"$ROOT/cross/order/keeplite.order"
log "wrote cross/order/keeplite.order ($(wc -l <"$ROOT/cross/order/keeplite.order") symbols)"
