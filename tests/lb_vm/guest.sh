#!/bin/sh
# The guest's /test.sh for tests/lb_vm.rs: keeplite's checker daemon (`keeplite -C`) load
# balancing real traffic on a real IPVS kernel. run.sh put keeplite in /usr/sbin and
# keepalived.conf in / (and, when the host had keepalived, keepalived-ref.tar: keepalived and
# its libraries, run at the end on the same configuration as the reference).
#
# Steps: real servers up; keeplite fills the table (compared with `expected` after every
# change, plus --thresholds, --tun-info, --persistent-conn); traffic through the NAT, wrr, lc,
# persistent and IPv6 services; a killed server (connections refused) leaves and comes back,
# with times measured against the configured bounds; a server failing its HTTP check (404);
# the sorry server and quorum (one server killed, one cut off: probes time out); SIGTERM with
# and without -I; a restart over an edited table; the notify FIFOs' lines (fifo_step, on a
# configuration of its own); the keepalived reference run (the table, then the FIFO step).
#
# Topology (all in the VM): this namespace is the director; real servers are busybox httpd, one
# network namespace each (unshare -n + a veth hN/rN), at 192.168.100.N (N = 2, 3, 4; 2 also at
# 2001:db8:100::2 and running udhcpd on UDP 67, whose silence passes a UDP_CHECK), and the sorry
# server at 192.168.100.5. The virtual addresses are routed towards h2: IPVS catches the local
# client's packets on their way out (LOCAL_OUT) and sends them to the chosen real server.
#
# Each step prints PASS or FAIL lines (and DETECTION lines with the times); the script exits
# non-zero if any step failed, after printing keeplite's log. The last line on success is
# "LB_VM PASSED".
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
CONF=/keepalived.conf
LOG=/tmp/keeplite.log
KEEPLITE_LOG=$LOG
NOTIFY_LOG=/tmp/notify.log
FAILS=0
# Detection bounds (centiseconds), from keepalived.conf's delay_loop 1, retry 1,
# delay_before_retry 1, connect_timeout 1, plus a margin for TCG (the guest is many times slower
# than the host) and the polling. A refused probe: the next probe comes within delay_loop, its
# retry delay_before_retry later, so delay_loop x (retry + 1) + delay_before_retry covers it.
BOUND_CS=300
MARGIN_CS=200
# Coming back: a TCP_CHECK passes at its next probe (within delay_loop); an HTTP_GET that
# failed re-checks the failed url, then the whole list from the first url (keepalived's
# check_http.c does the same), so a one-url check needs two passes: 2 x delay_loop.
BACK_BOUND_CS=200
# A server that does not answer at all: each probe waits connect_timeout (1 s), so
# delay_loop + (retry + 1) x connect_timeout + retry x delay_before_retry.
TIMEOUT_BOUND_CS=400

pass() { echo "PASS: $*"; }
fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}
# Monotonic centiseconds since boot.
now_cs() { awk '{ printf "%d", $1 * 100 }' /proc/uptime; }
secs() { awk -v cs="$1" 'BEGIN { printf "%.2f", cs / 100 }'; }

# stamp: each line prefixed with the seconds since boot (the clock of the measurements).
stamp() {
    while IFS= read -r line; do
        read -r up _ </proc/uptime
        echo "$up $line"
    done
}

# mark WHAT: a line in the daemon's log ($LOG), to tell when the test did something.
mark() {
    read -r up _ </proc/uptime
    echo "$up ### $*" >>"$LOG"
}

# ---------------------------------------------------------------------------------------------
# Real servers.

mkdir -p /www/sorry
echo served-by-sorry >/www/sorry/index.html
echo ok >/www/sorry/health
for n in 2 3 4; do
    mkdir -p /www/rs$n
    echo served-by-rs$n >/www/rs$n/index.html
    echo ok >/www/rs$n/health
done

# mkns N: a network namespace holding 192.168.100.N behind the veth hN (here) / rN (there).
# The director answers ARP for 192.168.100.1 on every hN (the address is on h2; arp_ignore 0).
mkns() {
    n=$1
    unshare -n sh -c 'exec sleep 100000' &
    pid=$!
    eval "NS$n=$pid"
    i=0
    while [ "$(readlink /proc/$pid/ns/net)" = "$(readlink /proc/$$/ns/net)" ]; do
        i=$((i + 1))
        [ $i -gt 100 ] && { echo "namespace $n did not appear"; return 1; }
        sleep 0.05
    done
    ip link add name h$n type veth || return 1
    # busybox ip ignores `peer name`: find the kernel-named peer by its iflink.
    peer=
    for d in /sys/class/net/*; do
        [ "$(cat "$d/ifindex")" = "$(cat /sys/class/net/h$n/iflink)" ] && peer=${d##*/}
    done
    [ -n "$peer" ] || { echo "no peer for h$n"; return 1; }
    ip link set "$peer" name r$n && ip link set r$n netns "$pid" || return 1
    echo 0 >/proc/sys/net/ipv6/conf/h$n/accept_dad
    ip link set h$n up || return 1
    if [ "$n" = 2 ]; then
        ip addr add 192.168.100.1/24 dev h2 && ip -6 addr add 2001:db8:100::1/64 dev h2 || return 1
    else
        ip route add 192.168.100.$n/32 dev h$n || return 1
    fi
    nsenter -t "$pid" -n sh -c "
        ip link set lo up
        echo 0 >/proc/sys/net/ipv6/conf/r$n/accept_dad
        ip link set r$n up
        ip addr add 192.168.100.$n/24 dev r$n
        ip route add default via 192.168.100.1
        if [ $n = 2 ]; then
            ip -6 addr add 2001:db8:100::2/64 dev r2
            ip -6 route add default via 2001:db8:100::1
        fi"
}

# start_httpd N: busybox httpd in namespace N (foreground, so that its pid is ours to kill).
start_httpd() {
    n=$1
    eval "pid=\$NS$n"
    dir=/www/rs$n
    [ "$n" = 5 ] && dir=/www/sorry
    mark "httpd of 192.168.100.$n starting"
    nsenter -t "$pid" -n httpd -f -p 80 -h "$dir" &
    eval "HTTPD$n=$!"
    eval "A$n=1"
    eval "H$n=1"
}

stop_httpd() {
    n=$1
    eval "pid=\$HTTPD$n"
    mark "httpd of 192.168.100.$n stopping"
    kill "$pid"
    wait "$pid" 2>/dev/null
    eval "A$n=0"
}

setup_ok=1
for n in 2 3 4 5; do
    mkns $n || setup_ok=0
done
# The virtual addresses (IPv4 and IPv6) lead towards the real servers.
ip route add 10.0.0.0/23 dev h2 || setup_ok=0
ip -6 route add 2001:db8:10::/64 dev h2 || setup_ok=0
for n in 2 3 4 5; do
    start_httpd $n
done
cat >/tmp/udhcpd.conf <<'EOF'
start 192.168.100.200
end 192.168.100.210
interface r2
lease_file /tmp/udhcpd.leases
EOF
touch /tmp/udhcpd.leases
nsenter -t "$NS2" -n udhcpd -f /tmp/udhcpd.conf >/tmp/udhcpd.log 2>&1 &
UDHCPD=$!

# The notify scripts keepalived.conf names: they run as script_user nobody, so the log is
# writable by all and / must be searchable (run.sh's cpio makes it 0700). The insecure one
# runs as root (keepalived.conf says so) and is world-writable: with enable_script_security it
# must never run.
mkdir -p /etc
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
    >/etc/passwd
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >/etc/group
chmod 755 /
printf '%s\n' '#!/bin/sh' \
    'echo "$(cut -d" " -f1 /proc/uptime) uid=$(id -u) $*" >>/tmp/notify.log' >/lb_notify.sh
chmod 755 /lb_notify.sh
printf '%s\n' '#!/bin/sh' \
    'echo "$(cut -d" " -f1 /proc/uptime) uid=$(id -u) INSECURE SCRIPT RAN $*" >>/tmp/notify.log' \
    >/tmp/lb_notify_insecure.sh
chmod 777 /tmp/lb_notify_insecure.sh
: >"$NOTIFY_LOG"
chmod 666 "$NOTIFY_LOG"

# fetch VIP [PORT]: the body of GET /index.html through the virtual service (one word:
# served-by-rsN or served-by-sorry), or nothing.
fetch() {
    printf 'GET /index.html HTTP/1.0\r\n\r\n' | timeout 5 nc "$1" "${2:-80}" 2>/dev/null |
        tr -d '\r' | grep -o 'served-by-[a-z0-9]*' | head -n 1
}

# Real servers answer directly before anything else is tested.
sleep 0.3
for n in 2 3 4 5; do
    want=served-by-rs$n
    [ $n = 5 ] && want=served-by-sorry
    got=$(fetch 192.168.100.$n)
    [ "$got" = "$want" ] || setup_ok=0
done
[ "$(fetch 2001:db8:100::2)" = served-by-rs2 ] || setup_ok=0
nsenter -t "$NS2" -n netstat -lun | grep -q ':67 ' || setup_ok=0
if [ $setup_ok = 1 ]; then
    pass "setup: real servers 192.168.100.2-5 and 2001:db8:100::2 answer, udhcpd listens on 67"
else
    fail "setup: real servers do not all answer"
    ip addr
    ip route
    ip -6 route
    cat /tmp/udhcpd.log
fi

# ---------------------------------------------------------------------------------------------
# The table: ipvsadm's listing as sorted lines "SERVICE" and "SERVICE | DEST FORWARD WEIGHT"
# (the connection counters left out), and the one keepalived.conf calls for.

# 10.0.0.120:80 (the service without `protocol`) is left out: check_protocol_default looks at it.
table() {
    ipvsadm -Ln "$@" | awk '
        NR <= 3 { next }
        $1 == "->" { if (!skip) print svc " | " $2 " " $3 " " $4; next }
        {
            skip = $2 == "10.0.0.120:80"
            if (skip) next
            svc = $1
            for (i = 2; i <= NF; i++) svc = svc " " $i
            print svc
        }' | sort
}

# The service being written, for dst.
S=
svc() {
    S="$*"
    echo "$S"
}
dst() { echo "$S | $*"; }
# up N: server N accepts TCP connections; hup N: it also answers GET /health with 200.
up() { eval "[ \"\$A$1\" = 1 ]"; }
hup() { up "$1" && eval "[ \"\$H$1\" = 1 ]"; }
# A real server on port 80 with a TCP_CHECK: in with FORWARD and WEIGHT while it accepts.
rs80() { up "$1" && dst "192.168.100.$1:80 $2 $3"; }
# The same with an HTTP_GET of /health.
http80() { hup "$1" && dst "192.168.100.$1:80 $2 $3"; }

# The table keepalived.conf asks for while the servers are up or down (A2, A3, A4: accepting
# connections; H2, H3, H4: answering GET /health with 200).
# (A foreign service, 10.9.9.9:80, is the guest's own: keeplite must leave it alone.)
expected() {
    {
        if [ "$FOREIGN" = 1 ]; then svc TCP 10.9.9.9:80 rr; fi
        if [ "$KEEPLITE_SERVICES" = 1 ]; then
            svc TCP 10.0.0.100:80 rr
            http80 2 Masq 1
            http80 3 Masq 1
            http80 4 Masq 1
            # inhibit_on_failure: weight 0 instead of removal.
            svc TCP 10.0.0.101:80 wrr
            if hup 2; then dst 192.168.100.2:80 Masq 2; else dst 192.168.100.2:80 Masq 0; fi
            if hup 3; then dst 192.168.100.3:80 Masq 3; else dst 192.168.100.3:80 Masq 0; fi
            svc TCP 10.0.0.102:80 lc
            if hup 3 || hup 4; then
                http80 3 Masq 1
                http80 4 Masq 1
            else
                dst 192.168.100.5:80 Masq 1
            fi
            # Quorum lost changes nothing without a sorry server.
            svc TCP 10.0.0.103:80 wlc
            rs80 2 Masq 1
            rs80 3 Masq 1
            rs80 4 Masq 1
            svc TCP 10.0.0.104:443 rr persistent 600 mask 255.255.255.0
            rs80 2 Masq 1
            rs80 3 Masq 1
            svc UDP 10.0.0.105:67 rr ops
            dst 192.168.100.2:67 Masq 1
            dst 192.168.100.4:67 Masq 1
            svc TCP 10.0.0.110:80 rr
            rs80 2 Route 1
            rs80 3 Route 1
            svc TCP 10.0.0.111:80 wrr
            rs80 3 Tunnel 2
            rs80 4 Tunnel 1
            svc FWM 7 wlc persistent 120
            up 4 && dst 192.168.100.4:0 Route 4
            svc TCP "[2001:db8:10::100]:80" rr
            hup 2 && dst "[2001:db8:100::2]:80 Masq 1"
            svc TCP "[2001:db8:10::104]:443" sh "(sh-port)" persistent 300 mask 64
            dst "[2001:db8:100::2]:443 Masq 5"
            i=1
            for spec in rr:2:1 wrr:3:7 lc:4:1 wlc:2:1 lblc:3:1 lblcr:4:1 dh:2:1 \
                "sh (sh-fallback):3:1" sed:4:1 nq:2:1 fo:3:1 ovf:4:1 "mh (mh-port):2:1"; do
                sched=${spec%%:*}
                rest=${spec#*:}
                svc TCP 10.0.1.$i:80 "$sched"
                rs80 "${rest%%:*}" Masq "${rest#*:}"
                i=$((i + 1))
            done
        fi
    } | sort
}

# The lines of one service (exactly SERVICE, or SERVICE | ...).
service_lines() { awk -v s="$1" '$0 == s || index($0, s " | ") == 1'; }

# One PASS or FAIL line per service of the expected table.
report_services() {
    label=$1
    actual=$(table)
    want=$(expected)
    echo "$want" | awk -F' [|] ' '{ print $1 }' | uniq | while read -r s; do
        a=$(echo "$actual" | service_lines "$s")
        w=$(echo "$want" | service_lines "$s")
        dests=$(echo "$w" | awk -F' [|] ' 'NF > 1 { printf "%s%s", sep, $2; sep = ", " }')
        if [ "$a" = "$w" ]; then
            echo "PASS: $label: $s -> ${dests:-(no destinations)}"
        else
            echo "FAIL: $label: $s: want"
            echo "$w" | sed 's/^/      /'
            echo "    got"
            echo "$a" | sed 's/^/      /'
        fi
    done
}

# wait_table LABEL TIMEOUT_CS: polls until the table is the expected one. Sets WAITED_CS.
wait_table() {
    label=$1
    limit=$2
    start=$(now_cs)
    want=$(expected)
    while :; do
        got=$(table)
        WAITED_CS=$(($(now_cs) - start))
        if [ "$got" = "$want" ]; then
            pass "$label: table as expected after $(secs $WAITED_CS) s"
            return 0
        fi
        if [ $WAITED_CS -gt "$limit" ]; then
            fail "$label: table not as expected after $(secs $WAITED_CS) s; diff want got:"
            echo "$want" >/tmp/want
            echo "$got" >/tmp/got
            diff /tmp/want /tmp/got | sed 's/^/    /'
            report_services "$label" | grep '^FAIL\|^ '
            return 1
        fi
        sleep 0.2
    done
}

# fetch_many VIP N: the distinct bodies of N requests, sorted, space-separated; "none" marks a
# failed request.
fetch_many() {
    k=0
    while [ $k -lt "$2" ]; do
        b=$(fetch "$1")
        echo "${b:-none}"
        k=$((k + 1))
    done | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# expect_traffic LABEL VIP N WANT: N requests through VIP were answered by exactly the servers WANT.
expect_traffic() {
    # The data path through a real server whose link was just cut and restored can lag the
    # table (neighbour and connection entries from the cut): a few more tries before failing.
    tries=0
    got=$(fetch_many "$2" "$3")
    while [ "$got" != "$4" ] && [ $tries -lt 4 ]; do
        sleep 1
        tries=$((tries + 1))
        got=$(fetch_many "$2" "$3")
    done
    if [ "$got" = "$4" ]; then
        pass "$1: $3 requests to $2 answered by $got"
    else
        fail "$1: $3 requests to $2 answered by '$got', want '$4'"
        ipvsadm -Ln
    fi
}

# expect_traffic_one LABEL VIP PORT N: N requests through VIP:PORT all went to one server.
expect_traffic_one() {
    got=$(k=0; while [ $k -lt "$4" ]; do
        b=$(fetch "$2" "$3")
        echo "${b:-none}"
        k=$((k + 1))
    done | sort -u | tr '\n' ' ' | sed 's/ $//')
    case $got in
        served-by-rs[0-9]) pass "$1: $4 requests to $2:$3 all answered by $got" ;;
        *) fail "$1: $4 requests to $2:$3 answered by '$got', want one server" ;;
    esac
}

# check_listings LABEL: what `ipvsadm -Ln` leaves out: thresholds and tunnel settings.
check_listings() {
    # --thresholds: .3 in the inhibit service carries uthreshold 100, lthreshold 10.
    if table --thresholds | grep -qx 'TCP 10.0.0.101:80 wrr | 192.168.100.3:80 100 10'; then
        pass "$1: thresholds: 192.168.100.3:80 in 10.0.0.101:80 has upper 100 lower 10"
    else
        fail "$1: thresholds: 192.168.100.3:80 in 10.0.0.101:80 has not upper 100 lower 10"
    fi
    # --tun-info: IPIP on .3, GUE port 6080 without checksum on .4.
    tun=$(table --tun-info | grep '^TCP 10.0.0.111:80 .* | ')
    want_tun="TCP 10.0.0.111:80 wrr | 192.168.100.3:80 Tunnel ipip
TCP 10.0.0.111:80 wrr | 192.168.100.4:80 Tunnel gue:6080:-c"
    if [ "$tun" = "$want_tun" ]; then
        pass "$1: tun-info: 10.0.0.111:80 has ipip on .3 and gue:6080:-c on .4"
    else
        fail "$1: tun-info: 10.0.0.111:80: got '$tun', want '$want_tun'"
    fi
}

# check_protocol_default LABEL: keepalived makes a virtual server without `protocol` UDP.
check_protocol_default() {
    proto=$(ipvsadm -Ln | awk '$2 == "10.0.0.120:80" { print $1 }')
    if [ "$proto" = UDP ]; then
        pass "$1: virtual_server 10.0.0.120 80 without \`protocol\` is UDP, as keepalived makes it"
    else
        fail "$1: virtual_server 10.0.0.120 80 without \`protocol\` is '$proto';" \
            "keepalived 2.2 makes it UDP (\"no protocol set - defaulting to UDP\")"
    fi
}

# watch_table LIMIT_CS CONDITION...: polls the table until it is the expected one or LIMIT_CS
# passed. A CONDITION is +LINE (the table line appears) or -LINE (it goes). Sets WATCHED to
# the centiseconds each condition took ("-": never), in order, and T_ALL to when the whole
# table matched (empty: never).
watch_table() {
    limit=$1
    shift
    start=$(now_cs)
    want=$(expected)
    times=
    for c in "$@"; do times="$times -"; done
    while :; do
        got=$(table)
        t=$(($(now_cs) - start))
        new=
        i=0
        for c in "$@"; do
            i=$((i + 1))
            old=$(echo $times | cut -d' ' -f$i)
            if [ "$old" = - ]; then
                case $c in
                    +*) echo "$got" | grep -qxF "${c#?}" && old=$t ;;
                    -*) echo "$got" | grep -qxF "${c#?}" || old=$t ;;
                esac
            fi
            new="$new $old"
        done
        times=$new
        if [ "$got" = "$want" ]; then
            T_ALL=$t
            break
        fi
        if [ $t -gt "$limit" ]; then
            T_ALL=
            echo "table still not as expected after $(secs $t) s; diff want got:"
            echo "$want" >/tmp/want
            echo "$got" >/tmp/got
            diff /tmp/want /tmp/got | sed 's/^/    /'
            break
        fi
        sleep 0.1
    done
    WATCHED=$times
}

# within LABEL T_CS BOUND_CS: T_CS (a time from watch_table) is within the bound and the margin.
within() {
    if [ -n "$2" ] && [ "$2" != - ] && [ "$2" -le $(($3 + MARGIN_CS)) ]; then
        echo "DETECTION: $1: $(secs "$2") s (bound $(secs "$3") s)"
        pass "$1 after $(secs "$2") s (bound $(secs "$3") s + $(secs $MARGIN_CS) s margin)"
    else
        echo "DETECTION: $1: never within $(secs $(($3 + MARGIN_CS))) s (bound $(secs "$3") s)"
        fail "$1: not within $(secs "$3") s + $(secs $MARGIN_CS) s margin"
    fi
}

# start_keeplite [FLAG...]: keeplite (or $DAEMON) in the background, its log stamped into
# $LOG; sets KPID.
DAEMON=keeplite
start_keeplite() {
    mark "$DAEMON $* starting"
    rm -f /tmp/keeplite.pid /tmp/keeplite.rc
    (
        if [ "$DAEMON" = keeplite ]; then
            set -- -G --control /tmp/keeplite.sock -c /tmp/keeplite-check.pid "$@"
        fi
        $DAEMON -f "$CONF" -n -l -C -D "$@" 2>&1 &
        echo $! >/tmp/keeplite.pid
        wait $!
        echo $? >/tmp/keeplite.rc
    ) | stamp >>"$LOG" &
    KPIPE=$!
    while [ ! -s /tmp/keeplite.pid ]; do sleep 0.05; done
    KPID=$(cat /tmp/keeplite.pid)
}

# stop_keeplite: SIGTERM, then waits (5 s at most) for the exit.
stop_keeplite() {
    kill -TERM "$KPID"
    i=0
    while kill -0 "$KPID" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 50 ]; then
            fail "$DAEMON did not exit within 5 s of SIGTERM"
            kill -KILL "$KPID"
            break
        fi
        sleep 0.1
    done
    wait "$KPIPE"
    KRC=$(cat /tmp/keeplite.rc 2>/dev/null)
    mark "$DAEMON stopped: rc ${KRC:-unknown}"
}

# dump_log: keeplite's log without the lines of every passing probe, and the notify log.
dump_log() {
    echo "---- keeplite log ($(wc -l <"$KEEPLITE_LOG") lines; probes that passed and quorum up" \
        "left out; ### marks the test's actions) ----"
    grep -v 'checker [0-9]* of .*: up$\|quorum up$' "$KEEPLITE_LOG" | tail -n 250
    echo "---- notify log ----"
    cat "$NOTIFY_LOG"
    echo "----"
}

# ---------------------------------------------------------------------------------------------
# The notify FIFOs (step 8, and again for the reference): a configuration of its own,
# /tmp/fifo.conf, with 192.168.100.2 in an IPv4 service (quorum 2, omega), an IPv6 one, a
# fwmark one (DR: keepalived names the server without a port), a group of addresses and a group
# of fwmarks (no protocol), and an alpha service whose one server (.3, port 81) refuses every
# connection. rs_init_notifies: each server that starts up is written UP at the start. notify_fifo
# is a FIFO the guest made and reads with a cat of its own; lvs_notify_fifo is made by the daemon
# (mode 0600, given to script_user nobody) and read by its lvs_notify_fifo_script, which gets the
# FIFO's path as its last argument. .2 stops and starts again, then the daemon stops: each FIFO
# must carry exactly keepalived 2.2.7's lines (check/ipwrapper.c: "RS <rs> <vs> UP|DOWN" and
# "VS <vs> UP|DOWN").

FIFO_CONF=/tmp/fifo.conf
cat >"$FIFO_CONF" <<'EOF'
global_defs {
    router_id lb_fifo
    script_user nobody
    enable_script_security
    notify_fifo /tmp/notify.fifo
    lvs_notify_fifo_script /lb_fifo_reader.sh
    lvs_notify_fifo /tmp/lvs.fifo
    rs_init_notifies
}
virtual_server_group fifo_group {
    10.0.2.10-11 80
}
virtual_server_group fifo_marks {
    fwmark 21
}
virtual_server 10.0.2.1 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 2
    omega
    real_server 192.168.100.2 80 {
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 192.168.100.3 80 {
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server 10.0.2.2 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    alpha
    real_server 192.168.100.3 81 {
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server 2001:db8:10::200 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 2001:db8:100::2 80 {
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server fwmark 20 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    real_server 192.168.100.2 {
        TCP_CHECK {
            connect_port 80
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server group fifo_group {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.168.100.2 80 {
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server group fifo_marks {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    real_server 192.168.100.2 80 {
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
EOF
printf '%s\n' '#!/bin/sh' \
    'echo "uid=$(id -u) args=$*" >>/tmp/lvs-reader.log' \
    'exec cat "$1" >>/tmp/lvs-fifo.log' >/lb_fifo_reader.sh
chmod 755 /lb_fifo_reader.sh

# At the start (rs_init_notifies) each server that starts up, then its service gaining quorum,
# in the configuration's order; the alpha service's server starts down and gains nothing.
FIFO_START='RS [192.168.100.2]:tcp:80 [10.0.2.1]:tcp:80 UP
RS [192.168.100.3]:tcp:80 [10.0.2.1]:tcp:80 UP
VS [10.0.2.1]:tcp:80 UP
RS [2001:db8:100::2]:tcp:80 [2001:db8:10::200]:tcp:80 UP
VS [2001:db8:10::200]:tcp:80 UP
RS [192.168.100.2]:none:0 FWM 20 UP
VS FWM 20 UP
RS [192.168.100.2]:tcp:80 [fifo_group]:0 UP
VS [fifo_group]:0 UP
RS [192.168.100.2]:none:80 [fifo_marks]:0 UP
VS [fifo_marks]:0 UP'
# Then the alpha server's first check fails: down as it started, but written.
FIFO_ALPHA='RS [192.168.100.3]:tcp:81 [10.0.2.2]:tcp:80 DOWN'
FIFO_BEGIN="$FIFO_START
$FIFO_ALPHA"
# fifo_rs STATE: .2 goes STATE in each service, which loses or gains quorum with it.
fifo_rs() {
    printf '%s\n' \
        "RS [192.168.100.2]:tcp:80 [10.0.2.1]:tcp:80 $1" \
        "VS [10.0.2.1]:tcp:80 $1" \
        "RS [2001:db8:100::2]:tcp:80 [2001:db8:10::200]:tcp:80 $1" \
        "VS [2001:db8:10::200]:tcp:80 $1" \
        "RS [192.168.100.2]:none:0 FWM 20 $1" \
        "VS FWM 20 $1" \
        "RS [192.168.100.2]:tcp:80 [fifo_group]:0 $1" \
        "VS [fifo_group]:0 $1" \
        "RS [192.168.100.2]:none:80 [fifo_marks]:0 $1" \
        "VS [fifo_marks]:0 $1"
}
# A reload that drops the group of fwmarks: its real server goes down, then its quorum.
FIFO_RELOAD='RS [192.168.100.2]:none:80 [fifo_marks]:0 DOWN
VS [fifo_marks]:0 DOWN'
# SIGTERM: omega sends 10.0.2.1's servers and quorum down.
FIFO_STOP='RS [192.168.100.2]:tcp:80 [10.0.2.1]:tcp:80 DOWN
RS [192.168.100.3]:tcp:80 [10.0.2.1]:tcp:80 DOWN
VS [10.0.2.1]:tcp:80 DOWN'

# fifo_missing FILE WANT: the lines of WANT that FILE lacks (each as often as WANT has it).
fifo_missing() {
    echo "$2" | awk -v f="$1" '
        BEGIN { while ((getline l < f) > 0) have[l]++ }
        { if (have[$0] > 0) have[$0]--; else print }'
}

# fifo_wait LABEL FILE WANT LIMIT_CS: waits until FILE holds every line of WANT.
fifo_wait() {
    t0=$(now_cs)
    while [ -n "$(fifo_missing "$2" "$3")" ]; do
        if [ $(($(now_cs) - t0)) -gt "$4" ]; then
            fail "$1: after $(secs $(($(now_cs) - t0))) s these lines are still missing:"
            fifo_missing "$2" "$3" | sed 's/^/    /'
            return 1
        fi
        sleep 0.2
    done
    pass "$1: its lines arrived within $(secs $(($(now_cs) - t0))) s"
}

# fifo_same LABEL FILE WANT: FILE holds exactly the lines of WANT, in any order.
fifo_same() {
    got=$(sort "$2")
    want=$(echo "$3" | sort)
    if [ "$got" = "$want" ]; then
        pass "$1: exactly the $(echo "$want" | wc -l) lines keepalived writes"
    else
        fail "$1: diff want got:"
        echo "$want" >/tmp/want
        echo "$got" >/tmp/got
        diff /tmp/want /tmp/got | sed 's/^/    /'
    fi
}

# fifo_in_order FILE LINE...: each LINE is in FILE, after the one before it.
fifo_in_order() {
    f=$1
    shift
    last=0
    for l in "$@"; do
        n=$(awk -v l="$l" -v after="$last" 'NR > after && $0 == l { print NR; exit }' "$f")
        [ -n "$n" ] || return 1
        last=$n
    done
}

# fifo_step LABEL: the FIFO step for $DAEMON; its lines are kept in /tmp/fifo-$DAEMON.lines.
# A reload in the middle drops the group of fwmarks: its server and quorum go down, the other
# services keep their state and write nothing, the FIFOs are closed and opened again (the one
# the daemon made is made anew, and its reader script started again).
fifo_step() {
    label=$1
    rm -f /tmp/notify.fifo /tmp/lvs.fifo /tmp/fifo-stop
    : >/tmp/notify-fifo.log
    : >/tmp/lvs-fifo.log
    : >/tmp/lvs-reader.log
    chmod 666 /tmp/lvs-fifo.log /tmp/lvs-reader.log
    mkfifo -m 600 /tmp/notify.fifo
    # Reopens the FIFO after each end of file (the daemon closes it on reload) until told to stop.
    (
        while [ ! -e /tmp/fifo-stop ]; do
            cat /tmp/notify.fifo >>/tmp/notify-fifo.log
        done
    ) &
    readpid=$!
    cp "$FIFO_CONF" /tmp/fifo-run.conf
    saved_conf=$CONF
    CONF=/tmp/fifo-run.conf
    start_keeplite
    CONF=$saved_conf
    fifo_wait "$label: start" /tmp/notify-fifo.log "$FIFO_BEGIN" 1500
    if [ -p /tmp/lvs.fifo ]; then
        mode=$(ls -ln /tmp/lvs.fifo | awk '{ print $1, $3, $4 }')
        if [ "$mode" = "prw------- 65534 65534" ]; then
            pass "$label: lvs_notify_fifo made as $mode (mode 0600, given to script_user nobody)"
        else
            fail "$label: lvs_notify_fifo made as '$mode', want 'prw------- 65534 65534'"
        fi
    else
        fail "$label: /tmp/lvs.fifo was not made"
    fi
    stop_httpd 2
    fifo_wait "$label: .2 down" /tmp/notify-fifo.log "$FIFO_BEGIN
$(fifo_rs DOWN)" $((TIMEOUT_BOUND_CS + MARGIN_CS))
    start_httpd 2
    fifo_wait "$label: .2 up again" /tmp/notify-fifo.log "$FIFO_BEGIN
$(fifo_rs DOWN)
$(fifo_rs UP)" $((BACK_BOUND_CS + MARGIN_CS))
    # The reload: everything but the last virtual server (the group of fwmarks).
    awk '/^virtual_server group fifo_marks/ { exit } { print }' "$FIFO_CONF" >/tmp/fifo-run.conf
    mark "$label: reload without the group of fwmarks"
    kill -HUP "$KPID"
    fifo_wait "$label: reload" /tmp/notify-fifo.log "$FIFO_BEGIN
$(fifo_rs DOWN)
$(fifo_rs UP)
$FIFO_RELOAD" $((BACK_BOUND_CS + MARGIN_CS))
    # Time for lines that should not come (the kept services' quorum written again).
    sleep 2
    reader=$(cat /tmp/lvs-reader.log)
    if [ "$reader" = "uid=65534 args=/tmp/lvs.fifo
uid=65534 args=/tmp/lvs.fifo" ]; then
        pass "$label: lvs_notify_fifo_script runs as nobody with the FIFO as its argument, again after the reload"
    else
        fail "$label: lvs_notify_fifo_script runs: '$reader'; want twice 'uid=65534 args=/tmp/lvs.fifo'"
    fi
    # The reader script is killed with the daemon's other scripts before the shutdown lines.
    cp /tmp/lvs-fifo.log /tmp/lvs-fifo.before-stop
    stop_keeplite
    touch /tmp/fifo-stop
    # The reader's cat reads to the end, then waits to open the FIFO again: a writer that comes
    # and goes lets it through to the stop flag.
    i=0
    while kill -0 "$readpid" 2>/dev/null && [ $i -lt 10 ]; do
        timeout 1 sh -c ': >/tmp/notify.fifo'
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$readpid" 2>/dev/null; then
        fail "$label: the notify_fifo reader did not end"
        kill "$readpid"
    fi
    wait "$readpid" 2>/dev/null
    all="$FIFO_BEGIN
$(fifo_rs DOWN)
$(fifo_rs UP)
$FIFO_RELOAD
$FIFO_STOP"
    fifo_same "$label: notify_fifo" /tmp/notify-fifo.log "$all"
    fifo_same "$label: lvs_notify_fifo (its script, until SIGTERM)" /tmp/lvs-fifo.before-stop \
        "$FIFO_BEGIN
$(fifo_rs DOWN)
$(fifo_rs UP)
$FIFO_RELOAD"
    # The order keepalived keeps: the start in the configuration's order, then the alpha
    # server's failure; in each service, the real server before the quorum; the reload's lines,
    # then the shutdown's, last.
    if [ "$(head -n "$(echo "$FIFO_BEGIN" | wc -l)" /tmp/notify-fifo.log)" = "$FIFO_BEGIN" ] &&
        [ "$(tail -n 5 /tmp/notify-fifo.log)" = "$FIFO_RELOAD
$FIFO_STOP" ] &&
        fifo_in_order /tmp/notify-fifo.log \
            "RS [192.168.100.2]:tcp:80 [10.0.2.1]:tcp:80 DOWN" "VS [10.0.2.1]:tcp:80 DOWN" \
            "RS [192.168.100.2]:tcp:80 [10.0.2.1]:tcp:80 UP" "VS [10.0.2.1]:tcp:80 UP" &&
        fifo_in_order /tmp/notify-fifo.log \
            "RS [192.168.100.2]:none:80 [fifo_marks]:0 DOWN" "VS [fifo_marks]:0 DOWN" \
            "RS [192.168.100.2]:none:80 [fifo_marks]:0 UP" "VS [fifo_marks]:0 UP"; then
        pass "$label: notify_fifo lines in keepalived's order"
    else
        fail "$label: notify_fifo lines out of order:"
        sed 's/^/    /' /tmp/notify-fifo.log
    fi
    if [ ! -e /tmp/lvs.fifo ] && [ -p /tmp/notify.fifo ]; then
        pass "$label: the FIFO it made is removed at exit, the guest's is left"
    else
        fail "$label: after exit: lvs.fifo $(ls -l /tmp/lvs.fifo 2>&1); notify.fifo $(ls -l /tmp/notify.fifo 2>&1)"
    fi
    cp /tmp/notify-fifo.log "/tmp/fifo-$DAEMON.lines"
}

# ---------------------------------------------------------------------------------------------
# Steps 2-3: keeplite fills the table.

FOREIGN=1
KEEPLITE_SERVICES=0
ipvsadm -A -t 10.9.9.9:80 -s rr
: >"$LOG"
start_keeplite -p /run/keeplite-lb.pid
KEEPLITE_SERVICES=1
# Every checker's first probe is within warmup (= delay_loop, 1 s); the UDP_CHECK of .3 then
# fails once (port unreachable) and takes .3 out of the UDP service.
if wait_table "start" 1500; then
    report_services "start"
fi
for listing in --persistent-conn --thresholds --tun-info; do
    echo "ipvsadm -Ln $listing:"
    ipvsadm -Ln $listing | sed 's/^/    /'
done
check_listings start
check_protocol_default start

# ---------------------------------------------------------------------------------------------
# Step 4: traffic.

expect_traffic "traffic" 10.0.0.100 6 "served-by-rs2 served-by-rs3 served-by-rs4"
expect_traffic "traffic IPv6" 2001:db8:10::100 2 "served-by-rs2"
expect_traffic "traffic wrr" 10.0.0.101 5 "served-by-rs2 served-by-rs3"
expect_traffic "traffic lc" 10.0.0.102 4 "served-by-rs3 served-by-rs4"
# Persistence: rr would alternate between .2 and .3; the client's /24 stays on one of them.
expect_traffic_one "traffic persistent" 10.0.0.104 443 4
# --persistent-conn: those requests made one persistence template, on the server they went to.
templates=$(table --persistent-conn | grep '^TCP 10.0.0.104:443 .* | ' |
    awk '$NF > 0 { n++; s += $NF; who = $(NF - 2) } END { print n + 0, s + 0, who }')
if [ "$templates" = "1 1 192.168.100.${got#served-by-rs}:80" ]; then
    pass "persistent-conn: one template in 10.0.0.104:443, on $got"
else
    fail "persistent-conn: 10.0.0.104:443 has (servers, templates, server) '$templates', want one on $got"
    ipvsadm -Ln --persistent-conn -t 10.0.0.104:443
fi
# The NAT service counted them (this kernel folds its per-CPU counters every 2 s).
i=0
while :; do
    conns=$(ipvsadm -Ln --stats -t 10.0.0.100:80 | awk '$1 == "TCP" { print $3 }')
    [ "${conns:-0}" -ge 6 ] || [ $i -ge 30 ] && break
    i=$((i + 1))
    sleep 0.1
done
if [ "${conns:-0}" -ge 6 ]; then
    pass "stats: 10.0.0.100:80 counted $conns connections"
else
    fail "stats: 10.0.0.100:80 counted '${conns}' connections, want 6 or more"
    ipvsadm -Ln --stats -t 10.0.0.100:80
fi

# ---------------------------------------------------------------------------------------------
# Step 5: one real server dies and comes back.

stop_httpd 2
watch_table $((TIMEOUT_BOUND_CS + MARGIN_CS + 300)) \
    "-TCP 10.0.0.100:80 rr | 192.168.100.2:80 Masq 1" \
    "+TCP 10.0.0.101:80 wrr | 192.168.100.2:80 Masq 0" \
    "-TCP [2001:db8:10::100]:80 rr | [2001:db8:100::2]:80 Masq 1" \
    "-TCP 10.0.1.1:80 rr | 192.168.100.2:80 Masq 1"
set -- $WATCHED
within "killed .2 (refused): out of 10.0.0.100:80 (HTTP_GET)" "$1" $BOUND_CS
within "killed .2 (refused): weight 0 in 10.0.0.101:80 (HTTP_GET, inhibit_on_failure)" "$2" $BOUND_CS
within "killed .2 (refused): out of [2001:db8:10::100]:80 (HTTP_GET)" "$3" $BOUND_CS
within "killed .2 (refused): out of 10.0.1.1:80 (TCP_CHECK)" "$4" $BOUND_CS
within "killed .2 (refused): whole table" "$T_ALL" $BOUND_CS
expect_traffic "traffic without .2" 10.0.0.100 6 "served-by-rs3 served-by-rs4"
expect_traffic "traffic without .2 (inhibited)" 10.0.0.101 4 "served-by-rs3"
# The IPv6 service has no server left: the connection is refused.
expect_traffic "IPv6 traffic without its server" 2001:db8:10::100 1 "none"

start_httpd 2
watch_table $((BACK_BOUND_CS + MARGIN_CS + 300))
within "restarted .2: whole table" "$T_ALL" $BACK_BOUND_CS
expect_traffic "traffic with .2 back" 10.0.0.100 6 "served-by-rs2 served-by-rs3 served-by-rs4"
expect_traffic "IPv6 traffic with .2 back" 2001:db8:10::100 1 "served-by-rs2"
if grep -q ' down 192.168.100.2$' "$NOTIFY_LOG" && grep -q ' up 192.168.100.2$' "$NOTIFY_LOG"; then
    pass "notify: notify_down and notify_up of 192.168.100.2 ran"
else
    fail "notify: notify_down/notify_up of 192.168.100.2 did not both run"
fi
# keepalived runs real and virtual servers' notify scripts as the global script_user.
users=$(grep -v 'INSECURE' "$NOTIFY_LOG" | awk '{ print $2 }' | sort -u | tr '\n' ' ')
if [ "$users" = "uid=65534 " ]; then
    pass "notify: the scripts ran as script_user nobody (uid 65534)"
else
    fail "notify: the scripts ran as $users; want uid=65534 (global_defs script_user nobody)"
fi

# ---------------------------------------------------------------------------------------------
# Step 5b: .4 still accepts connections but GET /health answers 404: out of the HTTP_GET
# services only.

mark "GET /health on 192.168.100.4 now 404"
mv /www/rs4/health /www/rs4/health.off
H4=0
watch_table $((BOUND_CS + MARGIN_CS + 300)) \
    "-TCP 10.0.0.100:80 rr | 192.168.100.4:80 Masq 1" \
    "-TCP 10.0.0.102:80 lc | 192.168.100.4:80 Masq 1"
set -- $WATCHED
within "404 on .4: out of 10.0.0.100:80 (HTTP_GET)" "$1" $BOUND_CS
within "404 on .4: out of 10.0.0.102:80 (HTTP_GET)" "$2" $BOUND_CS
within "404 on .4: whole table (its TCP_CHECKs pass)" "$T_ALL" $BOUND_CS
# .4's notify_down in 10.0.0.100 runs as root and is world-writable: enable_script_security
# forbids it.
sleep 0.5
if grep -q 'INSECURE SCRIPT RAN' "$NOTIFY_LOG"; then
    fail "notify: the world-writable root notify_down of .4 ran despite enable_script_security:" \
        "$(grep 'INSECURE SCRIPT RAN' "$NOTIFY_LOG" | head -n 1)"
else
    pass "notify: the world-writable root notify_down of .4 did not run (enable_script_security)"
fi
expect_traffic "traffic with .4 failing its HTTP check" 10.0.0.100 4 "served-by-rs2 served-by-rs3"
mark "GET /health on 192.168.100.4 now 200"
mv /www/rs4/health.off /www/rs4/health
H4=1
watch_table $((BACK_BOUND_CS + MARGIN_CS + 300))
within "200 again on .4: whole table" "$T_ALL" $BACK_BOUND_CS

# ---------------------------------------------------------------------------------------------
# Step 6: the sorry server, and quorum. .3's httpd is killed (connections refused); .4 is cut
# off (its link down: probes time out after connect_timeout).

stop_httpd 3
mark "192.168.100.4 cut off (r4 down)"
nsenter -t "$NS4" -n ip link set r4 down
A4=0
watch_table $((TIMEOUT_BOUND_CS + MARGIN_CS + 300)) \
    "-TCP 10.0.0.102:80 lc | 192.168.100.3:80 Masq 1" \
    "-TCP 10.0.0.102:80 lc | 192.168.100.4:80 Masq 1" \
    "+TCP 10.0.0.102:80 lc | 192.168.100.5:80 Masq 1" \
    "-FWM 7 wlc persistent 120 | 192.168.100.4:0 Route 4"
set -- $WATCHED
within "killed .3 (refused): out of 10.0.0.102:80 (HTTP_GET)" "$1" $BOUND_CS
within "cut off .4 (timeouts): out of 10.0.0.102:80 (HTTP_GET)" "$2" $TIMEOUT_BOUND_CS
within "cut off .4 (timeouts): out of fwmark 7 (TCP_CHECK)" "$4" $TIMEOUT_BOUND_CS
within "sorry server in 10.0.0.102:80" "$3" $TIMEOUT_BOUND_CS
within ".3 and .4 down: whole table" "$T_ALL" $TIMEOUT_BOUND_CS
expect_traffic "traffic to the sorry server" 10.0.0.102 2 "served-by-sorry"
expect_traffic "traffic with .2 alone" 10.0.0.100 3 "served-by-rs2"
if grep -q ' quorum_down 10.0.0.103$' "$NOTIFY_LOG"; then
    pass "quorum: quorum_down of 10.0.0.103:80 ran (live weight 1 < quorum 2)"
else
    fail "quorum: quorum_down of 10.0.0.103:80 did not run"
fi
# Step 6b: the process model, while .3 and .4 are down and the sorry server is in. A SIGKILLed
# checker child is replaced and resumes the last known state: the table never changes (a child
# starting over would put .3 and .4 back until their checks fail again). `keeplite status`
# lists the real servers. A reload (SIGHUP) adds a virtual server and, reverted, removes it
# again, touching nothing else; a broken config is refused.
if [ "$DAEMON" = keeplite ]; then
    before=$(table)
    kid=$(cat /tmp/keeplite-check.pid)
    mark "SIGKILL of the checker child $kid"
    kill -KILL "$kid"
    t0=$(now_cs)
    changed=""
    newkid=""
    t_new=0
    while [ $(($(now_cs) - t0)) -lt 500 ]; do
        got=$(table)
        if [ "$got" != "$before" ] && [ -z "$changed" ]; then
            changed=$got
        fi
        k=$(cat /tmp/keeplite-check.pid 2>/dev/null)
        if [ -n "$k" ] && [ "$k" != "$kid" ] && [ -z "$newkid" ]; then
            newkid=$k
            t_new=$(($(now_cs) - t0))
        fi
        sleep 0.1
    done
    if [ -n "$newkid" ]; then
        pass "checker child SIGKILL: replaced by pid $newkid after $(secs "$t_new") s"
    else
        fail "checker child SIGKILL: no new checker child within 5 s"
    fi
    if [ -z "$changed" ]; then
        pass "checker child SIGKILL: the IPVS table never changed (5 s sampled every 0.1 s)"
    else
        fail "checker child SIGKILL: the IPVS table changed; diff before after:"
        echo "$before" >/tmp/before
        echo "$changed" >/tmp/changed
        diff /tmp/before /tmp/changed | sed 's/^/    /'
    fi
    if grep -q 'resume their last known state (0 IPVS change(s))' "$LOG"; then
        pass "checker child SIGKILL: the new child resumed every real server, no IPVS change"
    else
        fail "checker child SIGKILL: no 'resume their last known state (0 IPVS change(s))' logged"
    fi
    status=$(keeplite status --control /tmp/keeplite.sock 2>&1)
    if echo "$status" | grep -q '192.168.100.3:80 down weight 0' &&
        echo "$status" | grep -q '192.168.100.2:80 up weight 1' &&
        echo "$status" | grep -q "check child: pid $newkid, up [0-9]* s, 1 restart(s)"; then
        pass "keeplite status: real servers with health and weight, the restarted child"
    else
        fail "keeplite status: unexpected:"
        echo "$status" | sed 's/^/    /'
    fi

    cp "$CONF" /tmp/conf.orig
    {
        echo 'virtual_server 10.0.0.121 80 {'
        echo '    delay_loop 1'
        echo '    lb_algo rr'
        echo '    lb_kind NAT'
        echo '    protocol TCP'
        echo '    real_server 192.168.100.2 80 {'
        echo '        TCP_CHECK {'
        echo '            connect_timeout 1'
        echo '        }'
        echo '    }'
        echo '}'
    } >>"$CONF"
    mark "reload: 10.0.0.121:80 added"
    kill -HUP "$KPID"
    t0=$(now_cs)
    while [ $(($(now_cs) - t0)) -lt 500 ] &&
        ! ipvsadm -Ln -t 10.0.0.121:80 2>/dev/null | grep -q 192.168.100.2:80; do
        sleep 0.1
    done
    t_add=$(($(now_cs) - t0))
    added=$(ipvsadm -Ln -t 10.0.0.121:80 2>/dev/null | grep -c 192.168.100.2:80)
    others=$(table | grep -v '10.0.0.121:80')
    if [ "$added" = 1 ] && [ "$others" = "$before" ]; then
        pass "reload: 10.0.0.121:80 added after $(secs "$t_add") s, the rest unchanged"
    else
        fail "reload: want 10.0.0.121:80 added and the rest unchanged; got:"
        table | sed 's/^/    /'
    fi
    cp /tmp/conf.orig "$CONF"
    mark "reload: 10.0.0.121:80 removed"
    kill -HUP "$KPID"
    t0=$(now_cs)
    while [ $(($(now_cs) - t0)) -lt 500 ] && [ "$(table)" != "$before" ]; do sleep 0.1; done
    if [ "$(table)" = "$before" ]; then
        pass "reload reverted: 10.0.0.121:80 gone after $(secs $(($(now_cs) - t0))) s, the rest unchanged"
    else
        fail "reload reverted: the table differs from before"
    fi
    echo "virtual_server 10.0.0.122 80 { lb_algo nosuch" >>"$CONF"
    reply=$(keeplite reload --control /tmp/keeplite.sock 2>&1)
    rc=$?
    cp /tmp/conf.orig "$CONF"
    sleep 1
    if [ $rc != 0 ] && [ "$(table)" = "$before" ]; then
        pass "reload of a broken config refused (rc $rc: $reply), table unchanged"
    else
        fail "reload of a broken config: rc $rc, reply '$reply'"
    fi
fi

start_httpd 3
watch_table $((BACK_BOUND_CS + MARGIN_CS + 300)) "-TCP 10.0.0.102:80 lc | 192.168.100.5:80 Masq 1"
set -- $WATCHED
within "restarted .3: sorry server out of 10.0.0.102:80" "$1" $BACK_BOUND_CS
within "restarted .3: whole table" "$T_ALL" $BACK_BOUND_CS
expect_traffic "traffic with .3 back" 10.0.0.102 2 "served-by-rs3"
if awk '/ quorum_down 10.0.0.103$/ { down = 1 } / quorum_up 10.0.0.103$/ && down { up = 1 }
        END { exit !up }' "$NOTIFY_LOG"; then
    pass "quorum: quorum_up of 10.0.0.103:80 ran after its quorum_down"
else
    fail "quorum: quorum_up of 10.0.0.103:80 did not run after quorum_down"
fi
# Taking r4 down flushed the routes through it.
mark "192.168.100.4 reconnected (r4 up)"
nsenter -t "$NS4" -n sh -c 'ip link set r4 up && ip route add default via 192.168.100.1'
A4=1
watch_table $((BACK_BOUND_CS + MARGIN_CS + 300))
within "reconnected .4: whole table" "$T_ALL" $BACK_BOUND_CS
expect_traffic "traffic with all back" 10.0.0.100 6 "served-by-rs2 served-by-rs3 served-by-rs4"

# ---------------------------------------------------------------------------------------------
# Step 7: SIGTERM removes keeplite's services (and only them); with -I they stay.

if [ "$(cat /run/keeplite-lb.pid 2>/dev/null)" = "$KPID" ]; then
    pass "pid file: /run/keeplite-lb.pid holds keeplite's pid $KPID"
else
    fail "pid file: /run/keeplite-lb.pid holds '$(cat /run/keeplite-lb.pid 2>&1)', want $KPID"
fi
stop_keeplite
KEEPLITE_SERVICES=0
if [ "$KRC" = 0 ]; then pass "SIGTERM: keeplite exited 0"; else fail "SIGTERM: keeplite exited $KRC"; fi
if [ -e /run/keeplite-lb.pid ]; then
    fail "pid file: /run/keeplite-lb.pid still there after exit"
else
    pass "pid file: removed at exit"
fi
wait_table "SIGTERM: services removed, the foreign one kept" 0

start_keeplite -I
KEEPLITE_SERVICES=1
wait_table "second run (-I): table filled" 1500
stop_keeplite
if [ "$KRC" = 0 ]; then pass "SIGTERM (-I): keeplite exited 0"; else fail "SIGTERM (-I): keeplite exited $KRC"; fi
wait_table "SIGTERM with -I: services kept" 0

# A third run finds its services in the kernel already, edited behind its back: a stray
# destination, a wrong weight (and thresholds gone), a wrong scheduler, a lost service, a
# wrong forwarding method, persistence off, a wrong tunnel type. It puts them right with no
# errors, and removes them on SIGTERM.
ipvsadm -a -t 10.0.0.100:80 -r 192.168.100.9:80 -m -w 1 &&
    ipvsadm -e -t 10.0.0.101:80 -r 192.168.100.3:80 -m -w 9 &&
    ipvsadm -E -t 10.0.1.1:80 -s wlc &&
    ipvsadm -D -t 10.0.1.2:80 &&
    ipvsadm -e -t 10.0.0.110:80 -r 192.168.100.2:80 -m -w 1 &&
    ipvsadm -E -t 10.0.0.104:443 -s rr &&
    ipvsadm -e -t 10.0.0.111:80 -r 192.168.100.4:80 -i -w 1 ||
    fail "editing the kept table with ipvsadm"
edited=$(table)
if [ "$edited" != "$(expected)" ]; then
    pass "kept table edited: $(echo "$edited" | wc -l) lines, differs from the configuration"
else
    fail "kept table edited, yet still the configured one"
fi
logmark=$(wc -l <"$LOG")
start_keeplite
wait_table "third run over the edited table" 1500
check_listings "third run"
sleep 1
errors=$(tail -n +$((logmark + 1)) "$LOG" | grep " ERROR \|File exists\|out of step")
if [ -z "$errors" ]; then
    pass "third run: no errors taking over the kept services"
else
    fail "third run: errors taking over the kept services:"
    echo "$errors" | sed 's/^/    /'
fi
stop_keeplite
KEEPLITE_SERVICES=0
wait_table "third run SIGTERM: services removed" 0

# ---------------------------------------------------------------------------------------------
# Step 8: the notify FIFOs (see fifo_step).

fifo_step "notify FIFO"
wait_table "notify FIFO: SIGTERM removed its services" 0

# ---------------------------------------------------------------------------------------------
# Reference: Debian's keepalived on the same configuration and servers (when the host had one
# to pack) must give the very table `expected` describes and keeplite gave above. A FAIL here
# means keeplite and keepalived differ.

if [ -f /keepalived-ref.tar ]; then
    tar -C / -xf /keepalived-ref.tar
    chmod 755 /
    # keepalived logs to syslog too: into a file rather than onto the console.
    syslogd -n -O /tmp/messages &
    SYSLOGD=$!
    echo "reference: $(keepalived --version 2>&1 | head -n 1)"
    DAEMON=keepalived
    LOG=/tmp/keepalived.log
    : >"$LOG"
    fails_before=$FAILS
    notify_lines=$(wc -l <"$NOTIFY_LOG")
    start_keeplite
    KEEPLITE_SERVICES=1
    if wait_table "keepalived: start" 1500; then
        report_services "keepalived: start" | grep -v '^PASS'
    fi
    check_listings "keepalived"
    check_protocol_default "keepalived"
    stop_httpd 3
    mark "192.168.100.4 cut off (r4 down)"
    nsenter -t "$NS4" -n ip link set r4 down
    A4=0
    wait_table "keepalived: .3 and .4 down, sorry server in" $((TIMEOUT_BOUND_CS + MARGIN_CS + 300))
    start_httpd 3
    mark "192.168.100.4 reconnected (r4 up)"
    nsenter -t "$NS4" -n sh -c 'ip link set r4 up && ip route add default via 192.168.100.1'
    A4=1
    wait_table "keepalived: all back" $((BACK_BOUND_CS + MARGIN_CS + 300))
    new_notify=$(tail -n +$((notify_lines + 1)) "$NOTIFY_LOG")
    if echo "$new_notify" | grep -q ' quorum_down 10.0.0.103$' &&
        [ "$(echo "$new_notify" | grep -v INSECURE | awk '{ print $2 }' | sort -u)" = uid=65534 ]; then
        pass "keepalived: its quorum_down ran, and its notify scripts as uid 65534"
    else
        fail "keepalived: notify lines not as this test expects of keepalived:"
        echo "$new_notify" | sed 's/^/    /'
    fi
    if echo "$new_notify" | grep -q 'INSECURE SCRIPT RAN'; then
        fail "keepalived ran the world-writable script: this test's expectation is wrong"
    else
        pass "keepalived: the world-writable root notify_down of .4 did not run"
    fi
    stop_keeplite
    KEEPLITE_SERVICES=0
    wait_table "keepalived SIGTERM: services removed, the foreign one kept" 0
    fifo_step "keepalived: notify FIFO"
    wait_table "keepalived: notify FIFO: SIGTERM removed its services" 0
    if cmp -s /tmp/fifo-keeplite.lines /tmp/fifo-keepalived.lines; then
        pass "notify FIFO: keeplite and keepalived wrote the same lines in the same order"
    else
        echo "notify FIFO: the order differs between keeplite and keepalived (timing; the" \
            "lines and the order within a service were checked above)"
    fi
    echo "---- keepalived's notify_fifo lines ----"
    cat /tmp/fifo-keepalived.lines
    kill "$SYSLOGD"
    if [ $FAILS -gt "$fails_before" ]; then
        echo "---- keepalived log (last 150 lines) ----"
        tail -n 150 "$LOG"
    fi
else
    echo "SKIP: no reference keepalived (the host had none to pack)"
fi

kill "$UDHCPD" 2>/dev/null
dump_log
if [ $FAILS -eq 0 ]; then
    echo "LB_VM PASSED"
    exit 0
fi
echo "LB_VM FAILED: $FAILS failure(s)"
exit 1
