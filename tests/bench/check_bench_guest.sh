#!/bin/sh
# The guest's /test.sh for tests/bench/check_bench.sh: runs keeplite's checker daemon (watchdog
# parent + `keeplite: check` child) and then keepalived's (parent + checker child) on each
# generated configuration /bench-SIZE-KIND.conf,
# one at a time, against the loopback listener /rsd, and prints one RESULT line per measured
# process:
#   RESULT size kind daemon role pid cpu_pct user_pct sys_pct rss_start_kib rss_end_kib up/total
#          probes_per_s
# cpu_pct is (utime+stime) over the window / window length (CLK_TCK ticks from /proc/PID/stat);
# the RSS values are Rss (smaps_rollup) right after warm-up and at the end of the window; probes_per_s is the
# connections /rsd accepted over the window (it rewrites /tmp/rsd.count each second), as the
# guest may be too slow for a daemon to keep up with its delay_loop.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
. /bench.env
if [ -n "${fault_around:-}" ]; then
    grep -q " /sys/kernel/debug " /proc/mounts || mount -t debugfs none /sys/kernel/debug
    echo "$fault_around" >/sys/kernel/debug/fault_around_bytes &&
        echo "NOTE: fault_around_bytes $(cat /sys/kernel/debug/fault_around_bytes) (diagnosis run)"
fi
HZ=100
chmod 755 /
mkdir -p /run /var/run /etc
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
    >/etc/passwd
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >/etc/group
tar -C / -xf /keepalived-ref.tar
chmod 755 /
echo "reference: $(keepalived --version 2>&1 | head -n 1); cpus $(grep -c ^processor /proc/cpuinfo);" \
    "clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
# keepalived also logs to syslog: into a file, as on a real system, not onto the serial console.
syslogd -n -O /tmp/messages &
SYSLOGD=$!
ulimit -n 65536
echo 4096 >/proc/sys/net/core/somaxconn
echo 1024 65000 >/proc/sys/net/ipv4/ip_local_port_range
echo 1 >/proc/sys/net/ipv4/tcp_tw_reuse
/rsd &
RSD=$!
sleep 0.5

up() { cut -d' ' -f1 /proc/uptime; }
# Fields after the command name, which may hold spaces ("keeplite: check"): utime is the 12th.
ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 ":" $13 }'; }
# child PID: the first process whose parent is PID.
child() { for s in /proc/[0-9]*/stat; do sed 's/.*) //' "$s" 2>/dev/null | awk -v pp="$1" -v f="$s" '$2 == pp { split(f, a, "/"); print a[3] }'; done | head -n 1; }
accepted() { awk '{ print $1 + 0 }' /tmp/rsd.count; }
# Rss from smaps_rollup, a walk of the page tables at the time of reading: VmRSS in
# /proc/PID/status comes from the kernel's batched per-task counters and lagged hundreds of KiB
# behind in earlier runs.
rss() { awk '/^Rss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null; }
dests() { ipvsadm -Ln 2>/dev/null | awk '$1 == "->" && $2 ~ /^127\./ { n++ } END { print n + 0 }'; }
live() { ipvsadm -Ln 2>/dev/null | awk '$1 == "->" && $2 ~ /^127\./ && $4 > 0 { n++ } END { print n + 0 }'; }

# measure SIZE KIND DAEMON ROLE:PID...: one window over all the given processes.
measure() {
    size=$1 kind=$2 daemon=$3
    shift 3
    t0=$(up)
    a0=$(accepted)
    starts=
    for rp in "$@"; do
        p=${rp#*:}
        starts="$starts $(ticks "$p"):$(rss "$p")"
    done
    sleep "$window"
    t1=$(up)
    a1=$(accepted)
    total=$(dests)
    alive=$(live)
    i=0
    for rp in "$@"; do
        i=$((i + 1))
        role=${rp%%:*} p=${rp#*:}
        s=$(echo $starts | cut -d' ' -f$i)
        tk0=${s%:*} r0=${s##*:}
        tk1=$(ticks "$p") r1=$(rss "$p")
        if [ -z "$tk1" ]; then
            echo "RESULT $size $kind $daemon $role $p DIED - - - - $alive/$total -"
            continue
        fi
        echo "$tk0 $tk1" | awk -v t0="$t0" -v t1="$t1" -v hz=$HZ -v a0="$a0" -v a1="$a1" \
            -v head="RESULT $size $kind $daemon $role $p" -v tail="$r0 $r1 $alive/$total" '{
                split($1, s, ":"); split($2, e, ":")
                d = (t1 - t0) * hz / 100
                u = (e[1] - s[1]) / d; k = (e[2] - s[2]) / d
                printf "%s %.2f %.2f %.2f %s %.1f\n", head, u + k, u, k, tail, (a1 - a0) / (t1 - t0)
            }'
    done
}

# fill SIZE DAEMON: waits (up to 300 s) until the table holds every real server.
fill() {
    i=0
    while [ "$(dests)" -lt "$1" ]; do
        i=$((i + 1))
        if [ $i -gt 300 ]; then
            echo "NOTE: $2: table has $(dests) of $1 real servers after 300 s"
            return 1
        fi
        sleep 1
    done
    echo "NOTE: $2: table full ($1) at $(up)s"
}

# syscalls PID: with strace=1 in bench.env, a 10 s `strace -c -f` of PID after the window (a
# diagnostic only: strace slows what it traces, so the window is measured without it).
syscalls() {
    [ "${strace:-0}" = 1 ] || return 0
    echo "NOTE: strace -c -f of $1 for 10 s (connections meanwhile: see the next line):"
    b0=$(accepted)
    timeout -s INT 10 strace -c -f -p "$1" 2>&1 | head -n 25 | sed 's/^/    /'
    echo "NOTE: /rsd accepted $(($(accepted) - b0)) connections during the strace"
}

# memory PID WHO: where the resident memory is (anonymous: heap, stacks, data; file: the
# binary's and libraries' pages), and the largest mappings by Rss.
memory() {
    echo "NOTE: $2 memory: $(awk '/^(VmRSS|RssAnon|RssFile|VmData|VmStk):/ { printf "%s %s kB  ", $1, $2 }' /proc/$1/status)"
    awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "") ? "[anon]" : $6; range = $1 }
        /^Rss:/ && $2 > 0 { printf "    %6d kB %s %s\n", $2, range, name }' /proc/$1/smaps |
        sort -rn | head -n 6
    case $2 in
    keeplite*) RESIDENT_PAGES=${fault_around:+1} /resident "$1" /usr/sbin/keeplite ;;
    esac
}

stop() {
    kill -TERM "$1"
    i=0
    while kill -0 "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 300 ] && { echo "NOTE: pid $1 still alive 30 s after SIGTERM, killed"; kill -KILL "$1"; break; }
        sleep 0.1
    done
    wait "$1" 2>/dev/null
    ipvsadm -C
}

# child_within_10s PID: PID's child, waited for up to 10 s (empty if none came).
child_within_10s() {
    c=
    i=0
    while [ -z "$c" ] && [ $i -lt 100 ]; do
        c=$(child "$1")
        i=$((i + 1))
        sleep 0.1
    done
    echo "$c"
}

# run_keeplite WHO: one keeplite phase of $size/$kind with /usr/sbin/keeplite, reported as WHO
# ("keeplite", or "keeplite-b" for the second binary of an A/B run).
run_keeplite() {
    who=$1
    echo "=== $size real servers, $kind, $who ($(up)s)"
    # The watchdog parent forks the checker child (`keeplite: check`), as keepalived does.
    keeplite -f "$conf" -n -l -C >/tmp/keeplite-$size-$kind.log 2>&1 &
    K=$!
    KC=$(child_within_10s $K)
    echo "NOTE: $who watchdog $K, checker child ${KC:-none}: VmRSS $(rss $K) / $(rss $KC) KiB"
    fill "$size" "$who"
    sleep "$warmup"
    measure "$size" "$kind" "$who" parent:$K checker:$KC
    # Which of its threads the time went to (ticks since start).
    for t in /proc/$KC/task/*; do
        echo "NOTE: $who checker thread ${t##*/} $(cat $t/comm): $(sed 's/.*) //' $t/stat | awk '{ print "utime " $12 " stime " $13 }')"
    done
    memory $KC "$who checker"
    memory $K "$who watchdog"
    syscalls $KC
    echo "NOTE: $who log: $(wc -l </tmp/keeplite-$size-$kind.log) lines; last:"
    tail -n 3 /tmp/keeplite-$size-$kind.log | sed 's/^/    /'
    stop $K
}

for size in $sizes; do
    for kind in tcp http; do
        conf=/bench-$size-$kind.conf
        [ -f "$conf" ] || continue
        run_keeplite keeplite
        if [ -f /keeplite_b ]; then
            # A/B in one boot (KEEPLITE_B): the other binary, same config, right after.
            cp /usr/sbin/keeplite /keeplite_a
            cp /keeplite_b /usr/sbin/keeplite
            run_keeplite keeplite-b
            cp /keeplite_a /usr/sbin/keeplite
        fi

        echo "=== $size real servers, $kind, keepalived ($(up)s)"
        keepalived -n -l -C -f "$conf" >/tmp/keepalived-$size-$kind.log 2>&1 &
        P=$!
        C=$(child_within_10s $P)
        echo "NOTE: keepalived parent $P, checker child ${C:-none}"
        fill "$size" keepalived
        sleep "$warmup"
        measure "$size" "$kind" keepalived parent:$P checker:$C
        for t in /proc/$C/task/*; do
            echo "NOTE: keepalived checker thread ${t##*/} $(cat $t/comm): $(sed 's/.*) //' $t/stat | awk '{ print "utime " $12 " stime " $13 }')"
        done
        memory $C "keepalived checker"
        syscalls $C
        echo "NOTE: keepalived log: $(wc -l </tmp/keepalived-$size-$kind.log) lines; last:"
        tail -n 3 /tmp/keepalived-$size-$kind.log | sed 's/^/    /'
        stop $P
    done
done
kill $RSD $SYSLOGD
echo "CHECK_BENCH DONE"
