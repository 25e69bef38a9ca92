//! src/sys against the real kernel: VRRP raw sockets (IPv4/IPv6, multicast and unicast) and
//! GARP / unsolicited NA between two network namespaces joined by a veth pair, timerfd
//! precision, signalfd, and the script runner (timeouts, exit codes, notify arguments, users).
//!
//! Network tests need root and `ip netns`; without them they print SKIP and pass. Packets are
//! hand-made bytes (the wire codecs are tested on their own).

use keeplite::sys::announce::{self, ArpSocket, NdiscSocket};
use keeplite::sys::clock;
use keeplite::sys::event::{self, EventBuffer, EventLoop, Interest, Signal, SignalSet};
use keeplite::sys::script::{Credentials, NotifyKind, Outcome, Script};
use keeplite::sys::vrrp_socket::{
    read_ipv4_header, Ipv4Header, Received, Vrrp4Socket, Vrrp6Socket, VRRP_GROUP_V4, VRRP_GROUP_V6,
    VRRP_TOS,
};
use keeplite::time::{Instant, Micros};
use rustix::fd::{AsFd, OwnedFd};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const VIP4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const A6_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xa);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);

/// Prints past libtest's capture (which only takes the print macros), so a skip is seen.
fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
}

fn can_use_netns(test: &str) -> bool {
    if !rustix::process::geteuid().is_root() {
        skip(test, "needs root for network namespaces");
        return false;
    }
    let ok = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip(test, "`ip netns` not available");
    }
    ok
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run command");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces `A` and `B`, veth `va` in A and `vb` in B, with IPv4, global IPv6 and a fixed
/// link-local address each, DAD off. Deleted on drop.
struct Pair {
    a: String,
    b: String,
}

static PAIR_SEQ: AtomicU32 = AtomicU32::new(0);

impl Pair {
    fn new() -> Pair {
        let n = PAIR_SEQ.fetch_add(1, Ordering::Relaxed);
        let base = format!("kls-sys-{}-{n}", std::process::id());
        let pair = Pair {
            a: format!("{base}-a"),
            b: format!("{base}-b"),
        };
        for ns in [&pair.a, &pair.b] {
            run(&["ip", "netns", "add", ns]);
            run(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        run(&[
            "ip", "-n", &pair.a, "link", "add", "va", "type", "veth", "peer", "name", "vb",
            "netns", &pair.b,
        ]);
        for (ns, dev, v4, v6, ll) in [
            (
                &pair.a,
                "va",
                "192.0.2.1/24",
                "2001:db8::1/64",
                "fe80::a/64",
            ),
            (
                &pair.b,
                "vb",
                "192.0.2.2/24",
                "2001:db8::2/64",
                "fe80::b/64",
            ),
        ] {
            run(&["ip", "-n", ns, "addr", "add", v4, "dev", dev]);
            run(&["ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
            run(&["ip", "-n", ns, "addr", "add", ll, "dev", dev, "nodad"]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        // Wait for both ends to have carrier.
        for _ in 0..200 {
            let up = [(&pair.a, "va"), (&pair.b, "vb")].iter().all(|(ns, dev)| {
                Command::new("ip")
                    .args(["-n", ns, "link", "show", dev])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("LOWER_UP"))
            });
            if up {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        pair
    }

    /// Runs `f` on a thread moved into namespace `ns`; fds it returns stay in that namespace.
    fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
                rustix::thread::move_into_link_name_space(
                    file.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .expect("setns");
                f()
            })
            .join()
            .expect("netns thread")
        })
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Waits up to a second for `fd` to be readable, through the event loop.
fn wait_readable(fd: &impl AsFd) -> bool {
    let mut el = EventLoop::new().expect("event loop");
    el.add(fd.as_fd(), 1, Interest::Readable).expect("add");
    let mut events = EventBuffer::with_capacity(4);
    let deadline = clock::now() + Micros(1_000_000);
    loop {
        el.wait(Some(deadline), &mut events).expect("wait");
        if events.iter().any(|r| r.token == 1 && r.readable) {
            return true;
        }
        if events.deadline_reached() {
            return false;
        }
    }
}

/// A VRRPv3 advert for VRID 51, priority 100, 1 s, with the given addresses; checksum zero.
fn vrrp_advert(addrs: &[&[u8]]) -> Vec<u8> {
    let mut p = vec![0x31, 51, 100, addrs.len() as u8, 0x00, 0x64, 0, 0];
    for a in addrs {
        p.extend_from_slice(a);
    }
    p
}

fn ipv4_datagram(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut d = vec![0x45, VRRP_TOS];
    d.extend_from_slice(&total.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 0, 255, 112, 0, 0]);
    d.extend_from_slice(&src.octets());
    d.extend_from_slice(&dst.octets());
    d.extend_from_slice(payload);
    d
}

/// One's-complement sum over the IPv6 pseudo-header (RFC 8200 §8.1) and the upper-layer data;
/// 0 when the data carries a correct checksum.
fn ipv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for chunk in bytes.chunks(2) {
            let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(data.len() as u32).to_be_bytes());
    add(&[0, 0, 0, next_header]);
    add(data);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn recv4(sock: &Vrrp4Socket, buf: &mut [u8]) -> Received {
    assert!(wait_readable(sock), "no IPv4 advert within 1 s");
    sock.recv(buf).expect("recv").expect("a datagram")
}

fn recv6(sock: &Vrrp6Socket, buf: &mut [u8]) -> Received {
    assert!(wait_readable(sock), "no IPv6 advert within 1 s");
    sock.recv(buf).expect("recv").expect("a datagram")
}

#[test]
fn vrrp_ipv4_multicast_both_header_modes() {
    if !can_use_netns("vrrp_ipv4_multicast_both_header_modes") {
        return;
    }
    let pair = Pair::new();
    let (rx, rx_index) = Pair::in_ns(&pair.b, || {
        let s = Vrrp4Socket::open("vb", Ipv4Header::Kernel).expect("open rx");
        s.join(VRRP_GROUP_V4).expect("join");
        (s, announce::interface_index("vb").expect("ifindex"))
    });
    assert_eq!(rx.ifindex(), rx_index);
    let (tx_caller, tx_kernel) = Pair::in_ns(&pair.a, || {
        (
            Vrrp4Socket::open("va", Ipv4Header::Caller).expect("open hdrincl"),
            Vrrp4Socket::open("va", Ipv4Header::Kernel).expect("open kernel"),
        )
    });
    let payload = vrrp_advert(&[&VIP4.octets()]);
    let mut buf = [0u8; 2048];

    // Caller-built header (IP_HDRINCL).
    tx_caller
        .send_datagram(&ipv4_datagram(A4, VRRP_GROUP_V4, &payload), VRRP_GROUP_V4)
        .expect("send hdrincl");
    let r = recv4(&rx, &mut buf);
    assert_eq!(r.src, IpAddr::V4(A4));
    assert_eq!(r.dst, Some(IpAddr::V4(VRRP_GROUP_V4)));
    assert_eq!(r.ttl_or_hop_limit, 255);
    assert_eq!(r.ifindex, rx_index);
    assert!(!r.truncated);
    assert_eq!(r.header_len, 20);
    assert_eq!(r.payload(&buf), &payload[..]);

    // Kernel-built header: TOS and TTL from the socket options, source from IP_PKTINFO.
    tx_kernel
        .send_payload(&payload, Some(A4), VRRP_GROUP_V4)
        .expect("send kernel header");
    let r = recv4(&rx, &mut buf);
    let h = read_ipv4_header(&buf[..r.len]).expect("header");
    assert_eq!((h.tos, h.ttl, h.protocol), (VRRP_TOS, 255, 112));
    assert_eq!(r.src, IpAddr::V4(A4));
    assert_eq!(r.payload(&buf), &payload[..]);

    // Wrong mode for the socket is refused, not sent.
    assert!(tx_caller
        .send_payload(&payload, None, VRRP_GROUP_V4)
        .is_err());
    assert!(tx_kernel.send_datagram(&payload, VRRP_GROUP_V4).is_err());
    // Nothing else queued (multicast loop is off, so the sender saw nothing either).
    assert!(rx.recv(&mut buf).expect("recv").is_none());
    assert!(tx_kernel.recv(&mut buf).expect("recv").is_none());
}

#[test]
fn vrrp_ipv6_multicast_link_local_source() {
    if !can_use_netns("vrrp_ipv6_multicast_link_local_source") {
        return;
    }
    let pair = Pair::new();
    let (rx, rx_index) = Pair::in_ns(&pair.b, || {
        let s = Vrrp6Socket::open("vb").expect("open rx");
        s.join(VRRP_GROUP_V6).expect("join");
        (s, announce::interface_index("vb").expect("ifindex"))
    });
    let tx = Pair::in_ns(&pair.a, || Vrrp6Socket::open("va").expect("open tx"));
    let payload = vrrp_advert(&[&VIP6.octets()]);
    tx.send(&payload, Some(A6_LL), VRRP_GROUP_V6).expect("send");
    let mut buf = [0u8; 2048];
    let r = recv6(&rx, &mut buf);
    assert_eq!(r.src, IpAddr::V6(A6_LL));
    assert_eq!(r.dst, Some(IpAddr::V6(VRRP_GROUP_V6)));
    assert_eq!(r.ttl_or_hop_limit, 255);
    assert_eq!(r.ifindex, rx_index);
    assert_eq!(r.header_len, 0);
    let got = r.payload(&buf);
    assert_eq!(got.len(), payload.len());
    // Everything but the checksum as sent; the checksum the kernel wrote is the RFC 5798 one.
    assert_eq!(&got[..6], &payload[..6]);
    assert_eq!(&got[8..], &payload[8..]);
    assert_ne!(&got[6..8], &[0, 0]);
    assert_eq!(ipv6_checksum(A6_LL, VRRP_GROUP_V6, 112, got), 0);
    assert!(rx.recv(&mut buf).expect("recv").is_none());
}

#[test]
fn vrrp_unicast_ipv4_and_ipv6() {
    if !can_use_netns("vrrp_unicast_ipv4_and_ipv6") {
        return;
    }
    let pair = Pair::new();
    let (rx4, rx6, rx_index) = Pair::in_ns(&pair.b, || {
        (
            Vrrp4Socket::open("vb", Ipv4Header::Kernel).expect("open rx4"),
            Vrrp6Socket::open("vb").expect("open rx6"),
            announce::interface_index("vb").expect("ifindex"),
        )
    });
    let (tx4, tx6) = Pair::in_ns(&pair.a, || {
        (
            Vrrp4Socket::open("va", Ipv4Header::Caller).expect("open tx4"),
            Vrrp6Socket::open("va").expect("open tx6"),
        )
    });
    let mut buf = [0u8; 2048];

    let payload4 = vrrp_advert(&[&VIP4.octets()]);
    tx4.send_datagram(&ipv4_datagram(A4, B4, &payload4), B4)
        .expect("send v4");
    let r = recv4(&rx4, &mut buf);
    assert_eq!(
        (r.src, r.dst, r.ttl_or_hop_limit, r.ifindex),
        (IpAddr::V4(A4), Some(IpAddr::V4(B4)), 255, rx_index)
    );
    assert_eq!(r.payload(&buf), &payload4[..]);

    let payload6 = vrrp_advert(&[&VIP6.octets()]);
    tx6.send(&payload6, Some(A6), B6).expect("send v6");
    let r = recv6(&rx6, &mut buf);
    assert_eq!(
        (r.src, r.dst, r.ttl_or_hop_limit, r.ifindex),
        (IpAddr::V6(A6), Some(IpAddr::V6(B6)), 255, rx_index)
    );
    assert_eq!(ipv6_checksum(A6, B6, 112, r.payload(&buf)), 0);

    // A short buffer: the datagram is cut and flagged, not an error.
    tx6.send(&payload6, Some(A6), B6).expect("send v6");
    let mut small = [0u8; 8];
    assert!(wait_readable(&rx6));
    let r = rx6.recv(&mut small).expect("recv").expect("datagram");
    assert!(r.truncated);
    assert_eq!(r.len, 8);
}

fn packet_capture(protocol: rustix::net::Protocol, kind: rustix::net::SocketType) -> OwnedFd {
    let fd = rustix::net::socket(rustix::net::AddressFamily::PACKET, kind, Some(protocol))
        .expect("packet socket");
    rustix::net::sockopt::set_socket_timeout(
        &fd,
        rustix::net::sockopt::Timeout::Recv,
        Some(Duration::from_millis(200)),
    )
    .expect("timeout");
    fd
}

/// Reads packets for up to two seconds until `wanted` accepts one.
fn capture_until(fd: &OwnedFd, wanted: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2048];
    let until = clock::now() + Micros(2_000_000);
    while clock::now() < until {
        match rustix::net::recv(fd, &mut buf[..], rustix::net::RecvFlags::empty()) {
            Ok((n, _)) if wanted(&buf[..n]) => return Some(buf[..n].to_vec()),
            Ok(_) => {}
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("capture: {e}"),
        }
    }
    None
}

#[test]
fn gratuitous_arp_frame_arrives() {
    if !can_use_netns("gratuitous_arp_frame_arrives") {
        return;
    }
    let pair = Pair::new();
    let capture = Pair::in_ns(&pair.b, || {
        packet_capture(rustix::net::eth::ARP, rustix::net::SocketType::RAW)
    });
    let (sock, mac) = Pair::in_ns(&pair.a, || {
        let index = announce::interface_index("va").expect("ifindex");
        let mac = announce::interface_hwaddr("va").expect("mac");
        (ArpSocket::open(index).expect("arp socket"), mac)
    });
    assert_ne!(mac, [0; 6]);
    // Ethernet broadcast + ARP request "who has VIP, tell VIP" from our MAC (RFC 5227 §3).
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&VIP4.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&VIP4.octets());
    sock.send_frame(&frame).expect("send");
    let got = capture_until(&capture, |f| {
        f.len() >= frame.len() && f[..frame.len()] == frame[..]
    });
    assert!(got.is_some(), "GARP frame not seen on the peer");
    assert!(sock.send_frame(&frame[..10]).is_err(), "runt frame refused");
}

#[test]
fn unsolicited_na_arrives_with_hop_limit_255() {
    if !can_use_netns("unsolicited_na_arrives_with_hop_limit_255") {
        return;
    }
    let pair = Pair::new();
    let capture = Pair::in_ns(&pair.b, || {
        packet_capture(rustix::net::eth::IPV6, rustix::net::SocketType::DGRAM)
    });
    let (sock, mac) = Pair::in_ns(&pair.a, || {
        (
            NdiscSocket::open("va").expect("ndisc socket"),
            announce::interface_hwaddr("va").expect("mac"),
        )
    });
    // NA (type 136), Override flag, target VIP6, target link-layer address option.
    let mut na = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    na.extend_from_slice(&VIP6.octets());
    na.extend_from_slice(&[2, 1]);
    na.extend_from_slice(&mac);
    sock.send_unsolicited_na(&na, A6_LL).expect("send");
    let packet = capture_until(&capture, |p| {
        p.len() >= 40 + na.len() && p[6] == 58 && p[40] == 136 && p[48..64] == VIP6.octets()
    })
    .expect("NA not seen on the peer");
    assert_eq!(packet[7], 255, "hop limit");
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[8..24]).expect("16 bytes"));
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[24..40]).expect("16 bytes"));
    assert_eq!((src, dst), (A6_LL, announce::ALL_NODES));
    let icmp = &packet[40..40 + na.len()];
    assert_eq!(&icmp[4..], &na[4..]);
    assert_eq!(
        ipv6_checksum(src, dst, 58, icmp),
        0,
        "kernel ICMPv6 checksum"
    );
}

#[test]
fn timerfd_deadline_within_1ms() {
    let mut el = EventLoop::new().expect("event loop");
    let mut events = EventBuffer::with_capacity(4);
    let mut lateness = Vec::new();
    for _ in 0..5 {
        let deadline = clock::now() + Micros(50_000);
        loop {
            el.wait(Some(deadline), &mut events).expect("wait");
            if events.deadline_reached() {
                break;
            }
        }
        let now = clock::now();
        assert!(now >= deadline, "woke before the deadline");
        lateness.push(now.saturating_since(deadline).0);
    }
    lateness.sort_unstable();
    eprintln!("timerfd lateness (µs), sorted: {lateness:?}");
    assert!(
        lateness[2] <= 1_000,
        "median lateness {} µs > 1 ms: {lateness:?}",
        lateness[2]
    );
}

#[test]
fn signalfd_receives_sigusr1() {
    // Its own thread: the signals stay blocked only there.
    std::thread::spawn(|| {
        let mut el = EventLoop::with_signals(SignalSet::DAEMON).expect("loop");
        let (r, w) = rustix::pipe::pipe().expect("pipe");
        el.add(r.as_fd(), 9, Interest::Readable).expect("add");
        event::raise_in_this_thread(Signal::Usr1).expect("raise");
        rustix::io::write(&w, b"x").expect("write");
        let mut events = EventBuffer::with_capacity(8);
        let deadline = clock::now() + Micros(1_000_000);
        let (mut saw_signal, mut saw_pipe) = (false, false);
        while !(saw_signal && saw_pipe) {
            el.wait(Some(deadline), &mut events).expect("wait");
            saw_signal |= events.signals().contains(Signal::Usr1);
            saw_pipe |= events.iter().any(|r| r.token == 9);
            assert!(!events.deadline_reached(), "signal or pipe missing");
        }
        assert!(!events.signals().contains(Signal::Term));
    })
    .join()
    .expect("thread");
}

/// Polls `try_reap` (tests cannot rely on SIGCHLD: the harness's threads do not block it).
fn reap(child: &mut keeplite::sys::script::Child) -> Outcome {
    let give_up = clock::now() + Micros(20_000_000);
    loop {
        let now = clock::now();
        if let Some(outcome) = child.try_reap(now).expect("try_reap") {
            return outcome;
        }
        assert!(now < give_up, "script did not end");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn run_script(command: &str) -> Outcome {
    let script = Script::prepare(command, Credentials::current(), false).expect("prepare");
    let mut child = script.spawn(&[], clock::now(), None).expect("spawn");
    reap(&mut child)
}

#[test]
fn script_exit_codes() {
    assert_eq!(run_script("/bin/true"), Outcome::Exited(0));
    assert_eq!(run_script("false"), Outcome::Exited(1));
    assert_eq!(run_script("/bin/sh -c 'exit 3'"), Outcome::Exited(3));
    assert_eq!(run_script("exit 3; echo never"), Outcome::Exited(3));
    assert_eq!(
        run_script("kill -TERM $$"),
        Outcome::Signaled(libc::SIGTERM)
    );
    // A program that is not there fails at spawn.
    let missing =
        Script::prepare("/nonexistent/prog", Credentials::current(), false).expect("prepare");
    assert!(missing.spawn(&[], clock::now(), None).is_err());
}

#[test]
fn script_timeout_kills_the_process_group() {
    for command in ["sleep 10", "sleep 10 | cat"] {
        let script = Script::prepare(command, Credentials::current(), false).expect("prepare");
        let start: Instant = clock::now();
        let mut child = script
            .spawn(&[], start, Some(Micros(300_000)))
            .expect("spawn");
        assert_eq!(child.deadline(), Some(start + Micros(300_000)));
        let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
        assert_eq!(reap(&mut child), Outcome::TimedOut, "{command}");
        let took = clock::now().saturating_since(start).0;
        eprintln!("{command}: killed after {took} µs");
        assert!(
            (300_000..1_300_000).contains(&took),
            "{command}: took {took} µs"
        );
        assert_eq!(child.deadline(), None);
        // Every member of the group is gone (orphans are reaped by init; allow it a moment).
        let mut gone = false;
        for _ in 0..200 {
            if rustix::process::test_kill_process_group(pid).is_err() {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(gone, "{command}: process group survived the timeout");
    }
}

#[test]
fn notify_gets_type_name_state_priority() {
    let dir = std::env::temp_dir().join(format!("keeplite-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).expect("mkdir");
    let out = dir.join("args");
    let notify = dir.join("notify.sh");
    std::fs::write(
        &notify,
        format!("#!/bin/sh\necho \"$@\" > {}\n", out.display()),
    )
    .expect("write");
    std::fs::set_permissions(&notify, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");

    // exec'd directly: the 4 words follow the command's own.
    let script = Script::prepare(
        &format!("{} lan", notify.display()),
        Credentials::current(),
        false,
    )
    .expect("prepare");
    let mut child = script
        .spawn_notify(
            NotifyKind::Instance,
            "VI_1",
            "MASTER",
            150,
            clock::now(),
            None,
        )
        .expect("spawn");
    assert_eq!(reap(&mut child), Outcome::Exited(0));
    let args = std::fs::read_to_string(&out).expect("args written");
    assert_eq!(args.trim_end(), "lan INSTANCE VI_1 MASTER 150");

    // Through the shell: the words become "$@" of the command text.
    let script = Script::prepare(
        r#"/bin/sh -c 'test "$1 $2 $3 $4" = "GROUP G1 BACKUP 0"' sh"#,
        Credentials::current(),
        false,
    )
    .expect("prepare");
    let mut child = script
        .spawn_notify(NotifyKind::Group, "G1", "BACKUP", 0, clock::now(), None)
        .expect("spawn");
    assert_eq!(reap(&mut child), Outcome::Exited(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn script_runs_as_script_user_with_minimal_env() {
    if !rustix::process::geteuid().is_root() {
        skip(
            "script_runs_as_script_user_with_minimal_env",
            "needs root to setuid",
        );
        return;
    }
    let nobody = Credentials {
        uid: 65534,
        gid: 65534,
    };
    let script = Script::prepare(
        r#"test "$(id -u):$(id -g):$(id -G)" = "65534:65534:65534" -a "$(env | wc -l)" -le 3"#,
        nobody,
        false,
    )
    .expect("prepare");
    let mut child = script.spawn(&[], clock::now(), None).expect("spawn");
    assert_eq!(reap(&mut child), Outcome::Exited(0));
}
