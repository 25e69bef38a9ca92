#!/usr/bin/env bash
# keeplite live failover demo: builds keeplite, starts two routers in network namespaces on one
# LAN, shows the master holding the virtual IP, kills it (SIGKILL) and shows the backup taking
# over, then cleans everything up. Needs root, iproute2 and a Rust toolchain.
#
#   sudo bash examples/demo.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$(id -u)" -eq 0 ] || { echo "run as root (network namespaces)" >&2; exit 1; }
command -v ip >/dev/null || { echo "needs iproute2 (apt-get install iproute2)" >&2; exit 1; }

cargo build --release --quiet
BIN=$PWD/target/release/keeplite
WORK=$(mktemp -d)
NS=(kldemo-a kldemo-b)
SW=kldemo-sw

cleanup() {
    for pid in "$WORK"/*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true; done
    sleep 0.3
    for ns in "${NS[@]}" "$SW"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
cleanup 2>/dev/null || true
WORK=$(mktemp -d)

# A switch (bridge) and two routers, each with eth0 on the LAN 192.0.2.0/24.
ip netns add "$SW"
ip -n "$SW" link add br0 type bridge mcast_snooping 0
ip -n "$SW" link set br0 up
for i in 0 1; do
    ns=${NS[$i]}
    ip netns add "$ns"
    ip -n "$ns" link add eth0 type veth peer name "p$i" netns "$SW"
    ip -n "$SW" link set "p$i" master br0 up
    ip -n "$ns" addr add "192.0.2.$((i + 1))/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    cat > "$WORK/r$i.conf" <<CONF
vrrp_instance LAN {
    interface eth0
    virtual_router_id 51
    priority $((150 - 50 * i))
    advert_int 1
    virtual_ipaddress {
        192.0.2.254/24
    }
}
CONF
    ip netns exec "$ns" "$BIN" -f "$WORK/r$i.conf" -n -l -G -p "$WORK/r$i.pid" \
        --control "$WORK/r$i.sock" >"$WORK/r$i.log" 2>&1 &
    disown
done

holder() {
    for i in 0 1; do
        ip -n "${NS[$i]}" -o addr show dev eth0 | grep -q ' 192.0.2.254/' && { echo "${NS[$i]}"; return; }
    done
    echo none
}
wait_for() {
    local want=$1 deadline=$((SECONDS + 10))
    while [ "$(holder)" != "$want" ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
    [ "$(holder)" = "$want" ]
}

echo "== two routers started (priority 150 and 100); waiting for an election"
wait_for kldemo-a || { echo "no master elected"; cat "$WORK"/*.log; exit 1; }
echo "== VIP 192.0.2.254 is on $(holder)"
sleep 1
echo "== the master's view (keeplite status):"
"$BIN" status --control "$WORK/r0.sock" | sed 's/^/   /'
echo "== killing the master router (SIGKILL of keeplite and its VRRP child) at $(date +%T.%3N)"
start=$(date +%s%N)
master=$(cat "$WORK/r0.pid")
kill -STOP "$master"              # so the watchdog cannot restart its child
pkill -KILL -P "$master" || true
kill -KILL "$master"
ip -n kldemo-a addr del 192.0.2.254/24 dev eth0   # a dead router's address stays; unplug it
wait_for kldemo-b || { echo "backup did not take over"; cat "$WORK"/*.log; exit 1; }
echo "== VIP 192.0.2.254 moved to $(holder) after $(( ($(date +%s%N) - start) / 1000000 )) ms"
"$BIN" status --control "$WORK/r1.sock" | sed 's/^/   /'
echo "== backup's log:"
sed 's/^/   /' "$WORK/r1.log"
echo "== done; cleaning up"
