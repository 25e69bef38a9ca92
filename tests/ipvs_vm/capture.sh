#!/usr/bin/env bash
# Records ipvsadm's own generic netlink traffic in the VM, for the codec vectors in
# src/wire/ipvs.rs: each ipvsadm command runs under strace, and the bytes of every sendmsg and
# (non-peeking) recvmsg are printed as hex, one message per line, after a `### command` line.
# Run by hand when the vectors need redoing; not part of the test run.
#
#   tests/ipvs_vm/capture.sh [WORKDIR] > vectors.txt
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
W=${1:-${CARGO_TARGET_DIR:-$HERE/../../target}/ipvs-vm}
"$HERE/build.sh" "$W"

GUEST=$(mktemp)
trap 'rm -f "$GUEST"' EXIT
cat >"$GUEST" <<'EOF'
#!/bin/sh
st() {
    echo "### ipvsadm $*"
    strace -e trace=sendmsg,recvmsg -e write=all -e read=all -xx -s 0 ipvsadm "$@" 2>&1
    echo "### rc=$?"
}
st -A -t 10.0.0.1:80 -s wlc
st -E -t 10.0.0.1:80 -s rr -p 300 -M 255.255.255.0
st -A -u [2001:db8::1]:53 -s sh -b sh-port,sh-fallback -o
st -A -f 7 -6 -s mh -b mh-port
st -A --sctp-service 10.0.0.5:9 -s lblcr -p 60 -M 255.255.0.0 --pe sip
st -A -t 10.0.0.1:80 -s wlc
st -A -t 10.0.0.9:80 -s twos
st -a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 3 -x 100 -y 10
st -a -t 10.0.0.1:80 -r 10.0.0.3:80 -i --tun-type gue --tun-port 6080 --tun-csum
st -a -t 10.0.0.1:80 -r 10.0.0.4:80 -i --tun-type gre --tun-csum
st -a -u [2001:db8::1]:53 -r [2001:db8::2]:53 -g -w 0
st -e -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 5
st -Ln
st -d -t 10.0.0.1:80 -r 10.0.0.3:80
st -D -u [2001:db8::1]:53
st -D -t 10.0.0.8:80
st --set 1000 130 310
st -L --timeout
st -Z
st -C
exit 0
EOF
# strace prints each syscall, then " * N bytes in buffer 0" and hex lines " | 00000  2c 00 ...  |".
# Peeking reads (libnl's MSG_PEEK) repeat the next real read: dropped.
"$HERE/run.sh" "$W" "$GUEST" 2>/dev/null | awk '
    /^### / { flush(); print; next }
    /^(sendmsg|recvmsg)\(/ { flush(); dir = /^sendmsg/ ? "send" : (/MSG_PEEK/ ? "" : "recv"); next }
    /^ \| [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]  / { if (dir != "") hex = hex " " substr($0, 11, 49); next }
    # The generic netlink controller exchanges (family id lookups: nlmsg_type 0x10 out, its
    # replies and acks back) are the same for every command: left out.
    function flush() {
        if (dir != "" && hex != "") {
            gsub(/  +/, " ", hex); sub(/^ +/, "", hex); sub(/ +$/, "", hex)
            if (dir == "send") ctrl = (substr(hex, 13, 5) == "10 00")
            if (!ctrl) print dir ": " hex
        }
        hex = ""; dir = ""
    }
    END { flush() }'
