//! Turns an instance's `virtual_ipaddress`, `virtual_ipaddress_excluded` and `virtual_routes`
//! into rtnetlink requests (`ip address add` / `ip route add` equivalents).

use super::links::Links;
use crate::config::model::{
    Broadcast, RouteType, VirtualAddress, VirtualAddresses, VirtualRoute, VrrpInstance,
};
use crate::sys::rtnl::Rtnl;
use crate::wire::netlink::addr::{
    AddressRepr, CacheInfo, IFA_F_HOMEADDRESS, IFA_F_MANAGETEMPADDR, IFA_F_MCAUTOJOIN, IFA_F_NODAD,
    IFA_F_NOPREFIXROUTE,
};
use crate::wire::netlink::route::{
    NextHop, RouteRepr, RTN_BLACKHOLE, RTN_PROHIBIT, RTN_THROW, RTN_UNICAST, RTN_UNREACHABLE,
    RTPROT_KEEPALIVED, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE,
};
use log::{error, info};
use std::net::{IpAddr, Ipv4Addr};

/// Every address an instance owns while master, with the interface each goes on.
pub(super) fn addresses(i: &VrrpInstance) -> Vec<VirtualAddress<IpAddr>> {
    let mut all: Vec<VirtualAddress<IpAddr>> = match &i.virtual_ipaddress {
        VirtualAddresses::V4(list) => list
            .iter()
            .map(|v| v.clone().with_addr(IpAddr::V4(v.addr)))
            .collect(),
        VirtualAddresses::V6(list) => list
            .iter()
            .map(|v| v.clone().with_addr(IpAddr::V6(v.addr)))
            .collect(),
    };
    all.extend(i.virtual_ipaddress_excluded.iter().cloned());
    all
}

/// The interface a VIP goes on: its own `dev`, else the instance's interface.
pub(super) fn vip_ifname<'a>(i: &'a VrrpInstance, v: &'a VirtualAddress<IpAddr>) -> &'a str {
    v.dev.as_ref().map_or(i.interface.as_str(), |d| d.as_str())
}

fn address_repr<'a>(v: &'a VirtualAddress<IpAddr>, index: u32) -> AddressRepr<'a> {
    let mut r = AddressRepr::new(index, v.addr, v.prefix_len, v.peer);
    // IPv6 VIPs skip duplicate address detection: the address must be usable (and its NA
    // sendable) the moment we become master, and VRRP itself arbitrates ownership.
    let flags = [
        (v.no_dad || v.addr.is_ipv6(), IFA_F_NODAD),
        (v.home, IFA_F_HOMEADDRESS),
        (v.mngtmpaddr, IFA_F_MANAGETEMPADDR),
        (v.no_prefix_route, IFA_F_NOPREFIXROUTE),
        (v.autojoin, IFA_F_MCAUTOJOIN),
    ];
    r.flags = flags
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |f, (_, bit)| f | bit);
    r.scope = v.scope.unwrap_or(0);
    r.label = v.label.as_deref();
    if let IpAddr::V4(a) = v.addr {
        r.broadcast = match v.broadcast {
            Some(Broadcast::Addr(b)) => Some(b),
            Some(Broadcast::Auto) => Some(broadcast_of(a, v.prefix_len)),
            Some(Broadcast::Clear) | None => None,
        };
    }
    if let Some(lft) = v.preferred_lft {
        r.cache_info = Some(CacheInfo::preferred_for(lft));
    }
    r
}

fn broadcast_of(a: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let host_bits = if prefix >= 32 { 0 } else { u32::MAX >> prefix };
    Ipv4Addr::from(u32::from(a) | host_bits)
}

fn route_repr(r: &VirtualRoute, links: &Links) -> Option<RouteRepr> {
    let mut repr = RouteRepr::new(r.to, r.prefix_len);
    repr.kind = match r.route_type {
        RouteType::Unicast => RTN_UNICAST,
        RouteType::Blackhole => RTN_BLACKHOLE,
        RouteType::Unreachable => RTN_UNREACHABLE,
        RouteType::Prohibit => RTN_PROHIBIT,
        RouteType::Throw => RTN_THROW,
    };
    repr.protocol = r.protocol.unwrap_or(RTPROT_KEEPALIVED);
    repr.table = r.table.unwrap_or(repr.table);
    repr.prefsrc = r.src;
    repr.metric = r.metric;
    let oif = match &r.dev {
        Some(dev) => Some(links.get(dev.as_str())?.index),
        None => None,
    };
    match r.or_via {
        Some(second) => {
            let hop = |gateway| NextHop {
                gateway: Some(gateway),
                oif: oif.unwrap_or(0),
                hops: 0,
                flags: 0,
            };
            repr.multipath = Some([hop(r.via?), hop(second)]);
        }
        None => {
            repr.gateway = r.via;
            repr.oif = oif;
        }
    }
    // As `ip route`: a unicast route with no gateway is on-link.
    repr.scope = r
        .scope
        .unwrap_or(if repr.kind == RTN_UNICAST && r.via.is_none() {
            RT_SCOPE_LINK
        } else {
            RT_SCOPE_UNIVERSE
        });
    Some(repr)
}

/// Adds the instance's addresses and routes; an address already present is adopted.
pub(super) fn add(rtnl: &mut Rtnl, links: &Links, i: &VrrpInstance) {
    for v in addresses(i) {
        let ifname = vip_ifname(i, &v);
        let Some(link) = links.get(ifname) else {
            error!("({}) cannot add {}: no interface {ifname}", i.name, v.addr);
            continue;
        };
        match rtnl.add_address(&address_repr(&v, link.index)) {
            Ok(()) => info!("({}) added {}/{} on {ifname}", i.name, v.addr, v.prefix_len),
            Err(e) if e.is_exists() => {}
            Err(e) => error!("({}) {e}", i.name),
        }
    }
    for r in &i.virtual_routes {
        let Some(repr) = route_repr(r, links) else {
            error!(
                "({}) cannot add route to {}: its interface is missing",
                i.name, r.to
            );
            continue;
        };
        match rtnl.add_route(&repr) {
            Ok(()) => {}
            Err(e) if e.is_exists() => {}
            Err(e) => error!("({}) {e}", i.name),
        }
    }
}

/// Removes what [`add`] added; what is already gone is fine.
pub(super) fn remove(rtnl: &mut Rtnl, links: &Links, i: &VrrpInstance) {
    for r in &i.virtual_routes {
        if let Some(repr) = route_repr(r, links) {
            match rtnl.del_route(&repr) {
                Ok(()) => {}
                Err(e) if e.is_no_such_route() => {}
                Err(e) => error!("({}) {e}", i.name),
            }
        }
    }
    for v in addresses(i) {
        let ifname = vip_ifname(i, &v);
        let Some(link) = links.get(ifname) else {
            continue;
        };
        match rtnl.del_address(&address_repr(&v, link.index)) {
            Ok(()) => info!(
                "({}) removed {}/{} from {ifname}",
                i.name, v.addr, v.prefix_len
            ),
            Err(e) if e.is_addr_not_avail() || e.is_no_device() => {}
            Err(e) => error!("({}) {e}", i.name),
        }
    }
}

/// A reload keeps a master's VIPs that the new config still has: this removes only the
/// addresses and routes of `old` that `new` no longer lists (same address, prefix and device).
pub(super) fn remove_dropped(
    rtnl: &mut Rtnl,
    links: &Links,
    old: &VrrpInstance,
    new: &VrrpInstance,
) {
    let kept = addresses(new);
    let mut gone = old.clone();
    gone.virtual_ipaddress = match &old.virtual_ipaddress {
        VirtualAddresses::V4(list) => VirtualAddresses::V4(
            list.iter()
                .filter(|v| {
                    !kept.iter().any(|k| {
                        k.addr == IpAddr::V4(v.addr)
                            && k.prefix_len == v.prefix_len
                            && k.dev == v.dev
                    })
                })
                .cloned()
                .collect(),
        ),
        VirtualAddresses::V6(list) => VirtualAddresses::V6(
            list.iter()
                .filter(|v| {
                    !kept.iter().any(|k| {
                        k.addr == IpAddr::V6(v.addr)
                            && k.prefix_len == v.prefix_len
                            && k.dev == v.dev
                    })
                })
                .cloned()
                .collect(),
        ),
    };
    gone.virtual_ipaddress_excluded.retain(|v| {
        !kept
            .iter()
            .any(|k| k.addr == v.addr && k.prefix_len == v.prefix_len && k.dev == v.dev)
    });
    gone.virtual_routes
        .retain(|r| !new.virtual_routes.contains(r));
    remove(rtnl, links, &gone);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_fills_host_bits() {
        assert_eq!(
            broadcast_of(Ipv4Addr::new(10, 0, 0, 1), 24),
            Ipv4Addr::new(10, 0, 0, 255)
        );
        assert_eq!(
            broadcast_of(Ipv4Addr::new(10, 0, 0, 1), 32),
            Ipv4Addr::new(10, 0, 0, 1)
        );
        assert_eq!(
            broadcast_of(Ipv4Addr::new(10, 0, 0, 1), 0),
            Ipv4Addr::BROADCAST
        );
    }
}
