//! The IPVS table the config and the real servers' health call for, built the way keepalived's
//! ipwrapper.c / ipvswrapper.c fill the kernel (linux/ip_vs.h `IP_VS_SVC_F_*`,
//! `IP_VS_CONN_F_*`, `IP_VS_TUNNEL_ENCAP_FLAG_*`).

use super::health::HealthState;
use super::quorum::QuorumState;
use crate::config::{
    Config, Family, ForwardMethod as Method, GroupEntry, Protocol, ServiceKey as Declared,
    TunnelChecksum, TunnelType as Tunnel, VirtualServer,
};
use crate::wire::ipvs::{
    Destination, ForwardMethod, Service, ServiceKey, TunnelType, IP_VS_SVC_F_ONEPACKET,
    IP_VS_SVC_F_PERSISTENT, IP_VS_SVC_F_SCHED1, IP_VS_SVC_F_SCHED2, IP_VS_SVC_F_SCHED3,
    IP_VS_SVC_F_SCHED_MH_FALLBACK, IP_VS_SVC_F_SCHED_MH_PORT, IP_VS_SVC_F_SCHED_SH_FALLBACK,
    IP_VS_SVC_F_SCHED_SH_PORT,
};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Services with their destinations, as the kernel holds them.
pub type Table = Vec<(Service, Vec<Destination>)>;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_SCTP: u8 = 132;

/// `IP_VS_TUNNEL_ENCAP_FLAG_*` (linux/ip_vs.h).
pub const IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM: u16 = 0;
pub const IP_VS_TUNNEL_ENCAP_FLAG_CSUM: u16 = 1 << 0;
pub const IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM: u16 = 1 << 1;

/// IPVS_SVC_PERSISTENT_TIMEOUT: the persistence keepalived imposes on a group whose addresses
/// have no port.
const DEFAULT_PERSISTENCE_SECS: u32 = 360;

/// The most services one `virtual_server_group` address range expands to. keepalived's IPv6
/// `A-N` form spans at most one 16-bit group; a wider range (an IPv6 `/LEN`) is cut here rather
/// than filling memory and the kernel with millions of services. The config check should
/// refuse such ranges ([`range_len`] measures one).
pub const MAX_RANGE_ADDRESSES: u128 = 65_536;

/// The weight a sorry server is given while it serves (keepalived's `alloc_ssvr`).
const SORRY_SERVER_WEIGHT: u32 = 1;

/// The whole wanted table: every virtual server's services, each with its destinations.
/// Virtual servers sharing a service (two using the same group's fwmark) share it as keepalived
/// does: the first one's service attributes, the union of their destinations.
pub fn desired(config: &Config, health: &HealthState, quorum: &[QuorumState]) -> Table {
    let mut table: Table = Vec::new();
    let mut index: HashMap<ServiceKey, usize> = HashMap::new();
    for vs in 0..config.virtual_servers.len() {
        let quorum_up = quorum.get(vs).is_none_or(|q| q.is_up());
        for (service, dests) in virtual_server_table(config, vs, health, quorum_up) {
            match index.get(&service.key) {
                Some(&i) => {
                    let merged = &mut table[i].1;
                    for d in dests {
                        if !merged.iter().any(|m| m.addr == d.addr && m.port == d.port) {
                            merged.push(d);
                        }
                    }
                }
                None => {
                    index.insert(service.key, table.len());
                    table.push((service, dests));
                }
            }
        }
    }
    table
}

/// The services of one virtual server (one per group entry address, or one), each with the
/// same destinations. With an unknown index the table is empty.
pub fn virtual_server_table(
    config: &Config,
    vs: usize,
    health: &HealthState,
    quorum_up: bool,
) -> Table {
    let services = services(config, vs);
    if services.is_empty() {
        return Vec::new();
    }
    let dests = destinations(config, vs, health, quorum_up);
    services.into_iter().map(|s| (s, dests.clone())).collect()
}

/// Every service key the config manages, without repeats, in config order: what the diff may
/// touch. On a reload, pass the old config's keys too, so services dropped from it are removed.
pub fn owned_keys(config: &Config) -> Vec<ServiceKey> {
    let mut seen = std::collections::HashSet::new();
    let mut keys = Vec::new();
    for vs in 0..config.virtual_servers.len() {
        for s in services(config, vs) {
            if seen.insert(s.key) {
                keys.push(s.key);
            }
        }
    }
    keys
}

/// The services one virtual server declares, with no destinations: one for `IP PORT` or
/// `fwmark N`; for `group NAME`, one per address of each range and one per fwmark entry.
pub fn services(config: &Config, vs_index: usize) -> Vec<Service> {
    let Some(vs) = config.virtual_servers.get(vs_index) else {
        return Vec::new();
    };
    let protocol = protocol_number(vs.protocol);
    match &vs.key {
        Declared::Addr { addr, port } => {
            let key = ServiceKey::Addr {
                protocol,
                addr: *addr,
                port: *port,
            };
            vec![service(vs, key, false, false)]
        }
        Declared::Fwmark { mark } => {
            let key = ServiceKey::Fwmark {
                mark: *mark,
                ipv6: fwmark_ipv6(vs, None, None),
            };
            vec![service(vs, key, true, false)]
        }
        Declared::Group { name } => {
            let Some(group) = config.server_groups.iter().find(|g| &g.name == name) else {
                return Vec::new();
            };
            let range_family = group.entries.iter().find_map(|e| match e {
                GroupEntry::Range { first, .. } => Some(family_of(first)),
                GroupEntry::Fwmark { .. } => None,
            });
            let fwmark_only = range_family.is_none();
            // keepalived makes the virtual server persistent when a group address has no port.
            let portless = group
                .entries
                .iter()
                .any(|e| matches!(e, GroupEntry::Range { port: 0, .. }));
            let implied_persistence = portless && vs.persistence.is_none();
            let mut out = Vec::new();
            for entry in &group.entries {
                match entry {
                    GroupEntry::Range { first, last, port } => {
                        for addr in range_addresses(*first, *last) {
                            let key = ServiceKey::Addr {
                                protocol,
                                addr,
                                port: *port,
                            };
                            out.push(service(vs, key, fwmark_only, implied_persistence));
                        }
                    }
                    GroupEntry::Fwmark { mark, family } => {
                        let key = ServiceKey::Fwmark {
                            mark: *mark,
                            ipv6: fwmark_ipv6(vs, *family, Some(range_family)),
                        };
                        out.push(service(vs, key, fwmark_only, implied_persistence));
                    }
                }
            }
            out
        }
    }
}

/// The destinations of one virtual server for the current health and quorum:
/// - an alive real server is in with its configured + dynamic weight;
/// - a down one is out, unless `inhibit_on_failure` (its own, else the virtual server's) keeps
///   it in with weight 0;
/// - without quorum and with a sorry server, the real servers are out (weight 0 with inhibit)
///   and the sorry server is in with weight 1; with `sorry_server_inhibit` it stays in with
///   weight 0 while quorum holds. Without a sorry server, losing quorum changes nothing here.
pub fn destinations(
    config: &Config,
    vs_index: usize,
    health: &HealthState,
    quorum_up: bool,
) -> Vec<Destination> {
    let Some(vs) = config.virtual_servers.get(vs_index) else {
        return Vec::new();
    };
    let sorry_serving = vs.sorry_server.is_some() && !quorum_up;
    let mut out = Vec::with_capacity(vs.real_servers.len() + 1);
    for (i, rs) in vs.real_servers.iter().enumerate() {
        let inhibit = rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure);
        let weight = if health.is_alive(vs_index, i) && !sorry_serving {
            health.ipvs_weight(vs_index, i)
        } else if inhibit {
            0
        } else {
            continue;
        };
        let method = rs.lvs_method.unwrap_or(vs.lvs_method);
        out.push(destination(
            vs,
            rs.addr,
            rs.port,
            method,
            weight,
            rs.uthreshold.unwrap_or(0),
            rs.lthreshold.unwrap_or(0),
        ));
    }
    if let Some(sorry) = &vs.sorry_server {
        let weight = if sorry_serving {
            SORRY_SERVER_WEIGHT
        } else if sorry.inhibit {
            0
        } else {
            return out;
        };
        let method = sorry.lvs_method.unwrap_or(vs.lvs_method);
        let d = destination(vs, sorry.addr, sorry.port, method, weight, 0, 0);
        // A sorry server that is also a real server: one destination, the sorry server's
        // while it serves.
        match out
            .iter()
            .position(|x| x.addr == d.addr && x.port == d.port)
        {
            Some(i) if sorry_serving => out[i] = d,
            Some(_) => {}
            None => out.push(d),
        }
    }
    out
}

/// The number of addresses from `first` to `last` (0 for a reversed or mixed-family range).
pub fn range_len(first: IpAddr, last: IpAddr) -> u128 {
    let ((a, a_v6), (b, b_v6)) = (ordinal(first), ordinal(last));
    if a_v6 == b_v6 && a <= b {
        (b - a).saturating_add(1)
    } else {
        0
    }
}

/// IPPROTO_* of a `protocol` keyword.
pub fn protocol_number(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
        Protocol::Sctp => IPPROTO_SCTP,
    }
}

/// `IP_VS_SVC_F_*` of the scheduler flag keywords. sh and mh name the same two kernel bits as
/// flag-1 and flag-2 (the config check keeps sh-* for `sh` and mh-* for `mh`).
pub fn scheduler_flags(vs: &VirtualServer) -> u32 {
    let f = &vs.flags;
    let mut flags = 0;
    for (on, bit) in [
        (f.flag_1, IP_VS_SVC_F_SCHED1),
        (f.flag_2, IP_VS_SVC_F_SCHED2),
        (f.flag_3, IP_VS_SVC_F_SCHED3),
        (f.sh_fallback, IP_VS_SVC_F_SCHED_SH_FALLBACK),
        (f.sh_port, IP_VS_SVC_F_SCHED_SH_PORT),
        (f.mh_fallback, IP_VS_SVC_F_SCHED_MH_FALLBACK),
        (f.mh_port, IP_VS_SVC_F_SCHED_MH_PORT),
    ] {
        if on {
            flags |= bit;
        }
    }
    flags
}

/// The kernel's persistence netmask: an IPv4 mask (host order, `u32::from(Ipv4Addr)`: /24 is
/// 0xffff_ff00) or an IPv6 prefix length. Without a granularity: all ones / 128, as keepalived
/// and ipvsadm send (the kernel refuses an IPv6 prefix of 0 even on a non-persistent service).
pub fn persistence_netmask(ipv6: bool, granularity: Option<u8>) -> u32 {
    if ipv6 {
        u32::from(granularity.unwrap_or(128).min(128))
    } else {
        let len = u32::from(granularity.unwrap_or(32).min(32));
        u32::MAX.checked_shl(32 - len).unwrap_or(0)
    }
}

fn service(vs: &VirtualServer, key: ServiceKey, fwmark_only: bool, implied: bool) -> Service {
    let ipv6 = match key {
        ServiceKey::Addr { addr, .. } => addr.is_ipv6(),
        ServiceKey::Fwmark { ipv6, .. } => ipv6,
    };
    let mut flags = scheduler_flags(vs);
    // One-packet scheduling means something for UDP only; keepalived keeps it on a fwmark-only
    // service, whose packets may be UDP whatever `protocol` says, and drops it otherwise.
    if vs.flags.ops && (vs.protocol == Protocol::Udp || fwmark_only) {
        flags |= IP_VS_SVC_F_ONEPACKET;
    }
    let (timeout, granularity) = match (&vs.persistence, implied) {
        (Some(p), _) => (Some(p.timeout_secs), p.granularity),
        (None, true) => (Some(DEFAULT_PERSISTENCE_SECS), None),
        (None, false) => (None, None),
    };
    if timeout.is_some() {
        flags |= IP_VS_SVC_F_PERSISTENT;
    }
    Service {
        key,
        scheduler: vs.lvs_sched.name().to_string(),
        flags,
        timeout: timeout.unwrap_or(0),
        netmask: persistence_netmask(ipv6, granularity),
        pe_name: vs.persistence_engine.clone(),
    }
}

/// The family of a fwmark service: the entry's own (`fwmark N inet6`), else `ip_family`, else
/// that of the non-tunnelled real and sorry servers (which must share the service's family),
/// else, in a group, that of its addresses; else, for a plain fwmark, that of the tunnelled
/// servers if they all agree; else IPv4. `group` is `Some(family of the group's addresses)`
/// for a group entry.
fn fwmark_ipv6(vs: &VirtualServer, entry: Option<Family>, group: Option<Option<Family>>) -> bool {
    let servers = || {
        let sorry = vs.sorry_server.iter().map(|s| (s.addr, s.lvs_method));
        vs.real_servers
            .iter()
            .map(|rs| (rs.addr, rs.lvs_method))
            .chain(sorry)
            .map(|(addr, m)| {
                (
                    addr,
                    matches!(m.unwrap_or(vs.lvs_method), Method::Tun { .. }),
                )
            })
    };
    let family = entry
        .or(vs.ip_family)
        .or_else(|| {
            servers()
                .find(|(_, tunnelled)| !tunnelled)
                .map(|(a, _)| family_of(&a))
        })
        .or_else(|| match group {
            Some(addresses) => addresses,
            None => {
                let mut all = servers().map(|(a, _)| family_of(&a));
                let first = all.next()?;
                all.all(|f| f == first).then_some(first)
            }
        });
    family == Some(Family::Inet6)
}

fn family_of(addr: &IpAddr) -> Family {
    if addr.is_ipv4() {
        Family::Inet
    } else {
        Family::Inet6
    }
}

fn destination(
    vs: &VirtualServer,
    addr: IpAddr,
    port: u16,
    method: Method,
    weight: u32,
    upper_threshold: u32,
    lower_threshold: u32,
) -> Destination {
    let (forward, tunnel_type, tunnel_port, tunnel_flags) = match method {
        Method::Nat => (ForwardMethod::Masq, None, 0, 0),
        Method::Dr => (ForwardMethod::DirectRoute, None, 0, 0),
        Method::Tun { tunnel, checksum } => {
            let (kind, port) = match tunnel {
                Tunnel::Ipip => (TunnelType::Ipip, 0),
                Tunnel::Gue { port } => (TunnelType::Gue, port),
                Tunnel::Gre => (TunnelType::Gre, 0),
            };
            let flags = match checksum {
                None | Some(TunnelChecksum::NoCsum) => IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
                Some(TunnelChecksum::Csum) => IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
                Some(TunnelChecksum::RemCsum) => IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
            };
            (ForwardMethod::Tunnel, Some(kind), port, flags)
        }
    };
    Destination {
        addr,
        port: destination_port(vs, method, port),
        forward,
        weight,
        upper_threshold,
        lower_threshold,
        tunnel_type,
        tunnel_port,
        tunnel_flags,
    }
}

/// Only NAT rewrites the port. keepalived sets a DR/TUN server's port to the virtual server's
/// (0 for a fwmark service, which has none); in a group, whose entries may differ, it keeps the
/// configured port. Also the port keepalived names the real server by (notify FIFO lines).
pub fn destination_port(vs: &VirtualServer, method: Method, configured: u16) -> u16 {
    match (&vs.key, method) {
        (Declared::Addr { port, .. }, Method::Nat) if configured == 0 => *port,
        (_, Method::Nat) | (Declared::Group { .. }, _) => configured,
        (Declared::Addr { port, .. }, _) => *port,
        (Declared::Fwmark { .. }, _) => 0,
    }
}

/// An address as a number, with its family.
fn ordinal(addr: IpAddr) -> (u128, bool) {
    match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), false),
        IpAddr::V6(a) => (u128::from(a), true),
    }
}

/// The addresses from `first` to `last` inclusive, at most [`MAX_RANGE_ADDRESSES`] of them.
fn range_addresses(first: IpAddr, last: IpAddr) -> impl Iterator<Item = IpAddr> {
    let len = range_len(first, last).min(MAX_RANGE_ADDRESSES);
    let (start, ipv6) = ordinal(first);
    (0..len).filter_map(move |i| {
        let n = start.checked_add(i)?;
        if ipv6 {
            Some(IpAddr::V6(Ipv6Addr::from(n)))
        } else {
            u32::try_from(n).ok().map(|n| IpAddr::V4(Ipv4Addr::from(n)))
        }
    })
}
