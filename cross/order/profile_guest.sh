#!/bin/sh
# The guest's /test.sh for cross/order/profile.sh (IPVS VM): runs keeplite on /keepalived.conf
# (examples/keepalived.conf) under valgrind's callgrind, which writes one profile per process
# (watchdog parent, VRRP child, checker child): start, steady state, `keeplite status`, SIGTERM;
# then a VRRP-only run with 100 instances and a checker-only run with 200 real servers.
# The profiles are printed on the console between PROFILE-BEGIN / PROFILE-END lines as the
# names of the functions each process ran, which is all the order file needs.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
chmod 755 /
# shellcheck disable=SC1091  # /example_guest.sh: tests/bench/example_guest.sh
mkdir -p /vg
tar -C /vg -xf /vg.tar
# Links, real servers and notify script as tests/bench/process_bench_guest.sh has them: both
# instances become master, both real servers are checked and in the IPVS table.
. /example_guest.sh

STEADY=${STEADY:-40}
# The launcher (valgrind.bin, dynamic) is not in the guest: its tool runs directly when told
# where its files are and who "launched" it. Each process's profile is the one it writes at
# exit, and counts only its steady state: the counts are zeroed as each process releases its code
# mappings (release_start_up_pages: the watchdog once its children run, a child before its loop), from
# then on what it runs is what it keeps mapped, until it is told to stop (end_of_steady_state:
# the profile so far is dumped apart, the shutdown's is left out). No reload here: a reload parses again, start-up
# work.
# keeplite ARGS... under callgrind, in the background (its pid in $P).
profiled() {
    VALGRIND_LAUNCHER=/vg/callgrind-amd64-linux VALGRIND_LIB=/vg /vg/callgrind-amd64-linux \
        --callgrind-out-file=/tmp/cg.%p --dump-line=no --demangle=no \
        --zero-before='_ZN8keeplite3sys7process22release_start_up_pages*' \
        --dump-before='_ZN8keeplite3sys7process19end_of_steady_state*' \
        --compress-strings=no --compress-pos=no /usr/sbin/keeplite "$@" &
    P=$!
}
# SIGTERM to $P, then up to 60 s for it (and its profiles) to finish; its exit code in $RC.
stop() {
    kill -TERM "$P"
    i=0
    while kill -0 "$P" 2>/dev/null && [ $i -lt 600 ]; do i=$((i + 1)); sleep 0.1; done
    RC=0
    wait "$P" || RC=$?
}
profiled -f /keepalived.conf -n -l -G --control /tmp/k.sock -r /tmp/v.pid -c /tmp/c.pid \
    >/tmp/keeplite.log 2>&1
sleep "$STEADY"
echo "NOTE: VIPs $(ip -o addr show dev br-lan | grep -c -e '192.168.1.1/' -e '2001:db8:1::1/')," \
    "real servers $(ipvsadm -Ln | grep -c -e '-> 192')"
keeplite status --control /tmp/k.sock | head -n 20
sleep 10
stop
echo "NOTE: keeplite exited $RC; log tail:"
tail -n 15 /tmp/keeplite.log

# A second VRRP run with 100 instances on one link (tests/bench/vrrp_bench.sh's memory config):
# many instances run code one or two do not (pacing of GARPs, larger reports).
veth lan100 lan100-peer
ip addr add 10.9.9.1/24 dev lan100
ip link set lan100 up
k=1
while [ $k -le 100 ]; do
    printf 'vrrp_instance VI_%s {\n interface lan100\n virtual_router_id %s\n priority 150\n' $k $k
    printf ' advert_int 1\n virtual_ipaddress {\n  10.77.1.%s/32\n }\n}\n' $k
    k=$((k + 1))
done >/vrrp100.conf
# steady_run WHAT LOG ARGS...: keeplite ARGS under callgrind for STEADY s, then stopped; the
# NOTE lines say WHAT and the end of its log.
steady_run() {
    what=$1 log=$2
    shift 2
    profiled "$@" >"$log" 2>&1
    sleep "$STEADY"
    echo "NOTE: $what: $(eval "$CHECK")"
    stop
    echo "NOTE: keeplite ($what) exited $RC; log tail:"
    tail -n 5 "$log"
}
CHECK="echo VIPs \$(ip -o addr show dev lan100 | grep -c 10.77.1.)"
steady_run "100 instances" /tmp/keeplite100.log -f /vrrp100.conf -n -l -P -p /tmp/p100.pid
# A process that stopped gracefully dumped its steady state as cg.PID.1 at
# end_of_steady_state (its shutdown went to cg.PID): only that part counts.
# A checker-only run with many real servers (the checker benchmark's shape, smaller): code that
# runs only with many checks in flight at once (more timer and task slots, more probe buffers,
# growing queues) is steady-state code there too. Half TCP_CHECK, half HTTP_GET, against the
# httpd on *:80 at 127.0.x.y.
v=0
while [ $v -lt 20 ]; do
    printf 'virtual_server 10.2.0.%s 80 {\n delay_loop 2\n lb_algo rr\n lb_kind NAT\n' $((v + 1))
    printf ' protocol TCP\n'
    r=1
    while [ $r -le 10 ]; do
        printf ' real_server 127.0.%s.%s 80 {\n  weight 1\n' $((v + 1)) $r
        if [ $((v % 2)) -eq 0 ]; then
            printf '  TCP_CHECK {\n   connect_timeout 2\n  }\n }\n'
        else
            printf '  HTTP_GET {\n   url {\n    path /health\n    status_code 200\n   }\n'
            printf '   connect_timeout 2\n  }\n }\n'
        fi
        r=$((r + 1))
    done
    printf '}\n'
    v=$((v + 1))
done >/check200.conf
CHECK="echo \$(ipvsadm -Ln | grep -c -e '-> 127.0.') in IPVS"
steady_run "200 real servers" /tmp/keeplite200.log -f /check200.conf -n -l -C -p /tmp/c200.pid

for f in /tmp/cg.*; do
    case $f in *.*.*) ;; *) [ -e "$f.1" ] && continue ;; esac
    echo "PROFILE-BEGIN ${f#/tmp/cg.}"
    # Only functions with a cost of their own: a caller still on the stack (main, the
    # watchdog's run that forked the child) is listed with the inclusive cost of its call
    # ("calls=" and the line after it) but ran none of its own code in the steady state.
    awk '/^fn=/ { fn = substr($0, 4); next }
         /^calls=/ { call = 1; next }
         /^[0-9+*-]/ { if (call) call = 0; else if (fn != "") own[fn] = 1; next }
         END { for (f in own) print f }' "$f" | sort -u
    echo "PROFILE-END"
done
