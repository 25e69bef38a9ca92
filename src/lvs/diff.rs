//! The fewest IPVS commands (linux/ip_vs.h `IPVS_CMD_NEW/SET/DEL_SERVICE`, `_DEST`) that turn
//! the kernel's table into the wanted one, touching only the services keeplite owns.

use super::desired::Table;
use crate::wire::ipvs::{
    Destination, ForwardMethod, Service, ServiceKey, TunnelType, IP_VS_SVC_F_HASHED,
    IP_VS_SVC_F_PERSISTENT,
};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;

/// One IPVS command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    AddService(Service),
    /// Scheduler, flags, persistence timeout and netmask, persistence engine: everything but
    /// the key, which IPVS cannot change in place.
    EditService(Service),
    /// Deleting a service deletes its destinations with it.
    DelService(ServiceKey),
    AddDest(ServiceKey, Destination),
    /// Weight, forwarding method, thresholds, tunnel settings.
    EditDest(ServiceKey, Destination),
    DelDest(ServiceKey, IpAddr, u16),
}

/// The commands that bring `current` (the kernel's table as read back) to `wanted`, in an order
/// that applies: services to delete first, then per wanted service (in `wanted`'s order) its
/// edit or creation, its stale destinations deleted, then its destinations edited or added.
///
/// Only services whose key is in `owned` or in `wanted` are touched; the kernel's other
/// services are left alone. A service present with other attributes is edited, not deleted
/// and re-added (its connections survive); a service or destination equal to the wanted one
/// after [`same_service`] / [`same_destination`] normalization is kept as it is, so at start
/// keeplite adopts what an earlier run or an operator left in place.
pub fn diff(wanted: &Table, current: &Table, owned: &[ServiceKey]) -> Vec<Op> {
    let wanted_keys: HashSet<ServiceKey> = wanted.iter().map(|(s, _)| s.key).collect();
    let mut current_by_key: HashMap<ServiceKey, &(Service, Vec<Destination>)> = HashMap::new();
    for entry in current {
        current_by_key.entry(entry.0.key).or_insert(entry);
    }
    let owned: HashSet<ServiceKey> = owned.iter().copied().collect();
    let mut ops = Vec::new();

    let mut deleted = HashSet::new();
    for (service, _) in current {
        let key = service.key;
        if owned.contains(&key) && !wanted_keys.contains(&key) && deleted.insert(key) {
            ops.push(Op::DelService(key));
        }
    }

    let mut done = HashSet::new();
    for (service, dests) in wanted {
        if !done.insert(service.key) {
            continue;
        }
        match current_by_key.get(&service.key) {
            None => {
                ops.push(Op::AddService(service.clone()));
                dest_ops(service.key, dests, &[], &mut ops);
            }
            Some((now, now_dests)) => {
                if !same_service(service, now) {
                    ops.push(Op::EditService(service.clone()));
                }
                dest_ops(service.key, dests, now_dests, &mut ops);
            }
        }
    }
    ops
}

/// Removes every owned service (and so its destinations), for shutdown. Deleting a service that
/// is already gone fails with ESRCH, which the caller takes as done; `diff(&vec![], current,
/// owned)` gives only the deletions that are needed when the kernel's table is at hand.
pub fn ops_to_remove_all(owned: &[ServiceKey]) -> Vec<Op> {
    let mut seen = HashSet::new();
    owned
        .iter()
        .filter(|k| seen.insert(**k))
        .map(|k| Op::DelService(*k))
        .collect()
}

/// Whether two services are the same to IPVS: the kernel adds `IP_VS_SVC_F_HASHED` to what it
/// reports, and timeout and netmask mean nothing on a service that is not persistent (the
/// kernel reports 0xffffffff or whatever was last sent); an empty engine name is none.
pub fn same_service(a: &Service, b: &Service) -> bool {
    normalize_service(a) == normalize_service(b)
}

/// Whether two destinations are the same to IPVS: the kernel reports tunnel settings for every
/// destination, meaningful only for a tunnel (ipip when unset), and a port only for GUE.
pub fn same_destination(a: &Destination, b: &Destination) -> bool {
    normalize_destination(a) == normalize_destination(b)
}

pub fn normalize_service(s: &Service) -> Service {
    let flags = s.flags & !IP_VS_SVC_F_HASHED;
    let persistent = flags & IP_VS_SVC_F_PERSISTENT != 0;
    Service {
        key: s.key,
        scheduler: s.scheduler.clone(),
        flags,
        timeout: if persistent { s.timeout } else { 0 },
        netmask: if persistent { s.netmask } else { 0 },
        pe_name: s.pe_name.clone().filter(|n| !n.is_empty()),
    }
}

pub fn normalize_destination(d: &Destination) -> Destination {
    let mut d = d.clone();
    if d.forward == ForwardMethod::Tunnel {
        let kind = d.tunnel_type.unwrap_or(TunnelType::Ipip);
        d.tunnel_type = Some(kind);
        if kind != TunnelType::Gue {
            d.tunnel_port = 0;
        }
    } else {
        d.tunnel_type = None;
        d.tunnel_port = 0;
        d.tunnel_flags = 0;
    }
    d
}

/// For one service present on both sides (or new, with `current` empty): stale destinations
/// out first, then edits and additions in the wanted order.
fn dest_ops(key: ServiceKey, wanted: &[Destination], current: &[Destination], ops: &mut Vec<Op>) {
    let mut want: HashMap<(IpAddr, u16), &Destination> = HashMap::with_capacity(wanted.len());
    for d in wanted {
        want.entry((d.addr, d.port)).or_insert(d);
    }
    let mut now: HashMap<(IpAddr, u16), &Destination> = HashMap::with_capacity(current.len());
    for d in current {
        if now.insert((d.addr, d.port), d).is_none() && !want.contains_key(&(d.addr, d.port)) {
            ops.push(Op::DelDest(key, d.addr, d.port));
        }
    }
    let mut done = HashSet::with_capacity(wanted.len());
    for d in wanted {
        if !done.insert((d.addr, d.port)) {
            continue;
        }
        match now.get(&(d.addr, d.port)) {
            None => ops.push(Op::AddDest(key, d.clone())),
            Some(c) if !same_destination(d, c) => ops.push(Op::EditDest(key, d.clone())),
            Some(_) => {}
        }
    }
}

/// Why an operation does not apply to a table, with the errno the kernel would answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// EEXIST.
    ServiceExists,
    /// ESRCH.
    NoSuchService,
    /// EEXIST.
    DestinationExists,
    /// ENOENT.
    NoSuchDestination,
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApplyError::ServiceExists => "the service exists already",
            ApplyError::NoSuchService => "no such service",
            ApplyError::DestinationExists => "the destination exists already",
            ApplyError::NoSuchDestination => "no such destination",
        })
    }
}

impl std::error::Error for ApplyError {}

/// Applies one operation to a table as the kernel would, refusing what the kernel refuses: a
/// mirror of the kernel's table kept without reading it back after each change.
pub fn apply(table: &mut Table, op: &Op) -> Result<(), ApplyError> {
    let find = |table: &Table, key: &ServiceKey| table.iter().position(|(s, _)| s.key == *key);
    match op {
        Op::AddService(s) => {
            if find(table, &s.key).is_some() {
                return Err(ApplyError::ServiceExists);
            }
            table.push((s.clone(), Vec::new()));
        }
        Op::EditService(s) => {
            let i = find(table, &s.key).ok_or(ApplyError::NoSuchService)?;
            table[i].0 = s.clone();
        }
        Op::DelService(key) => {
            let i = find(table, key).ok_or(ApplyError::NoSuchService)?;
            table.remove(i);
        }
        Op::AddDest(key, d) => {
            let i = find(table, key).ok_or(ApplyError::NoSuchService)?;
            let dests = &mut table[i].1;
            if dests.iter().any(|x| x.addr == d.addr && x.port == d.port) {
                return Err(ApplyError::DestinationExists);
            }
            dests.push(d.clone());
        }
        Op::EditDest(key, d) => {
            let i = find(table, key).ok_or(ApplyError::NoSuchService)?;
            let slot = table[i]
                .1
                .iter_mut()
                .find(|x| x.addr == d.addr && x.port == d.port)
                .ok_or(ApplyError::NoSuchDestination)?;
            *slot = d.clone();
        }
        Op::DelDest(key, addr, port) => {
            let i = find(table, key).ok_or(ApplyError::NoSuchService)?;
            let dests = &mut table[i].1;
            let j = dests
                .iter()
                .position(|x| x.addr == *addr && x.port == *port)
                .ok_or(ApplyError::NoSuchDestination)?;
            dests.remove(j);
        }
    }
    Ok(())
}
