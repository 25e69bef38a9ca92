#!/usr/bin/env bash
# Process-model benchmark (the project's issue "packaging"): keeplite's watchdog parent and its
# children (`keeplite: vrrp`, `keeplite: check`) side by side with keepalived's parent, VRRP
# child and checker child.
#
#   sudo bash tests/bench/process_bench.sh > report.md
#
# Builds the static musl release keeplite, then measures, and prints a Markdown report on stdout
# (progress and the VM console on stderr):
#   1. memory (IPVS VM, tests/ipvs_vm/): PSS, RSS and USS from /proc/PID/smaps_rollup of each
#      daemon's three processes on examples/keepalived.conf, keeplite then keepalived alone in one
#      boot, after STEADY s of steady state (tests/bench/process_bench_guest.sh gives the guest
#      the links the example names, br-lan and wan, and a listener for its real servers);
#   2. VRRP child restart (host, network namespaces, tests/bench/process_bench.py): the master's
#      VRRP child SIGKILLed after it ran more than LONG s and again SHORT s after its successor
#      started; a tcpdump monitor gives kill -> first advert of the new child, the longest gap
#      between the master's adverts, and whether the backup sent anything (it must not);
#      VRRPv2 advert_int 1 s and VRRPv3 100 ms, RUNS LANs each;
#   3. checker child restart (same VM boot as 1): the checker child SIGKILLed after it ran LONG s
#      and its successor after it ran SHORT s; kill -> new child, and the IPVS table sampled
#      every 100 ms must not change.
#
# Env: RUNS (default 5), STEADY (s, default 10), MEM_ROUNDS (default 2), LONG (s, default 62),
# SHORT (s, default 15), SETTINGS (version:advert_int list, default "2:1,3:0.1"), PARTS (default
# "vm,restart"), KEEPALIVED (default /usr/sbin/keepalived), CARGO_TARGET_DIR (respected),
# SKIP_BUILD=1, WORK (IPVS VM dir, default $CARGO_TARGET_DIR/ipvs-vm), IPVS_VM_MEM (MiB, default
# 1024), IPVS_VM_SMP (default 2), KEEP_WORK=1 (keep the temp dir: configs, logs, tcpdump text,
# the VM console, restart.json). About 10 minutes with the defaults.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/bench
KEEPALIVED=${KEEPALIVED:-/usr/sbin/keepalived}
TARGET=$(cd "$ROOT" && realpath -m "${CARGO_TARGET_DIR:-target}")
MUSL=x86_64-unknown-linux-musl
KEEPLITE=$TARGET/$MUSL/release/keeplite
VMWORK=${WORK:-$TARGET/ipvs-vm}
PARTS=${PARTS:-vm,restart}
STEADY=${STEADY:-10}
MEM_ROUNDS=${MEM_ROUNDS:-2}

log() { printf '%s\n' "$*" >&2; }

[[ $(id -u) == 0 ]] || { log "run as root (network namespaces)"; exit 1; }
[[ -x $KEEPALIVED ]] || { log "no keepalived at $KEEPALIVED (apt-get install -y keepalived)"; exit 1; }
for tool in ip tcpdump musl-gcc python3; do
    command -v $tool >/dev/null || { log "needs $tool"; exit 1; }
done
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building keeplite (release, $MUSL) into $TARGET ..."
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet --target $MUSL --bin keeplite)
fi
[[ -x $KEEPLITE ]] || { log "no keeplite binary at $KEEPLITE"; exit 1; }

OUT=$(mktemp -d /tmp/keeplite-process-bench.XXXXXX)
PREFIX=pb$$
cleanup() {
    # Only the processes the helper started (it lists them in OUT/pids) and only if they still
    # are what it started; then the namespaces with this run's prefix.
    if [[ -f $OUT/pids ]]; then
        while read -r pid; do
            comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
            case $comm in keeplite*|keepalived|tcpdump) kill -9 "$pid" 2>/dev/null || true ;; esac
        done <"$OUT/pids"
    fi
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PREFIX" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    if [[ ${KEEP_WORK:-0} == 1 ]]; then log "kept $OUT"; else rm -rf "$OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- parts 1 and 3: the IPVS VM ----------------------------------------------------------------
if [[ ,$PARTS, == *,vm,* ]]; then
    "$ROOT/tests/ipvs_vm/build.sh" "$VMWORK"
    "$ROOT/tests/lb_vm/pack-keepalived.sh" "$OUT/keepalived-ref.tar"
    # pbwait PARENT OLDPID PIDFILE TIMEOUT_MS: SIGKILLs OLDPID and prints, in ms from the kill
    # (CLOCK_MONOTONIC, /proc polled every 1 ms): the old child reaped, a new child of PARENT
    # forked, that child's pid in PIDFILE (-1: not within TIMEOUT_MS); then both pids. Each time
    # is the start of the polling round that saw the change.
    cat >"$OUT/pbwait.c" <<'CEOF'
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
/* The living children of `parent` (up to max), from /proc/PID/stat. */
static int children(int parent, int *out, int max) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    if (!d) return 0;
    while ((e = readdir(d)) && n < max) {
        char path[64], buf[512];
        int pid = atoi(e->d_name);
        if (pid <= 0) continue;
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t r = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[r] = 0;
        /* comm may hold spaces ("keeplite: check"): the fields start after its ')'. */
        char *p = strrchr(buf, ')');
        char state;
        int ppid;
        if (p && sscanf(p + 2, "%c %d", &state, &ppid) == 2 && ppid == parent && state != 'Z')
            out[n++] = pid;
    }
    closedir(d);
    return n;
}
static int pidfile(const char *path) {
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f) { if (fscanf(f, "%d", &pid) != 1) pid = 0; fclose(f); }
    return pid;
}
int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: pbwait PARENT OLDPID PIDFILE TIMEOUT_MS\n"); return 2; }
    int parent = atoi(argv[1]), old = atoi(argv[2]), timeout = atoi(argv[4]);
    int before[64], nb = children(parent, before, 64), now[64];
    double t0 = now_ms(), reaped = -1, fresh = -1, ready = -1;
    int newpid = 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", old);
    if (kill(old, SIGKILL)) { perror("kill"); return 1; }
    while (now_ms() - t0 < timeout && (reaped < 0 || fresh < 0 || ready < 0)) {
        double t = now_ms() - t0;
        if (reaped < 0 && access(path, F_OK) != 0) reaped = t;
        if (fresh < 0) {
            int n = children(parent, now, 64);
            for (int i = 0; i < n && fresh < 0; i++) {
                int known = 0;
                for (int j = 0; j < nb; j++) known |= now[i] == before[j];
                if (!known) { fresh = t; newpid = now[i]; }
            }
        }
        if (ready < 0 && newpid && pidfile(argv[3]) == newpid) ready = t;
        usleep(1000);
    }
    printf("%.1f %.1f %.1f %d %d\n", reaped, fresh, ready, old, newpid);
    return 0;
}
CEOF
    musl-gcc -O2 -static -o "$OUT/pbwait" "$OUT/pbwait.c"
    cp "$ROOT/examples/keepalived.conf" "$OUT/keepalived.conf"
    # The settle time must exceed a minute (restart at once); the second kill comes before the
    # next minute is up (back-off).
    echo "steady=$STEADY rounds=$MEM_ROUNDS settle=${LONG:-62} second=${SHORT:-15}" >"$OUT/bench.env"
    log "IPVS VM: memory and checker restart (about 4 minutes under TCG) ..."
    set +e
    KEEPLITE_BIN=$KEEPLITE IPVS_VM_MEM=${IPVS_VM_MEM:-1024} IPVS_VM_SMP=${IPVS_VM_SMP:-2} \
        IPVS_VM_TIMEOUT=${IPVS_VM_TIMEOUT:-900} \
        "$ROOT/tests/ipvs_vm/run.sh" "$VMWORK" "$HERE/process_bench_guest.sh" "$HERE/example_guest.sh" "$OUT/pbwait" \
        "$OUT/keepalived-ref.tar" "$OUT/keepalived.conf" "$OUT/bench.env" >"$OUT/console.txt" 2>&1
    vmrc=$?
    set -e
    cat "$OUT/console.txt" >&2
    [[ $vmrc == 0 ]] || log "the VM run failed (rc $vmrc): its figures may be missing"
fi

# --- part 2: VRRP child restart on the host ----------------------------------------------------
if [[ ,$PARTS, == *,restart,* ]]; then
    log "VRRP child restart: namespaces $PREFIX*, work dir $OUT ..."
    python3 "$HERE/process_bench.py" restart --work "$OUT" --prefix "$PREFIX" \
        --keeplite "$KEEPLITE" --keepalived "$KEEPALIVED" --out "$OUT/restart.json" \
        --runs "${RUNS:-5}" --long "${LONG:-62}" --short "${SHORT:-15}" \
        --settings "${SETTINGS:-2:1,3:0.1}"
fi

# --- report ------------------------------------------------------------------------------------
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    COMMIT="$COMMIT + uncommitted changes in src/"
fi
python3 - "$OUT/meta.json" <<PY
import json, sys
json.dump({
    "command": "sudo bash tests/bench/process_bench.sh",
    "machine": "Machine: $(nproc) CPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), Linux $(uname -r) (load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg); other jobs were running on the machine)",
    "tools": "Tools: keeplite $("$KEEPLITE" --version | awk '{print $2}') (commit $COMMIT; static musl release build, $(( $(stat -c %s "$KEEPLITE") / 1024 )) KiB), $("$KEEPALIVED" --version 2>&1 | head -1) (Debian), $(tcpdump --version 2>&1 | head -1)",
    "run": "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), $(( ($(date +%s) - T0) / 60 )) min",
    "steady": "$STEADY",
    "rounds": "$MEM_ROUNDS",
}, open(sys.argv[1], "w"), indent=1)
PY
python3 "$HERE/process_bench.py" report --console "$OUT/console.txt" --results "$OUT/restart.json" \
    --meta "$OUT/meta.json"
