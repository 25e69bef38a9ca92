//! IPVS over generic netlink (family "IPVS", include/uapi/linux/ip_vs.h): the kernel's view of a
//! virtual service and a destination (real server), shared by the desired-state computation
//! (`lvs`) and the netlink client (`sys::ipvs`). The attribute codec is added beside these types.

use std::net::IpAddr;

/// `IP_VS_CONN_F_*` forwarding methods as the kernel stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ForwardMethod {
    Masq,
    Tunnel,
    DirectRoute,
}

/// `IP_VS_CONN_F_TUNNEL_TYPE_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TunnelType {
    Ipip,
    Gue,
    Gre,
}

/// How a service is matched: address + protocol + port, or a firewall mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    Addr {
        /// IPPROTO_TCP (6), IPPROTO_UDP (17), IPPROTO_SCTP (132).
        protocol: u8,
        addr: IpAddr,
        port: u16,
    },
    Fwmark {
        mark: u32,
        /// AF_INET / AF_INET6 of the service (a fwmark service still has a family).
        ipv6: bool,
    },
}

/// A virtual service as IPVS holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub key: ServiceKey,
    /// Scheduler name ("rr", "wlc", ...): the kernel loads `ip_vs_<name>`.
    pub scheduler: String,
    /// `IP_VS_SVC_F_*`: persistent, hashed, one-packet, sched flags 1-3 (sh-fallback/port,
    /// mh-fallback/port).
    pub flags: u32,
    /// Persistence timeout in seconds (with `IP_VS_SVC_F_PERSISTENT`).
    pub timeout: u32,
    /// Persistence netmask: IPv4 as a mask, IPv6 as a prefix length (the kernel's convention).
    pub netmask: u32,
    /// Persistence engine name ("sip"), if any.
    pub pe_name: Option<String>,
}

/// A destination (real server) of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub addr: IpAddr,
    pub port: u16,
    pub forward: ForwardMethod,
    pub weight: u32,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    pub tunnel_type: Option<TunnelType>,
    pub tunnel_port: u16,
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*` (nocsum / csum / remcsum).
    pub tunnel_flags: u16,
}

pub const IP_VS_SVC_F_PERSISTENT: u32 = 0x0001;
pub const IP_VS_SVC_F_HASHED: u32 = 0x0002;
pub const IP_VS_SVC_F_ONEPACKET: u32 = 0x0004;
pub const IP_VS_SVC_F_SCHED1: u32 = 0x0008;
pub const IP_VS_SVC_F_SCHED2: u32 = 0x0010;
pub const IP_VS_SVC_F_SCHED3: u32 = 0x0020;
/// The sh and mh schedulers' names for the scheduler flags.
pub const IP_VS_SVC_F_SCHED_SH_FALLBACK: u32 = IP_VS_SVC_F_SCHED1;
pub const IP_VS_SVC_F_SCHED_SH_PORT: u32 = IP_VS_SVC_F_SCHED2;
pub const IP_VS_SVC_F_SCHED_MH_FALLBACK: u32 = IP_VS_SVC_F_SCHED1;
pub const IP_VS_SVC_F_SCHED_MH_PORT: u32 = IP_VS_SVC_F_SCHED2;
