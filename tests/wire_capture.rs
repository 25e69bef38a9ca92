//! Live interop check of the `wire` codecs against keepalived: runs keepalived in one network
//! namespace, captures what it sends with tcpdump in another, and requires every VRRP advert,
//! gratuitous ARP and unsolicited neighbor advertisement to parse, verify and re-emit to the same
//! bytes. The unit tests in `src/wire/` hold fixed captures; this re-runs the capture on whatever
//! keepalived is installed.
//!
//! Needs root, `ip`, `tcpdump` and `keepalived`; skips loudly otherwise. Takes about 8 s.

use std::fs;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use keeplite::wire::{arp, ipv4, ndisc, vrrp};

const MAC_A: arp::MacAddr = [0x02, 0x00, 0x00, 0x99, 0x00, 0x01];

/// One instance per kind of advert, told apart by virtual router id.
const CONFIG: &str = r#"
global_defs {
    vrrp_garp_master_delay 1
}
vrrp_instance v2_noauth {
    state MASTER
    interface IFACE
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.99.0.100/24
        10.99.0.101/24
    }
}
vrrp_instance v2_pass {
    state MASTER
    interface IFACE
    virtual_router_id 52
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass secret1
    }
    virtual_ipaddress {
        10.99.0.102/24
    }
}
vrrp_instance v3_mcast {
    version 3
    state MASTER
    interface IFACE
    virtual_router_id 53
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.99.0.103/24
    }
}
vrrp_instance v3_unicast {
    version 3
    state MASTER
    interface IFACE
    virtual_router_id 54
    priority 150
    advert_int 1
    unicast_src_ip 10.99.0.1
    unicast_peer {
        10.99.0.2
    }
    virtual_ipaddress {
        10.99.0.104/24
    }
}
vrrp_instance v3_ipv6 {
    version 3
    state MASTER
    interface IFACE
    virtual_router_id 55
    priority 150
    advert_int 0.5
    virtual_ipaddress {
        fd00:99::100/64
        fd00:99::101/64
    }
}
"#;

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn run(args: &[&str]) {
    let status = Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(status.success(), "{args:?} failed: {status}");
}

/// Namespaces, processes and files of one run, removed on drop even when an assertion fails.
struct Lab {
    ns_a: String,
    ns_b: String,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status();
}

/// Frames of a classic little- or big-endian pcap file with microsecond or nanosecond stamps.
fn pcap_frames(data: &[u8]) -> Vec<&[u8]> {
    let magic = u32::from_le_bytes(data[..4].try_into().unwrap());
    let little = matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d);
    let read = |at: usize| {
        let b: [u8; 4] = data[at..at + 4].try_into().unwrap();
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let incl = read(at + 8) as usize;
        let start = at + 16;
        frames.push(&data[start..(start + incl).min(data.len())]);
        at = start + incl;
    }
    frames
}

struct Seen {
    adverts: [usize; 256],
    garps: usize,
    nas: usize,
}

fn check_vrrp(payload: &[u8], family: vrrp::Family, ep: &vrrp::Endpoints, seen: &mut Seen) {
    let packet = vrrp::Packet::new_checked(payload, family).expect("VRRP length");
    let (repr, form) = vrrp::Repr::parse(&packet, ep).expect("keepalived advert parses");
    let (version, want_form) = match repr.vrid {
        51 | 52 => (2, vrrp::ChecksumForm::WithoutPseudoHeader),
        53..=55 => (3, vrrp::ChecksumForm::WithPseudoHeader),
        other => panic!("unexpected vrid {other}"),
    };
    assert_eq!(repr.version.number(), version, "vrid {}", repr.vrid);
    assert_eq!(form, want_form, "vrid {}", repr.vrid);
    match (repr.vrid, repr.version) {
        (51, vrrp::Version::V2 { auth_data, .. }) => {
            assert_eq!(repr.addresses.len(), 2);
            assert_eq!(auth_data, [0; 8]);
        }
        (
            52,
            vrrp::Version::V2 {
                auth_type,
                auth_data,
                ..
            },
        ) => {
            assert_eq!(auth_type, vrrp::auth_type::PASS);
            assert_eq!(&auth_data, b"secret1\0");
        }
        (54, _) => {
            assert!(matches!(ep, vrrp::Endpoints::V4 { dst, .. } if dst.octets() == [10, 99, 0, 2]))
        }
        (
            55,
            vrrp::Version::V3 {
                max_adver_int_centis,
            },
        ) => {
            assert_eq!(max_adver_int_centis, 50);
            assert_eq!(repr.addresses.get(1), Some("fd00:99::101".parse().unwrap()));
        }
        _ => {}
    }
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut vrrp::Packet::new_unchecked(&mut out[..], family),
        ep,
        form,
    );
    assert_eq!(out, payload, "re-emit of vrid {}", repr.vrid);
    seen.adverts[usize::from(repr.vrid)] += 1;
}

fn check_frame(frame: &[u8], seen: &mut Seen) {
    let (eth, body) = arp::EthernetHeader::parse(frame).expect("Ethernet header");
    match eth.ethertype {
        arp::ETHERTYPE_IPV4 => {
            let ip = ipv4::Packet::new_checked(body).expect("IPv4 length");
            let repr = ipv4::Repr::parse(&ip).expect("IPv4 header");
            if repr.protocol != vrrp::IP_PROTOCOL {
                return;
            }
            assert_eq!((repr.ttl, repr.tos), (vrrp::TTL, vrrp::IPV4_TOS));
            // keepalived's header re-emitted bytewise.
            let mut hdr = [0u8; ipv4::HEADER_LEN];
            repr.emit(&mut ipv4::Packet::new_unchecked(&mut hdr[..]));
            assert_eq!(&hdr[..], &body[..ipv4::HEADER_LEN]);
            let ep = vrrp::Endpoints::V4 {
                src: repr.src_addr,
                dst: repr.dst_addr,
            };
            check_vrrp(ip.payload(), vrrp::Family::Ipv4, &ep, seen);
        }
        arp::ETHERTYPE_ARP => {
            let (_, arp_repr) = arp::parse_frame(frame).expect("ARP parses");
            // Only keepalived's announcements: the kernel's own resolution has sender != target.
            if arp_repr.source_protocol_addr != arp_repr.target_protocol_addr {
                return;
            }
            let mut out = [0u8; arp::GRATUITOUS_ARP_LEN];
            arp::emit_gratuitous_arp(&mut out, eth.src, arp_repr.source_protocol_addr);
            assert_eq!(&out[..], &frame[..arp::GRATUITOUS_ARP_LEN]);
            assert_eq!(eth.src, MAC_A);
            seen.garps += 1;
        }
        arp::ETHERTYPE_IPV6 if body.len() >= 40 => {
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&body[8..24]).unwrap());
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&body[24..40]).unwrap());
            let payload_len = usize::from(u16::from_be_bytes([body[4], body[5]]));
            let payload = &body[40..40 + payload_len];
            match body[6] {
                vrrp::IP_PROTOCOL => {
                    assert_eq!(body[7], vrrp::TTL);
                    let ep = vrrp::Endpoints::V6 { src, dst };
                    check_vrrp(payload, vrrp::Family::Ipv6, &ep, seen);
                }
                ndisc::NEXT_HEADER_ICMPV6
                    if payload.first() == Some(&ndisc::TYPE_NEIGHBOR_ADVERT) =>
                {
                    assert_eq!(body[7], ndisc::HOP_LIMIT);
                    let packet = ndisc::Packet::new_checked(payload).expect("NA length");
                    assert!(packet.verify_checksum(src, dst));
                    let repr = ndisc::Repr::parse(&packet).expect("NA parses");
                    assert_eq!(dst, ndisc::ALL_NODES);
                    assert!(repr.override_flag && !repr.solicited_flag);
                    let mut out = [0u8; ndisc::UNSOLICITED_NA_LEN];
                    ndisc::emit_unsolicited_na(&mut out, MAC_A, repr.target_addr, repr.router_flag);
                    ndisc::Packet::new_unchecked(&mut out[..]).fill_checksum(src, dst);
                    assert_eq!(&out[..], payload);
                    seen.nas += 1;
                }
                _ => {}
            }
        }
        _ => {}
    }
}

#[test]
fn keepalived_capture_roundtrips() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED keepalived_capture_roundtrips: needs root (network namespaces)");
        return;
    }
    for tool in ["ip", "tcpdump", "keepalived"] {
        if !have(tool) {
            eprintln!("SKIPPED keepalived_capture_roundtrips: `{tool}` not installed");
            return;
        }
    }
    let pid = std::process::id();
    let iface_a = format!("kwc{}a", pid % 100_000);
    let iface_b = format!("kwc{}b", pid % 100_000);
    let dir = std::env::temp_dir().join(format!("keeplite-wire-capture-{pid}"));
    fs::create_dir_all(&dir).unwrap();
    let mut lab = Lab {
        ns_a: format!("keeplite-wc-{pid}-a"),
        ns_b: format!("keeplite-wc-{pid}-b"),
        dir: dir.clone(),
        children: Vec::new(),
    };
    let (a, b) = (lab.ns_a.clone(), lab.ns_b.clone());
    run(&["ip", "netns", "add", &a]);
    run(&["ip", "netns", "add", &b]);
    run(&[
        "ip", "link", "add", &iface_a, "netns", &a, "type", "veth", "peer", "name", &iface_b,
        "netns", &b,
    ]);
    run(&[
        "ip",
        "-n",
        &a,
        "link",
        "set",
        &iface_a,
        "address",
        "02:00:00:99:00:01",
    ]);
    run(&[
        "ip",
        "-n",
        &b,
        "link",
        "set",
        &iface_b,
        "address",
        "02:00:00:99:00:02",
    ]);
    run(&[
        "ip",
        "-n",
        &a,
        "addr",
        "add",
        "10.99.0.1/24",
        "dev",
        &iface_a,
    ]);
    run(&[
        "ip",
        "-n",
        &b,
        "addr",
        "add",
        "10.99.0.2/24",
        "dev",
        &iface_b,
    ]);
    run(&[
        "ip",
        "-n",
        &a,
        "addr",
        "add",
        "fd00:99::1/64",
        "dev",
        &iface_a,
        "nodad",
    ]);
    run(&[
        "ip",
        "-n",
        &b,
        "addr",
        "add",
        "fd00:99::2/64",
        "dev",
        &iface_b,
        "nodad",
    ]);
    for (ns, iface) in [(&a, &iface_a), (&b, &iface_b)] {
        run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        run(&["ip", "-n", ns, "link", "set", iface, "up"]);
    }

    let conf = dir.join("keepalived.conf");
    fs::write(&conf, CONFIG.replace("IFACE", &iface_a)).unwrap();
    let pcap = dir.join("capture.pcap");
    let path = |p: &Path| p.to_string_lossy().into_owned();

    let tcpdump = Command::new("ip")
        .args([
            "netns", "exec", &b, "tcpdump", "-i", &iface_b, "-U", "-s", "0", "-w",
        ])
        .arg(&pcap)
        .arg("proto 112 or ip6 proto 112 or arp or icmp6")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    lab.children.push(tcpdump);
    sleep(Duration::from_secs(1));
    let keepalived = Command::new("ip")
        .args([
            "netns",
            "exec",
            &a,
            "keepalived",
            "-n",
            "-l",
            "-f",
            &path(&conf),
        ])
        .args([
            "-p",
            &path(&dir.join("k.pid")),
            "-r",
            &path(&dir.join("k-vrrp.pid")),
        ])
        .arg("--vrrp")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    lab.children.push(keepalived);
    sleep(Duration::from_secs(5));
    // SIGTERM: keepalived sends its priority-0 adverts on the way out; tcpdump flushes and exits.
    signal(&lab.children[1], "-TERM");
    let _ = lab.children[1].wait();
    sleep(Duration::from_millis(500));
    signal(&lab.children[0], "-INT");
    let _ = lab.children[0].wait();

    let data = fs::read(&pcap).expect("tcpdump wrote a capture");
    let mut seen = Seen {
        adverts: [0; 256],
        garps: 0,
        nas: 0,
    };
    for frame in pcap_frames(&data) {
        check_frame(frame, &mut seen);
    }
    for vrid in 51..=55 {
        assert!(
            seen.adverts[vrid] >= 2,
            "adverts of vrid {vrid}: {}",
            seen.adverts[vrid]
        );
    }
    assert!(seen.garps >= 4, "gratuitous ARPs: {}", seen.garps);
    assert!(seen.nas >= 2, "neighbor advertisements: {}", seen.nas);
    eprintln!(
        "checked {} adverts, {} GARPs, {} NAs from keepalived",
        seen.adverts.iter().sum::<usize>(),
        seen.garps,
        seen.nas
    );
}
