#!/bin/sh
# The guest's /test.sh for tests/bench/process_bench.sh (parts 1 and 3, in the IPVS VM): runs
# keeplite and then keepalived, each alone, on /keepalived.conf (examples/keepalived.conf), and
# for each daemon prints:
#   MEM daemon round role pid rss pss uss anon file+shmem
#                                                          after STEADY s of steady state, one line
#                                                          per process (parent, vrrp, check), KiB
#   CHK daemon kill age_s reaped_ms new_child_ms ready_ms old_pid new_pid
#                                                          SIGKILL of the checker child: its age,
#                                                          kill -> old child reaped, -> a new child
#                                                          of the parent exists, -> the new child
#                                                          wrote its pid file (-1: never)
#   IPVS daemon samples changed min_dests max_dests        the IPVS table sampled every 100 ms
#                                                          from before the first kill to after the
#                                                          last; changed = samples that differ from
#                                                          the one taken before the first kill
#   STATE daemon ...                                       what the daemon ran like (VIPs, table)
# /bench.env sets steady, rounds, settle (s the checker child runs before the first kill: > 60
# for the "ran a minute: restart at once" rule of both daemons) and second (how long the
# successor runs before the second kill).
# shellcheck disable=SC1091,SC2154  # /bench.env (steady, rounds, settle, second), /example_guest.sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
. /bench.env
chmod 755 /
tar -C / -xf /keepalived-ref.tar
chmod 755 /
echo "reference: $(keepalived --version 2>&1 | head -n 1); keeplite $(keeplite --version);" \
    "cpus $(grep -c ^processor /proc/cpuinfo); mem $(awk '/MemTotal/ { print $2 }' /proc/meminfo) kB"
syslogd -n -O /tmp/messages &
SYSLOGD=$!

# The links, real servers and notify script examples/keepalived.conf names.
. /example_guest.sh

up() { cut -d' ' -f1 /proc/uptime; }
# Rss Pss USS from smaps_rollup, then from status RssAnon (heap, stacks, data) and RssFile +
# RssShmem (the binary's and libraries' pages: shmem here, as / is a RAM file system).
rollup() {
    awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { u += $2 }
        END { printf "%d %d %d ", r, p, u }' "/proc/$1/smaps_rollup" 2>/dev/null
    awk '/^RssAnon:/ { a = $2 } /^Rss(File|Shmem):/ { f += $2 } END { print a + 0, f + 0 }' \
        "/proc/$1/status" 2>/dev/null
}
pidof_file() { cat "$1" 2>/dev/null | tr -d ' \n'; }
# The table without counters: service lines and "-> address forward weight".
table() { ipvsadm -Ln 2>/dev/null | awk '$1 == "TCP" || $1 == "UDP" { print $1, $2, $3 }
    $1 == "->" && $2 != "RemoteAddress:Port" { print "->", $2, $3, $4 }'; }
dests() { table | grep -c '^->'; }
vips() { ip -o addr show dev br-lan | grep -c -e '192.168.1.1/' -e '2001:db8:1::1/'; }

# wait_pidfile FILE: up to 30 s.
wait_pidfile() {
    i=0
    while [ -z "$(pidof_file "$1")" ] && [ $i -lt 300 ]; do i=$((i + 1)); sleep 0.1; done
    pidof_file "$1"
}

# settled: the table has both real servers and the two VIPs are up (VRRP master), up to 60 s.
settled() {
    i=0
    while [ $i -lt 600 ]; do
        if [ "$(dests)" -ge 2 ] && [ "$(vips)" -ge 2 ]; then return 0; fi
        i=$((i + 1))
        sleep 0.1
    done
    return 1
}

# sampler DAEMON: the table every 100 ms until /tmp/sampling disappears.
sampler() {
    table >/tmp/table.base
    n=0 changed=0 mind=999 maxd=0
    while [ -f /tmp/sampling ]; do
        table >/tmp/table.now
        d=$(grep -c '^->' /tmp/table.now)
        [ "$d" -lt "$mind" ] && mind=$d
        [ "$d" -gt "$maxd" ] && maxd=$d
        if ! cmp -s /tmp/table.base /tmp/table.now; then
            changed=$((changed + 1))
            echo "NOTE: $1 table differs at $(up)s:"
            diff /tmp/table.base /tmp/table.now | sed 's/^/    /' | head -n 10
        fi
        n=$((n + 1))
        sleep 0.1
    done
    echo "IPVS $1 $n $changed $mind $maxd"
}

# run DAEMON: start, memory rounds, checker child kills, stop.
run() {
    daemon=$1
    rm -f /tmp/$daemon.*
    case $daemon in
        keeplite)
            keeplite -f /keepalived.conf -n -l -G -p /tmp/$daemon.pid -r /tmp/$daemon.vrrp.pid \
                -c /tmp/$daemon.check.pid --control /tmp/$daemon.sock >/tmp/$daemon.log 2>&1 &
            ;;
        keepalived)
            keepalived -n -l -f /keepalived.conf -p /tmp/$daemon.pid -r /tmp/$daemon.vrrp.pid \
                -c /tmp/$daemon.check.pid >/tmp/$daemon.log 2>&1 &
            ;;
    esac
    P=$!
    V=$(wait_pidfile /tmp/$daemon.vrrp.pid)
    C=$(wait_pidfile /tmp/$daemon.check.pid)
    echo "NOTE: $daemon parent $P, vrrp child ${V:-none}, check child ${C:-none} at $(up)s"
    if settled; then
        echo "NOTE: $daemon settled at $(up)s: $(dests) real servers, $(vips) VIPs"
    else
        echo "NOTE: $daemon NOT settled after 60 s: $(dests) real servers, $(vips) VIPs; log:"
        sed 's/^/    /' /tmp/$daemon.log | head -n 40
    fi
    r=1
    while [ $r -le "$rounds" ]; do
        sleep "$steady"
        for rp in parent:$P vrrp:$V check:$C; do
            role=${rp%%:*} p=${rp#*:}
            echo "MEM $daemon $r $role $p $(rollup "$p")"
        done
        r=$((r + 1))
    done
    echo "STATE $daemon vips=$(vips) dests=$(dests) processes=$(ps -o pid,ppid,comm 2>/dev/null |
        awk -v p="$P" '$1 == p || $2 == p { printf "%s/%s ", $1, $3 }')"
    ipvsadm -Ln | sed 's/^/    /'

    # The checker child: one kill after it ran `settle` s (restart at once), a second one
    # `second` s later (it ran less than a minute: 1 s backoff for both daemons).
    touch /tmp/sampling
    sampler "$daemon" &
    S=$!
    kill_no=1
    for wait_s in "$settle" "$second"; do
        C=$(pidof_file /tmp/$daemon.check.pid)
        # starttime (field 22) counted after the ")" that ends comm, which may hold spaces.
        started=$(sed 's/.*) //' "/proc/$C/stat" | awk '{ print $20 }')
        # Sleep until the child is wait_s old (starttime is in clock ticks since boot).
        now=$(up)
        left=$(awk -v s="$started" -v n="$now" -v w="$wait_s" 'BEGIN { l = s / 100 + w - n;
            print (l > 0) ? l : 0 }')
        sleep "$left"
        age=$(awk -v s="$started" -v n="$(up)" 'BEGIN { printf "%.1f", n - s / 100 }')
        out=$(/pbwait "$P" "$C" /tmp/$daemon.check.pid 20000)
        echo "CHK $daemon $kill_no $age $out"
        kill_no=$((kill_no + 1))
    done
    sleep 5
    rm -f /tmp/sampling
    wait $S
    echo "STATE $daemon after kills: vips=$(vips) dests=$(dests)"
    echo "NOTE: $daemon log (restart lines and the last ones):"
    grep -i -e restart -e 'child' -e 'exited' /tmp/$daemon.log | tail -n 12 | sed 's/^/    /'
    tail -n 5 /tmp/$daemon.log | sed 's/^/    /'
    kill -TERM "$P"
    i=0
    while kill -0 "$P" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 300 ] && { echo "NOTE: $daemon still alive 30 s after SIGTERM, killed"; kill -KILL "$P"; break; }
        sleep 0.1
    done
    wait "$P" 2>/dev/null
    ipvsadm -C
    ip addr del 192.168.1.1/24 dev br-lan 2>/dev/null
    ip addr del 2001:db8:1::1/64 dev br-lan 2>/dev/null
    ip addr del fe80::1/64 dev br-lan 2>/dev/null
    sleep 1
}

echo "=== keeplite ($(up)s)"
run keeplite
echo "=== keepalived ($(up)s)"
run keepalived
kill $SYSLOGD
echo "PROCESS_BENCH DONE"
