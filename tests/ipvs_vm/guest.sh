#!/bin/sh
# The guest's /test.sh for tests/ipvs_vm.rs: sets up a real server for the data-path check, then
# runs the test binary's guest half (run.sh copied it to /ipvs_vm).
#
# Real server: busybox httpd in its own network namespace behind a veth (h0 here, r0 there) at
# 192.168.100.2; the virtual address 10.0.0.100 is routed towards it, so a NAT service on
# 10.0.0.100:80 that the test adds carries `nc 10.0.0.100 80` there.
unshare -n sh -c 'exec sleep 600' &
RS=$!
sleep 0.2
if ip link add name h0 type veth; then
    # busybox ip ignores `peer name`: find the kernel-named peer by its iflink.
    for d in /sys/class/net/*; do
        [ "$(cat "$d/ifindex")" = "$(cat /sys/class/net/h0/iflink)" ] && peer=${d##*/}
    done
    ip link set "$peer" name r0 && ip link set r0 netns "$RS" &&
        ip addr add 192.168.100.1/24 dev h0 && ip link set h0 up &&
        nsenter -t "$RS" -n sh -c 'ip link set lo up; ip addr add 192.168.100.2/24 dev r0;
            ip link set r0 up; ip route add default via 192.168.100.1' &&
        mkdir -p /www && echo hello-from-realserver >/www/index.html &&
        nsenter -t "$RS" -n httpd -p 80 -h /www &&
        ip route add 10.0.0.100/32 dev h0 &&
        touch /tmp/realserver-ready
fi
[ -f /tmp/realserver-ready ] || echo "real server setup failed: data path will not be checked"

RUST_BACKTRACE=1 KEEPLITE_IPVS_GUEST=1 /ipvs_vm --exact guest_scenarios --nocapture --test-threads=1
