//! `virtual_server_group`, `virtual_server`, `real_server` and the checkers, read as keepalived's
//! check_parser.c and check_*.c read them; limits follow linux/ip_vs.h where IPVS sets them.

use super::value::{self, secs, secs_in, u32_in};
use super::Cx;
use crate::config::diag::Location;
use crate::config::model::{
    CheckKind, CheckTarget, CheckTiming, Checker, Command, DnsCheck, DnsType, Family, FileCheck,
    ForwardMethod, GroupEntry, HttpCheck, HttpProtocol, IfName, MaskedByte, Micros, MiscCheck,
    Persistence, Protocol, RealServer, RunAs, Scheduler, SchedulerFlags, ServiceKey, SmtpCheck,
    SorryServer, TunnelChecksum, TunnelType, UdpCheck, Url, VirtualServer, VirtualServerGroup,
};
use crate::config::tree::Statement;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPVS_SVC_PERSISTENT_TIMEOUT: `persistence_timeout` alone, or implied by a granularity.
const DEFAULT_PERSISTENCE_SECS: u32 = 360;
/// keepalived's LVS_MAX_TIMEOUT (31 days).
const MAX_PERSISTENCE_SECS: u32 = 86400 * 31;
/// keeplite's real server weight limit; IPVS and keepalived 2.2 would take up to `i32::MAX`.
const MAX_WEIGHT: u32 = 65535;
/// keepalived keeps connect_timeout in an unsigned int of microseconds.
const MAX_CONNECT_TIMEOUT: Micros = Micros(u32::MAX as u64);
/// The longest timer `value::secs` accepts.
const MAX_TIMER: Micros = Micros::from_secs(1_000_000);
/// keepalived stores misc_timeout as microseconds in an unsigned int.
const MAX_MISC_TIMEOUT_SECS: u64 = u32::MAX as u64 / 1_000_000;
const CHECKERS: &[&str] = &[
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "MISC_CHECK",
    "SMTP_CHECK",
    "DNS_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "FILE_CHECK",
];
/// keepalived keywords keeplite accepts and does not act on.
const UNSUPPORTED: &[&str] = &["snmp_name", "BFD_CHECK", "sni_name", "tls_compliant"];
/// `url { regex ... }` needs PCRE; a url with a regex is still checked by status and digest.
const UNSUPPORTED_URL: &[&str] = &[
    "regex",
    "regex_no_match",
    "regex_options",
    "regex_stack",
    "regex_min_offset",
    "regex_max_offset",
    "tls_compliant",
];

// ---- virtual_server_group ----

pub(super) fn virtual_server_group(cx: &mut Cx, s: &Statement) -> Option<VirtualServerGroup> {
    let name = cx.block_name(s)?;
    let items = cx.block(s);
    s.block.as_ref()?;
    let mut entries = Vec::new();
    // keepalived cannot tell the family of a bare fwmark when the group mixes IPv4 and IPv6.
    let (mut v4, mut v6, mut bare_fwmark) = (false, false, false);
    for item in items {
        let Some(entry) = group_entry(cx, item) else {
            continue;
        };
        match &entry {
            GroupEntry::Range { first, .. } => {
                v4 |= first.is_ipv4();
                v6 |= first.is_ipv6();
            }
            GroupEntry::Fwmark { family, .. } => match family {
                Some(Family::Inet) => v4 = true,
                Some(Family::Inet6) => v6 = true,
                None => bare_fwmark = true,
            },
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        cx.error(
            s.keyword.at,
            format!(
                "virtual_server_group `{}` has no entries; ignored",
                name.text
            ),
        );
        return None;
    }
    if v4 && v6 && bare_fwmark {
        cx.error(
            name.at,
            format!(
                "virtual_server_group `{}` mixes IPv4 and IPv6 with a fwmark of no family \
                 (write `fwmark N inet|inet6`); ignored",
                name.text
            ),
        );
        return None;
    }
    if !cx.define(|n| &mut n.server_groups, "virtual_server_group", name) {
        return None;
    }
    Some(VirtualServerGroup {
        name: name.text.clone(),
        entries,
    })
}

/// `IP[-LAST] [PORT]`, `IP/LEN [PORT]` or `fwmark N [inet|inet6]`.
fn group_entry(cx: &mut Cx, s: &Statement) -> Option<GroupEntry> {
    cx.no_block(s);
    if let Some(extra) = s.args.get(2) {
        cx.warning(extra.at, "extra words are ignored");
    }
    if s.keyword.text == "fwmark" {
        let Some(mark) = s.args.first() else {
            cx.error(s.keyword.at, "`fwmark` needs a mark number");
            return None;
        };
        let mark = cx.parse_token(s, mark, |t| u32_in(t, 1, u32::MAX))?;
        let family = match s.args.get(1) {
            Some(f) => Some(cx.parse_token(s, f, parse_family)?),
            None => None,
        };
        return Some(GroupEntry::Fwmark { mark, family });
    }
    if let Some(extra) = s.args.get(1) {
        cx.warning(extra.at, "extra words after the port are ignored");
    }
    let (first, last) = match address_range(&s.keyword.text) {
        Ok(range) => range,
        Err(e) => {
            cx.error(s.keyword.at, format!("virtual_server_group: {e}"));
            return None;
        }
    };
    let port = match s.args.first() {
        Some(p) => cx.parse_token(s, p, any_port)?,
        None => 0,
    };
    Some(GroupEntry::Range { first, last, port })
}

/// An address range as keepalived writes one: `A`, `A-N` (the last IPv4 octet in decimal, the
/// last IPv6 group in hex), `A-B` with a whole end address, or `A/LEN`.
fn address_range(text: &str) -> Result<(IpAddr, IpAddr), String> {
    if text.contains('/') {
        let (addr, len) = value::ip_prefix(text)?;
        let len = len.unwrap_or(0);
        if len == 0 {
            return Err(format!("`{text}` needs a prefix length of at least 1"));
        }
        return match addr {
            IpAddr::V4(a) => {
                let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                let bits = u32::from(a);
                if bits & host != 0 {
                    return Err(format!("`{text}` has host bits set"));
                }
                Ok((addr, IpAddr::V4(Ipv4Addr::from(bits | host))))
            }
            IpAddr::V6(a) => {
                let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                let bits = u128::from(a);
                if bits & host != 0 {
                    return Err(format!("`{text}` has host bits set"));
                }
                Ok((addr, IpAddr::V6(Ipv6Addr::from(bits | host))))
            }
        };
    }
    let Some((start, end)) = text.split_once('-') else {
        let addr = value::ip(text)?;
        return Ok((addr, addr));
    };
    let first = value::ip(start)?;
    let whole_end = match first {
        IpAddr::V4(_) => end.contains('.'),
        IpAddr::V6(_) => end.contains(':'),
    };
    if whole_end {
        let last = value::ip(end)?;
        if last.is_ipv4() != first.is_ipv4() {
            return Err(format!("`{text}`: the two ends are of different families"));
        }
        if last < first {
            return Err(format!("`{text}`: the range ends before it starts"));
        }
        return Ok((first, last));
    }
    let last = match first {
        IpAddr::V4(a) => {
            let n = value::u8_in(end, 0, 255).map_err(|e| format!("`{text}`: range end: {e}"))?;
            let mut o = a.octets();
            if n <= o[3] {
                return Err(format!("`{text}`: the range end must be above {}", o[3]));
            }
            o[3] = n;
            IpAddr::V4(Ipv4Addr::from(o))
        }
        IpAddr::V6(a) => {
            let n = u16::from_str_radix(end, 16)
                .map_err(|_| format!("`{text}`: range end `{end}` is not 1 to 4 hex digits"))?;
            let mut g = a.segments();
            if n <= g[7] {
                return Err(format!("`{text}`: the range end must be above {:x}", g[7]));
            }
            g[7] = n;
            IpAddr::V6(Ipv6Addr::from(g))
        }
    };
    Ok((first, last))
}

/// A port where 0 is allowed and means "none" (keepalived's legacy spelling of no port).
fn any_port(text: &str) -> Result<u16, String> {
    if !text.is_empty() && text.bytes().all(|b| b == b'0') {
        return Ok(0);
    }
    value::port(text)
}

fn parse_family(text: &str) -> Result<Family, String> {
    match text {
        "inet" => Ok(Family::Inet),
        "inet6" => Ok(Family::Inet6),
        _ => Err(format!("`{text}` is not inet or inet6")),
    }
}

fn family_of(addr: &IpAddr) -> Family {
    if addr.is_ipv4() {
        Family::Inet
    } else {
        Family::Inet6
    }
}

// ---- virtual_server ----

/// What a virtual server's block needs remembered until its end, where keepalived's
/// order-dependent checks are made order-independent.
#[derive(Default)]
struct VsNotes {
    persistence_timeout: Option<u32>,
    granularity: Option<u8>,
    /// A `sorry_server` line was written (even a bad one): no second error for its options.
    sorry_written: bool,
    sorry_at: Option<Location>,
    sh_flags_at: Vec<Location>,
    mh_flags_at: Vec<Location>,
    ops_at: Option<Location>,
    /// Where each real server's address was written, in the order of `real_servers`.
    rs_at: Vec<Location>,
    /// A `real_server` line was written, even one dropped for an error.
    rs_written: bool,
    /// A `protocol` line was written.
    protocol_set: bool,
}

pub(super) fn virtual_server(cx: &mut Cx, s: &Statement) -> Option<VirtualServer> {
    let key = service_key(cx, s)?;
    let items = cx.block(s);
    s.block.as_ref()?;
    let mut vs = VirtualServer {
        key,
        protocol: Protocol::Tcp,
        lvs_sched: Scheduler::Wlc,
        lvs_method: ForwardMethod::Nat,
        flags: SchedulerFlags::default(),
        persistence: None,
        persistence_engine: None,
        ip_family: None,
        virtualhost: None,
        sorry_server: None,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        alpha: false,
        omega: false,
        inhibit_on_failure: false,
        ha_suspend: false,
        smtp_alert: false,
        timing: CheckTiming::default(),
        real_servers: Vec::new(),
    };
    let mut notes = VsNotes::default();
    for item in items {
        let word = item.keyword.text.as_str();
        if timing(cx, item, &mut vs.timing, 1) {
            continue;
        }
        match word {
            "lvs_sched" | "lb_algo" => cx.set(&mut vs.lvs_sched, item, scheduler),
            "lvs_method" | "lb_kind" => {
                if let Some(m) = forward_method(cx, item) {
                    vs.lvs_method = m;
                }
            }
            "flag-1" => cx.set_flag(&mut vs.flags.flag_1, item),
            "flag-2" => cx.set_flag(&mut vs.flags.flag_2, item),
            "flag-3" => cx.set_flag(&mut vs.flags.flag_3, item),
            "sh-port"
            | "sh-fallback"
            | "mh-port"
            | "mh-fallback"
            | "ops"
            | "one_packet_scheduling" => scheduler_flag(cx, item, &mut vs.flags, &mut notes),
            "persistence_timeout" => persistence_timeout(cx, item, &mut notes),
            "persistence_granularity" => {
                let ipv6 = match &vs.key {
                    ServiceKey::Addr { addr, .. } => Some(addr.is_ipv6()),
                    _ => vs.ip_family.map(|f| f == Family::Inet6),
                };
                let max = if ipv6 == Some(false) { 32 } else { 128 };
                cx.set_opt(&mut notes.granularity, item, |t| {
                    if ipv6 == Some(true) && t.contains('.') {
                        return Err(format!("`{t}`: an IPv6 granularity is a prefix length"));
                    }
                    let len = value::netmask(t)?;
                    if len == 0 || len > max {
                        return Err(format!("{len} is outside the range 1..={max}"));
                    }
                    Ok(len)
                });
            }
            "persistence_engine" => {
                cx.set_opt(&mut vs.persistence_engine, item, |t| Ok(t.to_string()))
            }
            "protocol" => {
                notes.protocol_set = true;
                cx.set(&mut vs.protocol, item, protocol)
            }
            "ha_suspend" => cx.set_flag(&mut vs.ha_suspend, item),
            "smtp_alert" => cx.set_flag(&mut vs.smtp_alert, item),
            "virtualhost" => cx.set_opt(&mut vs.virtualhost, item, |t| Ok(t.to_string())),
            "alpha" => cx.set_flag(&mut vs.alpha, item),
            "omega" => cx.set_flag(&mut vs.omega, item),
            "inhibit_on_failure" => cx.set_flag(&mut vs.inhibit_on_failure, item),
            "quorum" => cx.set(&mut vs.quorum, item, |t| u32_in(t, 1, u32::MAX)),
            "hysteresis" => cx.set(&mut vs.hysteresis, item, |t| u32_in(t, 0, u32::MAX)),
            "quorum_up" => once_command(cx, item, &mut vs.quorum_up),
            "quorum_down" => once_command(cx, item, &mut vs.quorum_down),
            "ip_family" => {
                if let Some(f) = cx.value(item, parse_family) {
                    match &vs.key {
                        ServiceKey::Addr { addr, .. } if family_of(addr) != f => cx.error(
                            item.args[0].at,
                            format!(
                                "ip_family {} conflicts with the address {addr}",
                                item.args[0].text
                            ),
                        ),
                        _ => vs.ip_family = Some(f),
                    }
                }
            }
            "sorry_server" => sorry_server(cx, item, &mut vs, &mut notes),
            "sorry_server_inhibit" => {
                let on = cx.flag(item);
                match (&mut vs.sorry_server, on) {
                    (Some(sorry), Some(on)) => sorry.inhibit = on,
                    (None, Some(_)) => no_sorry_server(cx, item, &notes),
                    _ => {}
                }
            }
            "sorry_server_lvs_method" => {
                if vs.sorry_server.is_none() {
                    no_sorry_server(cx, item, &notes);
                } else if let Some(m) = forward_method(cx, item) {
                    if let Some(sorry) = &mut vs.sorry_server {
                        sorry.lvs_method = Some(m);
                    }
                }
            }
            "nat_mask" => cx.warning(
                item.keyword.at,
                "`nat_mask` is a keepalived 1.x keyword with no effect; ignored",
            ),
            "real_server" => {
                notes.rs_written = true;
                if let Some(rs) = real_server(cx, item, &vs.key) {
                    vs.real_servers.push(rs);
                    notes.rs_at.push(item.args[0].at);
                }
            }
            w if UNSUPPORTED.contains(&w) => unsupported(cx, item),
            _ => cx.unknown(item),
        }
    }
    finish_virtual_server(cx, s, vs, notes)
}

/// `virtual_server IP [PORT]`, `virtual_server fwmark N` or `virtual_server group NAME`.
fn service_key(cx: &mut Cx, s: &Statement) -> Option<ServiceKey> {
    let Some(first) = s.args.first() else {
        cx.error(
            s.keyword.at,
            "`virtual_server` needs an address and port, `fwmark N` or `group NAME`",
        );
        return None;
    };
    if let Some(extra) = s.args.get(2) {
        cx.warning(extra.at, "extra words after the virtual server are ignored");
    }
    match first.text.as_str() {
        "group" => {
            let Some(name) = s.args.get(1) else {
                cx.error(first.at, "`group` needs a virtual_server_group name");
                return None;
            };
            // Checked once the whole file is read: groups may be defined further down.
            cx.names.lvs_refs.push(super::LvsRef {
                group: true,
                name: name.text.clone(),
                at: name.at,
                server: usize::MAX,
            });
            Some(ServiceKey::Group {
                name: name.text.clone(),
            })
        }
        "fwmark" => {
            let Some(mark) = s.args.get(1) else {
                cx.error(first.at, "`fwmark` needs a mark number");
                return None;
            };
            let mark = cx.parse_token(s, mark, |t| u32_in(t, 1, u32::MAX))?;
            Some(ServiceKey::Fwmark { mark })
        }
        _ => {
            let addr = cx.parse_token(s, first, value::ip)?;
            let port = match s.args.get(1) {
                Some(p) => cx.parse_token(s, p, any_port)?,
                None => 0,
            };
            Some(ServiceKey::Addr { addr, port })
        }
    }
}

/// The checks keepalived makes when a virtual server's block ends.
fn finish_virtual_server(
    cx: &mut Cx,
    s: &Statement,
    mut vs: VirtualServer,
    notes: VsNotes,
) -> Option<VirtualServer> {
    // keepalived: an address service without `protocol` is UDP (the kernel's default for 0).
    if !notes.protocol_set && !matches!(vs.key, ServiceKey::Fwmark { .. }) {
        vs.protocol = Protocol::Udp;
        if matches!(vs.key, ServiceKey::Addr { .. }) {
            cx.warning(
                s.keyword.at,
                "no `protocol` set: UDP, as keepalived does (write `protocol TCP` for a TCP service)",
            );
        }
    }
    if notes.persistence_timeout.is_some() || notes.granularity.is_some() {
        vs.persistence = Some(Persistence {
            timeout_secs: notes
                .persistence_timeout
                .unwrap_or(DEFAULT_PERSISTENCE_SECS),
            granularity: notes.granularity,
        });
    }
    if vs.lvs_sched != Scheduler::Sh {
        for at in notes.sh_flags_at {
            cx.error(
                at,
                "sh-port and sh-fallback only apply to `lvs_sched sh`; ignored",
            );
        }
        vs.flags.sh_port = false;
        vs.flags.sh_fallback = false;
    }
    if vs.lvs_sched != Scheduler::Mh {
        for at in notes.mh_flags_at {
            cx.error(
                at,
                "mh-port and mh-fallback only apply to `lvs_sched mh`; ignored",
            );
        }
        vs.flags.mh_port = false;
        vs.flags.mh_fallback = false;
    }
    if let (ServiceKey::Addr { port, .. }, Some(first)) = (&vs.key, s.args.first()) {
        if let Some(at) = notes.ops_at {
            if vs.protocol != Protocol::Udp {
                cx.error(at, "one-packet scheduling needs `protocol UDP`; ignored");
                vs.flags.ops = false;
            }
        }
        if *port == 0 && vs.persistence.is_none() {
            cx.error(
                first.at,
                "a virtual server without a port must be persistent; persistence_timeout 360 is set",
            );
            vs.persistence = Some(Persistence {
                timeout_secs: DEFAULT_PERSISTENCE_SECS,
                granularity: None,
            });
        }
    }

    // Unless tunnelled, real and sorry servers are in the virtual server's family; for a fwmark
    // or group service the first real server decides it, as in keepalived.
    let mut vs_family = match &vs.key {
        ServiceKey::Addr { addr, .. } => Some(family_of(addr)),
        _ => vs.ip_family,
    };
    let tunnelled = |m: Option<ForwardMethod>, vs_method: ForwardMethod| {
        matches!(m.unwrap_or(vs_method), ForwardMethod::Tun { .. })
    };
    let mut kept = Vec::with_capacity(vs.real_servers.len());
    let mut kept_at: Vec<Location> = Vec::new();
    for (rs, at) in std::mem::take(&mut vs.real_servers)
        .into_iter()
        .zip(notes.rs_at)
    {
        if !tunnelled(rs.lvs_method, vs.lvs_method) {
            let f = family_of(&rs.addr);
            match vs_family {
                Some(v) if v != f => {
                    cx.error(
                        at,
                        "the real server's family differs from the virtual server's; ignored",
                    );
                    continue;
                }
                _ => vs_family = Some(f),
            }
        }
        if let Some(i) = kept
            .iter()
            .position(|k: &RealServer| k.addr == rs.addr && k.port == rs.port)
        {
            cx.error(
                at,
                format!(
                    "real_server {} {} is already defined on line {}; ignored",
                    rs.addr, rs.port, kept_at[i].line
                ),
            );
            continue;
        }
        kept.push(rs);
        kept_at.push(at);
    }
    vs.real_servers = kept;
    if let Some(sorry) = &vs.sorry_server {
        if !tunnelled(sorry.lvs_method, vs.lvs_method) {
            let f = family_of(&sorry.addr);
            if vs_family.is_some_and(|v| v != f) {
                if let Some(at) = notes.sorry_at {
                    cx.error(
                        at,
                        "the sorry server's family differs from the virtual server's; ignored",
                    );
                }
                vs.sorry_server = None;
            }
        }
    }
    if vs.real_servers.is_empty() {
        // When every real_server written was in error, those errors say why the service is gone.
        if !notes.rs_written {
            cx.error(s.keyword.at, "virtual_server has no real servers; ignored");
        }
        return None;
    }
    Some(vs)
}

fn scheduler(text: &str) -> Result<Scheduler, String> {
    Scheduler::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = Scheduler::ALL.iter().map(|s| s.name()).collect();
        format!("`{text}` is not a scheduler ({})", names.join(", "))
    })
}

fn protocol(text: &str) -> Result<Protocol, String> {
    match text.to_ascii_uppercase().as_str() {
        "TCP" => Ok(Protocol::Tcp),
        "UDP" => Ok(Protocol::Udp),
        "SCTP" => Ok(Protocol::Sctp),
        _ => Err(format!("`{text}` is not TCP, UDP or SCTP")),
    }
}

fn scheduler_flag(cx: &mut Cx, s: &Statement, flags: &mut SchedulerFlags, notes: &mut VsNotes) {
    let Some(on) = cx.flag(s) else { return };
    let at = s.keyword.at;
    match s.keyword.text.as_str() {
        "sh-port" => {
            flags.sh_port = on;
            notes.sh_flags_at.push(at);
        }
        "sh-fallback" => {
            flags.sh_fallback = on;
            notes.sh_flags_at.push(at);
        }
        "mh-port" => {
            flags.mh_port = on;
            notes.mh_flags_at.push(at);
        }
        "mh-fallback" => {
            flags.mh_fallback = on;
            notes.mh_flags_at.push(at);
        }
        _ => {
            flags.ops = on;
            notes.ops_at = Some(at);
        }
    }
    if !on {
        // `sh-port off` asks for nothing the scheduler could refuse.
        notes.sh_flags_at.retain(|l| *l != at);
        notes.mh_flags_at.retain(|l| *l != at);
        if notes.ops_at == Some(at) {
            notes.ops_at = None;
        }
    }
}

/// `persistence_timeout [SECS]`: alone it is keepalived's 6 minutes.
fn persistence_timeout(cx: &mut Cx, s: &Statement, notes: &mut VsNotes) {
    if s.args.is_empty() {
        cx.no_block(s);
        notes.persistence_timeout = Some(DEFAULT_PERSISTENCE_SECS);
        return;
    }
    cx.set_opt(&mut notes.persistence_timeout, s, |t| {
        u32_in(t, 1, MAX_PERSISTENCE_SECS)
    });
}

/// `sorry_server IP [PORT]`: the port defaults to the virtual server's (0 for fwmark and group).
fn sorry_server(cx: &mut Cx, s: &Statement, vs: &mut VirtualServer, notes: &mut VsNotes) {
    cx.no_block(s);
    notes.sorry_written = true;
    let Some(addr) = s.args.first() else {
        cx.error(s.keyword.at, "`sorry_server` needs an address");
        return;
    };
    if let Some(extra) = s.args.get(2) {
        cx.warning(extra.at, "extra words after the port are ignored");
    }
    let Some(ip) = cx.parse_token(s, addr, value::ip) else {
        return;
    };
    let port = match s.args.get(1) {
        Some(p) => match cx.parse_token(s, p, any_port) {
            Some(p) => p,
            None => return,
        },
        None => default_port(&vs.key),
    };
    notes.sorry_at = Some(addr.at);
    vs.sorry_server = Some(SorryServer {
        addr: ip,
        port,
        lvs_method: None,
        inhibit: false,
    });
}

fn no_sorry_server(cx: &mut Cx, s: &Statement, notes: &VsNotes) {
    // A bad sorry_server was already reported; its options need no second error.
    if !notes.sorry_written {
        cx.error(
            s.keyword.at,
            format!("`{}` needs a sorry_server before it", s.keyword.text),
        );
    }
}

fn default_port(key: &ServiceKey) -> u16 {
    match key {
        ServiceKey::Addr { port, .. } => *port,
        ServiceKey::Fwmark { .. } | ServiceKey::Group { .. } => 0,
    }
}

/// `lvs_method NAT|DR|TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]`.
fn forward_method(cx: &mut Cx, s: &Statement) -> Option<ForwardMethod> {
    cx.no_block(s);
    let Some(method) = s.args.first() else {
        cx.error(
            s.keyword.at,
            format!("`{}` needs NAT, DR or TUN", s.keyword.text),
        );
        return None;
    };
    let simple = match method.text.as_str() {
        "NAT" => Some(ForwardMethod::Nat),
        "DR" => Some(ForwardMethod::Dr),
        "TUN" => None,
        other => {
            cx.error(
                method.at,
                format!("{}: `{other}` is not NAT, DR or TUN", s.keyword.text),
            );
            return None;
        }
    };
    if let Some(m) = simple {
        if let Some(extra) = s.args.get(1) {
            cx.warning(extra.at, "tunnel options only apply to TUN; ignored");
        }
        return Some(m);
    }
    let mut tunnel = (TunnelKind::Ipip, method.at);
    let mut port: Option<(u16, Location)> = None;
    let mut checksum: Option<(TunnelChecksum, Location)> = None;
    let mut args = s.args[1..].iter();
    while let Some(opt) = args.next() {
        match opt.text.as_str() {
            "type" => {
                let Some(t) = args.next() else {
                    cx.error(opt.at, "`type` needs ipip, gue or gre");
                    return None;
                };
                let kind = match t.text.as_str() {
                    "ipip" => TunnelKind::Ipip,
                    "gue" => TunnelKind::Gue,
                    "gre" => TunnelKind::Gre,
                    other => {
                        cx.error(
                            t.at,
                            format!("`{other}` is not a tunnel type (ipip, gue, gre)"),
                        );
                        return None;
                    }
                };
                tunnel = (kind, t.at);
            }
            "port" => {
                let Some(p) = args.next() else {
                    cx.error(opt.at, "`port` needs a port number");
                    return None;
                };
                port = Some((cx.parse_token(s, p, value::port)?, p.at));
            }
            "nocsum" => checksum = Some((TunnelChecksum::NoCsum, opt.at)),
            "csum" => checksum = Some((TunnelChecksum::Csum, opt.at)),
            "remcsum" => checksum = Some((TunnelChecksum::RemCsum, opt.at)),
            other => {
                cx.error(
                    opt.at,
                    format!("`{other}` is not a tunnel option (type, port, nocsum, csum, remcsum)"),
                );
                return None;
            }
        }
    }
    let tunnel_type = match (tunnel.0, port) {
        (TunnelKind::Gue, Some((port, _))) => TunnelType::Gue { port },
        (TunnelKind::Gue, None) => {
            cx.error(tunnel.1, "a gue tunnel needs `port N`");
            return None;
        }
        (_, Some((_, at))) => {
            cx.error(at, "only a gue tunnel takes a port");
            return None;
        }
        (TunnelKind::Ipip, None) => TunnelType::Ipip,
        (TunnelKind::Gre, None) => TunnelType::Gre,
    };
    match (tunnel_type, checksum) {
        (TunnelType::Ipip, Some((TunnelChecksum::Csum | TunnelChecksum::RemCsum, at))) => {
            cx.error(at, "ipip tunnels take no checksum option");
            return None;
        }
        (TunnelType::Gre, Some((TunnelChecksum::RemCsum, at))) => {
            cx.error(at, "gre tunnels do not support remcsum");
            return None;
        }
        _ => {}
    }
    Some(ForwardMethod::Tun {
        tunnel: tunnel_type,
        checksum: checksum.map(|(c, _)| c),
    })
}

#[derive(Clone, Copy)]
enum TunnelKind {
    Ipip,
    Gue,
    Gre,
}

/// A script keyword keepalived takes once: a second one is an error and the first is kept.
fn once_command(cx: &mut Cx, s: &Statement, field: &mut Option<Command>) {
    if field.is_some() {
        cx.error(
            s.keyword.at,
            format!("`{}` is given twice; the first is kept", s.keyword.text),
        );
        return;
    }
    cx.set_command(field, s);
}

fn unsupported(cx: &mut Cx, s: &Statement) {
    cx.warning(
        s.keyword.at,
        format!("`{}` is not supported by keeplite; ignored", s.keyword.text),
    );
}

/// Timer and retry keywords that a virtual server, a real server and a checker share.
/// `min_retry` is 1 for servers and 0 for checkers, as in keepalived.
fn timing(cx: &mut Cx, s: &Statement, t: &mut CheckTiming, min_retry: u32) -> bool {
    match s.keyword.text.as_str() {
        "delay_loop" => cx.set_opt(&mut t.delay_loop, s, |v| secs_in(v, Micros(1), MAX_TIMER)),
        "connect_timeout" => cx.set_opt(&mut t.connect_timeout, s, |v| {
            secs_in(v, Micros(1), MAX_CONNECT_TIMEOUT)
        }),
        "retry" => cx.set_opt(&mut t.retry, s, |v| u32_in(v, min_retry, u32::MAX)),
        "nb_get_retry" => {
            cx.warning(s.keyword.at, "`nb_get_retry` is deprecated; use `retry`");
            cx.set_opt(&mut t.retry, s, |v| u32_in(v, min_retry, u32::MAX));
        }
        "delay_before_retry" => cx.set_opt(&mut t.delay_before_retry, s, secs),
        "warmup" => cx.set_opt(&mut t.warmup, s, secs),
        _ => return false,
    }
    true
}

// ---- real_server ----

/// `real_server IP [PORT] { ... }`: the port defaults to the virtual server's.
fn real_server(cx: &mut Cx, s: &Statement, key: &ServiceKey) -> Option<RealServer> {
    let Some(addr) = s.args.first() else {
        cx.error(s.keyword.at, "`real_server` needs an address");
        return None;
    };
    if let Some(extra) = s.args.get(2) {
        cx.warning(extra.at, "extra words after the port are ignored");
    }
    let ip = cx.parse_token(s, addr, value::ip)?;
    let port = match s.args.get(1) {
        Some(p) => {
            let port = cx.parse_token(s, p, any_port)?;
            if port == 0 && default_port(key) != 0 {
                cx.error(
                    p.at,
                    "real_server port 0 is only valid for a fwmark, group or port-0 virtual server",
                );
                return None;
            }
            port
        }
        None => default_port(key),
    };
    let items = cx.block(s);
    s.block.as_ref()?;
    let mut rs = RealServer {
        addr: ip,
        port,
        weight: 1,
        lvs_method: None,
        inhibit_on_failure: None,
        uthreshold: None,
        lthreshold: None,
        virtualhost: Default::default(),
        notify_up: Default::default(),
        notify_down: Default::default(),
        smtp_alert: false,
        timing: Default::default(),
        checkers: Vec::new(),
    };
    for item in items {
        if timing(cx, item, &mut rs.timing, 1) {
            continue;
        }
        match item.keyword.text.as_str() {
            "weight" => cx.set(&mut rs.weight, item, |t| u32_in(t, 0, MAX_WEIGHT)),
            "lvs_method" | "lb_kind" => {
                if let Some(m) = forward_method(cx, item) {
                    rs.lvs_method = Some(m);
                }
            }
            "inhibit_on_failure" => set_bool_opt(cx, item, &mut rs.inhibit_on_failure),
            "uthreshold" => cx.set_opt(&mut rs.uthreshold, item, |t| u32_in(t, 0, u32::MAX)),
            "lthreshold" => cx.set_opt(&mut rs.lthreshold, item, |t| u32_in(t, 0, u32::MAX)),
            "notify_up" => once_command(cx, item, &mut rs.notify_up),
            "notify_down" => once_command(cx, item, &mut rs.notify_down),
            "smtp_alert" => cx.set_flag(&mut rs.smtp_alert, item),
            "virtualhost" => cx.set_opt(&mut *rs.virtualhost, item, |t| Ok(t.to_string())),
            "alpha" => set_bool_opt(cx, item, &mut rs.timing.alpha),
            w if CHECKERS.contains(&w) => {
                if let Some(c) = checker(cx, item) {
                    rs.checkers.push(c);
                }
            }
            w if UNSUPPORTED.contains(&w) => unsupported(cx, item),
            _ => cx.unknown(item),
        }
    }
    Some(rs)
}

fn set_bool_opt(cx: &mut Cx, s: &Statement, field: &mut Option<bool>) {
    if let Some(on) = cx.flag(s) {
        *field = Some(on);
    }
}

// ---- checkers ----

/// The keywords every checker but FILE_CHECK takes; MISC_CHECK has no connection options.
fn common(
    cx: &mut Cx,
    s: &Statement,
    target: &mut CheckTarget,
    timing_: &mut CheckTiming,
    connection: bool,
) -> bool {
    let word = s.keyword.text.as_str();
    if connection {
        match word {
            "connect_ip" => {
                if let Some(ip) = cx.value(s, value::ip) {
                    if target.bindto.is_some_and(|b| b.is_ipv4() != ip.is_ipv4()) {
                        cx.error(
                            s.args[0].at,
                            "connect_ip is not in bindto's family; ignored",
                        );
                    } else {
                        target.connect_ip = Some(ip);
                    }
                }
                return true;
            }
            "bindto" => {
                if let Some(ip) = cx.value(s, value::ip) {
                    if target
                        .connect_ip
                        .is_some_and(|c| c.is_ipv4() != ip.is_ipv4())
                    {
                        cx.error(
                            s.args[0].at,
                            "bindto is not in connect_ip's family; ignored",
                        );
                    } else {
                        target.bindto = Some(ip);
                    }
                }
                return true;
            }
            "connect_port" => {
                cx.set_opt(&mut target.connect_port, s, value::port);
                return true;
            }
            "bind_port" => {
                cx.set_opt(&mut target.bind_port, s, value::port);
                return true;
            }
            "bind_if" => {
                cx.set_opt(&mut target.bind_if, s, IfName::new);
                return true;
            }
            "fwmark" => {
                cx.set_opt(&mut target.fwmark, s, |t| u32_in(t, 0, u32::MAX));
                return true;
            }
            _ => {}
        }
    } else if word == "connect_timeout" {
        return false;
    }
    match word {
        "alpha" => set_bool_opt(cx, s, &mut timing_.alpha),
        "log_all_failures" => cx.set_flag(&mut target.log_all_failures, s),
        _ => return timing(cx, s, timing_, 0),
    }
    true
}

/// Reads a checker block: the common keywords (when `connection` is `Some`), then `specific`,
/// and anything else is unknown.
fn check_block(
    cx: &mut Cx,
    items: &[Statement],
    shared: Option<(&mut CheckTarget, &mut CheckTiming, bool)>,
    mut specific: impl FnMut(&mut Cx, &Statement) -> bool,
) {
    let mut shared = shared;
    for item in items {
        if let Some((target, timing_, connection)) = shared.as_mut() {
            if common(cx, item, target, timing_, *connection) {
                continue;
            }
        }
        if specific(cx, item) {
            continue;
        }
        if UNSUPPORTED.contains(&item.keyword.text.as_str()) {
            unsupported(cx, item);
        } else {
            cx.unknown(item);
        }
    }
}

fn checker(cx: &mut Cx, s: &Statement) -> Option<Checker> {
    if let Some(extra) = s.args.first() {
        cx.warning(
            extra.at,
            format!("words after `{}` are ignored", s.keyword.text),
        );
    }
    let items = cx.block(s);
    s.block.as_ref()?;
    let mut target = CheckTarget::default();
    let mut timing_ = CheckTiming::default();
    let shared = Some((&mut target, &mut timing_, true));
    let kind = match s.keyword.text.as_str() {
        "TCP_CHECK" => {
            check_block(cx, items, shared, |_, _| false);
            CheckKind::Tcp
        }
        "PING_CHECK" => {
            check_block(cx, items, shared, |_, _| false);
            CheckKind::Ping
        }
        "HTTP_GET" => CheckKind::Http(http_check(cx, s, items, shared, false)?),
        "SSL_GET" => CheckKind::Ssl(http_check(cx, s, items, shared, true)?),
        "SMTP_CHECK" => CheckKind::Smtp(smtp_check(cx, items, shared)),
        "DNS_CHECK" => CheckKind::Dns(dns_check(cx, items, shared)),
        "UDP_CHECK" => CheckKind::Udp(udp_check(cx, s, items, shared)),
        // keepalived gives MISC_CHECK no connection keywords, and FILE_CHECK none at all.
        "MISC_CHECK" => {
            let shared = Some((&mut target, &mut timing_, false));
            CheckKind::Misc(misc_check(cx, s, items, shared)?)
        }
        // Only the names in CHECKERS reach here, and FILE_CHECK is the one left.
        _ => CheckKind::File(file_check(cx, s, items)?),
    };
    Some(Checker {
        kind,
        target,
        timing: timing_,
    })
}

type Shared<'a> = Option<(&'a mut CheckTarget, &'a mut CheckTiming, bool)>;

fn smtp_check(cx: &mut Cx, items: &[Statement], shared: Shared) -> SmtpCheck {
    let mut smtp = SmtpCheck::default();
    check_block(cx, items, shared, |cx, item| {
        match item.keyword.text.as_str() {
            "helo_name" => {
                if let Some(name) = cx.text(item) {
                    smtp.helo_name = Some(name);
                }
                true
            }
            "host" => {
                cx.warning(
                    item.keyword.at,
                    "SMTP_CHECK `host` blocks are not supported (use one SMTP_CHECK per host); \
                 the block is ignored",
                );
                true
            }
            _ => false,
        }
    });
    smtp
}

fn http_check(
    cx: &mut Cx,
    s: &Statement,
    items: &[Statement],
    shared: Shared,
    ssl: bool,
) -> Option<HttpCheck> {
    let mut http = HttpCheck::default();
    check_block(cx, items, shared, |cx, item| {
        match item.keyword.text.as_str() {
            "url" => {
                if let Some(u) = url(cx, item) {
                    http.urls.push(u);
                }
            }
            "virtualhost" => cx.set_opt(&mut http.virtualhost, item, |t| Ok(t.to_string())),
            "http_protocol" => cx.set_opt(&mut http.http_protocol, item, |t| match t {
                "1.0" => Ok(HttpProtocol::Http10),
                "1.0C" | "1.0c" => Ok(HttpProtocol::Http10Close),
                "1.0K" | "1.0k" => Ok(HttpProtocol::Http10KeepAlive),
                "1.1" => Ok(HttpProtocol::Http11),
                _ => Err(format!("`{t}` is not 1.0, 1.0C, 1.0K or 1.1")),
            }),
            "enable_sni" if ssl => cx.set_flag(&mut http.enable_sni, item),
            "enable_sni" => cx.warning(
                item.keyword.at,
                "`enable_sni` only applies to SSL_GET; ignored",
            ),
            "fast_recovery" => cx.set_flag(&mut http.fast_recovery, item),
            _ => return false,
        }
        true
    });
    if http.urls.is_empty() {
        cx.error(
            s.keyword.at,
            format!("{} has no url; the checker is ignored", s.keyword.text),
        );
        return None;
    }
    Some(http)
}

/// `url { path ... digest ... status_code ... virtualhost ... }`; a url needs a path.
fn url(cx: &mut Cx, s: &Statement) -> Option<Url> {
    if let Some(extra) = s.args.first() {
        cx.warning(extra.at, "words after `url` are ignored");
    }
    let items = cx.block(s);
    s.block.as_ref()?;
    let mut path = None;
    let mut digest = None;
    let mut status_code = Vec::new();
    let mut virtualhost = None;
    for item in items {
        match item.keyword.text.as_str() {
            "path" => cx.set_opt(&mut path, item, |t| Ok(t.to_string())),
            "digest" => {
                if digest.is_some() {
                    cx.error(
                        item.keyword.at,
                        "`digest` is given twice; the first is kept",
                    );
                } else {
                    cx.set_opt(&mut digest, item, value::digest);
                }
            }
            "status_code" => status_codes(cx, item, &mut status_code),
            "virtualhost" => cx.set_opt(&mut virtualhost, item, |t| Ok(t.to_string())),
            w if UNSUPPORTED_URL.contains(&w) => unsupported(cx, item),
            _ => cx.unknown(item),
        }
    }
    let Some(path) = path else {
        cx.error(s.keyword.at, "`url` has no `path`; the url is ignored");
        return None;
    };
    Some(Url {
        path,
        digest,
        status_code: merge_ranges(status_code),
        virtualhost,
    })
}

/// `status_code 200 300-399 ...`: each code 100..=599; a bad one is skipped, the rest kept.
fn status_codes(cx: &mut Cx, s: &Statement, out: &mut Vec<(u16, u16)>) {
    cx.no_block(s);
    if s.args.is_empty() {
        cx.error(s.keyword.at, "`status_code` needs a code or a range");
    }
    for arg in &s.args {
        let parsed = cx.parse_token(s, arg, |t| {
            let code = |c: &str| {
                value::uint(c, 100, 599)
                    .map(|v| v as u16)
                    .map_err(|e| format!("status code {e}"))
            };
            let (lo, hi) = match t.split_once('-') {
                Some((lo, hi)) => (code(lo)?, code(hi)?),
                None => (code(t)?, code(t)?),
            };
            if lo > hi {
                return Err(format!("`{t}` is an empty range"));
            }
            Ok((lo, hi))
        });
        out.extend(parsed);
    }
}

/// keepalived keeps the codes as a set: sorted, with overlapping and touching ranges joined.
fn merge_ranges(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn misc_check(
    cx: &mut Cx,
    s: &Statement,
    items: &[Statement],
    shared: Shared,
) -> Option<MiscCheck> {
    let mut path: Option<String> = None;
    let mut run_as: Option<RunAs> = None;
    let mut misc_timeout = None;
    let mut misc_dynamic = false;
    check_block(cx, items, shared, |cx, item| {
        match item.keyword.text.as_str() {
            "misc_path" => {
                if let Some(p) = misc_path(cx, item) {
                    path = Some(p);
                }
            }
            "misc_timeout" => cx.set_opt(&mut misc_timeout, item, |t| {
                value::uint(t, 0, MAX_MISC_TIMEOUT_SECS).map(Micros::from_secs)
            }),
            "misc_dynamic" => cx.set_flag(&mut misc_dynamic, item),
            "user" => {
                if let Some(r) = cx.run_as(item) {
                    run_as = Some(r);
                }
            }
            _ => return false,
        }
        true
    });
    let Some(command) = path else {
        cx.error(
            s.keyword.at,
            "MISC_CHECK has no `misc_path`; the checker is ignored",
        );
        return None;
    };
    Some(MiscCheck {
        misc_path: Command {
            command,
            run_as: run_as.map(Box::new),
        },
        misc_timeout,
        misc_dynamic,
    })
}

/// keepalived runs the first word (quoted, it may hold arguments); the user is set by `user`.
fn misc_path(cx: &mut Cx, s: &Statement) -> Option<String> {
    cx.no_block(s);
    let Some(first) = s.args.first() else {
        cx.error(s.keyword.at, "`misc_path` needs a command");
        return None;
    };
    if first.text.trim().is_empty() {
        cx.error(first.at, "`misc_path` has an empty command");
        return None;
    }
    if let Some(extra) = s.args.get(1) {
        cx.warning(
            extra.at,
            "extra words after the command are ignored (quote the command if these are its arguments)",
        );
    }
    Some(first.text.clone())
}

fn dns_check(cx: &mut Cx, items: &[Statement], shared: Shared) -> DnsCheck {
    let mut query_type = DnsType::Soa;
    let mut name: Option<String> = None;
    check_block(cx, items, shared, |cx, item| {
        match item.keyword.text.as_str() {
            "type" => cx.set(&mut query_type, item, |t| {
                DnsType::ALL
                    .into_iter()
                    .find(|d| d.name().eq_ignore_ascii_case(t))
                    .ok_or_else(|| format!("`{t}` is not A, NS, CNAME, SOA, MX, TXT or AAAA"))
            }),
            "name" if name.is_some() => {
                cx.error(item.keyword.at, "`name` is given twice; the first is kept")
            }
            "name" => cx.set_opt(&mut name, item, |t| {
                if t != "." && (t.starts_with('.') || t.contains("..")) || t.is_empty() {
                    return Err(format!("`{t}` has an empty label"));
                }
                Ok(t.to_string())
            }),
            _ => return false,
        }
        true
    });
    DnsCheck {
        query_type,
        name: name.unwrap_or_else(|| ".".to_string()),
    }
}

fn udp_check(cx: &mut Cx, s: &Statement, items: &[Statement], shared: Shared) -> UdpCheck {
    let mut udp = UdpCheck::default();
    check_block(cx, items, shared, |cx, item| {
        match item.keyword.text.as_str() {
            "payload" => {
                cx.no_block(item);
                if item.args.is_empty() {
                    cx.error(item.keyword.at, "`payload` needs hex bytes");
                } else if let Some(bytes) = hex_string(cx, item, false) {
                    udp.payload = Some(bytes.into_iter().map(|b| b.value).collect());
                }
            }
            "require_reply" => {
                cx.no_block(item);
                if item.args.is_empty() {
                    udp.require_reply = Some(Vec::new());
                } else if let Some(bytes) = hex_string(cx, item, true) {
                    udp.require_reply = Some(bytes);
                }
            }
            "min_reply_length" => cx.set_opt(&mut udp.min_reply_length, item, |t| {
                u32_in(t, 0, u32::from(u16::MAX))
            }),
            "max_reply_length" => cx.set_opt(&mut udp.max_reply_length, item, |t| {
                u32_in(t, 0, u32::from(u16::MAX))
            }),
            _ => return false,
        }
        true
    });
    if let (Some(min), Some(max)) = (udp.min_reply_length, udp.max_reply_length) {
        if min > max {
            cx.error(
                s.keyword.at,
                format!("min_reply_length {min} > max_reply_length {max}: the check always fails"),
            );
        }
    }
    udp
}

/// keepalived's free hex format (read_hex_str): in each whitespace-separated group, digits pair
/// up from the left and a last lone digit is a byte of its own, so `Ab12f 3 456` is
/// AB 12 0F 03 45 06. With `wildcards`, `x`/`X` is a nibble that matches anything.
fn hex_string(cx: &mut Cx, s: &Statement, wildcards: bool) -> Option<Vec<MaskedByte>> {
    let mut out = Vec::new();
    let mut ok = true;
    for token in &s.args {
        match hex_group(&token.text, wildcards) {
            Ok(bytes) => out.extend(bytes),
            Err(e) => {
                cx.error(token.at, format!("{}: {e}", s.keyword.text));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn hex_group(text: &str, wildcards: bool) -> Result<Vec<MaskedByte>, String> {
    // (value, bits that must match) of one digit.
    let nibble = |c: u8| -> Result<(u8, u8), String> {
        match c {
            b'x' | b'X' if wildcards => Ok((0, 0)),
            c if c.is_ascii_hexdigit() => Ok((value::hex_nibble(c), 0xf)),
            _ => Err(format!(
                "`{}` in `{text}` is not a hex digit{}",
                char::from(c),
                if wildcards { " or x" } else { "" }
            )),
        }
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let (lo, lo_mask) = nibble(pair[pair.len() - 1])?;
            let (hi, hi_mask) = if pair.len() == 2 {
                nibble(pair[0])?
            } else {
                (0, 0xf)
            };
            Ok(MaskedByte {
                value: (hi << 4) | lo,
                mask: (hi_mask << 4) | lo_mask,
            })
        })
        .collect()
}

fn file_check(cx: &mut Cx, s: &Statement, items: &[Statement]) -> Option<FileCheck> {
    let mut track_file: Option<String> = None;
    let mut weight = None;
    let mut reverse = false;
    let mut dynamic = false;
    check_block(cx, items, None, |cx, item| {
        match item.keyword.text.as_str() {
            "track_file" => {
                if let Some(name) = cx.one_arg(item) {
                    // Checked once the whole file is read.
                    cx.names.lvs_refs.push(super::LvsRef {
                        group: false,
                        name: name.text.clone(),
                        at: name.at,
                        server: usize::MAX,
                    });
                    track_file = Some(name.text.clone());
                }
            }
            "weight" => {
                if let Some((w, r)) = file_weight(cx, item) {
                    weight = Some(w);
                    reverse = r;
                }
            }
            "dynamic" => cx.set_flag(&mut dynamic, item),
            _ => return false,
        }
        true
    });
    let Some(track_file) = track_file else {
        cx.error(
            s.keyword.at,
            "FILE_CHECK has no `track_file`; the checker is ignored",
        );
        return None;
    };
    Some(FileCheck {
        track_file,
        weight,
        reverse,
        dynamic,
    })
}

/// `weight N [reverse|noreverse]`.
fn file_weight(cx: &mut Cx, s: &Statement) -> Option<(i32, bool)> {
    cx.no_block(s);
    let Some(w) = s.args.first() else {
        cx.error(s.keyword.at, "`weight` needs a number");
        return None;
    };
    let weight = cx.parse_token(s, w, |t| {
        value::int(t, -i64::from(i32::MAX), i64::from(i32::MAX)).map(|v| v as i32)
    })?;
    let reverse = match s.args.get(1) {
        None => false,
        Some(t) => cx.parse_token(s, t, |v| match v {
            "reverse" => Ok(true),
            "noreverse" => Ok(false),
            _ => Err(format!("`{v}` is not reverse or noreverse")),
        })?,
    };
    if let Some(extra) = s.args.get(2) {
        cx.warning(extra.at, "extra words are ignored");
    }
    Some((weight, reverse))
}

#[cfg(test)]
mod tests {
    use crate::config::model::*;
    use crate::config::{parse_str, Loaded, Severity};
    use std::net::IpAddr;

    fn load(text: &str) -> Loaded {
        parse_str("t.conf", text)
    }

    fn diags(l: &Loaded, severity: Severity) -> Vec<(u32, String)> {
        l.diagnostics
            .items
            .iter()
            .filter(|d| d.severity == severity)
            .map(|d| (d.location.map_or(0, |l| l.line), d.message.clone()))
            .collect()
    }

    fn errors(text: &str) -> Vec<(u32, String)> {
        diags(&load(text), Severity::Error)
    }

    fn clean(text: &str) -> Config {
        let l = load(text);
        let problems: Vec<_> = l.diagnostics.items.iter().collect();
        assert!(problems.is_empty(), "{problems:#?}");
        l.config
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    /// One real server with `body` in a plain NAT service on port 80.
    fn with_rs(body: &str) -> String {
        // `protocol TCP` on the opening line keeps the line numbers the tests check.
        format!("virtual_server 192.0.2.10 80 {{ protocol TCP\n real_server 10.0.0.11 80 {{\n{body}\n }}\n}}\n")
    }

    const FULL_NAT: &str = "\
track_file drain {
    file /tmp/drain
}
virtual_server 192.0.2.10 80 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    protocol TCP
    persistence_timeout 50
    persistence_granularity 255.255.255.0
    virtualhost www.example.com
    quorum 2
    hysteresis 1
    quorum_up \"/bin/q up\"
    alpha
    omega
    inhibit_on_failure
    sorry_server 10.0.0.250 8080
    sorry_server_inhibit
    real_server 10.0.0.11 {
        weight 3
        uthreshold 100
        lthreshold 10
        notify_down /bin/down root
        inhibit_on_failure off
        alpha
        retry 2
        TCP_CHECK {
            connect_ip 10.0.0.12
            connect_port 8080
            bindto 10.0.0.1
            bind_port 4000
            bind_if eth0
            fwmark 3
            log_all_failures
            connect_timeout 3
            retry 0
            delay_before_retry 1.5
            warmup 2
            delay_loop 4
            alpha no
        }
        HTTP_GET {
            http_protocol 1.0C
            virtualhost h.example.com
            url {
                path /health
                digest 9B3A0C85A887A256D6939DA88AABD8CD
                status_code 500-599 200 201-202 203
                virtualhost u.example.com
            }
        }
        SSL_GET {
            enable_sni
            fast_recovery
            url {
                path /
            }
        }
        MISC_CHECK {
            misc_path \"/bin/check 10.0.0.11\"
            misc_timeout 5
            misc_dynamic
            user nobody nogroup
        }
        SMTP_CHECK {
            helo_name mail.example.com
        }
        DNS_CHECK {
            type aaaa
            name www.example.com
        }
        UDP_CHECK {
            payload 0102
            require_reply
        }
        PING_CHECK {
        }
        FILE_CHECK {
            track_file drain
            weight -10 reverse
        }
    }
}
";

    #[test]
    fn full_nat_service_with_every_checker() {
        let c = clean(FULL_NAT);
        let vs = &c.virtual_servers[0];
        assert_eq!(
            vs.key,
            ServiceKey::Addr {
                addr: ip("192.0.2.10"),
                port: 80
            }
        );
        assert_eq!(vs.lvs_sched, Scheduler::Rr);
        assert_eq!(vs.lvs_method, ForwardMethod::Nat);
        assert_eq!(vs.protocol, Protocol::Tcp);
        assert_eq!(
            vs.persistence,
            Some(Persistence {
                timeout_secs: 50,
                granularity: Some(24)
            })
        );
        assert_eq!(vs.virtualhost.as_deref(), Some("www.example.com"));
        assert_eq!((vs.quorum, vs.hysteresis), (2, 1));
        assert_eq!(vs.quorum_up.as_ref().unwrap().command, "/bin/q up");
        assert!(vs.alpha && vs.omega && vs.inhibit_on_failure);
        assert_eq!(vs.timing.delay_loop, Some(Micros::from_secs(6)));
        assert_eq!(
            vs.sorry_server,
            Some(SorryServer {
                addr: ip("10.0.0.250"),
                port: 8080,
                lvs_method: None,
                inhibit: true
            })
        );

        let rs = &vs.real_servers[0];
        assert_eq!(rs.port, 80, "the port defaults to the virtual server's");
        assert_eq!(rs.weight, 3);
        assert_eq!((rs.uthreshold, rs.lthreshold), (Some(100), Some(10)));
        let down = rs.notify_down.as_ref().unwrap();
        assert_eq!(down.run_as.as_ref().unwrap().user, "root");
        assert_eq!(rs.inhibit_on_failure, Some(false));
        assert_eq!(rs.timing.alpha, Some(true));
        assert_eq!(rs.timing.retry, Some(2));

        let kinds: Vec<_> = rs.checkers.iter().map(|c| &c.kind).collect();
        assert_eq!(kinds.len(), 9);

        let tcp = &rs.checkers[0];
        assert_eq!(tcp.kind, CheckKind::Tcp);
        assert_eq!(
            tcp.target,
            CheckTarget {
                connect_ip: Some(ip("10.0.0.12")),
                connect_port: Some(8080),
                bindto: Some(ip("10.0.0.1")),
                bind_port: Some(4000),
                bind_if: Some(IfName::new("eth0").unwrap()),
                fwmark: Some(3),
                log_all_failures: true,
            }
        );
        assert_eq!(
            tcp.timing,
            CheckTiming {
                delay_loop: Some(Micros::from_secs(4)),
                connect_timeout: Some(Micros::from_secs(3)),
                retry: Some(0),
                delay_before_retry: Some(Micros(1_500_000)),
                warmup: Some(Micros::from_secs(2)),
                alpha: Some(false),
            }
        );

        let CheckKind::Http(http) = &rs.checkers[1].kind else {
            panic!("{:?}", rs.checkers[1].kind)
        };
        assert_eq!(http.http_protocol, Some(HttpProtocol::Http10Close));
        assert_eq!(http.virtualhost.as_deref(), Some("h.example.com"));
        let url = &http.urls[0];
        assert_eq!(url.path, "/health");
        assert_eq!(url.digest.unwrap()[0], 0x9b);
        assert_eq!(url.status_code, [(200, 203), (500, 599)]);
        assert_eq!(url.virtualhost.as_deref(), Some("u.example.com"));

        let CheckKind::Ssl(ssl) = &rs.checkers[2].kind else {
            panic!()
        };
        assert!(ssl.enable_sni && ssl.fast_recovery);
        assert!(ssl.urls[0].status_code.is_empty(), "empty means 200-299");

        let CheckKind::Misc(misc) = &rs.checkers[3].kind else {
            panic!()
        };
        assert_eq!(misc.misc_path.command, "/bin/check 10.0.0.11");
        assert_eq!(
            misc.misc_path.run_as.as_deref(),
            Some(&RunAs {
                user: "nobody".into(),
                group: Some("nogroup".into())
            })
        );
        assert_eq!(misc.misc_timeout, Some(Micros::from_secs(5)));
        assert!(misc.misc_dynamic);

        assert_eq!(
            rs.checkers[4].kind,
            CheckKind::Smtp(SmtpCheck {
                helo_name: Some("mail.example.com".into())
            })
        );
        assert_eq!(
            rs.checkers[5].kind,
            CheckKind::Dns(DnsCheck {
                query_type: DnsType::Aaaa,
                name: "www.example.com".into()
            })
        );
        let CheckKind::Udp(udp) = &rs.checkers[6].kind else {
            panic!()
        };
        assert_eq!(udp.payload.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(udp.require_reply.as_deref(), Some(&[][..]));
        assert_eq!(rs.checkers[7].kind, CheckKind::Ping);
        assert_eq!(
            rs.checkers[8].kind,
            CheckKind::File(FileCheck {
                track_file: "drain".into(),
                weight: Some(-10),
                reverse: true,
                dynamic: false
            })
        );
    }

    #[test]
    fn no_protocol_means_udp_with_a_warning() {
        let l = load("virtual_server 192.0.2.10 80 {\n real_server 10.0.0.11 80 {\n }\n}\n");
        assert_eq!(l.config.virtual_servers[0].protocol, Protocol::Udp);
        assert_eq!(l.diagnostics.items.len(), 1, "{:?}", l.diagnostics.items);
        assert_eq!(l.diagnostics.items[0].location.map(|a| a.line), Some(1));
        let l = load("virtual_server fwmark 3 {\n real_server 10.0.0.11 80 {\n }\n}\n");
        assert!(l.diagnostics.items.is_empty());
    }

    #[test]
    fn defaults_follow_keepalived() {
        let c = load("virtual_server 192.0.2.10 80 {\n real_server 10.0.0.11 80 {\n }\n}\n").config;
        let vs = &c.virtual_servers[0];
        assert_eq!(vs.lvs_sched, Scheduler::Wlc);
        assert_eq!(vs.lvs_method, ForwardMethod::Nat);
        assert_eq!(vs.protocol, Protocol::Udp);
        assert_eq!((vs.quorum, vs.hysteresis), (1, 0));
        assert_eq!(vs.persistence, None);
        assert_eq!(vs.real_servers[0].weight, 1);
        assert_eq!(vs.real_servers[0].lvs_method, None);

        let c = clean(&with_rs("DNS_CHECK {\n}"));
        assert_eq!(
            c.virtual_servers[0].real_servers[0].checkers[0].kind,
            CheckKind::Dns(DnsCheck {
                query_type: DnsType::Soa,
                name: ".".into()
            })
        );
    }

    #[test]
    fn persistence_alone_or_implied_by_granularity_is_six_minutes() {
        let vs = |line: &str| {
            let c = clean(&format!(
                "virtual_server 192.0.2.10 80 {{ protocol TCP\n {line}\n real_server 10.0.0.1 80 {{\n }}\n}}\n"
            ));
            c.virtual_servers[0].persistence.clone()
        };
        assert_eq!(
            vs("persistence_timeout"),
            Some(Persistence {
                timeout_secs: 360,
                granularity: None
            })
        );
        assert_eq!(
            vs("persistence_granularity 255.255.0.0"),
            Some(Persistence {
                timeout_secs: 360,
                granularity: Some(16)
            })
        );
    }

    #[test]
    fn aliases_and_tunnels() {
        let c = clean(
            "virtual_server 192.0.2.10 80 {
    lvs_sched mh
    mh-port
    lvs_method TUN type gue port 6080 csum
    protocol UDP
    one_packet_scheduling
    real_server 10.0.0.1 80 {
        lb_kind TUN type gre nocsum
    }
    real_server 10.0.0.2 80 {
        lvs_method DR
    }
}
",
        );
        let vs = &c.virtual_servers[0];
        assert_eq!(vs.lvs_sched, Scheduler::Mh);
        assert!(vs.flags.mh_port && vs.flags.ops);
        assert_eq!(
            vs.lvs_method,
            ForwardMethod::Tun {
                tunnel: TunnelType::Gue { port: 6080 },
                checksum: Some(TunnelChecksum::Csum)
            }
        );
        assert_eq!(
            vs.real_servers[0].lvs_method,
            Some(ForwardMethod::Tun {
                tunnel: TunnelType::Gre,
                checksum: Some(TunnelChecksum::NoCsum)
            })
        );
        assert_eq!(vs.real_servers[1].lvs_method, Some(ForwardMethod::Dr));
        for bad in [
            "TUN type gue",
            "TUN port 80",
            "TUN type ipip csum",
            "TUN type gre remcsum",
            "TUN type vxlan",
            "TUN ttl",
        ] {
            let text = format!(
                "virtual_server 192.0.2.10 80 {{\n lvs_method {bad}\n real_server 10.0.0.1 80 {{\n }}\n}}\n"
            );
            let e = errors(&text);
            assert_eq!(e.len(), 1, "{bad}: {e:?}");
            assert_eq!(e[0].0, 2, "{bad}");
        }
        let e = errors(
            "virtual_server 192.0.2.10 80 {\n lvs_sched rr\n sh-port\n real_server 10.0.0.1 80 {\n }\n}\n",
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, 3);
    }

    #[test]
    fn fwmark_and_group_services() {
        let c = clean(
            "virtual_server_group WEB {
    10.0.0.1-10 80
    192.168.202.8/29 443
    10.1.0.250-10.1.1.10
    2001:db8::1-ff 80
    fwmark 7 inet
    fwmark 8 inet6
}
virtual_server group WEB {
    lb_kind DR
    real_server 10.0.0.21 {
    }
}
virtual_server fwmark 100 {
    persistence_timeout 600
    sorry_server 10.0.0.99
    real_server 10.0.0.31 0 {
        TCP_CHECK {
            connect_port 80
        }
    }
}
",
        );
        let g = &c.server_groups[0];
        assert_eq!(g.name, "WEB");
        let range = |first: &str, last: &str, port| GroupEntry::Range {
            first: ip(first),
            last: ip(last),
            port,
        };
        assert_eq!(
            g.entries,
            [
                range("10.0.0.1", "10.0.0.10", 80),
                range("192.168.202.8", "192.168.202.15", 443),
                range("10.1.0.250", "10.1.1.10", 0),
                range("2001:db8::1", "2001:db8::ff", 80),
                GroupEntry::Fwmark {
                    mark: 7,
                    family: Some(Family::Inet)
                },
                GroupEntry::Fwmark {
                    mark: 8,
                    family: Some(Family::Inet6)
                },
            ]
        );
        let group = &c.virtual_servers[0];
        assert_eq!(group.key, ServiceKey::Group { name: "WEB".into() });
        assert_eq!(group.real_servers[0].port, 0);
        let mark = &c.virtual_servers[1];
        assert_eq!(mark.key, ServiceKey::Fwmark { mark: 100 });
        assert_eq!(mark.sorry_server.as_ref().unwrap().port, 0);
        assert_eq!(mark.real_servers[0].port, 0);
    }

    #[test]
    fn group_errors() {
        let e = errors("virtual_server_group G {\n 10.0.0.5-5 80\n 10.0.0.9-10.0.0.1\n 10.0.0.1/24\n fwmark 0\n}\n");
        let lines: Vec<u32> = e.iter().map(|(l, _)| *l).collect();
        // Each bad entry, then the group that is left empty.
        assert_eq!(lines, [2, 3, 4, 5, 1], "{e:?}");
        let e = errors("virtual_server_group G {\n 10.0.0.1 80\n 2001:db8::1 80\n fwmark 1\n}\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(errors("virtual_server_group G\n").len(), 1);
        let e = errors("virtual_server_group G {\n 10.0.0.1 80\n}\nvirtual_server_group G {\n 10.0.0.2 80\n}\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 4);
        let e = errors("virtual_server group NOPE {\n real_server 10.0.0.1 80 {\n }\n}\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].1.contains("NOPE"), "{e:?}");
    }

    #[test]
    fn udp_check_hex_as_the_man_page_reads_it() {
        let c = clean(&with_rs(
            "UDP_CHECK {\n payload Ab12f 3 456 546443123\n require_reply 0x12 X f\n }",
        ));
        let CheckKind::Udp(udp) = &c.virtual_servers[0].real_servers[0].checkers[0].kind else {
            panic!()
        };
        assert_eq!(
            udp.payload.as_deref(),
            Some(&[0xAB, 0x12, 0x0F, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03][..])
        );
        let m = |value, mask| MaskedByte { value, mask };
        assert_eq!(
            udp.require_reply.as_deref(),
            Some(&[m(0x00, 0xF0), m(0x12, 0xFF), m(0x00, 0xF0), m(0x0F, 0xFF)][..])
        );
        let e = errors(&with_rs("UDP_CHECK {\n payload 12 x4\n }"));
        assert_eq!(e.len(), 1, "no wildcard in a payload: {e:?}");
        assert_eq!(e[0].0, 4);
    }

    #[test]
    fn bad_port_is_an_error_on_its_line_and_drops_the_service() {
        let l = load("\n\nvirtual_server 192.0.2.10 70000 {\n real_server 10.0.0.1 80 {\n }\n}\n");
        let e = diags(&l, Severity::Error);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 3);
        assert_eq!(l.diagnostics.items[0].location.unwrap().col, 27);
        assert!(l.config.virtual_servers.is_empty());
        let e = errors("virtual_server 192.0.2.300 80 {\n real_server 10.0.0.1 80 {\n }\n}\n");
        assert_eq!(e[0].0, 1);
    }

    #[test]
    fn unknown_lb_algo_is_an_error_and_the_rest_still_parses() {
        let l = load(
            "virtual_server 192.0.2.10 80 {\n lb_algo foo\n lb_kind DR\n real_server 10.0.0.1 80 {\n }\n}\n",
        );
        let e = diags(&l, Severity::Error);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, 2);
        let vs = &l.config.virtual_servers[0];
        assert_eq!(vs.lvs_sched, Scheduler::Wlc);
        assert_eq!(vs.lvs_method, ForwardMethod::Dr);
    }

    #[test]
    fn url_without_path_is_dropped() {
        let l = load(&with_rs(
            "HTTP_GET {\n url {\n path /\n }\n url {\n status_code 200\n }\n }",
        ));
        let e = diags(&l, Severity::Error);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 7, "at the `url` keyword");
        let CheckKind::Http(h) = &l.config.virtual_servers[0].real_servers[0].checkers[0].kind
        else {
            panic!()
        };
        assert_eq!(h.urls.len(), 1);
        // A checker left with no url goes too, as in keepalived.
        let l = load(&with_rs("HTTP_GET {\n url {\n }\n }"));
        assert_eq!(diags(&l, Severity::Error).len(), 2);
        assert!(l.config.virtual_servers[0].real_servers[0]
            .checkers
            .is_empty());
    }

    #[test]
    fn misc_check_without_misc_path_is_dropped() {
        let l = load(&with_rs("MISC_CHECK {\n misc_dynamic\n }"));
        let e = diags(&l, Severity::Error);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, 3, "at the MISC_CHECK keyword");
        assert!(l.config.virtual_servers[0].real_servers[0]
            .checkers
            .is_empty());
        // MISC_CHECK has no connection keywords in keepalived.
        let l = load(&with_rs(
            "MISC_CHECK {\n misc_path /bin/true\n connect_port 80\n }",
        ));
        assert_eq!(diags(&l, Severity::Warning).len(), 1);
    }

    #[test]
    fn file_check_needs_a_defined_track_file() {
        let l = load(&with_rs("FILE_CHECK {\n track_file nope\n }"));
        let e = diags(&l, Severity::Error);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 4);
        assert!(e[0].1.contains("nope"));
        assert!(l.config.virtual_servers[0].real_servers[0]
            .checkers
            .is_empty());
        let e = errors(&with_rs("FILE_CHECK {\n weight 3\n }"));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, 3);
    }

    #[test]
    fn real_server_weight_and_port_limits() {
        let l = load(&with_rs("weight -5\n TCP_CHECK {\n }"));
        let e = diags(&l, Severity::Error);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, 3);
        assert_eq!(l.config.virtual_servers[0].real_servers[0].weight, 1);
        assert_eq!(errors(&with_rs("weight 65536")).len(), 1);
        assert!(errors(&with_rs("weight 65535")).is_empty());
        assert!(errors(&with_rs("weight 0")).is_empty());

        let e = errors("virtual_server 192.0.2.10 80 {\n real_server 10.0.0.1 0 {\n }\n}\n");
        assert_eq!(e.len(), 1, "port 0 on a port-80 service: {e:?}");
        assert_eq!(e[0].0, 2);
    }

    #[test]
    fn bad_values_are_errors_at_the_value_and_skipped() {
        for (line, what) in [
            ("delay_loop abc", "timer"),
            ("delay_loop 0", "zero delay_loop"),
            ("connect_timeout -1", "negative timer"),
            ("protocol ICMP", "protocol"),
            ("quorum 0", "quorum"),
            ("persistence_timeout 0", "persistence"),
            ("persistence_granularity 64", "IPv4 granularity"),
            ("ip_family inet6", "family against the address"),
            ("sorry_server 10.0.0.999 80", "sorry address"),
            ("sorry_server_inhibit", "no sorry server"),
        ] {
            let text = format!(
                "virtual_server 192.0.2.10 80 {{\n {line}\n real_server 10.0.0.1 80 {{\n }}\n}}\n"
            );
            let l = load(&text);
            let e = diags(&l, Severity::Error);
            assert_eq!(e.len(), 1, "{what}: {e:?}");
            assert_eq!(e[0].0, 2, "{what}");
            assert_eq!(l.config.virtual_servers.len(), 1, "{what}");
        }
        for (body, what) in [
            ("TCP_CHECK {\n connect_port 0\n }", "port"),
            ("TCP_CHECK {\n bind_if eth0/1\n }", "interface"),
            (
                "TCP_CHECK {\n bindto 10.0.0.1\n connect_ip 2001:db8::1\n }",
                "families",
            ),
            (
                "HTTP_GET {\n http_protocol 2\n url {\n path /\n }\n }",
                "http",
            ),
            (
                "HTTP_GET {\n url {\n path /\n status_code 200 99 600 300-200\n }\n }",
                "codes",
            ),
            (
                "HTTP_GET {\n url {\n path /\n digest 1234\n }\n }",
                "digest",
            ),
            ("DNS_CHECK {\n type PTR\n }", "dns type"),
            ("DNS_CHECK {\n name a..b\n }", "dns name"),
            ("UDP_CHECK {\n max_reply_length 70000\n }", "length"),
        ] {
            let e = errors(&with_rs(body));
            assert!(!e.is_empty(), "{what}");
            assert!(e.iter().all(|(l, _)| *l >= 4), "{what}: {e:?}");
        }
    }

    #[test]
    fn unknown_and_unsupported_keywords_warn() {
        let l = load(&with_rs(
            "frobnicate 3\n snmp_name x\n TCP_CHECK {\n whatever\n }\n BFD_CHECK {\n name b\n }",
        ));
        assert!(diags(&l, Severity::Error).is_empty());
        let w = diags(&l, Severity::Warning);
        let lines: Vec<u32> = w.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 4, 6, 8]);
        assert_eq!(
            l.config.virtual_servers[0].real_servers[0].checkers.len(),
            1
        );
        let l = load(
            "virtual_server 192.0.2.10 80 { protocol TCP\n nat_mask 255.255.255.0\n real_server 10.0.0.1 80 {\n nb_get_retry 2\n }\n}\n",
        );
        assert_eq!(diags(&l, Severity::Warning).len(), 2);
        assert_eq!(
            l.config.virtual_servers[0].real_servers[0].timing.retry,
            Some(2)
        );
    }

    #[test]
    fn server_consistency_as_keepalived_checks_it() {
        // A real server of the other family (not tunnelled) and a duplicate are dropped.
        let l = load(
            "virtual_server 192.0.2.10 80 {
    real_server 10.0.0.1 80 {
    }
    real_server 2001:db8::1 80 {
    }
    real_server 2001:db8::2 80 {
        lvs_method TUN
    }
    real_server 10.0.0.1 80 {
    }
}
",
        );
        let e = diags(&l, Severity::Error);
        let lines: Vec<u32> = e.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [4, 9], "{e:?}");
        assert_eq!(l.config.virtual_servers[0].real_servers.len(), 2);
        // For a fwmark service the first real server sets the family the sorry server must share.
        let l = load(
            "virtual_server fwmark 1 {\n sorry_server 10.0.0.9\n real_server 2001:db8::1 {\n }\n}\n",
        );
        let e = diags(&l, Severity::Error);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 2);
        assert_eq!(l.config.virtual_servers[0].sorry_server, None);
        let e = errors(
            "virtual_server 2001:db8::1 80 {\n persistence_granularity 255.255.0.0\n real_server 2001:db8::2 80 {\n }\n}\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        // No real server at all: the service goes.
        let l = load("virtual_server 192.0.2.10 80 {\n}\n");
        assert_eq!(diags(&l, Severity::Error)[0].0, 1);
        assert!(l.config.virtual_servers.is_empty());
        // No port without persistence: keepalived makes it persistent.
        let l = load("virtual_server 192.0.2.10 {\n real_server 10.0.0.1 {\n }\n}\n");
        assert_eq!(diags(&l, Severity::Error).len(), 1);
        assert_eq!(
            l.config.virtual_servers[0].persistence,
            Some(Persistence {
                timeout_secs: 360,
                granularity: None
            })
        );
    }
}
