#!/usr/bin/env bash
# Health-checker benchmark (the project's issue "load balancing"): keeplite's checker daemon
# (`keeplite -f FILE -n -l -C`) side by side with keepalived's checker child
# (`keepalived -n -l -C -f FILE`) in one boot of the IPVS VM (tests/ipvs_vm/), on the same
# generated configuration, each daemon on its own in turn.
#
#   bash tests/bench/check_bench.sh [SIZES]          (SIZES: real-server counts, default "1000")
#
# For each size and for TCP_CHECK and HTTP_GET (delay_loop 1), the configuration has SIZE/10
# NAT virtual servers of 10 real servers each; every real server is a distinct loopback address
# 127.0.x.y port 80 (all of 127/8 is local), served by one tiny accept-and-answer server (C,
# built here with musl-gcc, one poll loop, backlog 4096) so that the listener costs little and
# never forks. The guest (tests/bench/check_bench_guest.sh) starts a daemon, waits until its
# IPVS table holds every real server, warms up, then reads utime+stime (/proc/PID/stat) and
# RSS (smaps_rollup) over a WINDOW-second window, and prints RESULT lines; this script turns them into a
# Markdown table.
#
# TCG: absolute CPU numbers mean nothing (the guest runs many times slower than the host); the
# ratio within one boot is what counts.
#
# Env: CARGO_TARGET_DIR (respected), SKIP_BUILD=1, WORK (IPVS VM dir, default
# $CARGO_TARGET_DIR/ipvs-vm), WINDOW (s, default 40), WARMUP (s, default 15), IPVS_VM_MEM (MiB,
# default 2048), IPVS_VM_SMP (vCPUs, default 2), IPVS_VM_TIMEOUT (s, default 1500), STRACE=1
# (after each window, a 10 s `strace -c -f` of the measured process: a syscall profile),
# KEEPLITE_B=PATH (an A/B run: a second keeplite binary measured right after the first in every
# phase of the same boot, as "keeplite-b": TCG's speed drifts between boots by more than the
# difference between two builds), FAULT_AROUND=4096 (a diagnosis, not a measurement: the guest kernel maps only the file pages
# touched instead of 64 KiB around each, so /resident shows which pages of the binary each
# process really runs and reads).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/bench
SIZES=${1:-1000}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=${WORK:-$TARGET/ipvs-vm}
MUSL=x86_64-unknown-linux-musl
OUT=$(mktemp -d /tmp/check_bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

"$ROOT/tests/ipvs_vm/build.sh" "$WORK"
if [ -z "${SKIP_BUILD:-}" ]; then
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build -q --release --target $MUSL --bin keeplite)
fi
KEEPLITE=$TARGET/$MUSL/release/keeplite
"$ROOT/tests/lb_vm/pack-keepalived.sh" "$OUT/keepalived-ref.tar"

# The real servers' listener: accepts, reads what the client sends (nothing for TCP_CHECK),
# answers one fixed HTTP response and closes. One process, no fork.
cat >"$OUT/rsd.c" <<'CEOF'
#define _GNU_SOURCE
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#define MAXC 4096
static const char resp[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                           "Connection: close\r\n\r\nok\n";
int main(void) {
    int one = 1, l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4096)) { perror("rsd"); return 1; }
    static struct pollfd p[MAXC + 1];
    int n = 1;
    /* Connections accepted so far, rewritten each second: the probes the daemon made. No
       leading zeros: busybox awk would read the number as octal. */
    unsigned long accepted = 0;
    time_t last = 0;
    int count = open("/tmp/rsd.count", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    p[0].fd = l; p[0].events = POLLIN;
    for (;;) {
        if (poll(p, n, 200) < 0) continue;
        for (int i = n - 1; i >= 1; i--) {
            if (!p[i].revents) continue;
            char buf[2048];
            ssize_t r = read(p[i].fd, buf, sizeof buf);
            /* A request ends with an empty line; a TCP_CHECK client just closes. */
            if (r > 0 && !memmem(buf, r, "\r\n\r\n", 4)) continue;
            if (r > 0) (void)!write(p[i].fd, resp, sizeof resp - 1);
            close(p[i].fd);
            p[i] = p[--n];
        }
        if (p[0].revents) {
            int c;
            while (n <= MAXC && (c = accept4(l, 0, 0, SOCK_NONBLOCK)) >= 0) {
                p[n].fd = c; p[n].events = POLLIN; p[n].revents = 0; n++;
                accepted++;
            }
        }
        if (time(0) != last) {
            char line[32];
            int len = snprintf(line, sizeof line, "%-20lu\n", accepted);
            (void)!pwrite(count, line, len, 0);
            last = time(0);
        }
    }
}
CEOF
musl-gcc -O2 -static -o "$OUT/rsd" "$OUT/rsd.c"

# /resident PID PATH: which pages of PID's mappings of PATH are resident, per 64 KiB window (the
# kernel's fault-around unit), from /proc/PID/pagemap: where the binary's resident pages are
# (each page's address too with RESIDENT_PAGES set, as the guest does with FAULT_AROUND).
cat >"$OUT/resident.c" <<'CEOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char path[64], line[512];
    const char *each = getenv("RESIDENT_PAGES");
    int pages = each && *each;
    if (argc != 3) return 2;
    snprintf(path, sizeof path, "/proc/%s/maps", argv[1]);
    FILE *maps = fopen(path, "r");
    snprintf(path, sizeof path, "/proc/%s/pagemap", argv[1]);
    int pm = open(path, O_RDONLY);
    if (!maps || pm < 0) return 1;
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        char perms[8], name[256] = "";
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &start, &end, perms, name) < 3) continue;
        if (strcmp(name, argv[2]) != 0) continue;
        printf("    %lx-%lx %s:", start, end, perms);
        unsigned long window = 0, count = 0, total = 0;
        for (unsigned long va = start; va < end; va += 4096) {
            uint64_t e = 0;
            if (pread(pm, &e, 8, (off_t)(va / 4096 * 8)) != 8) break;
            if (!(e >> 63)) continue;
            total++;
            if (pages) printf(" [%lx]", va);
            if (va / 65536 != window && count) { printf(" %lx:%lu", window * 65536, count); count = 0; }
            window = va / 65536;
            count++;
        }
        if (count) printf(" %lx:%lu", window * 65536, count);
        printf(" (%lu KiB)\n", total * 4);
    }
    return 0;
}
CEOF
musl-gcc -O2 -static -o "$OUT/resident" "$OUT/resident.c"

# gen SIZE tcp|http: the configuration.
gen() {
    awk -v n="$1" -v kind="$2" 'BEGIN {
        print "global_defs {\n    router_id check_bench\n}"
        for (v = 0; v < n / 10; v++) {
            printf "virtual_server 10.1.%d.%d 80 {\n    delay_loop 1\n    lb_algo rr\n", int(v / 250), v % 250 + 1
            print "    lb_kind NAT\n    protocol TCP"
            for (r = 0; r < 10; r++) {
                j = v * 10 + r
                printf "    real_server 127.0.%d.%d 80 {\n        weight 1\n", int(j / 250), j % 250 + 1
                if (kind == "tcp")
                    print "        TCP_CHECK {\n            connect_timeout 2\n        }"
                else {
                    print "        HTTP_GET {\n            url {\n                path /health"
                    print "                status_code 200\n            }"
                    print "            connect_timeout 2\n            retry 1\n            delay_before_retry 1\n        }"
                }
                print "    }"
            }
            print "}"
        }
    }'
}
files=("$OUT/rsd" "$OUT/resident" "$OUT/keepalived-ref.tar")
if [ -n "${KEEPLITE_B:-}" ]; then
    cp -L "$KEEPLITE_B" "$OUT/keeplite_b"
    files+=("$OUT/keeplite_b")
fi
for n in $SIZES; do
    for kind in tcp http; do
        f=$OUT/bench-$n-$kind.conf
        gen "$n" "$kind" >"$f"
        # Both must take the file as it is.
        "$KEEPLITE" check -q -f "$f" || { echo "keeplite rejects $f" >&2; exit 1; }
        keepalived -t -f "$f" >/dev/null 2>&1 || { echo "keepalived -t rejects $f" >&2; exit 1; }
        files+=("$f")
    done
done
echo "sizes=\"$SIZES\" window=${WINDOW:-40} warmup=${WARMUP:-15} strace=${STRACE:-0}" \
    "fault_around=${FAULT_AROUND:-}" >"$OUT/bench.env"
files+=("$OUT/bench.env")

KEEPLITE_BIN=$KEEPLITE IPVS_VM_MEM=${IPVS_VM_MEM:-2048} IPVS_VM_SMP=${IPVS_VM_SMP:-2} \
    IPVS_VM_TIMEOUT=${IPVS_VM_TIMEOUT:-1500} \
    "$HERE/../ipvs_vm/run.sh" "$WORK" "$HERE/check_bench_guest.sh" "${files[@]}" |
    tee "$OUT/console.txt"

# RESULT size kind daemon role pid cpu_pct user_pct sys_pct rss_start_kib rss_end_kib
#        live/total probes_per_s
echo
echo "| real servers | check | process | CPU % (user+sys) | user % | sys % | probes/s | CPU ms per 1000 probes | RSS start (KiB) | RSS end (KiB) | up/total |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
awk '$1 == "RESULT" {
        per = ($13 > 0) ? sprintf("%.0f", $7 * 10 / $13 * 1000) : "-"
        printf "| %s | %s | %s %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
            $2, $3, $4, $5, $7, $8, $9, $13, per, $10, $11, $12
    }' "$OUT/console.txt"
echo
awk '$1 == "RESULT" {
        k = $2 " " $3
        if ($4 == "keeplite" && $5 == "checker") { kc[k] = $7; kr[k] = $11; kp[k] = $13 }
        if ($4 == "keepalived" && $5 == "checker") { ac[k] = $7; ar[k] = $11; ap[k] = $13 }
        if ($4 == "keeplite-b" && $5 == "checker") { bc[k] = $7; br[k] = $11; bp[k] = $13 }
        keys[k] = 1
    }
    END {
        for (k in keys) if ((k in kc) && (k in ac) && ac[k] > 0 && kr[k] > 0)
            printf "%s: keeplite/keepalived-checker CPU %.3f, CPU per probe %.3f (target <= 0.333), RSS %.3f (target <= 0.2)\n",
                k, kc[k] / ac[k], (kp[k] > 0 && ap[k] > 0) ? (kc[k] / kp[k]) / (ac[k] / ap[k]) : 0, kr[k] / ar[k]
        for (k in keys) if ((k in bc) && (k in ac) && ac[k] > 0 && br[k] > 0)
            printf "%s: keeplite-b/keepalived-checker CPU %.3f, CPU per probe %.3f, RSS %.3f\n",
                k, bc[k] / ac[k], (bp[k] > 0 && ap[k] > 0) ? (bc[k] / bp[k]) / (ac[k] / ap[k]) : 0, br[k] / ar[k]
    }' "$OUT/console.txt"
