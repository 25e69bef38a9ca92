#!/usr/bin/env bash
# Config-loading benchmark (the project's issue "foundation"), keeplite side by side with keepalived.
#
#   bash tests/bench/config_bench.sh
#
# Builds keeplite (release), generates a large keepalived.conf (255 vrrp_instance, 1000
# virtual_server x 10 real_server with HTTP_GET) with tests/bench/gen_config.py, compiles it to
# keeplite's binary config, then measures in one run, on one machine:
#   - text size, binary size;
#   - `keeplite check -q` of the text file, of the binary file, and of a tiny text file (the
#     process start-up baseline): wall time (hyperfine medians) and peak RSS (/usr/bin/time %M);
#   - `keepalived -t -f` of the same big file and of the same tiny file.
# and prints a Markdown report with the ratios and whether the issue's targets are met.
#
# keepalived -t needs the config's interfaces (eth0..eth3) to exist or it fails the test, so when
# run as root the measurements run inside a throw-away network namespace that has veth eth0..eth3
# (both programs run there, the same way). `keepalived -t` in 2.2.7 does not fork: the whole parse
# and check happens in the one process /usr/bin/time waits for.
#
# Timing is done in ROUNDS rounds of RUNS runs per command, the rounds one after the other and the
# samples pooled, so that a burst of load from something else on the machine spreads over all the
# commands instead of landing on one of them.
#
# Environment: RUNS (timed runs per command per round, default 10), ROUNDS (default 3), WARMUP
# (default 3, per round), RSS_RUNS (default 5), KEEPALIVED (default /usr/sbin/keepalived),
# CARGO_TARGET_DIR (respected), SKIP_BUILD=1, BENCH_COMMIT (shown when ROOT is not a git checkout),
# KEEP_WORK=1 (keep the temp dir with the generated files), NO_HYPERFINE=1 (time with a python loop).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${RUNS:-10}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
RSS_RUNS=${RSS_RUNS:-5}
KEEPALIVED=${KEEPALIVED:-/usr/sbin/keepalived}
TARGET_DIR=$(cd "$ROOT" && realpath -m "${CARGO_TARGET_DIR:-target}")
KEEPLITE=$TARGET_DIR/release/keeplite

log() { printf '%s\n' "$*" >&2; }

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- build -------------------------------------------------------------------------------------
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building keeplite (release) into $TARGET_DIR ..."
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --quiet)
fi
[[ -x $KEEPLITE ]] || { log "no keeplite binary at $KEEPLITE"; exit 1; }

# --- tools -------------------------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]] && [[ $(id -u) == 0 ]]; then
    log "installing GNU time ..."
    apt-get install -y -qq time >/dev/null 2>&1 || true
fi
[[ -x /usr/bin/time ]] || { log "/usr/bin/time (GNU time) is needed for peak RSS"; exit 1; }
if ! command -v hyperfine >/dev/null && [[ $(id -u) == 0 ]]; then
    log "installing hyperfine ..."
    apt-get install -y -qq hyperfine >/dev/null 2>&1 || true
fi
HAVE_KEEPALIVED=1
[[ -x $KEEPALIVED ]] || { log "no keepalived at $KEEPALIVED: its rows are left out"; HAVE_KEEPALIVED=0; }

# --- work dir and network namespace ------------------------------------------------------------
WORK=$(mktemp -d /tmp/keeplite-config-bench.XXXXXX)
NS=""
cleanup() {
    if [[ -n $NS ]]; then ip netns del "$NS" 2>/dev/null || true; fi
    if [[ ${KEEP_WORK:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

IN_NS=()
if [[ $(id -u) == 0 ]] && command -v ip >/dev/null; then
    NS=keeplite-bench-$$
    if ip netns add "$NS" 2>/dev/null; then
        ip -n "$NS" link set lo up
        for i in 0 1 2 3; do
            ip -n "$NS" link add "eth$i" type veth peer name "peer$i"
            ip -n "$NS" link set "eth$i" up
            ip -n "$NS" link set "peer$i" up
        done
        IN_NS=(ip netns exec "$NS")
    else
        NS=""
    fi
fi
[[ -n $NS ]] || log "no network namespace (not root?): keepalived -t will complain that eth1..eth3 do not exist"

# --- inputs ------------------------------------------------------------------------------------
cd "$WORK"
python3 "$ROOT/tests/bench/gen_config.py" big.conf
python3 "$ROOT/tests/bench/gen_config.py" tiny.conf --instances 1 --virtual-servers 1 --real-servers 1
HAVE_BIN=1
if ! "$KEEPLITE" compile -f big.conf -o big.bin >compile.out 2>compile.err; then
    log "keeplite compile failed; the binary rows are left out:"; tail -3 compile.err >&2
    HAVE_BIN=0
fi
SUMMARY=$("$KEEPLITE" check -f big.conf 2>/dev/null || true)
WARNINGS=$("$KEEPLITE" check -q -f big.conf 2>&1 >/dev/null | grep -c . || true)

# --- commands ----------------------------------------------------------------------------------
NAMES=(tiny big_text)
CMDS=("$KEEPLITE check -q -f tiny.conf" "$KEEPLITE check -q -f big.conf")
if [[ $HAVE_BIN == 1 ]]; then NAMES+=(big_bin); CMDS+=("$KEEPLITE check -q -f big.bin"); fi
if [[ $HAVE_KEEPALIVED == 1 ]]; then
    NAMES+=(ka_tiny ka_big); CMDS+=("$KEEPALIVED -t -f tiny.conf" "$KEEPALIVED -t -f big.conf")
fi

# The commands are plain words (paths without spaces): split them into an array to run them.
words() { read -ra CMD <<<"${CMDS[$1]}"; }

# exit codes (one run each, outside any timing)
: >exit.txt
for i in "${!NAMES[@]}"; do
    words "$i"
    set +e; "${IN_NS[@]}" "${CMD[@]}" >/dev/null 2>&1; rc=$?; set -e
    echo "${NAMES[$i]} $rc" >>exit.txt
done

# wall time
if [[ ${NO_HYPERFINE:-0} != 1 ]] && command -v hyperfine >/dev/null; then
    TIMER="hyperfine $(hyperfine --version | cut -d' ' -f2) (-N, $ROUNDS rounds of $WARMUP warmup + $RUNS runs, median of the $((ROUNDS * RUNS)) pooled runs)"
    args=()
    for i in "${!NAMES[@]}"; do args+=(-n "${NAMES[$i]}" "${CMDS[$i]}"); done
    for ((round = 1; round <= ROUNDS; round++)); do
        log "timing with hyperfine, round $round of $ROUNDS ($RUNS runs each) ..."
        "${IN_NS[@]}" hyperfine -N -i --style none --warmup "$WARMUP" --runs "$RUNS" \
            --export-json "times.$round.json" "${args[@]}" >>hyperfine.out 2>&1
    done
else
    # No hyperfine: time each run from python (fork/exec/wait, like hyperfine -N), not with
    # `date` in a shell loop, whose own forks would land inside the measured interval.
    TIMER="python3 perf_counter loop ($ROUNDS rounds of $WARMUP warmup + $RUNS runs, median of the $((ROUNDS * RUNS)) pooled runs)"
    log "timing with a python3 loop ($ROUNDS rounds of $RUNS runs each) ..."
    "${IN_NS[@]}" python3 - "$ROUNDS" "$WARMUP" "$RUNS" "${NAMES[@]}" -- "${CMDS[@]}" >times.txt <<'PY'
import subprocess, sys, time
rounds, warmup, runs, rest = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
sep = rest.index("--")
for _ in range(rounds):
    for name, cmd in zip(rest[:sep], rest[sep + 1:]):
        argv = cmd.split()
        for r in range(warmup + runs):
            t0 = time.perf_counter_ns()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t1 = time.perf_counter_ns()
            if r >= warmup:
                print(name, t1 - t0)
PY
fi

# peak RSS (whole command as /usr/bin/time's child sees it)
: >rss.txt
for i in "${!NAMES[@]}"; do
    words "$i"
    for ((r = 0; r < RSS_RUNS; r++)); do
        "${IN_NS[@]}" /usr/bin/time -f %M -o rss.one "${CMD[@]}" >/dev/null 2>&1 || true
        echo "${NAMES[$i]} $(tail -1 rss.one)" >>rss.txt
    done
done

# --- report ------------------------------------------------------------------------------------
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
NPROC=$(nproc)
KERNEL=$(uname -r)
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
KEEPLITE_VERSION=$("$KEEPLITE" --version)
COMMIT=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "${BENCH_COMMIT:-unknown}")
KEEPLITE_SIZE=$(stat -c %s "$KEEPLITE")
KEEPALIVED_VERSION=none
if [[ $HAVE_KEEPALIVED == 1 ]]; then KEEPALIVED_VERSION=$("$KEEPALIVED" --version 2>&1 | sed -n 1p); fi
RUSTC_VERSION=$(rustc --version 2>/dev/null || echo unknown)
TEXT_SIZE=$(stat -c %s big.conf)
TEXT_LINES=$(wc -l <big.conf)
BIN_SIZE=0
if [[ $HAVE_BIN == 1 ]]; then BIN_SIZE=$(stat -c %s big.bin); fi
TINY_LINES=$(wc -l <tiny.conf)
export WORK TIMER RSS_RUNS SUMMARY WARNINGS NS CPU NPROC KERNEL LOADAVG_START LOADAVG_END \
    KEEPLITE_VERSION COMMIT KEEPLITE_SIZE KEEPALIVED_VERSION RUSTC_VERSION TEXT_SIZE TEXT_LINES BIN_SIZE TINY_LINES

python3 - <<'EOF'
import json, os, statistics as st

E = os.environ
work = E["WORK"]
times = {}  # name -> list of seconds
rounds = sorted(f for f in os.listdir(work) if f.startswith("times.") and f.endswith(".json"))
if rounds:
    for f in rounds:
        for r in json.load(open(f"{work}/{f}"))["results"]:
            times.setdefault(r["command"], []).extend(r["times"])
else:
    for line in open(f"{work}/times.txt"):
        n, ns = line.split()
        times.setdefault(n, []).append(int(ns) / 1e9)
rss = {}
for line in open(f"{work}/rss.txt"):
    parts = line.split()
    if len(parts) == 2 and parts[1].isdigit():
        rss.setdefault(parts[0], []).append(int(parts[1]))
codes = dict(line.split() for line in open(f"{work}/exit.txt"))

med = {n: st.median(v) for n, v in times.items()}
mad = {n: st.median(abs(x - med[n]) for x in v) for n, v in times.items()}
peak = {n: st.median(v) for n, v in rss.items()}

def ms(s):
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} µs"

def kib(k):
    return f"{k / 1024:.1f} MiB" if k >= 1024 else f"{k} KiB"

def ratio(a, b):
    return a / b if b > 0 else float("nan")

rows = [
    ("tiny", f"keeplite check -q -f tiny.conf ({E['TINY_LINES']} lines: start-up baseline)"),
    ("big_text", "keeplite check -q -f big.conf (text parse)"),
    ("big_bin", "keeplite check -q -f big.bin (binary load)"),
    ("ka_tiny", "keepalived -t -f tiny.conf (its start-up baseline)"),
    ("ka_big", "keepalived -t -f big.conf"),
]
rows = [(n, label) for n, label in rows if n in med]

print("## Config loading (issue: foundation)\n")
print("Reproduce: `bash tests/bench/config_bench.sh`\n")
print(f"Machine: {E['NPROC']} CPU, {E['CPU']}, Linux {E['KERNEL']} (load average before: {E['LOADAVG_START']}, after: {E['LOADAVG_END']})  ")
print(f"Tools: {E['KEEPLITE_VERSION']} (commit {E['COMMIT']}, release build, {int(E['KEEPLITE_SIZE']) // 1024} KiB), {E['RUSTC_VERSION']}, "
      f"{E['KEEPALIVED_VERSION']} (Debian), timing by {E['TIMER']}, peak RSS by GNU time %M (median of {E['RSS_RUNS']})\n")
print(f"Input: generated by tests/bench/gen_config.py: {int(E['TEXT_LINES']):,} lines; keeplite reads it as: "
      f"`{E['SUMMARY'].split(': ', 1)[-1] or '(no summary)'}`; {E['WARNINGS']} warning lines on stderr.\n")

print("| command | median wall time | ± (MAD) | peak RSS | exit |")
print("|---|---:|---:|---:|---:|")
for n, label in rows:
    print(f"| {label} | {ms(med[n])} | {ms(mad[n])} | {kib(peak.get(n, 0))} | {codes.get(n, '?')} |")
print()

text, binary = int(E["TEXT_SIZE"]), int(E["BIN_SIZE"])
print("| size | bytes |")
print("|---|---:|")
print(f"| big.conf (text) | {text:,} |")
if binary:
    print(f"| big.bin (keeplite compile) | {binary:,} |")
print()

net = lambda n: med[n] - med["tiny"]
checks = []  # (what, value, target, met)
if binary:
    r = binary / text
    checks.append(("binary size / text size", f"{r:.4f} (1/{1 / r:.2f})", "≤ 0.25", r <= 0.25))
if "big_bin" in med:
    g = ratio(med["big_text"], med["big_bin"])
    checks.append(("text parse / binary load, whole process", f"{g:.1f}×", "≥ 10×", g >= 10))
    nt, nb = net("big_text"), net("big_bin")
    noise = mad["big_bin"] + mad["tiny"]
    if nb > noise:
        n = nt / nb
        checks.append(("text parse / binary load, net of start-up", f"{n:.1f}× ({ms(nt)} / {ms(nb)})", "≥ 10×", n >= 10))
    else:  # the binary load is lost in the start-up noise: only a lower bound is known
        n = nt / max(noise, 1e-6)
        checks.append(("text parse / binary load, net of start-up",
                       f"≥ {n:.0f}× (binary load net {ms(nb)}: within noise)", "≥ 10×", n >= 10))
if "ka_big" in med:
    k = ratio(med["ka_big"], med["big_text"])
    checks.append(("keepalived -t / keeplite text parse, time", f"{k:.1f}×", "> 1× (keeplite faster)", k > 1))
    if "ka_tiny" in med:
        kn = ratio(med["ka_big"] - med["ka_tiny"], net("big_text"))
        checks.append(("keepalived -t / keeplite text parse, time net of each start-up", f"{kn:.1f}×", "(info)", None))
    if peak.get("big_text"):
        kr = ratio(peak["ka_big"], peak["big_text"])
        checks.append(("keepalived -t / keeplite text parse, peak RSS", f"{kr:.1f}×", "(info)", None))
    if peak.get("big_bin"):
        kr = ratio(peak["ka_big"], peak["big_bin"])
        checks.append(("keepalived -t / keeplite binary load, peak RSS", f"{kr:.1f}×", "(info)", None))

print("| ratio | value | target | met |")
print("|---|---:|---|---|")
for what, value, target, met in checks:
    print(f"| {what} | {value} | {target} | {'—' if met is None else ('yes' if met else '**no**')} |")
print()
if "1000 virtual_server" not in E["SUMMARY"]:
    print("**Caveat:** this keeplite does not parse `virtual_server` yet: the 1000 blocks are skipped "
          "as unknown keywords, so keeplite's text parse does less work than keepalived's and the "
          "binary holds no LVS data. These numbers are provisional.\n")
if not E["NS"]:
    print("**Caveat:** no network namespace: keepalived ran against this host's interfaces.\n")
EOF
