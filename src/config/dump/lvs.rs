//! Dump of `virtual_server_group` and `virtual_server`: every value explicit where the parser
//! would otherwise derive one (real and sorry server ports, persistence timeout, quorum).

use super::Writer;
use crate::config::model::{
    CheckKind, CheckTarget, CheckTiming, Checker, Family, ForwardMethod, GroupEntry, HttpCheck,
    HttpProtocol, MaskedByte, Persistence, Protocol, RealServer, ServiceKey, TunnelChecksum,
    TunnelType, VirtualServer, VirtualServerGroup,
};
use crate::config::parse::value::show_hex;
use std::net::{IpAddr, Ipv4Addr};

pub(super) fn virtual_server_group(w: &mut Writer, g: &VirtualServerGroup) {
    w.open(&["virtual_server_group", g.name.as_str()]);
    for entry in &g.entries {
        match entry {
            GroupEntry::Range { first, last, port } => {
                w.line(&[range(*first, *last), port.to_string()]);
            }
            GroupEntry::Fwmark { mark, family } => {
                let mut words = vec!["fwmark".to_string(), mark.to_string()];
                words.extend(family.map(|f| family_name(f).to_string()));
                w.line(&words);
            }
        }
    }
    w.close();
}

/// `A`, `A-N` when only the last IPv4 octet or IPv6 group changes, else `A-B`.
fn range(first: IpAddr, last: IpAddr) -> String {
    if first == last {
        return first.to_string();
    }
    match (first, last) {
        (IpAddr::V4(f), IpAddr::V4(l)) if f.octets()[..3] == l.octets()[..3] => {
            format!("{f}-{}", l.octets()[3])
        }
        (IpAddr::V6(f), IpAddr::V6(l)) if f.segments()[..7] == l.segments()[..7] => {
            format!("{f}-{:x}", l.segments()[7])
        }
        _ => format!("{first}-{last}"),
    }
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::Inet => "inet",
        Family::Inet6 => "inet6",
    }
}

pub(super) fn virtual_server(w: &mut Writer, vs: &VirtualServer) {
    let mut head = vec!["virtual_server".to_string()];
    match &vs.key {
        ServiceKey::Addr { addr, port } => {
            head.push(addr.to_string());
            head.push(port.to_string());
        }
        ServiceKey::Fwmark { mark } => {
            head.push("fwmark".to_string());
            head.push(mark.to_string());
        }
        ServiceKey::Group { name } => {
            head.push("group".to_string());
            head.push(name.clone());
        }
    }
    w.open(&head);
    w.line(&["lvs_sched", vs.lvs_sched.name()]);
    // keepalived only takes sh-/mh- flags once the scheduler is known: they come after it.
    let f = &vs.flags;
    w.flag("flag-1", f.flag_1);
    w.flag("flag-2", f.flag_2);
    w.flag("flag-3", f.flag_3);
    w.flag("sh-port", f.sh_port);
    w.flag("sh-fallback", f.sh_fallback);
    w.flag("mh-port", f.mh_port);
    w.flag("mh-fallback", f.mh_fallback);
    w.flag("ops", f.ops);
    forward_method(w, "lvs_method", Some(vs.lvs_method));
    // keepalived ignores (and reports) a protocol on a fwmark service; it only matters to keep.
    if !matches!(vs.key, ServiceKey::Fwmark { .. }) || vs.protocol != Protocol::Tcp {
        w.line(&["protocol", protocol_name(vs.protocol)]);
    }
    // ip_family before the granularity: keepalived reads the mask in the family it knows.
    w.opt("ip_family", vs.ip_family.map(family_name));
    if let Some(p) = &vs.persistence {
        persistence(w, vs, p);
    }
    w.opt("persistence_engine", vs.persistence_engine.as_ref());
    w.opt("virtualhost", vs.virtualhost.as_ref());
    w.opt("quorum", Some(vs.quorum));
    w.opt("hysteresis", Some(vs.hysteresis));
    w.command("quorum_up", &vs.quorum_up);
    w.command("quorum_down", &vs.quorum_down);
    w.flag("alpha", vs.alpha);
    w.flag("omega", vs.omega);
    w.flag("inhibit_on_failure", vs.inhibit_on_failure);
    w.flag("ha_suspend", vs.ha_suspend);
    w.flag("smtp_alert", vs.smtp_alert);
    // A virtual server's `alpha` is `vs.alpha`; its timing carries none.
    timing(w, &vs.timing, true);
    if let Some(s) = &vs.sorry_server {
        w.line(&[
            "sorry_server".to_string(),
            s.addr.to_string(),
            s.port.to_string(),
        ]);
        forward_method(w, "sorry_server_lvs_method", s.lvs_method);
        w.flag("sorry_server_inhibit", s.inhibit);
    }
    for rs in &vs.real_servers {
        real_server(w, rs);
    }
    w.close();
}

/// The granularity as keepalived reads it: a dotted mask for IPv4, a length for IPv6.
fn persistence(w: &mut Writer, vs: &VirtualServer, p: &Persistence) {
    w.opt("persistence_timeout", Some(p.timeout_secs));
    let Some(len) = p.granularity else { return };
    let ipv6 = match (&vs.key, vs.ip_family) {
        (ServiceKey::Addr { addr, .. }, _) => addr.is_ipv6(),
        (_, Some(f)) => f == Family::Inet6,
        _ => vs.real_servers.first().is_some_and(|rs| rs.addr.is_ipv6()) || len > 32,
    };
    if ipv6 {
        w.opt("persistence_granularity", Some(len));
    } else {
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        w.opt("persistence_granularity", Some(Ipv4Addr::from(mask)));
    }
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

fn forward_method(w: &mut Writer, keyword: &str, method: Option<ForwardMethod>) {
    let Some(method) = method else { return };
    let mut words = vec![keyword.to_string()];
    match method {
        ForwardMethod::Nat => words.push("NAT".into()),
        ForwardMethod::Dr => words.push("DR".into()),
        ForwardMethod::Tun { tunnel, checksum } => {
            words.push("TUN".into());
            if tunnel != TunnelType::Ipip || checksum.is_some() {
                words.push("type".into());
                match tunnel {
                    TunnelType::Ipip => words.push("ipip".into()),
                    TunnelType::Gre => words.push("gre".into()),
                    TunnelType::Gue { port } => {
                        words.extend(["gue".into(), "port".into(), port.to_string()])
                    }
                }
            }
            words.extend(checksum.map(|c| {
                match c {
                    TunnelChecksum::NoCsum => "nocsum",
                    TunnelChecksum::Csum => "csum",
                    TunnelChecksum::RemCsum => "remcsum",
                }
                .to_string()
            }));
        }
    }
    w.line(&words);
}

/// Timer keywords; `connection` is false for MISC_CHECK, which has no connect_timeout.
fn timing(w: &mut Writer, t: &CheckTiming, connection: bool) {
    w.secs_opt("delay_loop", t.delay_loop);
    if connection {
        w.secs_opt("connect_timeout", t.connect_timeout);
    }
    w.opt("retry", t.retry);
    w.secs_opt("delay_before_retry", t.delay_before_retry);
    w.secs_opt("warmup", t.warmup);
}

fn real_server(w: &mut Writer, rs: &RealServer) {
    w.open(&[
        "real_server".to_string(),
        rs.addr.to_string(),
        rs.port.to_string(),
    ]);
    w.opt("weight", Some(rs.weight));
    forward_method(w, "lvs_method", rs.lvs_method);
    w.bool_opt("inhibit_on_failure", rs.inhibit_on_failure);
    w.opt("uthreshold", rs.uthreshold);
    w.opt("lthreshold", rs.lthreshold);
    w.command("notify_up", &rs.notify_up);
    w.command("notify_down", &rs.notify_down);
    w.flag("smtp_alert", rs.smtp_alert);
    w.opt("virtualhost", rs.virtualhost.as_ref());
    w.bool_opt("alpha", rs.timing.alpha);
    timing(w, &rs.timing, true);
    for c in &rs.checkers {
        checker(w, c);
    }
    w.close();
}

fn checker(w: &mut Writer, c: &Checker) {
    let name = match &c.kind {
        CheckKind::Tcp => "TCP_CHECK",
        CheckKind::Http(_) => "HTTP_GET",
        CheckKind::Ssl(_) => "SSL_GET",
        CheckKind::Misc(_) => "MISC_CHECK",
        CheckKind::Smtp(_) => "SMTP_CHECK",
        CheckKind::Dns(_) => "DNS_CHECK",
        CheckKind::Udp(_) => "UDP_CHECK",
        CheckKind::Ping => "PING_CHECK",
        CheckKind::File(_) => "FILE_CHECK",
    };
    w.open(&[name]);
    match &c.kind {
        // keepalived gives FILE_CHECK none of the shared keywords.
        CheckKind::File(_) => {}
        CheckKind::Misc(_) => {
            w.flag("log_all_failures", c.target.log_all_failures);
            w.bool_opt("alpha", c.timing.alpha);
            timing(w, &c.timing, false);
        }
        _ => {
            target(w, &c.target);
            w.bool_opt("alpha", c.timing.alpha);
            timing(w, &c.timing, true);
        }
    }
    match &c.kind {
        CheckKind::Tcp | CheckKind::Ping => {}
        CheckKind::Http(h) => http(w, h, false),
        CheckKind::Ssl(h) => http(w, h, true),
        CheckKind::Misc(m) => {
            w.line(&["misc_path", m.misc_path.command.as_str()]);
            w.run_as("user", m.misc_path.run_as.as_deref());
            w.secs_opt("misc_timeout", m.misc_timeout);
            w.flag("misc_dynamic", m.misc_dynamic);
        }
        CheckKind::Smtp(s) => w.opt("helo_name", s.helo_name.as_ref()),
        CheckKind::Dns(d) => {
            w.line(&["type", d.query_type.name()]);
            w.line(&["name", d.name.as_str()]);
        }
        CheckKind::Udp(u) => {
            if let Some(p) = &u.payload {
                w.line(&["payload".to_string(), show_hex(p)]);
            }
            match u.require_reply.as_deref() {
                Some([]) => w.line(&["require_reply"]),
                Some(bytes) => w.line(&["require_reply".to_string(), masked_hex(bytes)]),
                None => {}
            }
            w.opt("min_reply_length", u.min_reply_length);
            w.opt("max_reply_length", u.max_reply_length);
        }
        CheckKind::File(f) => {
            w.line(&["track_file", f.track_file.as_str()]);
            if let Some(weight) = f.weight {
                let mut words = vec!["weight".to_string(), weight.to_string()];
                if f.reverse {
                    words.push("reverse".into());
                }
                w.line(&words);
            }
            w.flag("dynamic", f.dynamic);
        }
    }
    w.close();
}

fn target(w: &mut Writer, t: &CheckTarget) {
    w.opt("connect_ip", t.connect_ip);
    w.opt("connect_port", t.connect_port);
    w.opt("bindto", t.bindto);
    w.opt("bind_port", t.bind_port);
    w.opt("bind_if", t.bind_if.as_ref().map(|i| i.as_str()));
    w.opt("fwmark", t.fwmark);
    w.flag("log_all_failures", t.log_all_failures);
}

fn http(w: &mut Writer, h: &HttpCheck, ssl: bool) {
    w.opt(
        "http_protocol",
        h.http_protocol.as_ref().map(|p| match p {
            HttpProtocol::Http10 => "1.0",
            HttpProtocol::Http10Close => "1.0C",
            HttpProtocol::Http10KeepAlive => "1.0K",
            HttpProtocol::Http11 => "1.1",
        }),
    );
    w.opt("virtualhost", h.virtualhost.as_ref());
    w.flag("enable_sni", ssl && h.enable_sni);
    w.flag("fast_recovery", h.fast_recovery);
    for url in &h.urls {
        w.open(&["url"]);
        w.line(&["path", url.path.as_str()]);
        w.opt("digest", url.digest.as_ref().map(|d| show_hex(d)));
        if !url.status_code.is_empty() {
            let mut words = vec!["status_code".to_string()];
            words.extend(url.status_code.iter().map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            }));
            w.line(&words);
        }
        w.opt("virtualhost", url.virtualhost.as_ref());
        w.close();
    }
}

/// Hex with `x` for a nibble that need not match; a nibble only partly masked (which the text
/// form cannot write) is written as its value.
fn masked_hex(bytes: &[MaskedByte]) -> String {
    let digit = |value: u8, mask: u8| {
        if mask == 0 {
            'x'
        } else {
            char::from_digit(u32::from(value), 16).unwrap_or('0')
        }
    };
    bytes
        .iter()
        .flat_map(|b| {
            [
                digit(b.value >> 4, b.mask >> 4),
                digit(b.value & 0xf, b.mask & 0xf),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::model::*;
    use crate::config::{dump, parse_str};
    use std::net::IpAddr;

    /// Every LVS keyword keeplite reads, in unusual order and spelling.
    const TEXT: &str = "\
track_file drain {
    file /tmp/drain
}
virtual_server_group G4 {
    10.0.0.1-10 80
    192.168.202.8/29 443
    10.1.0.250-10.1.1.10 8080
    fwmark 7 inet
}
virtual_server_group G6 {
    2001:db8::1-ff 80
    2001:db8::1:0-2001:db8::2:5 80
    fwmark 9
}
virtual_server 192.0.2.10 80 {
    sorry_server 10.0.0.250
    sorry_server_inhibit
    sorry_server_lvs_method TUN type gre
    inhibit_on_failure
    sh-fallback
    delay_loop 6
    lb_algo sh
    flag-2
    lb_kind NAT
    persistence_granularity 255.255.255.0
    persistence_engine sip
    protocol udp
    ops
    ha_suspend
    smtp_alert yes
    virtualhost www.example.com
    alpha
    omega
    quorum 2
    hysteresis 1
    quorum_up \"/bin/up arg\" root
    quorum_down /bin/down
    connect_timeout 4.5
    nb_get_retry 2
    delay_before_retry 1.25
    warmup 0
    real_server 10.0.0.11 {
        delay_loop 10
        weight 65535
        lvs_method TUN type gue port 6080 csum
        inhibit_on_failure off
        uthreshold 100
        lthreshold 10
        notify_up \"/bin/rs up\" nobody nogroup
        notify_down /bin/rsdown
        smtp_alert
        virtualhost rs.example.com
        alpha no
        connect_timeout 2
        retry 3
        TCP_CHECK {
            delay_loop 3
            connect_ip 10.0.0.12
            connect_port 8080
            bindto 10.0.0.1
            bind_port 40000
            bind_if eth0
            fwmark 3
            log_all_failures
            alpha
            connect_timeout 1
            retry 0
            delay_before_retry 0.5
            warmup 2
        }
        HTTP_GET {
            url {
                status_code 503 200-202 203 500-502
                digest 9B3A0C85A887A256D6939DA88AABD8CD
                path /health
                virtualhost u.example.com
            }
            url {
                path \"/a b\"
            }
            fast_recovery on
            http_protocol 1.0k
            virtualhost h.example.com
        }
        SSL_GET {
            enable_sni
            http_protocol 1.1
            url {
                path /
            }
        }
        MISC_CHECK {
            user nobody
            misc_path \"/usr/bin/check --x 1\"
            misc_timeout 5
            misc_dynamic
            retry 1
            alpha on
            log_all_failures
        }
        SMTP_CHECK {
            helo_name \"mail example\"
            connect_timeout 9
        }
        DNS_CHECK {
            type mx
        }
        UDP_CHECK {
            payload Ab12f 3 456 546443123
            require_reply 0x12 X
            min_reply_length 2
            max_reply_length 100
        }
        PING_CHECK {
            retry 2
        }
        FILE_CHECK {
            weight -10 reverse
            track_file drain
            dynamic
        }
    }
    real_server 10.0.0.13 8080 {
        weight 0
        lb_kind DR
        UDP_CHECK {
            require_reply
        }
        FILE_CHECK {
            track_file drain
        }
    }
}
virtual_server fwmark 100 {
    lvs_sched mh
    mh-port
    mh-fallback
    lvs_method TUN
    ip_family inet6
    persistence_timeout 600
    persistence_granularity 64
    sorry_server 2001:db8::99 0
    real_server 2001:db8::1 {
        TCP_CHECK {
            connect_port 80
        }
    }
    real_server 192.0.2.1 0 {
        lvs_method TUN type gre nocsum
        PING_CHECK {
        }
    }
}
virtual_server group G4 {
    lvs_sched rr
    lvs_method TUN type ipip nocsum
    protocol SCTP
    real_server 10.0.0.21 {
        UDP_CHECK {
            payload 00ff
        }
    }
}
virtual_server 192.0.2.11 0 {
    protocol TCP
    persistence_timeout
    real_server 10.0.0.31 {
        TCP_CHECK {
        }
    }
}
virtual_server 2001:db8::80 443 {
    protocol TCP
    persistence_granularity 48
    real_server 2001:db8::81 443 {
        SSL_GET {
            url {
                path /
                status_code 200
            }
        }
    }
}
";

    fn parse_clean(name: &str, text: &str) -> Config {
        let l = parse_str(name, text);
        let problems: Vec<String> = l
            .diagnostics
            .items
            .iter()
            .filter(|d| !d.message.contains("nb_get_retry"))
            .map(|d| l.diagnostics.render(d).to_string())
            .collect();
        assert!(problems.is_empty(), "{problems:#?}\n{text}");
        l.config
    }

    #[test]
    fn round_trip_is_lossless_and_a_fixed_point() {
        let first = parse_clean("t.conf", TEXT);
        assert_eq!(first.server_groups.len(), 2);
        assert_eq!(first.virtual_servers.len(), 5);
        let text = dump(&first);
        let again = parse_clean("dump.conf", &text);
        assert_eq!(again.server_groups, first.server_groups, "{text}");
        assert_eq!(again.virtual_servers, first.virtual_servers, "{text}");
        assert_eq!(dump(&again), text);
    }

    fn has_line(text: &str, line: &str) -> bool {
        text.lines().any(|l| l.trim() == line)
    }

    #[test]
    fn values_are_written_normalized() {
        let text = dump(&parse_clean("t.conf", TEXT));
        for line in [
            "10.0.0.1-10 80",
            "192.168.202.8-15 443",
            "10.1.0.250-10.1.1.10 8080",
            "fwmark 7 inet",
            "2001:db8::1-ff 80",
            "2001:db8::1:0-2001:db8::2:5 80",
            "fwmark 9",
            "lvs_sched sh",
            "lvs_method NAT",
            "protocol UDP",
            "persistence_timeout 360",
            "persistence_granularity 255.255.255.0",
            "sorry_server 10.0.0.250 80",
            "sorry_server_lvs_method TUN type gre",
            "retry 2",
            "real_server 10.0.0.11 80 {",
            "lvs_method TUN type gue port 6080 csum",
            "inhibit_on_failure off",
            "alpha off",
            "http_protocol 1.0K",
            "status_code 200-203 500-503",
            "digest 9b3a0c85a887a256d6939da88aabd8cd",
            "path \"/a b\"",
            "misc_path \"/usr/bin/check --x 1\"",
            "user nobody",
            "helo_name \"mail example\"",
            "type MX",
            "name .",
            "payload ab120f0345065464431203",
            "require_reply 0x120x",
            "require_reply",
            "weight -10 reverse",
            "virtual_server fwmark 100 {",
            "persistence_granularity 64",
            "sorry_server 2001:db8::99 0",
            "real_server 2001:db8::1 0 {",
            "virtual_server group G4 {",
            "lvs_method TUN type ipip nocsum",
            "real_server 10.0.0.21 0 {",
            "virtual_server 192.0.2.11 0 {",
            "persistence_granularity 48",
        ] {
            assert!(has_line(&text, line), "no `{line}` in\n{text}");
        }
        // sh-/mh- flags must follow the scheduler for keepalived to take them.
        let sched = text.find("lvs_sched sh").unwrap();
        assert!(text.find("sh-fallback").unwrap() > sched);
        // keepalived reports a protocol on a fwmark service.
        let fwmark = text.find("virtual_server fwmark").unwrap();
        let end = fwmark + text[fwmark..].find("\n}\n").unwrap();
        assert!(!text[fwmark..end].contains("protocol"), "{text}");
    }

    #[test]
    fn masked_bytes_the_text_cannot_write_fall_back_to_their_value() {
        let b = |value, mask| MaskedByte { value, mask };
        assert_eq!(
            super::masked_hex(&[b(0x12, 0xff), b(0x30, 0xf0), b(0x05, 0x0f), b(0x77, 0x80)]),
            "123xx57x"
        );
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(super::range(a, a), "10.0.0.1");
    }
}
