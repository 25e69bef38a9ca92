# Sourced (as /example_guest.sh) by guest scripts of the IPVS VM that run examples/keepalived.conf
# (tests/bench/process_bench_guest.sh, cross/order/profile_guest.sh): users, the links the
# example names and its real servers.
# shellcheck shell=sh
mkdir -p /run /var/run /etc/keeplite /www
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
    >/etc/passwd
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >/etc/group

# The interfaces the example names: br-lan (the LAN, also holding the real servers' addresses so
# that their checks reach a local listener) and wan (tracked). Each is one end of a veth pair
# whose other end is up in the same namespace: a multicast-capable link with carrier and no
# other router on it, so every VRRP instance becomes master on its own (keepalived stays backup
# on a dummy link, which has no MULTICAST flag).
veth() {
    ip link add name "$1" type veth || return 1
    # busybox ip ignores `peer name`: find the kernel-named peer by its iflink.
    for d in /sys/class/net/*; do
        [ "$(cat "$d/ifindex")" = "$(cat "/sys/class/net/$1/iflink")" ] && peer=${d##*/}
    done
    ip link set "$peer" name "$2"
    ip link set "$2" up
}
veth br-lan br-lan-peer
veth wan wan-peer
ip addr add 192.168.1.2/24 dev br-lan
ip addr add 192.168.1.21/24 dev br-lan
ip addr add 192.168.1.22/24 dev br-lan
ip addr add 2001:db8:1::2/64 dev br-lan
ip addr add 192.0.2.2/24 dev wan
ip link set br-lan up
ip link set wan up
# The notify script the example names; under enable_script_security it must be root's.
printf '#!/bin/sh\nexit 0\n' >/etc/keeplite/notify.sh
chmod 755 /etc/keeplite/notify.sh
# Real servers: one busybox httpd on *:80 answers /health for both addresses.
echo ok >/www/health
httpd -p 80 -h /www
sleep 1
