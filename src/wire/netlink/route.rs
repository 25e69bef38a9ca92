//! rtnetlink routes: `struct rtmsg`, `struct rtnexthop` and the `RTA_*` attributes
//! (linux/rtnetlink.h) of RTM_NEWROUTE and RTM_DELROUTE; also the `RT_SCOPE_*` values that
//! addresses share.

use super::attr::Attrs;
use super::builder::MessageBuilder;
use super::header::{align, Packet};
use super::{attr, family_of, parse_ip, unspecified, Error};
use core::net::IpAddr;

pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;

pub const RTA_DST: u16 = 1;
pub const RTA_SRC: u16 = 2;
pub const RTA_IIF: u16 = 3;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
/// `RTA_PRIORITY`: the metric.
pub const RTA_PRIORITY: u16 = 6;
/// `RTA_PREFSRC`: the source address for locally generated packets (`src` in `ip route`).
pub const RTA_PREFSRC: u16 = 7;
pub const RTA_METRICS: u16 = 8;
pub const RTA_MULTIPATH: u16 = 9;
/// `RTA_TABLE`: the table id when it does not fit `rtm_table` (> 255).
pub const RTA_TABLE: u16 = 15;

pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_SITE: u8 = 200;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;
/// `RT_SCOPE_NOWHERE`: in a delete request, "any scope".
pub const RT_SCOPE_NOWHERE: u8 = 255;

pub const RT_TABLE_UNSPEC: u8 = 0;
pub const RT_TABLE_DEFAULT: u8 = 253;
pub const RT_TABLE_MAIN: u8 = 254;
pub const RT_TABLE_LOCAL: u8 = 255;

pub const RTPROT_UNSPEC: u8 = 0;
pub const RTPROT_KERNEL: u8 = 2;
/// `RTPROT_BOOT`: iproute2's default for `ip route add`.
pub const RTPROT_BOOT: u8 = 3;
pub const RTPROT_STATIC: u8 = 4;
/// `RTPROT_KEEPALIVED` (iproute2's rt_protos: "keepalived").
pub const RTPROT_KEEPALIVED: u8 = 18;

pub const RTN_UNSPEC: u8 = 0;
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RTN_BROADCAST: u8 = 3;
pub const RTN_ANYCAST: u8 = 4;
pub const RTN_MULTICAST: u8 = 5;
pub const RTN_BLACKHOLE: u8 = 6;
pub const RTN_UNREACHABLE: u8 = 7;
pub const RTN_PROHIBIT: u8 = 8;
pub const RTN_THROW: u8 = 9;

/// Byte offsets of `struct rtmsg`.
pub mod field {
    use core::ops::Range;
    pub const FAMILY: usize = 0;
    pub const DST_LEN: usize = 1;
    pub const SRC_LEN: usize = 2;
    pub const TOS: usize = 3;
    pub const TABLE: usize = 4;
    pub const PROTOCOL: usize = 5;
    pub const SCOPE: usize = 6;
    pub const TYPE: usize = 7;
    pub const FLAGS: Range<usize> = 8..12;
}

/// `sizeof(struct rtmsg)`.
pub const HEADER_LEN: usize = 12;
/// `sizeof(struct rtnexthop)`: len u16, flags u8, hops u8, ifindex i32.
pub const NEXTHOP_LEN: usize = 8;

/// One hop of an `RTA_MULTIPATH` route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NextHop {
    pub gateway: Option<IpAddr>,
    /// `rtnh_ifindex`; 0 lets the kernel find the interface from the gateway.
    pub oif: u32,
    /// `rtnh_hops`: the weight minus one.
    pub hops: u8,
    /// `rtnh_flags` (`RTNH_F_*`).
    pub flags: u8,
}

/// A route as RTM_NEWROUTE / RTM_DELROUTE carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRepr {
    pub family: u8,
    /// The destination; the unspecified address with `dst_len` 0 is the default route.
    pub dst: IpAddr,
    pub dst_len: u8,
    pub tos: u8,
    /// The table id; ids above 255 go in `RTA_TABLE`.
    pub table: u32,
    /// `RTPROT_*`: who installed the route (delete requests may leave it `RTPROT_UNSPEC`).
    pub protocol: u8,
    /// `RT_SCOPE_*`.
    pub scope: u8,
    /// `RTN_*`: unicast, blackhole, unreachable, prohibit, throw…
    pub kind: u8,
    /// `rtm_flags` (`RTM_F_*`).
    pub flags: u32,
    /// `RTA_PREFSRC`.
    pub prefsrc: Option<IpAddr>,
    /// `RTA_GATEWAY` of a single-path route.
    pub gateway: Option<IpAddr>,
    /// `RTA_OIF` of a single-path route.
    pub oif: Option<u32>,
    /// `RTA_PRIORITY`.
    pub metric: Option<u32>,
    /// `RTA_MULTIPATH` with exactly two hops (keepalived's `via A or B`). When set, `gateway`
    /// and `oif` are not sent: each hop carries its own.
    pub multipath: Option<[NextHop; 2]>,
}

impl RouteRepr {
    /// A unicast route to `dst/dst_len` in the main table, universe scope, `RTPROT_BOOT`.
    pub fn new(dst: IpAddr, dst_len: u8) -> RouteRepr {
        RouteRepr {
            family: family_of(&dst),
            dst,
            dst_len,
            tos: 0,
            table: u32::from(RT_TABLE_MAIN),
            protocol: RTPROT_BOOT,
            scope: RT_SCOPE_UNIVERSE,
            kind: RTN_UNICAST,
            flags: 0,
            prefsrc: None,
            gateway: None,
            oif: None,
            metric: None,
            multipath: None,
        }
    }

    pub fn parse(packet: &Packet<&[u8]>) -> Result<RouteRepr, Error> {
        let payload = packet.payload_bytes();
        let b = payload.get(..HEADER_LEN).ok_or(Error::Truncated)?;
        let family = b[field::FAMILY];
        let mut repr = RouteRepr {
            family,
            dst: unspecified(family)?,
            dst_len: b[field::DST_LEN],
            tos: b[field::TOS],
            table: u32::from(b[field::TABLE]),
            protocol: b[field::PROTOCOL],
            scope: b[field::SCOPE],
            kind: b[field::TYPE],
            flags: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            prefsrc: None,
            gateway: None,
            oif: None,
            metric: None,
            multipath: None,
        };
        let attrs = payload.get(align(HEADER_LEN)..).unwrap_or(&[]);
        for attr in Attrs::new(attrs) {
            let attr = attr?;
            let kind = attr.kind();
            match kind {
                RTA_DST => repr.dst = parse_ip(family, kind, attr.bytes())?,
                RTA_PREFSRC => repr.prefsrc = Some(parse_ip(family, kind, attr.bytes())?),
                RTA_GATEWAY => repr.gateway = Some(parse_ip(family, kind, attr.bytes())?),
                RTA_OIF => repr.oif = Some(attr.as_u32()?),
                RTA_PRIORITY => repr.metric = Some(attr.as_u32()?),
                RTA_TABLE => repr.table = attr.as_u32()?,
                RTA_MULTIPATH => repr.multipath = Some(parse_multipath(family, attr.bytes())?),
                _ => {}
            }
        }
        Ok(repr)
    }

    fn check_family(&self, addr: &IpAddr) -> Result<(), Error> {
        if family_of(addr) == self.family {
            Ok(())
        } else {
            Err(Error::BadFamily(self.family))
        }
    }

    /// The value of `rtm_table` and, for ids that do not fit it, `RTA_TABLE`.
    fn table_fields(&self) -> (u8, Option<u32>) {
        match u8::try_from(self.table) {
            Ok(table) => (table, None),
            Err(_) => (RT_TABLE_UNSPEC, Some(self.table)),
        }
    }

    /// Appends rtmsg and attributes in iproute2's order (RTA_DST, RTA_GATEWAY, RTA_PREFSRC,
    /// RTA_PRIORITY, RTA_TABLE, RTA_OIF, RTA_MULTIPATH).
    pub fn emit(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        self.check_family(&self.dst)?;
        let (table, table_attr) = self.table_fields();
        let b = builder.reserve(HEADER_LEN)?;
        b[field::FAMILY] = self.family;
        b[field::DST_LEN] = self.dst_len;
        b[field::SRC_LEN] = 0;
        b[field::TOS] = self.tos;
        b[field::TABLE] = table;
        b[field::PROTOCOL] = self.protocol;
        b[field::SCOPE] = self.scope;
        b[field::TYPE] = self.kind;
        b[field::FLAGS].copy_from_slice(&self.flags.to_ne_bytes());
        // A default route has no RTA_DST, as `ip route add default` sends it.
        if self.dst_len > 0 {
            builder.attr_ip(RTA_DST, &self.dst)?;
        }
        let single_path = self.multipath.is_none();
        if let (Some(gateway), true) = (&self.gateway, single_path) {
            self.check_family(gateway)?;
            builder.attr_ip(RTA_GATEWAY, gateway)?;
        }
        if let Some(prefsrc) = &self.prefsrc {
            self.check_family(prefsrc)?;
            builder.attr_ip(RTA_PREFSRC, prefsrc)?;
        }
        if let Some(metric) = self.metric {
            builder.attr_u32(RTA_PRIORITY, metric)?;
        }
        if let Some(table) = table_attr {
            builder.attr_u32(RTA_TABLE, table)?;
        }
        if let (Some(oif), true) = (self.oif, single_path) {
            builder.attr_u32(RTA_OIF, oif)?;
        }
        if let Some(hops) = &self.multipath {
            let nest = builder.begin_nested(RTA_MULTIPATH)?;
            for hop in hops {
                self.emit_hop(builder, hop)?;
            }
            builder.end_nested(nest)?;
        }
        Ok(())
    }

    fn emit_hop(&self, builder: &mut MessageBuilder<'_>, hop: &NextHop) -> Result<(), Error> {
        let gateway_len = match hop.gateway {
            Some(gateway) => {
                self.check_family(&gateway)?;
                align(attr::HEADER_LEN + ip_len(&gateway))
            }
            None => 0,
        };
        let len = u16::try_from(NEXTHOP_LEN + gateway_len).map_err(|_| Error::TooLong)?;
        let b = builder.reserve(NEXTHOP_LEN)?;
        b[0..2].copy_from_slice(&len.to_ne_bytes());
        b[2] = hop.flags;
        b[3] = hop.hops;
        b[4..8].copy_from_slice(&hop.oif.to_ne_bytes());
        if let Some(gateway) = &hop.gateway {
            builder.attr_ip(RTA_GATEWAY, gateway)?;
        }
        Ok(())
    }

    /// Bytes [`RouteRepr::emit`] appends (the payload after the nlmsghdr).
    pub fn buffer_len(&self) -> usize {
        let ip = |a: &IpAddr| align(attr::HEADER_LEN + ip_len(a));
        let word = align(attr::HEADER_LEN + 4);
        let mut len = align(HEADER_LEN);
        if self.dst_len > 0 {
            len += ip(&self.dst);
        }
        if let Some(prefsrc) = &self.prefsrc {
            len += ip(prefsrc);
        }
        if self.metric.is_some() {
            len += word;
        }
        if self.table_fields().1.is_some() {
            len += word;
        }
        match &self.multipath {
            None => {
                len += self.gateway.as_ref().map_or(0, ip);
                len += self.oif.map_or(0, |_| word);
            }
            Some(hops) => {
                len += attr::HEADER_LEN;
                for hop in hops {
                    len += NEXTHOP_LEN + hop.gateway.as_ref().map_or(0, ip);
                }
            }
        }
        len
    }

    /// The same route as a delete request matching it: iproute2 sends `RT_SCOPE_NOWHERE` ("any
    /// scope") and lets the kernel match on destination, table, type, gateway, oif and metric.
    pub fn for_delete(&self) -> RouteRepr {
        RouteRepr {
            scope: RT_SCOPE_NOWHERE,
            protocol: RTPROT_UNSPEC,
            prefsrc: None,
            ..*self
        }
    }
}

/// Bytes of an address attribute's value.
fn ip_len(addr: &IpAddr) -> usize {
    match addr {
        IpAddr::V4(_) => 4,
        IpAddr::V6(_) => 16,
    }
}

fn parse_multipath(family: u8, mut bytes: &[u8]) -> Result<[NextHop; 2], Error> {
    let mut hops = [NextHop::default(); 2];
    let mut count = 0;
    while bytes.len() >= NEXTHOP_LEN {
        let len = usize::from(u16::from_ne_bytes([bytes[0], bytes[1]]));
        if len < NEXTHOP_LEN {
            return Err(Error::BadLength);
        }
        let this = bytes.get(..len).ok_or(Error::Truncated)?;
        let hop = hops.get_mut(count).ok_or(Error::Unsupported)?;
        hop.flags = this[2];
        hop.hops = this[3];
        hop.oif = u32::from_ne_bytes([this[4], this[5], this[6], this[7]]);
        if let Some(gateway) = Attrs::new(&this[NEXTHOP_LEN..]).find(RTA_GATEWAY)? {
            hop.gateway = Some(parse_ip(family, RTA_GATEWAY, gateway.bytes())?);
        }
        count += 1;
        bytes = bytes.get(align(len)..).unwrap_or(&[]);
    }
    if count == 2 {
        Ok(hops)
    } else {
        Err(Error::Unsupported)
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::super::header::{Header, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
    use super::super::vectors;
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    const ADD: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE;

    fn build(message_type: u16, flags: u16, repr: &RouteRepr) -> Vec<u8> {
        let mut buf = [0u8; 4096];
        let header = Header {
            message_type,
            flags,
            ..Header::default()
        };
        let mut b = MessageBuilder::new(&mut buf, header).unwrap();
        repr.emit(&mut b).unwrap();
        assert_eq!(b.len(), 16 + repr.buffer_len());
        b.finish().unwrap().to_vec()
    }

    fn assert_same_request(ours: &[u8], captured: &[u8]) {
        assert_eq!(ours[..8], captured[..8], "nlmsghdr length/type/flags");
        assert_eq!(ours[16..], captured[16..], "payload");
    }

    fn parse(bytes: &[u8]) -> RouteRepr {
        RouteRepr::parse(&Packet::new_checked(bytes).unwrap()).unwrap()
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn via_gateway() -> RouteRepr {
        let mut repr = RouteRepr::new(v4(10, 66, 0, 0), 16);
        repr.gateway = Some(v4(10, 55, 0, 254));
        repr.prefsrc = Some(v4(10, 55, 0, 1));
        repr.metric = Some(50);
        repr.oif = Some(3);
        repr.table = 100;
        repr.protocol = RTPROT_STATIC;
        repr
    }

    #[test]
    fn construct_unicast_via_gateway() {
        let repr = via_gateway();
        assert_same_request(&build(RTM_NEWROUTE, ADD, &repr), vectors::ROUTE_ADD);
        assert_eq!(parse(vectors::ROUTE_ADD), repr);
    }

    #[test]
    fn construct_blackhole_in_big_table() {
        let mut repr = RouteRepr::new(v4(10, 77, 0, 0), 16);
        repr.kind = RTN_BLACKHOLE;
        repr.table = 1000;
        assert_same_request(&build(RTM_NEWROUTE, ADD, &repr), vectors::ROUTE_BLACKHOLE);
        assert_eq!(parse(vectors::ROUTE_BLACKHOLE), repr);
    }

    #[test]
    fn construct_multipath() {
        let mut repr = RouteRepr::new(v4(10, 88, 0, 0), 16);
        let hop = |gateway| NextHop {
            gateway: Some(gateway),
            oif: 3,
            ..NextHop::default()
        };
        repr.multipath = Some([hop(v4(10, 55, 0, 253)), hop(v4(10, 55, 0, 254))]);
        // Ignored when multipath is set.
        repr.oif = Some(3);
        repr.gateway = Some(v4(10, 55, 0, 253));
        assert_same_request(&build(RTM_NEWROUTE, ADD, &repr), vectors::ROUTE_MULTIPATH);
        let parsed = parse(vectors::ROUTE_MULTIPATH);
        assert_eq!(parsed.multipath, repr.multipath);
        assert_eq!((parsed.gateway, parsed.oif), (None, None));
    }

    #[test]
    fn construct_delete() {
        let mut repr = via_gateway().for_delete();
        repr.kind = RTN_UNSPEC;
        repr.metric = None;
        let flags = NLM_F_REQUEST | NLM_F_ACK;
        assert_same_request(&build(RTM_DELROUTE, flags, &repr), vectors::ROUTE_DEL);
    }

    #[test]
    fn default_route_and_ipv6() {
        let mut repr = RouteRepr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0);
        repr.gateway = Some(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)));
        repr.oif = Some(2);
        let bytes = build(RTM_NEWROUTE, ADD, &repr);
        assert_eq!(bytes.len(), 16 + 12 + 20 + 8);
        assert_eq!(parse(&bytes), repr);
        repr.gateway = Some(v4(10, 0, 0, 1));
        let mut buf = [0u8; 128];
        let mut b = MessageBuilder::new(&mut buf, Header::default()).unwrap();
        assert_eq!(repr.emit(&mut b), Err(Error::BadFamily(10)));
    }

    #[test]
    fn malformed_routes_are_errors() {
        let mut bytes = vectors::ROUTE_MULTIPATH.to_vec();
        // First rtnexthop's length below its own size.
        bytes[40] = 4;
        assert_eq!(
            RouteRepr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Err(Error::BadLength)
        );
        let mut bytes = vectors::ROUTE_MULTIPATH.to_vec();
        // Declare three hops' worth: the walk runs out of room for the third.
        bytes[36] = 0x24 + 8;
        bytes[0] = 0x48 + 8;
        bytes.extend_from_slice(&[8, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(
            RouteRepr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Err(Error::Unsupported)
        );
        for len in 16..vectors::ROUTE_ADD.len() {
            let mut bytes = vectors::ROUTE_ADD[..len].to_vec();
            bytes[0] = len as u8;
            let _ = RouteRepr::parse(&Packet::new_checked(&bytes[..]).unwrap());
        }
        let mut bytes = vectors::ROUTE_ADD.to_vec();
        bytes[16] = 1;
        assert_eq!(
            RouteRepr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Err(Error::BadFamily(1))
        );
    }
}
