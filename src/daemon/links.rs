//! What the daemon knows about interfaces: index, MAC, up/running, and the addresses it may
//! source adverts from; kept current from the rtnetlink monitor.

use crate::sys::rtnl::{Address, Rtnl};
use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Clone, Debug, Default)]
pub(super) struct LinkState {
    pub index: u32,
    pub up: bool,
    pub mac: Option<[u8; 6]>,
}

#[derive(Default)]
pub(super) struct Links {
    by_name: HashMap<String, LinkState>,
    /// Every address on every interface: (ifindex, address, prefix, scope).
    addresses: Vec<(u32, IpAddr, u8, u8)>,
}

impl Links {
    pub fn load(rtnl: &mut Rtnl) -> Result<Links, crate::sys::rtnl::Error> {
        let mut links = Links::default();
        for link in rtnl.links()? {
            links.by_name.insert(
                link.name.clone(),
                LinkState {
                    index: link.index,
                    up: link.is_up() && link.is_running(),
                    mac: link.mac,
                },
            );
        }
        links.reload_addresses(rtnl)?;
        Ok(links)
    }

    pub fn reload_addresses(&mut self, rtnl: &mut Rtnl) -> Result<(), crate::sys::rtnl::Error> {
        self.addresses = rtnl
            .list_addresses(None)?
            .into_iter()
            .filter(|a: &Address| !a.is_secondary())
            .map(|a| (a.index, a.addr, a.prefix_len, a.scope))
            .collect();
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&LinkState> {
        self.by_name.get(name)
    }

    /// Records a link change; true when its up/running state changed.
    pub fn set_link(&mut self, index: u32, name: &str, up: bool) -> bool {
        let entry = self.by_name.entry(name.to_string()).or_default();
        let changed = entry.up != up || entry.index != index;
        entry.index = index;
        entry.up = up;
        changed
    }

    pub fn address_event(&mut self, added: bool, index: u32, addr: IpAddr, prefix: u8) {
        self.addresses
            .retain(|&(i, a, _, _)| !(i == index && a == addr));
        if added {
            // Scope is not in the event; link-local v6 is what matters and is recognisable.
            self.addresses.push((index, addr, prefix, 0));
        }
    }

    /// The address adverts are sent from: IPv4, the interface's first primary address; IPv6,
    /// its link-local address (RFC 5798 §5.1.2.1), never one of `exclude` (our own VIPs).
    pub fn source_address(&self, index: u32, ipv6: bool, exclude: &[IpAddr]) -> Option<IpAddr> {
        self.addresses
            .iter()
            .filter(|(i, a, _, _)| *i == index && a.is_ipv6() == ipv6 && !exclude.contains(a))
            .map(|(_, a, _, _)| *a)
            .find(|a| match a {
                IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
                IpAddr::V4(_) => true,
            })
    }
}
