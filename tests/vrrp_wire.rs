//! keeplite's adverts as Wireshark sees them: keeplite runs as master in one namespace, tshark
//! captures on a peer's eth0, and every VRRP packet must carry a checksum Wireshark calls good
//! (VRRPv3 over IPv4 with the pseudo-header, Wireshark's default and keepalived's form), with
//! the IP fields of RFC 5798 §5.1 / RFC 3768 §5.1: TTL / hop limit 255, and TOS / traffic class
//! 0xc0 (network control) as keepalived sends. The capture ends with keeplite's priority-0
//! advert after SIGTERM. With `auth_type AH` the advert must come behind an IPsec AH header
//! (IP protocol 51) that Wireshark decodes: next header VRRP, Payload Len 4 (HMAC-MD5-96), the
//! sender's address as SPI, sequence numbers counting up by one (Wireshark cannot check the ICV
//! without an SA; `vrrp_interop` has keepalived check it).
//!
//! tshark 4.0 prints `vrrp.checksum.status` as a number from Wireshark's checksum status enum:
//! 0 Bad, 1 Good, 2 Unverified, 3 Not present, 4 Illegal (seen: a packet with a flipped checksum
//! shows 0, keepalived's and keeplite's adverts show 1).
//!
//! Needs root, `ip netns` and tshark (Debian package `tshark`); without them each test says
//! SKIPPED loudly and passes.

mod common;

use common::{has_address, keeplite_bin, skip, start_keeplite, wait_until, Lan};
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Wireshark's `PROTO_CHECKSUM_E_GOOD`.
const CHECKSUM_GOOD: &str = "1";
const FIELDS: &[&str] = &[
    "vrrp.version",
    "vrrp.checksum.status",
    "vrrp.prio",
    "vrrp.virt_rtr_id",
    "vrrp.addr_count",
    "vrrp.ip_addr",
    "vrrp.ipv6_addr",
    "vrrp.auth_type",
    "vrrp.auth_string",
    "vrrp.adver_int",
    "vrrp.short_adver_int",
    "ip.src",
    "ip.dst",
    "ip.ttl",
    "ip.dsfield",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.hlim",
    "ipv6.tclass",
    "vrrp.checksum",
    "ip.proto",
    "ah.next_header",
    "ah.length",
    "ah.spi",
    "ah.sequence",
];

/// One captured packet, field name → value as tshark printed it ("" when absent).
struct Packet(Vec<(&'static str, String)>);

impl Packet {
    fn get(&self, field: &str) -> &str {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// A hexadecimal field such as `0xc0` or `0x000000c0`.
    fn hex(&self, field: &str) -> Option<u32> {
        u32::from_str_radix(self.get(field).trim_start_matches("0x"), 16).ok()
    }
}

impl std::fmt::Display for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (k, v) in &self.0 {
            if !v.is_empty() {
                write!(f, "{k}={v} ")?;
            }
        }
        Ok(())
    }
}

struct Expect {
    version: u8,
    ipv6: bool,
    priority: u8,
    vrid: u8,
    /// VIPs as the advert lists them, in order.
    addresses: &'static [&'static str],
    /// VRRPv2: seconds; VRRPv3: centiseconds.
    adver_int: u16,
    auth_pass: Option<&'static str>,
    /// `auth_type AH`.
    ah: bool,
    /// `None`: the VRRP multicast group.
    unicast_dst: Option<&'static str>,
}

/// How long tshark captures, and when within that keeplite gets its SIGTERM.
#[derive(Clone, Copy)]
struct Window {
    seconds: u32,
    stop_after: Duration,
}

/// VRRPv2's one-second adverts: at least two whatever their phase, then the stop.
const SLOW: Window = Window {
    seconds: 3,
    stop_after: Duration::from_millis(2500),
};
/// 0.2 s adverts: about six, then the stop.
const FAST: Window = Window {
    seconds: 2,
    stop_after: Duration::from_millis(1200),
};

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// keeplite on host 1 with `config`, tshark on host 0; returns the adverts captured over about
/// 3 s, of which the last should be the priority-0 advert of keeplite's graceful stop.
fn capture(test: &str, config: &str, vip: &str, window: Window) -> Option<(Vec<Packet>, String)> {
    if !tshark_available() {
        skip(
            test,
            "tshark is not installed (Debian package `tshark`: apt-get install -y tshark)",
        );
        return None;
    }
    let lan = Lan::new(test, 2)?;
    let path = lan.write("keeplite.conf", config);
    let mut keeplite = start_keeplite(&lan, 1, &path);
    let vip: IpAddr = vip.parse().expect("test VIP");
    assert!(
        wait_until(Duration::from_secs(6), || has_address(&lan.hosts[1], vip)),
        "{test}: keeplite ({}) did not become master:\n{}",
        keeplite_bin(),
        keeplite.log_text()
    );

    let duration = format!("duration:{}", window.seconds);
    let mut args = vec![
        "netns",
        "exec",
        &lan.hosts[0].ns,
        "tshark",
        "-n",
        "-l",
        "-i",
        "eth0",
        "-a",
        &duration,
        "-f",
        "ip proto 112 or ip6 proto 112 or ip proto 51",
        "-Y",
        "vrrp",
        "-T",
        "fields",
        "-E",
        "separator=|",
    ];
    for f in FIELDS {
        args.push("-e");
        args.push(f);
    }
    let mut tshark = Command::new("ip")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tshark");
    // dumpcap says "Capturing on 'eth0'" once the interface is open.
    let stderr = tshark.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let started = std::time::Instant::now();
    let mut capturing = false;
    while !capturing && started.elapsed() < Duration::from_secs(10) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => capturing = line.contains("Capturing on"),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    assert!(capturing, "{test}: tshark did not start capturing");
    // Adverts for a while, then the graceful stop's priority-0 advert inside the window.
    std::thread::sleep(window.stop_after);
    keeplite.signal("TERM");
    let exit = keeplite.wait_exit(Duration::from_secs(5));
    let out = tshark.wait_with_output().expect("tshark output");
    let tshark_log = reader.join().unwrap_or_default();
    assert_eq!(
        exit,
        Some(0),
        "{test}: keeplite's exit after SIGTERM:\n{}",
        keeplite.log_text()
    );
    assert!(out.status.success(), "{test}: tshark failed: {tshark_log}");
    let packets = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            Packet(
                FIELDS
                    .iter()
                    .copied()
                    .zip(
                        l.split('|')
                            .map(str::to_string)
                            .chain(std::iter::repeat(String::new())),
                    )
                    .collect(),
            )
        })
        .collect();
    Some((packets, keeplite.log_text()))
}

fn check(test: &str, packets: &[Packet], log: &str, e: &Expect) {
    let all: String = packets.iter().map(|p| format!("  {p}\n")).collect();
    let context = format!("{test}: captured adverts:\n{all}keeplite log:\n{log}");
    let steady = packets
        .iter()
        .filter(|p| p.get("vrrp.prio") == e.priority.to_string())
        .count();
    assert!(
        steady >= 2,
        "want at least 2 adverts at priority {}\n{context}",
        e.priority
    );
    let last = packets.last().expect("at least two packets");
    assert_eq!(
        last.get("vrrp.prio"),
        "0",
        "the graceful stop must end with a priority-0 advert\n{context}"
    );
    for p in packets {
        let what = |field: &str| format!("{field} of [{p}]\n{context}");
        assert_eq!(
            p.get("vrrp.checksum.status"),
            CHECKSUM_GOOD,
            "{}",
            what("checksum status (1 = Good, 0 = Bad)")
        );
        assert_eq!(
            p.get("vrrp.version"),
            e.version.to_string(),
            "{}",
            what("version")
        );
        assert_eq!(
            p.get("vrrp.virt_rtr_id"),
            e.vrid.to_string(),
            "{}",
            what("VRID")
        );
        assert_eq!(
            p.get("vrrp.addr_count"),
            e.addresses.len().to_string(),
            "{}",
            what("address count")
        );
        let listed = if e.ipv6 {
            "vrrp.ipv6_addr"
        } else {
            "vrrp.ip_addr"
        };
        assert_eq!(p.get(listed), e.addresses.join(","), "{}", what(listed));
        if e.version == 2 {
            assert_eq!(
                p.get("vrrp.adver_int"),
                e.adver_int.to_string(),
                "{}",
                what("adver_int")
            );
            let auth_type = match (e.ah, e.auth_pass) {
                (true, _) => "2",
                (false, Some(_)) => "1",
                (false, None) => "0",
            };
            assert_eq!(p.get("vrrp.auth_type"), auth_type, "{}", what("auth type"));
            if let Some(pass) = e.auth_pass {
                assert_eq!(p.get("vrrp.auth_string"), pass, "{}", what("auth string"));
            }
        } else {
            assert_eq!(
                p.get("vrrp.short_adver_int"),
                e.adver_int.to_string(),
                "{}",
                what("max adver int (cs)")
            );
        }
        if e.ipv6 {
            assert_eq!(p.get("ipv6.hlim"), "255", "{}", what("hop limit"));
            assert!(
                p.get("ipv6.src").starts_with("fe80:"),
                "{}",
                what("IPv6 source (RFC 5798 §5.1.2.1: link-local)")
            );
            assert_eq!(
                p.get("ipv6.dst"),
                "ff02::12",
                "{}",
                what("IPv6 destination")
            );
        } else {
            assert_eq!(p.get("ip.ttl"), "255", "{}", what("TTL"));
            let proto = if e.ah { "51" } else { "112" };
            assert_eq!(p.get("ip.proto"), proto, "{}", what("IP protocol"));
            if e.ah {
                assert_eq!(p.get("ah.next_header"), "112", "{}", what("AH next header"));
                assert_eq!(p.get("ah.length"), "4", "{}", what("AH payload length"));
                // keepalived's SPI: the sender's address, 10.77.0.2.
                assert_eq!(p.hex("ah.spi"), Some(0x0a4d_0002), "{}", what("AH SPI"));
            } else {
                assert_eq!(p.get("ah.spi"), "", "{}", what("AH header (none wanted)"));
            }
            assert_eq!(p.hex("ip.dsfield"), Some(0xc0), "{}", what("TOS"));
            assert_eq!(p.get("ip.src"), "10.77.0.2", "{}", what("IPv4 source"));
            let dst = e.unicast_dst.unwrap_or("224.0.0.18");
            assert_eq!(p.get("ip.dst"), dst, "{}", what("IPv4 destination"));
        }
    }
    if e.ah {
        // One per advert, the priority-0 one included, no gap and no repeat.
        let seqs: Vec<u64> = packets
            .iter()
            .map(|p| p.get("ah.sequence").parse().unwrap_or(0))
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1) && seqs[0] >= 1,
            "AH sequence numbers {seqs:?}\n{context}"
        );
    }
    if e.ipv6 {
        // Last, so that a failure here means everything else was right. keepalived 2.2.7 sends
        // its IPv6 adverts with traffic class 0xc0 (network control), as its IPv4 TOS.
        for p in packets {
            assert_eq!(
                p.hex("ipv6.tclass"),
                Some(0xc0),
                "traffic class of [{p}] (checksums and all other fields are fine)\n{context}"
            );
        }
    }
    eprintln!(
        "{test}: {} adverts, all with a good checksum ({steady} at priority {}, then priority 0)",
        packets.len(),
        e.priority
    );
}

fn instance(version: u8, priority: u8, vrid: u8, adv: &str, extra: &str, vips: &[&str]) -> String {
    let vips: String = vips.iter().map(|v| format!("        {v}\n")).collect();
    format!(
        "vrrp_instance VI_{vrid} {{\n    state BACKUP\n    interface eth0\n    \
         virtual_router_id {vrid}\n    priority {priority}\n    advert_int {adv}\n    \
         version {version}\n{extra}    virtual_ipaddress {{\n{vips}    }}\n}}\n"
    )
}

#[test]
fn v2_adverts_have_good_checksums() {
    let test = "v2_adverts_have_good_checksums";
    // The address owner (255) is master at once; one second is VRRPv2's smallest interval.
    let config = instance(2, 255, 71, "1", "", &["10.77.0.100/24", "10.77.0.101/24"]);
    let Some((packets, log)) = capture(test, &config, "10.77.0.100", SLOW) else {
        return;
    };
    let e = Expect {
        version: 2,
        ipv6: false,
        priority: 255,
        vrid: 71,
        addresses: &["10.77.0.100", "10.77.0.101"],
        adver_int: 1,
        auth_pass: None,
        ah: false,
        unicast_dst: None,
    };
    check(test, &packets, &log, &e);
}

#[test]
fn v2_auth_pass_adverts_have_good_checksums() {
    let test = "v2_auth_pass_adverts_have_good_checksums";
    // The password is inside the VRRPv2 checksum.
    let auth = "    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }\n";
    let config = instance(2, 255, 72, "1", auth, &["10.77.0.100/24"]);
    let Some((packets, log)) = capture(test, &config, "10.77.0.100", SLOW) else {
        return;
    };
    let e = Expect {
        version: 2,
        ipv6: false,
        priority: 255,
        vrid: 72,
        addresses: &["10.77.0.100"],
        adver_int: 1,
        auth_pass: Some("s3cret"),
        ah: false,
        unicast_dst: None,
    };
    check(test, &packets, &log, &e);
}

/// An owner starts master at once, so the first advert carries sequence number 1.
#[test]
fn v2_auth_ah_adverts_are_decoded_behind_an_ah_header() {
    let test = "v2_auth_ah_adverts_are_decoded_behind_an_ah_header";
    let auth = "    authentication {\n        auth_type AH\n        auth_pass s3cret\n    }\n";
    let config = instance(2, 255, 76, "1", auth, &["10.77.0.100/24", "10.77.0.101/24"]);
    let Some((packets, log)) = capture(test, &config, "10.77.0.100", SLOW) else {
        return;
    };
    let e = Expect {
        version: 2,
        ipv6: false,
        priority: 255,
        vrid: 76,
        addresses: &["10.77.0.100", "10.77.0.101"],
        adver_int: 1,
        auth_pass: None,
        ah: true,
        unicast_dst: None,
    };
    check(test, &packets, &log, &e);
}

#[test]
fn v3_ipv4_adverts_have_good_checksums() {
    let test = "v3_ipv4_adverts_have_good_checksums";
    // Not the owner: master after Master_Down_Interval (0.6 s + skew), as usual.
    let config = instance(3, 200, 73, "0.2", "", &["10.77.0.100/24", "10.77.0.101/24"]);
    let Some((packets, log)) = capture(test, &config, "10.77.0.100", FAST) else {
        return;
    };
    let e = Expect {
        version: 3,
        ipv6: false,
        priority: 200,
        vrid: 73,
        addresses: &["10.77.0.100", "10.77.0.101"],
        adver_int: 20,
        auth_pass: None,
        ah: false,
        unicast_dst: None,
    };
    check(test, &packets, &log, &e);
}

#[test]
fn v3_ipv6_adverts_have_good_checksums() {
    let test = "v3_ipv6_adverts_have_good_checksums";
    let config = instance(3, 200, 74, "0.2", "", &["fe80::100/64", "fd77::100/64"]);
    let Some((packets, log)) = capture(test, &config, "fd77::100", FAST) else {
        return;
    };
    let e = Expect {
        version: 3,
        ipv6: true,
        priority: 200,
        vrid: 74,
        addresses: &["fe80::100", "fd77::100"],
        adver_int: 20,
        auth_pass: None,
        ah: false,
        unicast_dst: None,
    };
    check(test, &packets, &log, &e);
}

#[test]
fn v3_unicast_ipv4_adverts_have_good_checksums() {
    let test = "v3_unicast_ipv4_adverts_have_good_checksums";
    // The pseudo-header holds the unicast destination, not the group.
    let unicast = "    unicast_src_ip 10.77.0.2\n    unicast_peer {\n        10.77.0.1\n    }\n";
    let config = instance(3, 200, 75, "0.2", unicast, &["10.77.0.100/24"]);
    let Some((packets, log)) = capture(test, &config, "10.77.0.100", FAST) else {
        return;
    };
    let e = Expect {
        version: 3,
        ipv6: false,
        priority: 200,
        vrid: 75,
        addresses: &["10.77.0.100"],
        adver_int: 20,
        auth_pass: None,
        ah: false,
        unicast_dst: Some("10.77.0.1"),
    };
    check(test, &packets, &log, &e);
}
