//! IPVS over generic netlink (family "IPVS", include/uapi/linux/ip_vs.h): the kernel's view of a
//! virtual service and a destination (real server), shared by the desired-state computation
//! (`lvs`) and the netlink client (`sys::ipvs`), and the codec of the family's commands and
//! replies: `IPVS_CMD_*` requests as ipvsadm (libipvs) sends them, and the dumps the kernel's
//! `ip_vs_genl_fill_service` / `ip_vs_genl_fill_dest` write.
//!
//! Byte orders follow the kernel: ports and IPv4 netmasks are big-endian, every other integer is
//! host-order like all netlink. Addresses travel as a 16-byte `union nf_inet_addr` (IPv4 in the
//! first 4 bytes); the kernel also accepts the 4-byte form, and both are read.

use super::netlink::attr::{Attr, Attrs};
use super::netlink::builder::MessageBuilder;
use super::netlink::genl::{self, GenlHeader};
use super::netlink::header::Packet;
use super::netlink::{family_of, Error, AF_INET, AF_INET6};
use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// The generic netlink family name to resolve.
pub const IPVS_GENL_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`: the `genlmsghdr.version` of every request.
pub const IPVS_GENL_VERSION: u8 = 1;

pub const IPVS_CMD_NEW_SERVICE: u8 = 1;
pub const IPVS_CMD_SET_SERVICE: u8 = 2;
pub const IPVS_CMD_DEL_SERVICE: u8 = 3;
pub const IPVS_CMD_GET_SERVICE: u8 = 4;
pub const IPVS_CMD_NEW_DEST: u8 = 5;
pub const IPVS_CMD_SET_DEST: u8 = 6;
pub const IPVS_CMD_DEL_DEST: u8 = 7;
pub const IPVS_CMD_GET_DEST: u8 = 8;
pub const IPVS_CMD_NEW_DAEMON: u8 = 9;
pub const IPVS_CMD_DEL_DAEMON: u8 = 10;
pub const IPVS_CMD_GET_DAEMON: u8 = 11;
pub const IPVS_CMD_SET_CONFIG: u8 = 12;
pub const IPVS_CMD_GET_CONFIG: u8 = 13;
/// Only in the reply to `IPVS_CMD_GET_INFO`.
pub const IPVS_CMD_SET_INFO: u8 = 14;
pub const IPVS_CMD_GET_INFO: u8 = 15;
pub const IPVS_CMD_ZERO: u8 = 16;
pub const IPVS_CMD_FLUSH: u8 = 17;

pub const IPVS_CMD_ATTR_SERVICE: u16 = 1;
pub const IPVS_CMD_ATTR_DEST: u16 = 2;
pub const IPVS_CMD_ATTR_DAEMON: u16 = 3;
pub const IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
pub const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
pub const IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;

/// u16 `AF_INET`/`AF_INET6`.
pub const IPVS_SVC_ATTR_AF: u16 = 1;
/// u16 `IPPROTO_*`.
pub const IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
/// `union nf_inet_addr`.
pub const IPVS_SVC_ATTR_ADDR: u16 = 3;
/// be16.
pub const IPVS_SVC_ATTR_PORT: u16 = 4;
/// u32.
pub const IPVS_SVC_ATTR_FWMARK: u16 = 5;
/// NUL-terminated string.
pub const IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
/// `struct ip_vs_flags { u32 flags; u32 mask; }`.
pub const IPVS_SVC_ATTR_FLAGS: u16 = 7;
/// u32 seconds.
pub const IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
/// be32 mask (IPv4) or u32 prefix length (IPv6).
pub const IPVS_SVC_ATTR_NETMASK: u16 = 9;
pub const IPVS_SVC_ATTR_STATS: u16 = 10;
/// NUL-terminated string.
pub const IPVS_SVC_ATTR_PE_NAME: u16 = 11;
pub const IPVS_SVC_ATTR_STATS64: u16 = 12;

/// `union nf_inet_addr`.
pub const IPVS_DEST_ATTR_ADDR: u16 = 1;
/// be16.
pub const IPVS_DEST_ATTR_PORT: u16 = 2;
/// u32 `IP_VS_CONN_F_*` forwarding method.
pub const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
pub const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
pub const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
pub const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
pub const IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
pub const IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
pub const IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
pub const IPVS_DEST_ATTR_STATS: u16 = 10;
/// u16: the destination's own family, which may differ from the service's (tunnels, 3.18+).
pub const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
pub const IPVS_DEST_ATTR_STATS64: u16 = 12;
/// u8 `IP_VS_CONN_F_TUNNEL_TYPE_*` (5.2+).
pub const IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
/// be16.
pub const IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
/// u16 `IP_VS_TUNNEL_ENCAP_FLAG_*` (5.3+).
pub const IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;

pub const IPVS_INFO_ATTR_VERSION: u16 = 1;
pub const IPVS_INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_SCTP: u8 = 132;

pub const IP_VS_CONN_F_FWD_MASK: u32 = 0x0007;
pub const IP_VS_CONN_F_MASQ: u32 = 0x0000;
pub const IP_VS_CONN_F_LOCALNODE: u32 = 0x0001;
pub const IP_VS_CONN_F_TUNNEL: u32 = 0x0002;
pub const IP_VS_CONN_F_DROUTE: u32 = 0x0003;
pub const IP_VS_CONN_F_BYPASS: u32 = 0x0004;

pub const IP_VS_CONN_F_TUNNEL_TYPE_IPIP: u8 = 0;
pub const IP_VS_CONN_F_TUNNEL_TYPE_GUE: u8 = 1;
pub const IP_VS_CONN_F_TUNNEL_TYPE_GRE: u8 = 2;

pub const IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM: u16 = 0;
pub const IP_VS_TUNNEL_ENCAP_FLAG_CSUM: u16 = 1 << 0;
pub const IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM: u16 = 1 << 1;

/// `sizeof(union nf_inet_addr)`.
pub const INET_ADDR_LEN: usize = 16;
/// `sizeof(struct ip_vs_flags)`.
pub const FLAGS_LEN: usize = 8;

impl ForwardMethod {
    /// The `IP_VS_CONN_F_*` value.
    pub fn code(self) -> u32 {
        match self {
            ForwardMethod::Masq => IP_VS_CONN_F_MASQ,
            ForwardMethod::Tunnel => IP_VS_CONN_F_TUNNEL,
            ForwardMethod::DirectRoute => IP_VS_CONN_F_DROUTE,
        }
    }

    /// The method of an `IP_VS_CONN_F_*` value; `None` for local-node and bypass, which the
    /// kernel only uses internally and no user-space tool can set.
    pub fn from_code(code: u32) -> Option<ForwardMethod> {
        match code & IP_VS_CONN_F_FWD_MASK {
            IP_VS_CONN_F_MASQ => Some(ForwardMethod::Masq),
            IP_VS_CONN_F_TUNNEL => Some(ForwardMethod::Tunnel),
            IP_VS_CONN_F_DROUTE => Some(ForwardMethod::DirectRoute),
            _ => None,
        }
    }
}

impl TunnelType {
    pub fn code(self) -> u8 {
        match self {
            TunnelType::Ipip => IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
            TunnelType::Gue => IP_VS_CONN_F_TUNNEL_TYPE_GUE,
            TunnelType::Gre => IP_VS_CONN_F_TUNNEL_TYPE_GRE,
        }
    }

    pub fn from_code(code: u8) -> Option<TunnelType> {
        match code {
            IP_VS_CONN_F_TUNNEL_TYPE_IPIP => Some(TunnelType::Ipip),
            IP_VS_CONN_F_TUNNEL_TYPE_GUE => Some(TunnelType::Gue),
            IP_VS_CONN_F_TUNNEL_TYPE_GRE => Some(TunnelType::Gre),
            _ => None,
        }
    }
}

/// Appends an address attribute as the 16-byte `union nf_inet_addr`, as ipvsadm does.
fn put_addr(builder: &mut MessageBuilder<'_>, kind: u16, addr: &IpAddr) -> Result<(), Error> {
    let mut union = [0u8; INET_ADDR_LEN];
    match addr {
        IpAddr::V4(v4) => union[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => union.copy_from_slice(&v6.octets()),
    }
    builder.attr(kind, &union)
}

/// Reads an address attribute of `family`: the 16-byte union, or just the address's own bytes.
fn get_addr(attr: &Attr<&[u8]>, family: u8) -> Result<IpAddr, Error> {
    let bytes = attr.bytes();
    let bad = Error::BadAttribute(attr.kind());
    match family {
        AF_INET => {
            if bytes.len() != 4 && bytes.len() != INET_ADDR_LEN {
                return Err(bad);
            }
            let octets: [u8; 4] = bytes[..4].try_into().map_err(|_| bad)?;
            Ok(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        AF_INET6 => {
            let octets: [u8; 16] = bytes.try_into().map_err(|_| bad)?;
            Ok(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        other => Err(Error::BadFamily(other)),
    }
}

/// A u16 family attribute narrowed to the family byte the rest of the crate uses.
fn get_family(attr: &Attr<&[u8]>) -> Result<u8, Error> {
    let family = attr.as_u16()?;
    match u8::try_from(family) {
        Ok(family @ (AF_INET | AF_INET6)) => Ok(family),
        Ok(other) => Err(Error::BadFamily(other)),
        Err(_) => Err(Error::BadFamily(u8::MAX)),
    }
}

/// The protocol's name as ipvsadm prints it.
pub fn protocol_name(protocol: u8) -> Option<&'static str> {
    match protocol {
        IPPROTO_TCP => Some("TCP"),
        IPPROTO_UDP => Some("UDP"),
        IPPROTO_SCTP => Some("SCTP"),
        _ => None,
    }
}

impl ServiceKey {
    /// The service's address family (`AF_INET`/`AF_INET6`).
    pub fn family(&self) -> u8 {
        match self {
            ServiceKey::Addr { addr, .. } => family_of(addr),
            ServiceKey::Fwmark { ipv6: true, .. } => AF_INET6,
            ServiceKey::Fwmark { ipv6: false, .. } => AF_INET,
        }
    }

    /// Appends the attributes that name the service (what the kernel's lookup reads), without
    /// the enclosing nest.
    pub fn emit_attrs(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        builder.attr_u16(IPVS_SVC_ATTR_AF, u16::from(self.family()))?;
        match self {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => {
                builder.attr_u16(IPVS_SVC_ATTR_PROTOCOL, u16::from(*protocol))?;
                put_addr(builder, IPVS_SVC_ATTR_ADDR, addr)?;
                builder.attr_u16_be(IPVS_SVC_ATTR_PORT, *port)
            }
            ServiceKey::Fwmark { mark, .. } => builder.attr_u32(IPVS_SVC_ATTR_FWMARK, *mark),
        }
    }

    /// Appends `IPVS_CMD_ATTR_SERVICE` holding only the key: what DEL_SERVICE, GET_DEST and the
    /// service part of destination commands need.
    pub fn emit(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        let nest = builder.begin_nested_flagged(IPVS_CMD_ATTR_SERVICE)?;
        self.emit_attrs(builder)?;
        builder.end_nested(nest)
    }
}

/// "TCP 10.0.0.1:80", "UDP [2001:db8::1]:53", "FWM 7", "FWM 7 IPv6": ipvsadm's words.
impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => {
                match protocol_name(*protocol) {
                    Some(name) => f.write_str(name)?,
                    None => write!(f, "proto {protocol}")?,
                }
                write!(f, " {}", std::net::SocketAddr::new(*addr, *port))
            }
            ServiceKey::Fwmark { mark, ipv6 } => {
                write!(f, "FWM {mark}")?;
                if *ipv6 {
                    f.write_str(" IPv6")?;
                }
                Ok(())
            }
        }
    }
}

impl Service {
    /// Appends the attributes of a full service (NEW_SERVICE, SET_SERVICE) in ipvsadm's order,
    /// without the enclosing nest. The flags go with an all-ones mask: the kernel replaces every
    /// flag, so the service ends up with exactly `flags`.
    pub fn emit_attrs(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        self.key.emit_attrs(builder)?;
        builder.attr_str(IPVS_SVC_ATTR_SCHED_NAME, &self.scheduler)?;
        if let Some(pe_name) = &self.pe_name {
            builder.attr_str(IPVS_SVC_ATTR_PE_NAME, pe_name)?;
        }
        let mut flags = [0u8; FLAGS_LEN];
        flags[..4].copy_from_slice(&self.flags.to_ne_bytes());
        flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
        builder.attr(IPVS_SVC_ATTR_FLAGS, &flags)?;
        builder.attr_u32(IPVS_SVC_ATTR_TIMEOUT, self.timeout)?;
        builder.attr(IPVS_SVC_ATTR_NETMASK, &self.netmask_bytes())
    }

    /// Appends `IPVS_CMD_ATTR_SERVICE` with the full service.
    pub fn emit(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        let nest = builder.begin_nested_flagged(IPVS_CMD_ATTR_SERVICE)?;
        self.emit_attrs(builder)?;
        builder.end_nested(nest)
    }

    /// The kernel reads the netmask as a `__be32`: an IPv4 mask in network order, but an IPv6
    /// prefix length compared as a plain number, so host order.
    fn netmask_bytes(&self) -> [u8; 4] {
        if self.key.family() == AF_INET {
            self.netmask.to_be_bytes()
        } else {
            self.netmask.to_ne_bytes()
        }
    }

    /// Reads a service from the attributes nested in `IPVS_CMD_ATTR_SERVICE`. Statistics are
    /// skipped; `IP_VS_SVC_F_HASHED` (the kernel's bookkeeping, never settable) is cleared so a
    /// dumped service compares equal to the one that was added.
    pub fn parse_attrs(attrs: Attrs<'_>) -> Result<Service, Error> {
        let mut family = None;
        let mut protocol = None;
        let mut addr = None;
        let mut port = None;
        let mut fwmark = None;
        let mut scheduler = None;
        let mut flags = 0;
        let mut timeout = 0;
        let mut netmask = None;
        let mut pe_name = None;
        for attr in attrs {
            let attr = attr?;
            match attr.kind() {
                IPVS_SVC_ATTR_AF => family = Some(get_family(&attr)?),
                IPVS_SVC_ATTR_PROTOCOL => {
                    let value = attr.as_u16()?;
                    let value =
                        u8::try_from(value).map_err(|_| Error::BadAttribute(attr.kind()))?;
                    protocol = Some(value);
                }
                // The family may come after the address: read it once all is seen.
                IPVS_SVC_ATTR_ADDR => addr = Some(attr),
                IPVS_SVC_ATTR_PORT => port = Some(attr.as_u16_be()?),
                IPVS_SVC_ATTR_FWMARK => fwmark = Some(attr.as_u32()?),
                IPVS_SVC_ATTR_SCHED_NAME => scheduler = Some(attr.as_str()?),
                IPVS_SVC_ATTR_FLAGS => {
                    let bytes: [u8; FLAGS_LEN] = attr
                        .bytes()
                        .try_into()
                        .map_err(|_| Error::BadAttribute(attr.kind()))?;
                    flags = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                }
                IPVS_SVC_ATTR_TIMEOUT => timeout = attr.as_u32()?,
                IPVS_SVC_ATTR_NETMASK => {
                    let bytes: [u8; 4] = attr
                        .bytes()
                        .try_into()
                        .map_err(|_| Error::BadAttribute(attr.kind()))?;
                    netmask = Some(bytes);
                }
                IPVS_SVC_ATTR_PE_NAME => pe_name = Some(attr.as_str()?),
                _ => {}
            }
        }
        let family = family.ok_or(Error::BadAttribute(IPVS_SVC_ATTR_AF))?;
        let key = match fwmark {
            Some(mark) => ServiceKey::Fwmark {
                mark,
                ipv6: family == AF_INET6,
            },
            None => ServiceKey::Addr {
                protocol: protocol.ok_or(Error::BadAttribute(IPVS_SVC_ATTR_PROTOCOL))?,
                addr: get_addr(
                    &addr.ok_or(Error::BadAttribute(IPVS_SVC_ATTR_ADDR))?,
                    family,
                )?,
                port: port.ok_or(Error::BadAttribute(IPVS_SVC_ATTR_PORT))?,
            },
        };
        let netmask = match netmask {
            Some(bytes) if family == AF_INET => u32::from_be_bytes(bytes),
            Some(bytes) => u32::from_ne_bytes(bytes),
            None => 0,
        };
        Ok(Service {
            key,
            scheduler: scheduler
                .ok_or(Error::BadAttribute(IPVS_SVC_ATTR_SCHED_NAME))?
                .to_owned(),
            flags: flags & !IP_VS_SVC_F_HASHED,
            timeout,
            netmask,
            pe_name: pe_name.filter(|name| !name.is_empty()).map(str::to_owned),
        })
    }

    /// Reads one message of a GET_SERVICE reply (the kernel answers with NEW_SERVICE).
    pub fn parse(packet: &Packet<&[u8]>) -> Result<Service, Error> {
        let nested = command_attr(packet, IPVS_CMD_NEW_SERVICE, IPVS_CMD_ATTR_SERVICE)?;
        Service::parse_attrs(nested.nested())
    }
}

/// The counters the kernel reports with a destination; the persistent, active and inactive
/// connection counts are what ipvsadm -L shows and what `least-connection` schedulers weigh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestinationStats {
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub persistent_conns: u32,
}

impl Destination {
    /// The family of the destination's address.
    pub fn family(&self) -> u8 {
        family_of(&self.addr)
    }

    /// Appends the attributes that name the destination within its service (DEL_DEST).
    pub fn emit_key_attrs(
        builder: &mut MessageBuilder<'_>,
        addr: &IpAddr,
        port: u16,
    ) -> Result<(), Error> {
        builder.attr_u16(IPVS_DEST_ATTR_ADDR_FAMILY, u16::from(family_of(addr)))?;
        put_addr(builder, IPVS_DEST_ATTR_ADDR, addr)?;
        builder.attr_u16_be(IPVS_DEST_ATTR_PORT, port)
    }

    /// Appends the attributes of a full destination (NEW_DEST, SET_DEST) in ipvsadm's order,
    /// without the nest. The tunnel attributes always go, zero when unused, as ipvsadm sends
    /// them; kernels before 5.2 ignore them. A tunnel without a type is IPIP, the kernel's
    /// default.
    pub fn emit_attrs(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        Destination::emit_key_attrs(builder, &self.addr, self.port)?;
        builder.attr_u32(IPVS_DEST_ATTR_FWD_METHOD, self.forward.code())?;
        builder.attr_u32(IPVS_DEST_ATTR_WEIGHT, self.weight)?;
        let tunnel_type = self
            .tunnel_type
            .map_or(IP_VS_CONN_F_TUNNEL_TYPE_IPIP, |t| t.code());
        builder.attr_u8(IPVS_DEST_ATTR_TUN_TYPE, tunnel_type)?;
        builder.attr_u16_be(IPVS_DEST_ATTR_TUN_PORT, self.tunnel_port)?;
        builder.attr_u16(IPVS_DEST_ATTR_TUN_FLAGS, self.tunnel_flags)?;
        builder.attr_u32(IPVS_DEST_ATTR_U_THRESH, self.upper_threshold)?;
        builder.attr_u32(IPVS_DEST_ATTR_L_THRESH, self.lower_threshold)
    }

    /// Appends `IPVS_CMD_ATTR_DEST` with the full destination.
    pub fn emit(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        let nest = builder.begin_nested_flagged(IPVS_CMD_ATTR_DEST)?;
        self.emit_attrs(builder)?;
        builder.end_nested(nest)
    }

    /// Reads a destination from the attributes nested in `IPVS_CMD_ATTR_DEST`.
    /// `service_family` stands in for `IPVS_DEST_ATTR_ADDR_FAMILY`, which kernels before 3.18
    /// do not send. The tunnel type is kept only for tunnel destinations (the kernel reports
    /// IPIP's 0 for all).
    pub fn parse_attrs(
        attrs: Attrs<'_>,
        service_family: u8,
    ) -> Result<(Destination, DestinationStats), Error> {
        let mut addr = None;
        let mut port = None;
        let mut forward = None;
        let mut family = service_family;
        let mut dest = Destination {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            forward: ForwardMethod::Masq,
            weight: 0,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel_type: None,
            tunnel_port: 0,
            tunnel_flags: 0,
        };
        let mut tunnel_type = IP_VS_CONN_F_TUNNEL_TYPE_IPIP;
        let mut stats = DestinationStats::default();
        for attr in attrs {
            let attr = attr?;
            match attr.kind() {
                IPVS_DEST_ATTR_ADDR => addr = Some(attr),
                IPVS_DEST_ATTR_PORT => port = Some(attr.as_u16_be()?),
                IPVS_DEST_ATTR_FWD_METHOD => {
                    let code = attr.as_u32()?;
                    let method =
                        ForwardMethod::from_code(code).ok_or(Error::BadAttribute(attr.kind()))?;
                    forward = Some(method);
                }
                IPVS_DEST_ATTR_WEIGHT => dest.weight = attr.as_u32()?,
                IPVS_DEST_ATTR_U_THRESH => dest.upper_threshold = attr.as_u32()?,
                IPVS_DEST_ATTR_L_THRESH => dest.lower_threshold = attr.as_u32()?,
                IPVS_DEST_ATTR_ACTIVE_CONNS => stats.active_conns = attr.as_u32()?,
                IPVS_DEST_ATTR_INACT_CONNS => stats.inactive_conns = attr.as_u32()?,
                IPVS_DEST_ATTR_PERSIST_CONNS => stats.persistent_conns = attr.as_u32()?,
                IPVS_DEST_ATTR_ADDR_FAMILY => family = get_family(&attr)?,
                IPVS_DEST_ATTR_TUN_TYPE => tunnel_type = attr.as_u8()?,
                IPVS_DEST_ATTR_TUN_PORT => dest.tunnel_port = attr.as_u16_be()?,
                IPVS_DEST_ATTR_TUN_FLAGS => dest.tunnel_flags = attr.as_u16()?,
                _ => {}
            }
        }
        dest.addr = get_addr(
            &addr.ok_or(Error::BadAttribute(IPVS_DEST_ATTR_ADDR))?,
            family,
        )?;
        dest.port = port.ok_or(Error::BadAttribute(IPVS_DEST_ATTR_PORT))?;
        dest.forward = forward.ok_or(Error::BadAttribute(IPVS_DEST_ATTR_FWD_METHOD))?;
        if dest.forward == ForwardMethod::Tunnel {
            let kind = TunnelType::from_code(tunnel_type)
                .ok_or(Error::BadAttribute(IPVS_DEST_ATTR_TUN_TYPE))?;
            dest.tunnel_type = Some(kind);
        }
        Ok((dest, stats))
    }

    /// Reads one message of a GET_DEST reply (the kernel answers with NEW_DEST).
    pub fn parse(
        packet: &Packet<&[u8]>,
        service_family: u8,
    ) -> Result<(Destination, DestinationStats), Error> {
        let nested = command_attr(packet, IPVS_CMD_NEW_DEST, IPVS_CMD_ATTR_DEST)?;
        Destination::parse_attrs(nested.nested(), service_family)
    }
}

/// "10.0.0.2:8080", "[2001:db8::2]:80".
impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", std::net::SocketAddr::new(self.addr, self.port))
    }
}

/// The top-level attribute `kind` of a reply whose command must be `cmd`.
fn command_attr<'a>(
    packet: &Packet<&'a [u8]>,
    cmd: u8,
    kind: u16,
) -> Result<Attr<&'a [u8]>, Error> {
    let header = GenlHeader::parse(packet.payload_bytes())?;
    if header.cmd != cmd {
        return Err(Error::Unsupported);
    }
    genl::attributes(packet, 0)?
        .find(kind)?
        .ok_or(Error::BadAttribute(kind))
}

/// The reply to GET_INFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// `IP_VS_VERSION_CODE`: major << 16 | minor << 8 | patch (0x010201 is 1.2.1).
    pub version: u32,
    /// Buckets of the connection hash table (`ip_vs_conn_tab_size`, module parameter
    /// `conn_tab_bits`).
    pub conn_table_size: u32,
}

impl Info {
    pub fn parse(packet: &Packet<&[u8]>) -> Result<Info, Error> {
        let header = GenlHeader::parse(packet.payload_bytes())?;
        if header.cmd != IPVS_CMD_SET_INFO {
            return Err(Error::Unsupported);
        }
        let mut version = None;
        let mut conn_table_size = None;
        for attr in genl::attributes(packet, 0)? {
            let attr = attr?;
            match attr.kind() {
                IPVS_INFO_ATTR_VERSION => version = Some(attr.as_u32()?),
                IPVS_INFO_ATTR_CONN_TAB_SIZE => conn_table_size = Some(attr.as_u32()?),
                _ => {}
            }
        }
        Ok(Info {
            version: version.ok_or(Error::BadAttribute(IPVS_INFO_ATTR_VERSION))?,
            conn_table_size: conn_table_size
                .ok_or(Error::BadAttribute(IPVS_INFO_ATTR_CONN_TAB_SIZE))?,
        })
    }
}

/// "1.2.1", as `ipvsadm -L` prints the version.
impl fmt::Display for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.version;
        write!(f, "{}.{}.{}", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
    }
}

/// Connection timeouts in seconds (`ipvsadm --set tcp tcpfin udp`). In a SET_CONFIG request a
/// zero leaves that timeout unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

impl Timeouts {
    /// Reads the reply to GET_CONFIG (the kernel answers with SET_CONFIG).
    pub fn parse(packet: &Packet<&[u8]>) -> Result<Timeouts, Error> {
        let header = GenlHeader::parse(packet.payload_bytes())?;
        if header.cmd != IPVS_CMD_SET_CONFIG {
            return Err(Error::Unsupported);
        }
        let mut timeouts = Timeouts::default();
        for attr in genl::attributes(packet, 0)? {
            let attr = attr?;
            match attr.kind() {
                IPVS_CMD_ATTR_TIMEOUT_TCP => timeouts.tcp = attr.as_u32()?,
                IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => timeouts.tcp_fin = attr.as_u32()?,
                IPVS_CMD_ATTR_TIMEOUT_UDP => timeouts.udp = attr.as_u32()?,
                _ => {}
            }
        }
        Ok(timeouts)
    }

    pub fn emit_attrs(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        builder.attr_u32(IPVS_CMD_ATTR_TIMEOUT_TCP, self.tcp)?;
        builder.attr_u32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, self.tcp_fin)?;
        builder.attr_u32(IPVS_CMD_ATTR_TIMEOUT_UDP, self.udp)
    }
}

/// One IPVS request: the generic netlink header and the attributes after the nlmsghdr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    NewService(&'a Service),
    SetService(&'a Service),
    DelService(&'a ServiceKey),
    /// A dump of every service.
    GetServices,
    NewDest(&'a ServiceKey, &'a Destination),
    SetDest(&'a ServiceKey, &'a Destination),
    DelDest {
        service: &'a ServiceKey,
        addr: IpAddr,
        port: u16,
    },
    /// A dump of one service's destinations.
    GetDests(&'a ServiceKey),
    GetInfo,
    GetConfig,
    SetConfig(Timeouts),
    /// Zeroes every service's counters.
    Zero,
    /// Deletes every service and destination.
    Flush,
}

impl Request<'_> {
    /// The `IPVS_CMD_*`.
    pub fn cmd(&self) -> u8 {
        match self {
            Request::NewService(_) => IPVS_CMD_NEW_SERVICE,
            Request::SetService(_) => IPVS_CMD_SET_SERVICE,
            Request::DelService(_) => IPVS_CMD_DEL_SERVICE,
            Request::GetServices => IPVS_CMD_GET_SERVICE,
            Request::NewDest(..) => IPVS_CMD_NEW_DEST,
            Request::SetDest(..) => IPVS_CMD_SET_DEST,
            Request::DelDest { .. } => IPVS_CMD_DEL_DEST,
            Request::GetDests(_) => IPVS_CMD_GET_DEST,
            Request::GetInfo => IPVS_CMD_GET_INFO,
            Request::GetConfig => IPVS_CMD_GET_CONFIG,
            Request::SetConfig(_) => IPVS_CMD_SET_CONFIG,
            Request::Zero => IPVS_CMD_ZERO,
            Request::Flush => IPVS_CMD_FLUSH,
        }
    }

    /// Whether the request must go with `NLM_F_DUMP`.
    pub fn is_dump(&self) -> bool {
        matches!(self, Request::GetServices | Request::GetDests(_))
    }

    /// Appends the genlmsghdr and the attributes.
    pub fn emit(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        GenlHeader {
            cmd: self.cmd(),
            version: IPVS_GENL_VERSION,
        }
        .emit(builder)?;
        match self {
            Request::NewService(service) | Request::SetService(service) => service.emit(builder),
            Request::DelService(key) | Request::GetDests(key) => key.emit(builder),
            Request::NewDest(key, dest) | Request::SetDest(key, dest) => {
                key.emit(builder)?;
                dest.emit(builder)
            }
            Request::DelDest {
                service,
                addr,
                port,
            } => {
                service.emit(builder)?;
                let nest = builder.begin_nested_flagged(IPVS_CMD_ATTR_DEST)?;
                Destination::emit_key_attrs(builder, addr, *port)?;
                builder.end_nested(nest)
            }
            Request::SetConfig(timeouts) => timeouts.emit_attrs(builder),
            Request::GetServices
            | Request::GetInfo
            | Request::GetConfig
            | Request::Zero
            | Request::Flush => Ok(()),
        }
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::super::netlink::header::{Header, Messages, NLM_F_ACK, NLM_F_REQUEST};
    use super::*;

    // ipvsadm 1.31 (libnl 3.7) on Debian 12's kernel 6.1, recorded with strace in the test VM
    // (tests/ipvs_vm/capture.sh). The IPVS family id there was 0x20. Whole messages, nlmsghdr
    // included; requests are compared from the genlmsghdr on (sequence and port differ).
    const NEW_SERVICE_TCP_WLC: &str = "\
        68000000 20000500 e93f026b 5a00007c 01010000 54000180 06000100 02000000 \
        06000200 06000000 14000300 0a000001 00000000 00000000 00000000 06000400 \
        00500000 08000600 776c6300 0c000700 00000000 ffffffff 08000800 00000000 \
        08000900 ffffffff \
    ";
    const SET_SERVICE_TCP_RR_PERSISTENT: &str = "\
        68000000 20000500 e93f026b 6300007c 02010000 54000180 06000100 02000000 \
        06000200 06000000 14000300 0a000001 00000000 00000000 00000000 06000400 \
        00500000 07000600 72720000 0c000700 01000000 ffffffff 08000800 2c010000 \
        08000900 ffffff00 \
    ";
    const NEW_SERVICE_UDP6_SH_OPS: &str = "\
        68000000 20000500 e93f026b 6800007c 01010000 54000180 06000100 0a000000 \
        06000200 11000000 14000300 20010db8 00000000 00000000 00000001 06000400 \
        00350000 07000600 73680000 0c000700 1c000000 ffffffff 08000800 00000000 \
        08000900 80000000 \
    ";
    const NEW_SERVICE_FWMARK6_MH: &str = "\
        4c000000 20000500 ea3f026b 6d00c07b 01010000 38000180 06000100 0a000000 \
        08000500 07000000 07000600 6d680000 0c000700 10000000 ffffffff 08000800 \
        00000000 08000900 80000000 \
    ";
    const NEW_SERVICE_SCTP_PE_SIP: &str = "\
        74000000 20000500 ea3f026b 7200c07b 01010000 60000180 06000100 02000000 \
        06000200 84000000 14000300 0a000005 00000000 00000000 00000000 06000400 \
        00090000 0a000600 6c626c63 72000000 08000b00 73697000 0c000700 01000000 \
        ffffffff 08000800 3c000000 08000900 ffff0000 \
    ";
    const NEW_DEST_MASQ: &str = "\
        c8000000 20000500 ea3f026b 8100c07b 05010000 54000180 06000100 02000000 \
        06000200 06000000 14000300 0a000001 00000000 00000000 00000000 06000400 \
        00500000 05000600 00000000 0c000700 00000000 ffffffff 08000800 00000000 \
        08000900 ffffffff 60000280 06000b00 02000000 14000100 0a000002 00000000 \
        00000000 00000000 06000200 1f900000 08000300 00000000 08000400 03000000 \
        05000d00 00000000 06000e00 00000000 06000f00 00000000 08000500 64000000 \
        08000600 0a000000 \
    ";
    const NEW_DEST_GUE: &str = "\
        c8000000 20000500 eb3f026b 8500807c 05010000 54000180 06000100 02000000 \
        06000200 06000000 14000300 0a000001 00000000 00000000 00000000 06000400 \
        00500000 05000600 00000000 0c000700 00000000 ffffffff 08000800 00000000 \
        08000900 ffffffff 60000280 06000b00 02000000 14000100 0a000003 00000000 \
        00000000 00000000 06000200 00500000 08000300 02000000 08000400 01000000 \
        05000d00 01000000 06000e00 17c00000 06000f00 01000000 08000500 00000000 \
        08000600 00000000 \
    ";
    const NEW_DEST_GRE: &str = "\
        c8000000 20000500 eb3f026b 8900807c 05010000 54000180 06000100 02000000 \
        06000200 06000000 14000300 0a000001 00000000 00000000 00000000 06000400 \
        00500000 05000600 00000000 0c000700 00000000 ffffffff 08000800 00000000 \
        08000900 ffffffff 60000280 06000b00 02000000 14000100 0a000004 00000000 \
        00000000 00000000 06000200 00500000 08000300 02000000 08000400 01000000 \
        05000d00 02000000 06000e00 00000000 06000f00 01000000 08000500 00000000 \
        08000600 00000000 \
    ";
    const NEW_DEST_DR6: &str = "\
        c8000000 20000500 eb3f026b 8d00807c 05010000 54000180 06000100 0a000000 \
        06000200 11000000 14000300 20010db8 00000000 00000000 00000001 06000400 \
        00350000 05000600 00000000 0c000700 00000000 ffffffff 08000800 00000000 \
        08000900 80000000 60000280 06000b00 0a000000 14000100 20010db8 00000000 \
        00000000 00000002 06000200 00350000 08000300 03000000 08000400 00000000 \
        05000d00 00000000 06000e00 00000000 06000f00 00000000 08000500 00000000 \
        08000600 00000000 \
    ";
    const SET_DEST_MASQ: &str = "\
        c8000000 20000500 eb3f026b 9100807c 06010000 54000180 06000100 02000000 \
        06000200 06000000 14000300 0a000001 00000000 00000000 00000000 06000400 \
        00500000 05000600 00000000 0c000700 00000000 ffffffff 08000800 00000000 \
        08000900 ffffffff 60000280 06000b00 02000000 14000100 0a000002 00000000 \
        00000000 00000000 06000200 1f900000 08000300 00000000 08000400 05000000 \
        05000d00 00000000 06000e00 00000000 06000f00 00000000 08000500 00000000 \
        08000600 00000000 \
    ";
    const DEL_DEST: &str = "\
        c8000000 20000500 ec3f026b 9900407c 07010000 54000180 06000100 02000000 \
        06000200 06000000 14000300 0a000001 00000000 00000000 00000000 06000400 \
        00500000 05000600 00000000 0c000700 00000000 ffffffff 08000800 00000000 \
        08000900 ffffffff 60000280 06000b00 02000000 14000100 0a000003 00000000 \
        00000000 00000000 06000200 00500000 08000300 03000000 08000400 01000000 \
        05000d00 00000000 06000e00 00000000 06000f00 00000000 08000500 00000000 \
        08000600 00000000 \
    ";
    const DEL_SERVICE_UDP6: &str = "\
        68000000 20000500 ec3f026b 9d00407c 03010000 54000180 06000100 0a000000 \
        06000200 11000000 14000300 20010db8 00000000 00000000 00000001 06000400 \
        00350000 05000600 00000000 0c000700 00000000 ffffffff 08000800 00000000 \
        08000900 80000000 \
    ";
    const SET_CONFIG: &str = "\
        2c000000 20000500 ec3f026b a500407c 0c010000 08000400 e8030000 08000500 \
        82000000 08000600 36010000 \
    ";
    const GET_CONFIG: &str = "\
        14000000 20000500 ec3f026b a900407c 0d010000 \
    ";
    const GET_CONFIG_REPLY: &str = "\
        2c000000 20000000 ec3f026b a900407c 0c010000 08000400 e8030000 08000500 \
        82000000 08000600 36010000 \
    ";
    const ZERO: &str = "\
        14000000 20000500 ed3f026b ad000073 10010000 \
    ";
    const FLUSH: &str = "\
        14000000 20000500 ed3f026b b1000073 11010000 \
    ";
    const GET_INFO: &str = "\
        14000000 20000500 eb3f026b 9500c059 0f010000 \
    ";
    const GET_INFO_REPLY: &str = "\
        24000000 20000000 eb3f026b 9500c059 0e010000 08000100 01020100 08000200 \
        00100000 \
    ";
    const GET_SERVICE_DUMP: &str = "\
        14000000 20000503 eb3f026b 9500807c 04010000 \
    ";
    const SERVICE_DUMP: &str = "\
        4c010000 20000200 eb3f026b 9500807c 01010000 38010100 06000100 02000000 \
        06000200 84000000 14000300 0a000005 00000000 00000000 00000000 06000400 \
        00090000 0a000600 6c626c63 72000000 08000b00 73697000 0c000700 03000000 \
        ffffffff 08000800 3c000000 08000900 ffff0000 5c000a00 08000100 00000000 \
        08000200 00000000 08000300 00000000 0c000400 00000000 00000000 0c000500 \
        00000000 00000000 08000600 00000000 08000700 00000000 08000800 00000000 \
        08000900 00000000 08000a00 00000000 7c000c00 0c000100 00000000 00000000 \
        0c000200 00000000 00000000 0c000300 00000000 00000000 0c000400 00000000 \
        00000000 0c000500 00000000 00000000 0c000600 00000000 00000000 0c000700 \
        00000000 00000000 0c000800 00000000 00000000 0c000900 00000000 00000000 \
        0c000a00 00000000 00000000 40010000 20000200 eb3f026b 9500807c 01010000 \
        2c010100 06000100 0a000000 06000200 11000000 14000300 20010db8 00000000 \
        00000000 00000001 06000400 00350000 07000600 73680000 0c000700 1e000000 \
        ffffffff 08000800 00000000 08000900 80000000 5c000a00 08000100 00000000 \
        08000200 00000000 08000300 00000000 0c000400 00000000 00000000 0c000500 \
        00000000 00000000 08000600 00000000 08000700 00000000 08000800 00000000 \
        08000900 00000000 08000a00 00000000 7c000c00 0c000100 00000000 00000000 \
        0c000200 00000000 00000000 0c000300 00000000 00000000 0c000400 00000000 \
        00000000 0c000500 00000000 00000000 0c000600 00000000 00000000 0c000700 \
        00000000 00000000 0c000800 00000000 00000000 0c000900 00000000 00000000 \
        0c000a00 00000000 00000000 40010000 20000200 eb3f026b 9500807c 01010000 \
        2c010100 06000100 02000000 06000200 06000000 14000300 0a000001 00000000 \
        00000000 00000000 06000400 00500000 07000600 72720000 0c000700 03000000 \
        ffffffff 08000800 2c010000 08000900 ffffff00 5c000a00 08000100 00000000 \
        08000200 00000000 08000300 00000000 0c000400 00000000 00000000 0c000500 \
        00000000 00000000 08000600 00000000 08000700 00000000 08000800 00000000 \
        08000900 00000000 08000a00 00000000 7c000c00 0c000100 00000000 00000000 \
        0c000200 00000000 00000000 0c000300 00000000 00000000 0c000400 00000000 \
        00000000 0c000500 00000000 00000000 0c000600 00000000 00000000 0c000700 \
        00000000 00000000 0c000800 00000000 00000000 0c000900 00000000 00000000 \
        0c000a00 00000000 00000000 24010000 20000200 eb3f026b 9500807c 01010000 \
        10010100 06000100 0a000000 08000500 07000000 07000600 6d680000 0c000700 \
        12000000 ffffffff 08000800 00000000 08000900 80000000 5c000a00 08000100 \
        00000000 08000200 00000000 08000300 00000000 0c000400 00000000 00000000 \
        0c000500 00000000 00000000 08000600 00000000 08000700 00000000 08000800 \
        00000000 08000900 00000000 08000a00 00000000 7c000c00 0c000100 00000000 \
        00000000 0c000200 00000000 00000000 0c000300 00000000 00000000 0c000400 \
        00000000 00000000 0c000500 00000000 00000000 0c000600 00000000 00000000 \
        0c000700 00000000 00000000 0c000800 00000000 00000000 0c000900 00000000 \
        00000000 0c000a00 00000000 00000000 \
    ";
    const GET_DEST_TCP: &str = "\
        44000000 20000503 eb3f026b 950040a7 08010000 30000180 06000100 02000000 \
        06000200 06000000 14000300 0a000001 00000000 00000000 00000000 06000400 \
        00500000 \
    ";
    const DEST_DUMP_TCP: &str = "\
        64010000 20000200 eb3f026b 950040a7 05010000 50010200 14000100 0a000004 \
        00000000 00000000 00000000 06000200 00500000 08000300 02000000 08000400 \
        01000000 05000d00 02000000 06000e00 00000000 06000f00 01000000 08000500 \
        00000000 08000600 00000000 08000700 00000000 08000800 00000000 08000900 \
        00000000 06000b00 02000000 5c000a00 08000100 00000000 08000200 00000000 \
        08000300 00000000 0c000400 00000000 00000000 0c000500 00000000 00000000 \
        08000600 00000000 08000700 00000000 08000800 00000000 08000900 00000000 \
        08000a00 00000000 7c000c00 0c000100 00000000 00000000 0c000200 00000000 \
        00000000 0c000300 00000000 00000000 0c000400 00000000 00000000 0c000500 \
        00000000 00000000 0c000600 00000000 00000000 0c000700 00000000 00000000 \
        0c000800 00000000 00000000 0c000900 00000000 00000000 0c000a00 00000000 \
        00000000 64010000 20000200 eb3f026b 950040a7 05010000 50010200 14000100 \
        0a000003 00000000 00000000 00000000 06000200 00500000 08000300 02000000 \
        08000400 01000000 05000d00 01000000 06000e00 17c00000 06000f00 01000000 \
        08000500 00000000 08000600 00000000 08000700 00000000 08000800 00000000 \
        08000900 00000000 06000b00 02000000 5c000a00 08000100 00000000 08000200 \
        00000000 08000300 00000000 0c000400 00000000 00000000 0c000500 00000000 \
        00000000 08000600 00000000 08000700 00000000 08000800 00000000 08000900 \
        00000000 08000a00 00000000 7c000c00 0c000100 00000000 00000000 0c000200 \
        00000000 00000000 0c000300 00000000 00000000 0c000400 00000000 00000000 \
        0c000500 00000000 00000000 0c000600 00000000 00000000 0c000700 00000000 \
        00000000 0c000800 00000000 00000000 0c000900 00000000 00000000 0c000a00 \
        00000000 00000000 64010000 20000200 eb3f026b 950040a7 05010000 50010200 \
        14000100 0a000002 00000000 00000000 00000000 06000200 1f900000 08000300 \
        00000000 08000400 05000000 05000d00 00000000 06000e00 00000000 06000f00 \
        00000000 08000500 00000000 08000600 00000000 08000700 00000000 08000800 \
        00000000 08000900 00000000 06000b00 02000000 5c000a00 08000100 00000000 \
        08000200 00000000 08000300 00000000 0c000400 00000000 00000000 0c000500 \
        00000000 00000000 08000600 00000000 08000700 00000000 08000800 00000000 \
        08000900 00000000 08000a00 00000000 7c000c00 0c000100 00000000 00000000 \
        0c000200 00000000 00000000 0c000300 00000000 00000000 0c000400 00000000 \
        00000000 0c000500 00000000 00000000 0c000600 00000000 00000000 0c000700 \
        00000000 00000000 0c000800 00000000 00000000 0c000900 00000000 00000000 \
        0c000a00 00000000 00000000 \
    ";
    const GET_DEST_UDP6: &str = "\
        44000000 20000503 eb3f026b 9500c0fc 08010000 30000180 06000100 0a000000 \
        06000200 11000000 14000300 20010db8 00000000 00000000 00000001 06000400 \
        00350000 \
    ";
    const DEST_DUMP_UDP6: &str = "\
        64010000 20000200 eb3f026b 9500c0fc 05010000 50010200 14000100 20010db8 \
        00000000 00000000 00000002 06000200 00350000 08000300 03000000 08000400 \
        00000000 05000d00 00000000 06000e00 00000000 06000f00 00000000 08000500 \
        00000000 08000600 00000000 08000700 00000000 08000800 00000000 08000900 \
        00000000 06000b00 0a000000 5c000a00 08000100 00000000 08000200 00000000 \
        08000300 00000000 0c000400 00000000 00000000 0c000500 00000000 00000000 \
        08000600 00000000 08000700 00000000 08000800 00000000 08000900 00000000 \
        08000a00 00000000 7c000c00 0c000100 00000000 00000000 0c000200 00000000 \
        00000000 0c000300 00000000 00000000 0c000400 00000000 00000000 0c000500 \
        00000000 00000000 0c000600 00000000 00000000 0c000700 00000000 00000000 \
        0c000800 00000000 00000000 0c000900 00000000 00000000 0c000a00 00000000 \
        00000000 \
    ";
    const GET_DEST_FWMARK6: &str = "\
        28000000 20000503 ec3f026b 9500801f 08010000 14000180 06000100 0a000000 \
        08000500 07000000 \
    ";
    const NEW_SERVICE_EEXIST: &str = "\
        7c000000 02000000 ea3f026b 7800c07b efffffff 68000000 20000500 ea3f026b \
        7800c07b 01010000 54000180 06000100 02000000 06000200 06000000 14000300 \
        0a000001 00000000 00000000 00000000 06000400 00500000 08000600 776c6300 \
        0c000700 00000000 ffffffff 08000800 00000000 08000900 ffffffff \
    ";

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text
            .bytes()
            .filter(u8::is_ascii_hexdigit)
            .map(|d| (d as char).to_digit(16).unwrap() as u8)
            .collect();
        digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
    }

    /// Our request, with the same nlmsghdr fields as ipvsadm's so whole messages compare.
    fn build(request: &Request<'_>, like: &[u8]) -> Vec<u8> {
        let theirs = Packet::new_checked(like).unwrap();
        let header = Header::parse(&theirs);
        let mut buf = [0u8; 512];
        let mut b = MessageBuilder::new(&mut buf, header).unwrap();
        request.emit(&mut b).unwrap();
        b.finish().unwrap().to_vec()
    }

    /// The (kind, value) pairs in an attribute run.
    fn attrs(bytes: &[u8]) -> Vec<(u16, Vec<u8>)> {
        Attrs::new(bytes)
            .map(|a| {
                let a = a.unwrap();
                (a.kind(), a.bytes().to_vec())
            })
            .collect()
    }

    /// The value of the top-level attribute `kind` of a message.
    fn top(message: &[u8], kind: u16) -> Vec<u8> {
        let packet = Packet::new_checked(message).unwrap();
        let attr = genl::attributes(&packet, 0).unwrap().find(kind).unwrap();
        attr.unwrap().bytes().to_vec()
    }

    const KEY_KINDS: [u16; 5] = [
        IPVS_SVC_ATTR_AF,
        IPVS_SVC_ATTR_PROTOCOL,
        IPVS_SVC_ATTR_ADDR,
        IPVS_SVC_ATTR_PORT,
        IPVS_SVC_ATTR_FWMARK,
    ];

    /// ipvsadm sends whole services (and destinations) where only the key matters; ours carry
    /// the key alone: the same attributes as theirs once the rest is dropped.
    fn assert_key_only(ours: &[u8], theirs: &[u8], nest: u16, kinds: &[u16]) {
        let theirs: Vec<_> = attrs(&top(theirs, nest))
            .into_iter()
            .filter(|(kind, _)| kinds.contains(kind))
            .collect();
        assert_eq!(attrs(&top(ours, nest)), theirs);
    }

    fn v4(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn tcp_80() -> ServiceKey {
        ServiceKey::Addr {
            protocol: IPPROTO_TCP,
            addr: v4("10.0.0.1"),
            port: 80,
        }
    }

    fn udp6_53() -> ServiceKey {
        ServiceKey::Addr {
            protocol: IPPROTO_UDP,
            addr: v4("2001:db8::1"),
            port: 53,
        }
    }

    fn service(key: ServiceKey, scheduler: &str) -> Service {
        Service {
            key,
            scheduler: scheduler.into(),
            flags: 0,
            timeout: 0,
            netmask: if key.family() == AF_INET {
                u32::MAX
            } else {
                128
            },
            pe_name: None,
        }
    }

    fn dest(addr: &str, port: u16, forward: ForwardMethod, weight: u32) -> Destination {
        Destination {
            addr: v4(addr),
            port,
            forward,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel_type: (forward == ForwardMethod::Tunnel).then_some(TunnelType::Ipip),
            tunnel_port: 0,
            tunnel_flags: 0,
        }
    }

    fn added_services() -> [(Service, &'static str); 5] {
        let sctp = ServiceKey::Addr {
            protocol: IPPROTO_SCTP,
            addr: v4("10.0.0.5"),
            port: 9,
        };
        let fwmark6 = ServiceKey::Fwmark {
            mark: 7,
            ipv6: true,
        };
        [
            (service(tcp_80(), "wlc"), NEW_SERVICE_TCP_WLC),
            (
                Service {
                    flags: IP_VS_SVC_F_PERSISTENT,
                    timeout: 300,
                    netmask: 0xffff_ff00,
                    ..service(tcp_80(), "rr")
                },
                SET_SERVICE_TCP_RR_PERSISTENT,
            ),
            (
                Service {
                    flags: IP_VS_SVC_F_ONEPACKET
                        | IP_VS_SVC_F_SCHED_SH_PORT
                        | IP_VS_SVC_F_SCHED_SH_FALLBACK,
                    ..service(udp6_53(), "sh")
                },
                NEW_SERVICE_UDP6_SH_OPS,
            ),
            (
                Service {
                    flags: IP_VS_SVC_F_SCHED_MH_PORT,
                    ..service(fwmark6, "mh")
                },
                NEW_SERVICE_FWMARK6_MH,
            ),
            (
                Service {
                    flags: IP_VS_SVC_F_PERSISTENT,
                    timeout: 60,
                    netmask: 0xffff_0000,
                    pe_name: Some("sip".into()),
                    ..service(sctp, "lblcr")
                },
                NEW_SERVICE_SCTP_PE_SIP,
            ),
        ]
    }

    #[test]
    fn construct_services_like_ipvsadm() {
        for (service, theirs) in added_services() {
            let theirs = hex(theirs);
            let request = if theirs[16] == IPVS_CMD_SET_SERVICE {
                Request::SetService(&service)
            } else {
                Request::NewService(&service)
            };
            assert_eq!(build(&request, &theirs), theirs, "{}", service.key);
        }
    }

    fn added_dests() -> [(ServiceKey, Destination, u8, &'static str); 5] {
        [
            (
                tcp_80(),
                Destination {
                    upper_threshold: 100,
                    lower_threshold: 10,
                    ..dest("10.0.0.2", 8080, ForwardMethod::Masq, 3)
                },
                IPVS_CMD_NEW_DEST,
                NEW_DEST_MASQ,
            ),
            (
                tcp_80(),
                Destination {
                    tunnel_type: Some(TunnelType::Gue),
                    tunnel_port: 6080,
                    tunnel_flags: IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
                    ..dest("10.0.0.3", 80, ForwardMethod::Tunnel, 1)
                },
                IPVS_CMD_NEW_DEST,
                NEW_DEST_GUE,
            ),
            (
                tcp_80(),
                Destination {
                    tunnel_type: Some(TunnelType::Gre),
                    tunnel_flags: IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
                    ..dest("10.0.0.4", 80, ForwardMethod::Tunnel, 1)
                },
                IPVS_CMD_NEW_DEST,
                NEW_DEST_GRE,
            ),
            (
                udp6_53(),
                dest("2001:db8::2", 53, ForwardMethod::DirectRoute, 0),
                IPVS_CMD_NEW_DEST,
                NEW_DEST_DR6,
            ),
            (
                tcp_80(),
                dest("10.0.0.2", 8080, ForwardMethod::Masq, 5),
                IPVS_CMD_SET_DEST,
                SET_DEST_MASQ,
            ),
        ]
    }

    #[test]
    fn construct_destinations_like_ipvsadm() {
        for (key, dest, cmd, theirs) in added_dests() {
            let theirs = hex(theirs);
            let request = if cmd == IPVS_CMD_SET_DEST {
                Request::SetDest(&key, &dest)
            } else {
                Request::NewDest(&key, &dest)
            };
            let ours = build(&request, &theirs);
            assert_eq!(ours[16..20], theirs[16..20], "{dest}");
            assert_eq!(
                top(&ours, IPVS_CMD_ATTR_DEST),
                top(&theirs, IPVS_CMD_ATTR_DEST)
            );
            assert_key_only(&ours, &theirs, IPVS_CMD_ATTR_SERVICE, &KEY_KINDS);
            // Both nests carry NLA_F_NESTED, as libnl sets it.
            assert_eq!(ours[21..24], theirs[21..24]);
        }
    }

    #[test]
    fn construct_deletes_like_ipvsadm() {
        let theirs = hex(DEL_SERVICE_UDP6);
        let ours = build(&Request::DelService(&udp6_53()), &theirs);
        assert_eq!(ours[16..20], theirs[16..20]);
        assert_key_only(&ours, &theirs, IPVS_CMD_ATTR_SERVICE, &KEY_KINDS);

        let theirs = hex(DEL_DEST);
        let request = Request::DelDest {
            service: &tcp_80(),
            addr: v4("10.0.0.3"),
            port: 80,
        };
        let ours = build(&request, &theirs);
        assert_eq!(ours[16..20], theirs[16..20]);
        assert_key_only(&ours, &theirs, IPVS_CMD_ATTR_SERVICE, &KEY_KINDS);
        let dest_key = [
            IPVS_DEST_ATTR_ADDR_FAMILY,
            IPVS_DEST_ATTR_ADDR,
            IPVS_DEST_ATTR_PORT,
        ];
        assert_key_only(&ours, &theirs, IPVS_CMD_ATTR_DEST, &dest_key);
    }

    #[test]
    fn construct_dumps_and_config_like_ipvsadm() {
        let fwmark6 = ServiceKey::Fwmark {
            mark: 7,
            ipv6: true,
        };
        let timeouts = Timeouts {
            tcp: 1000,
            tcp_fin: 130,
            udp: 310,
        };
        let cases = [
            (Request::GetServices, GET_SERVICE_DUMP),
            (Request::GetDests(&tcp_80()), GET_DEST_TCP),
            (Request::GetDests(&udp6_53()), GET_DEST_UDP6),
            (Request::GetDests(&fwmark6), GET_DEST_FWMARK6),
            (Request::GetInfo, GET_INFO),
            (Request::GetConfig, GET_CONFIG),
            (Request::SetConfig(timeouts), SET_CONFIG),
            (Request::Zero, ZERO),
            (Request::Flush, FLUSH),
        ];
        for (request, theirs) in cases {
            let theirs = hex(theirs);
            assert_eq!(build(&request, &theirs), theirs, "{request:?}");
            let dump = Packet::new_checked(&theirs[..]).unwrap().flags() & 0x300 != 0;
            assert_eq!(request.is_dump(), dump, "{request:?}");
        }
    }

    fn services_in(datagram: &[u8]) -> Vec<Service> {
        Messages::new(datagram)
            .map(|m| Service::parse(&m.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn parse_service_dump() {
        let [(wlc, _), (rr, _), (sh, _), (mh, _), (sctp, _)] = added_services();
        // The dump followed the edit of TCP 10.0.0.1:80 to rr; the HASHED flag the kernel adds
        // is gone.
        assert_eq!(services_in(&hex(SERVICE_DUMP)), [sctp, sh, rr.clone(), mh]);
        assert_ne!(wlc, rr);
    }

    fn dests_in(datagram: &[u8], family: u8) -> Vec<(Destination, DestinationStats)> {
        Messages::new(datagram)
            .map(|m| Destination::parse(&m.unwrap(), family).unwrap())
            .collect()
    }

    #[test]
    fn parse_destination_dump() {
        let [_, (_, gue, ..), (_, gre, ..), (_, dr6, ..), (_, masq, ..)] = added_dests();
        let idle = DestinationStats::default();
        assert_eq!(
            dests_in(&hex(DEST_DUMP_TCP), AF_INET),
            [(gre, idle), (gue, idle), (masq, idle)]
        );
        // The family comes from IPVS_DEST_ATTR_ADDR_FAMILY, not from the caller's guess.
        assert_eq!(dests_in(&hex(DEST_DUMP_UDP6), AF_INET), [(dr6, idle)]);
    }

    #[test]
    fn parse_info_and_timeouts() {
        let bytes = hex(GET_INFO_REPLY);
        let info = Info::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(
            info,
            Info {
                version: 0x01_02_01,
                conn_table_size: 4096
            }
        );
        assert_eq!(info.to_string(), "1.2.1");
        let bytes = hex(GET_CONFIG_REPLY);
        let timeouts = Timeouts::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(
            (timeouts.tcp, timeouts.tcp_fin, timeouts.udp),
            (1000, 130, 310)
        );
        // Another command's reply is not mistaken for these.
        let bytes = hex(GET_CONFIG_REPLY);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Info::parse(&packet), Err(Error::Unsupported));
        assert_eq!(Service::parse(&packet), Err(Error::Unsupported));
    }

    #[test]
    fn kernel_refusal_echoes_the_request() {
        // EEXIST for a second `ipvsadm -A -t 10.0.0.1:80 -s wlc`: ipvsadm does not cap acks, so
        // the whole request comes back after the errno.
        let bytes = hex(NEW_SERVICE_EEXIST);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        let error = super::super::netlink::ErrorMessage::parse(&packet).unwrap();
        assert_eq!(error.errno, 17);
        assert_eq!(bytes[36..], hex(NEW_SERVICE_TCP_WLC)[16..]);
    }

    #[test]
    fn roundtrip_through_attributes() {
        let mut buf = [0u8; 512];
        for (service, _) in added_services() {
            let mut b = MessageBuilder::new(&mut buf, Header::default()).unwrap();
            service.emit_attrs(&mut b).unwrap();
            let message = b.finish().unwrap();
            assert_eq!(
                Service::parse_attrs(Attrs::new(&message[16..])),
                Ok(service)
            );
        }
        let mixed = Destination {
            tunnel_type: Some(TunnelType::Gue),
            tunnel_port: 5555,
            tunnel_flags: IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
            ..dest("10.1.2.3", 0, ForwardMethod::Tunnel, 7)
        };
        for (_, dest, ..) in added_dests().into_iter().chain([(tcp_80(), mixed, 0, "")]) {
            let mut b = MessageBuilder::new(&mut buf, Header::default()).unwrap();
            dest.emit_attrs(&mut b).unwrap();
            let message = b.finish().unwrap();
            let parsed = Destination::parse_attrs(Attrs::new(&message[16..]), AF_INET6);
            assert_eq!(parsed, Ok((dest, DestinationStats::default())));
        }
    }

    #[test]
    fn four_byte_ipv4_addresses_are_read() {
        let mut buf = [0u8; 128];
        let mut b = MessageBuilder::new(&mut buf, Header::default()).unwrap();
        b.attr_u16(IPVS_DEST_ATTR_ADDR_FAMILY, 2).unwrap();
        b.attr(IPVS_DEST_ATTR_ADDR, &[192, 0, 2, 7]).unwrap();
        b.attr_u16_be(IPVS_DEST_ATTR_PORT, 443).unwrap();
        b.attr_u32(IPVS_DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_DROUTE)
            .unwrap();
        b.attr_u32(IPVS_DEST_ATTR_ACTIVE_CONNS, 4).unwrap();
        b.attr_u32(IPVS_DEST_ATTR_INACT_CONNS, 5).unwrap();
        b.attr_u32(IPVS_DEST_ATTR_PERSIST_CONNS, 6).unwrap();
        let message = b.finish().unwrap();
        let (dest, stats) = Destination::parse_attrs(Attrs::new(&message[16..]), 2).unwrap();
        assert_eq!(dest.to_string(), "192.0.2.7:443");
        assert_eq!(dest.forward, ForwardMethod::DirectRoute);
        assert_eq!(
            stats,
            DestinationStats {
                active_conns: 4,
                inactive_conns: 5,
                persistent_conns: 6
            }
        );
    }

    #[test]
    fn malformed_replies_are_errors() {
        // Every truncation of every reply: an error or a shorter parse, never a panic.
        for vector in [
            SERVICE_DUMP,
            DEST_DUMP_TCP,
            DEST_DUMP_UDP6,
            GET_INFO_REPLY,
            GET_CONFIG_REPLY,
        ] {
            let bytes = hex(vector);
            for len in 20..bytes.len() {
                let mut cut = bytes[..len].to_vec();
                cut[..4].copy_from_slice(&(len as u32).to_ne_bytes());
                let packet = Packet::new_checked(&cut[..]).unwrap();
                let _ = Service::parse(&packet);
                let _ = Destination::parse(&packet, AF_INET);
                let _ = Info::parse(&packet);
                let _ = Timeouts::parse(&packet);
            }
        }
        let dump = hex(DEST_DUMP_UDP6);
        let parse = |bytes: &[u8]| Destination::parse(&Packet::new_checked(bytes).unwrap(), 2);
        // Offsets in the UDP6 destination message: ADDR header at 24, FWD_METHOD value at 56,
        // ADDR_FAMILY value at 136.
        let mut bad = dump.clone();
        bad[56] = 1; // IP_VS_CONN_F_LOCALNODE
        assert_eq!(
            parse(&bad),
            Err(Error::BadAttribute(IPVS_DEST_ATTR_FWD_METHOD))
        );
        let mut bad = dump.clone();
        bad[136] = 7;
        assert_eq!(parse(&bad), Err(Error::BadFamily(7)));
        let mut bad = dump.clone();
        bad[24] = 8; // ADDR claims 4 bytes but the family is IPv6
        assert!(parse(&bad).is_err());
        // A service without its family.
        let services = hex(SERVICE_DUMP);
        let mut bad = services.clone();
        bad[26] = 0x7f; // IPVS_SVC_ATTR_AF becomes an unknown attribute
        assert_eq!(
            Service::parse(&Packet::new_checked(&bad[..]).unwrap()),
            Err(Error::BadAttribute(IPVS_SVC_ATTR_AF))
        );
    }

    #[test]
    fn display_like_ipvsadm() {
        assert_eq!(tcp_80().to_string(), "TCP 10.0.0.1:80");
        assert_eq!(udp6_53().to_string(), "UDP [2001:db8::1]:53");
        let fwm = ServiceKey::Fwmark {
            mark: 7,
            ipv6: true,
        };
        assert_eq!(fwm.to_string(), "FWM 7 IPv6");
        let odd = ServiceKey::Addr {
            protocol: 99,
            addr: v4("10.0.0.1"),
            port: 1,
        };
        assert_eq!(odd.to_string(), "proto 99 10.0.0.1:1");
        let d = dest("2001:db8::2", 53, ForwardMethod::DirectRoute, 0);
        assert_eq!(d.to_string(), "[2001:db8::2]:53");
        let _ = (NLM_F_ACK, NLM_F_REQUEST);
    }
}
