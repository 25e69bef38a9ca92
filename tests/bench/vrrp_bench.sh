#!/usr/bin/env bash
# VRRP benchmark (the project's issue "VRRP failover daemon"), keeplite side by side with keepalived.
#
#   sudo bash tests/bench/vrrp_bench.sh > report.md
#
# Builds keeplite (release, and the musl-static build when that target is installed), then measures
# in one run, on one machine, with tests/bench/vrrp_bench.py doing the work in network namespaces:
#   1. failover latency: a master (priority 150) and a backup (priority 100) on a bridge with a third
#      "monitor" host running tcpdump; the master is SIGKILLed and the monitor's timestamps give
#      kill -> first GARP from the backup for the VIP, and last advert from the dead master -> that
#      GARP (which the RFC says is Master_Down_Interval). Pairs (master -> backup): keeplite ->
#      keeplite, keepalived -> keepalived, keepalived -> keeplite, keeplite -> keepalived; at VRRPv2
#      advert_int 1 s, VRRPv3 100 ms and VRRPv3 10 ms; RUNS runs each.
#   2. memory: RSS/PSS/USS from /proc/PID/smaps_rollup of one daemon alone as master of 1 and of 100
#      instances, after STEADY s as master (keeplite; keepalived's VRRP child, parent and total).
#   3. CPU: a master/backup pair with 100 instances at VRRPv3 advert_int 10 ms, utime+stime over
#      CPU_SECS s, keeplite pair then keepalived pair (never at the same time), CPU_ROUNDS rounds.
# and prints a Markdown report on stdout (progress on stderr).
#
# Environment: RUNS (default 10), STEADY (default 10), MEM_ROUNDS (default 2), CPU_SECS (default
# 60), CPU_ROUNDS (default 3), PARTS (default failover,memory,cpu,stall), PAIRS (default
# kl:kl,ka:ka,ka:kl,kl:ka), KEEPALIVED (default /usr/sbin/keepalived), CARGO_TARGET_DIR
# (respected), SKIP_BUILD=1, NO_MUSL=1, KEEP_WORK=1 (keep the temp dir: configs, daemon logs,
# tcpdump text of every failover series, results.json).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KEEPALIVED=${KEEPALIVED:-/usr/sbin/keepalived}
TARGET_DIR=$(cd "$ROOT" && realpath -m "${CARGO_TARGET_DIR:-target}")
KEEPLITE=$TARGET_DIR/release/keeplite
MUSL_TARGET=x86_64-unknown-linux-musl
KEEPLITE_MUSL=""

log() { printf '%s\n' "$*" >&2; }

[[ $(id -u) == 0 ]] || { log "run as root (network namespaces)"; exit 1; }
command -v ip >/dev/null || { log "needs iproute2"; exit 1; }
[[ -x $KEEPALIVED ]] || { log "no keepalived at $KEEPALIVED (apt-get install -y keepalived)"; exit 1; }
if ! command -v tcpdump >/dev/null; then
    log "installing tcpdump ..."
    apt-get install -y -qq tcpdump >/dev/null
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- build -------------------------------------------------------------------------------------
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building keeplite (release) into $TARGET_DIR ..."
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --quiet)
    if [[ ${NO_MUSL:-0} != 1 ]] && rustup target list --installed 2>/dev/null | grep -qx $MUSL_TARGET; then
        log "building keeplite (release, $MUSL_TARGET) ..."
        (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --quiet --target $MUSL_TARGET)
    fi
fi
[[ -x $KEEPLITE ]] || { log "no keeplite binary at $KEEPLITE"; exit 1; }
if [[ ${NO_MUSL:-0} != 1 && -x $TARGET_DIR/$MUSL_TARGET/release/keeplite ]]; then
    KEEPLITE_MUSL=$TARGET_DIR/$MUSL_TARGET/release/keeplite
fi

# --- work dir, clean-up ------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/keeplite-vrrp-bench.XXXXXX)
PREFIX=vb$$
cleanup() {
    # Only the processes the helper started (it lists them in WORK/pids) and only if they still
    # are what it started; then the namespaces with this run's prefix.
    if [[ -f $WORK/pids ]]; then
        while read -r pid; do
            comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
            case $comm in keeplite|keepalived|tcpdump) kill -9 "$pid" 2>/dev/null || true ;; esac
        done < "$WORK/pids"
    fi
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PREFIX" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    if [[ ${KEEP_WORK:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- measure -----------------------------------------------------------------------------------
log "work dir $WORK, namespaces $PREFIX*"
python3 "$ROOT/tests/bench/vrrp_bench.py" run \
    --work "$WORK" --prefix "$PREFIX" \
    --keeplite "$KEEPLITE" --keeplite-musl "$KEEPLITE_MUSL" --keepalived "$KEEPALIVED" \
    --out "$WORK/results.json" \
    --parts "${PARTS:-failover,memory,cpu,stall}" --pairs "${PAIRS:-kl:kl,ka:ka,ka:kl,kl:ka}" \
    --runs "${RUNS:-10}" --steady "${STEADY:-10}" --mem-rounds "${MEM_ROUNDS:-2}" \
    --cpu-secs "${CPU_SECS:-60}" --cpu-rounds "${CPU_ROUNDS:-3}"

# --- machine facts and report ------------------------------------------------------------------
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    COMMIT="$COMMIT + uncommitted changes in src/"
fi
desc() { printf '%s, %s KiB' "$(file -b "$1" | grep -o 'dynamically linked\|statically linked')" $(( $(stat -c %s "$1") / 1024 )); }
KL_DESC="glibc $(desc "$KEEPLITE")"
[[ -n $KEEPLITE_MUSL ]] && KL_DESC="$KL_DESC; musl $(desc "$KEEPLITE_MUSL")"
python3 - "$WORK/meta.json" <<PY
import json, sys
json.dump({
    "command": "sudo bash tests/bench/vrrp_bench.sh",
    "nproc": "$(nproc)",
    "cpu_model": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')",
    "kernel": "$(uname -r)",
    "load_before": "$LOAD_BEFORE",
    "load_after": "$LOAD_AFTER",
    "commit": "$COMMIT",
    "keeplite_version": "$("$KEEPLITE" --version | awk '{print $2}')",
    "keeplite_desc": "$KL_DESC",
    "keepalived_version": "$("$KEEPALIVED" --version 2>&1 | head -1)",
    "tcpdump_version": "$(tcpdump --version 2>&1 | head -1)",
    "rustc": "$(rustc --version 2>/dev/null || echo rustc unknown)",
}, open(sys.argv[1], "w"), indent=1)
PY
python3 "$ROOT/tests/bench/vrrp_bench.py" report --results "$WORK/results.json" --meta "$WORK/meta.json"
