//! rtnetlink interface addresses: `struct ifaddrmsg` and the `IFA_*` attributes
//! (linux/if_addr.h) of RTM_NEWADDR, RTM_DELADDR and RTM_GETADDR.

use super::attr::Attrs;
use super::builder::MessageBuilder;
use super::header::{align, Packet};
use super::{attr, parse_ip, Error, AF_INET, AF_INET6};
use core::net::{IpAddr, Ipv4Addr};

pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;

/// `IFA_ADDRESS`: the prefix address; on a point-to-point link, the peer.
pub const IFA_ADDRESS: u16 = 1;
/// `IFA_LOCAL`: the interface's own address.
pub const IFA_LOCAL: u16 = 2;
/// `IFA_LABEL`: the IPv4 alias label (`eth0:1`).
pub const IFA_LABEL: u16 = 3;
pub const IFA_BROADCAST: u16 = 4;
pub const IFA_ANYCAST: u16 = 5;
/// `IFA_CACHEINFO`: `struct ifa_cacheinfo` with the preferred and valid lifetimes.
pub const IFA_CACHEINFO: u16 = 6;
pub const IFA_MULTICAST: u16 = 7;
/// `IFA_FLAGS`: the full 32-bit flags (the header has only the low 8).
pub const IFA_FLAGS: u16 = 8;
pub const IFA_RT_PRIORITY: u16 = 9;
pub const IFA_PROTO: u16 = 11;

/// `IFA_F_SECONDARY`: not the primary address of its subnet (IPv4).
pub const IFA_F_SECONDARY: u32 = 0x01;
pub const IFA_F_NODAD: u32 = 0x02;
pub const IFA_F_OPTIMISTIC: u32 = 0x04;
pub const IFA_F_DADFAILED: u32 = 0x08;
pub const IFA_F_HOMEADDRESS: u32 = 0x10;
pub const IFA_F_DEPRECATED: u32 = 0x20;
pub const IFA_F_TENTATIVE: u32 = 0x40;
pub const IFA_F_PERMANENT: u32 = 0x80;
pub const IFA_F_MANAGETEMPADDR: u32 = 0x100;
pub const IFA_F_NOPREFIXROUTE: u32 = 0x200;
pub const IFA_F_MCAUTOJOIN: u32 = 0x400;
pub const IFA_F_STABLE_PRIVACY: u32 = 0x800;

/// `INFINITY_LIFE_TIME`: a lifetime of `forever`.
pub const INFINITY_LIFE_TIME: u32 = u32::MAX;

/// Byte offsets of `struct ifaddrmsg`.
pub mod field {
    use core::ops::Range;
    pub const FAMILY: usize = 0;
    pub const PREFIX_LEN: usize = 1;
    pub const FLAGS: usize = 2;
    pub const SCOPE: usize = 3;
    pub const INDEX: Range<usize> = 4..8;
}

/// `sizeof(struct ifaddrmsg)`.
pub const HEADER_LEN: usize = 8;
/// `sizeof(struct ifa_cacheinfo)`.
pub const CACHE_INFO_LEN: usize = 16;

/// `struct ifaddrmsg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressHeader {
    pub family: u8,
    pub prefix_len: u8,
    /// The low 8 bits of the flags; `IFA_FLAGS` carries all 32 when present.
    pub flags: u8,
    pub scope: u8,
    pub index: u32,
}

impl AddressHeader {
    pub fn parse(bytes: &[u8]) -> Result<AddressHeader, Error> {
        let b = bytes.get(..HEADER_LEN).ok_or(Error::Truncated)?;
        Ok(AddressHeader {
            family: b[field::FAMILY],
            prefix_len: b[field::PREFIX_LEN],
            flags: b[field::FLAGS],
            scope: b[field::SCOPE],
            index: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
    }

    /// Appends the header to a message under construction.
    pub fn emit(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        let b = builder.reserve(HEADER_LEN)?;
        b[field::FAMILY] = self.family;
        b[field::PREFIX_LEN] = self.prefix_len;
        b[field::FLAGS] = self.flags;
        b[field::SCOPE] = self.scope;
        b[field::INDEX].copy_from_slice(&self.index.to_ne_bytes());
        Ok(())
    }
}

/// `struct ifa_cacheinfo`: lifetimes in seconds, timestamps in hundredths of a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheInfo {
    /// `ifa_prefered`.
    pub preferred: u32,
    /// `ifa_valid`.
    pub valid: u32,
    /// `cstamp`.
    pub created: u32,
    /// `tstamp`.
    pub updated: u32,
}

impl CacheInfo {
    /// The value to send for `preferred_lft n`: valid forever, timestamps left to the kernel.
    pub fn preferred_for(preferred: u32) -> CacheInfo {
        CacheInfo {
            preferred,
            valid: INFINITY_LIFE_TIME,
            created: 0,
            updated: 0,
        }
    }

    fn parse(value: &[u8]) -> Result<CacheInfo, Error> {
        let v: [u8; CACHE_INFO_LEN] = value
            .try_into()
            .map_err(|_| Error::BadAttribute(IFA_CACHEINFO))?;
        let word = |i: usize| u32::from_ne_bytes([v[i], v[i + 1], v[i + 2], v[i + 3]]);
        Ok(CacheInfo {
            preferred: word(0),
            valid: word(4),
            created: word(8),
            updated: word(12),
        })
    }

    fn to_bytes(self) -> [u8; CACHE_INFO_LEN] {
        let mut out = [0u8; CACHE_INFO_LEN];
        for (i, word) in [self.preferred, self.valid, self.created, self.updated]
            .into_iter()
            .enumerate()
        {
            out[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
        }
        out
    }
}

/// One interface address as rtnetlink describes it.
///
/// `local` (`IFA_LOCAL`) is the interface's own address; `address` (`IFA_ADDRESS`) is the same
/// address on a broadcast link and the peer on a point-to-point one. IPv6 replies carry only
/// `IFA_ADDRESS` unless there is a peer. [`AddressRepr::new`] fills both as `ip address add` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRepr<'a> {
    pub family: u8,
    pub prefix_len: u8,
    /// `IFA_F_*`.
    pub flags: u32,
    /// `RT_SCOPE_*`.
    pub scope: u8,
    pub index: u32,
    pub local: Option<IpAddr>,
    pub address: Option<IpAddr>,
    pub broadcast: Option<Ipv4Addr>,
    pub label: Option<&'a str>,
    pub cache_info: Option<CacheInfo>,
}

impl<'a> AddressRepr<'a> {
    /// `addr/prefix_len` on interface `index`, with `peer` for a point-to-point address.
    pub fn new(index: u32, addr: IpAddr, prefix_len: u8, peer: Option<IpAddr>) -> AddressRepr<'a> {
        AddressRepr {
            family: super::family_of(&addr),
            prefix_len,
            flags: 0,
            scope: 0,
            index,
            local: Some(addr),
            address: Some(peer.unwrap_or(addr)),
            broadcast: None,
            label: None,
            cache_info: None,
        }
    }

    /// The interface's own address: `IFA_LOCAL`, else `IFA_ADDRESS`.
    pub fn addr(&self) -> Option<IpAddr> {
        self.local.or(self.address)
    }

    /// The peer of a point-to-point address.
    pub fn peer(&self) -> Option<IpAddr> {
        match (self.local, self.address) {
            (Some(local), Some(address)) if local != address => Some(address),
            _ => None,
        }
    }

    /// Parses an RTM_NEWADDR / RTM_DELADDR message (request, reply or notification).
    pub fn parse(packet: &Packet<&'a [u8]>) -> Result<AddressRepr<'a>, Error> {
        let payload = packet.payload_bytes();
        let header = AddressHeader::parse(payload)?;
        let mut repr = AddressRepr {
            family: header.family,
            prefix_len: header.prefix_len,
            flags: u32::from(header.flags),
            scope: header.scope,
            index: header.index,
            local: None,
            address: None,
            broadcast: None,
            label: None,
            cache_info: None,
        };
        if header.family != AF_INET && header.family != AF_INET6 {
            return Err(Error::BadFamily(header.family));
        }
        let attrs = payload.get(align(HEADER_LEN)..).unwrap_or(&[]);
        for attr in Attrs::new(attrs) {
            let attr = attr?;
            let kind = attr.kind();
            match kind {
                IFA_ADDRESS => repr.address = Some(parse_ip(header.family, kind, attr.bytes())?),
                IFA_LOCAL => repr.local = Some(parse_ip(header.family, kind, attr.bytes())?),
                IFA_BROADCAST => match parse_ip(AF_INET, kind, attr.bytes())? {
                    IpAddr::V4(v4) => repr.broadcast = Some(v4),
                    IpAddr::V6(_) => return Err(Error::BadAttribute(kind)),
                },
                IFA_LABEL => repr.label = Some(attr.as_str()?),
                IFA_FLAGS => repr.flags = attr.as_u32()?,
                IFA_CACHEINFO => repr.cache_info = Some(CacheInfo::parse(attr.bytes())?),
                _ => {}
            }
        }
        Ok(repr)
    }

    fn check_family(&self, addr: &IpAddr) -> Result<(), Error> {
        if super::family_of(addr) == self.family {
            Ok(())
        } else {
            Err(Error::BadFamily(self.family))
        }
    }

    /// Appends ifaddrmsg and attributes, in iproute2's order (IFA_LOCAL, IFA_BROADCAST,
    /// IFA_LABEL, IFA_FLAGS, IFA_ADDRESS, IFA_CACHEINFO) so requests compare byte for byte.
    pub fn emit(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        // Flags that fit the header byte go there (every kernel reads it); wider ones need
        // IFA_FLAGS, which then overrides the header.
        let (header_flags, wide_flags) = match u8::try_from(self.flags) {
            Ok(narrow) => (narrow, None),
            Err(_) => (0, Some(self.flags)),
        };
        AddressHeader {
            family: self.family,
            prefix_len: self.prefix_len,
            flags: header_flags,
            scope: self.scope,
            index: self.index,
        }
        .emit(builder)?;
        if let Some(local) = &self.local {
            self.check_family(local)?;
            builder.attr_ip(IFA_LOCAL, local)?;
        }
        if let Some(broadcast) = self.broadcast {
            builder.attr(IFA_BROADCAST, &broadcast.octets())?;
        }
        if let Some(label) = self.label {
            builder.attr_str(IFA_LABEL, label)?;
        }
        if let Some(flags) = wide_flags {
            builder.attr_u32(IFA_FLAGS, flags)?;
        }
        if let Some(address) = &self.address {
            self.check_family(address)?;
            builder.attr_ip(IFA_ADDRESS, address)?;
        }
        if let Some(cache_info) = self.cache_info {
            builder.attr(IFA_CACHEINFO, &cache_info.to_bytes())?;
        }
        Ok(())
    }

    /// Bytes [`AddressRepr::emit`] appends (the payload after the nlmsghdr).
    pub fn buffer_len(&self) -> usize {
        let ip_len = |a: &Option<IpAddr>| match a {
            Some(IpAddr::V4(_)) => align(attr::HEADER_LEN + 4),
            Some(IpAddr::V6(_)) => align(attr::HEADER_LEN + 16),
            None => 0,
        };
        let mut len = align(HEADER_LEN) + ip_len(&self.local) + ip_len(&self.address);
        if self.broadcast.is_some() {
            len += align(attr::HEADER_LEN + 4);
        }
        if let Some(label) = self.label {
            len += align(attr::HEADER_LEN + label.len() + 1);
        }
        if self.flags > 0xff {
            len += align(attr::HEADER_LEN + 4);
        }
        if self.cache_info.is_some() {
            len += align(attr::HEADER_LEN + CACHE_INFO_LEN);
        }
        len
    }

    /// The same address stripped to what identifies it for RTM_DELADDR: the kernel matches
    /// IFA_LOCAL, the prefix length, IFA_ADDRESS (the peer) and IFA_LABEL if given.
    pub fn for_delete(&self) -> AddressRepr<'a> {
        AddressRepr {
            flags: 0,
            scope: 0,
            broadcast: None,
            cache_info: None,
            ..*self
        }
    }
}

/// Appends the ifaddrmsg of an RTM_GETADDR dump for `family` (`AF_UNSPEC` for all). `index` is
/// honoured only by kernels with strict checking on; callers filter the replies themselves.
pub fn emit_dump_request(
    builder: &mut MessageBuilder<'_>,
    family: u8,
    index: u32,
) -> Result<(), Error> {
    AddressHeader {
        family,
        index,
        ..AddressHeader::default()
    }
    .emit(builder)
}

/// The `brd +` address: `addr` with all host bits set.
pub fn broadcast_for(addr: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    let host_mask = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
    Ipv4Addr::from(u32::from(addr) | host_mask)
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::super::header::{
        Header, Messages, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
    };
    use super::super::route::{RT_SCOPE_LINK, RT_SCOPE_UNIVERSE};
    use super::super::vectors;
    use super::*;
    use core::net::Ipv6Addr;

    const ADD: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE;

    fn build(message_type: u16, flags: u16, repr: &AddressRepr<'_>) -> Vec<u8> {
        let mut buf = [0u8; 4096];
        let header = Header {
            message_type,
            flags,
            sequence_number: 0,
            port_id: 0,
        };
        let mut b = MessageBuilder::new(&mut buf, header).unwrap();
        repr.emit(&mut b).unwrap();
        assert_eq!(b.len(), 16 + repr.buffer_len());
        b.finish().unwrap().to_vec()
    }

    /// Compares a built request with a captured one, ignoring the sequence number.
    fn assert_same_request(ours: &[u8], captured: &[u8]) {
        assert_eq!(ours[..8], captured[..8], "nlmsghdr length/type/flags");
        assert_eq!(ours[16..], captured[16..], "payload");
    }

    fn parse(bytes: &[u8]) -> AddressRepr<'_> {
        AddressRepr::parse(&Packet::new_checked(bytes).unwrap()).unwrap()
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn construct_add_with_label() {
        let mut repr = AddressRepr::new(3, v4(10, 55, 0, 1), 24, None);
        repr.label = Some("dummy0:1");
        assert_same_request(&build(RTM_NEWADDR, ADD, &repr), vectors::ADDR_ADD_LABEL);
        assert_eq!(parse(vectors::ADDR_ADD_LABEL), repr);
    }

    #[test]
    fn construct_add_with_broadcast_and_scope() {
        let mut repr = AddressRepr::new(3, v4(10, 55, 0, 2), 32, None);
        repr.broadcast = Some(Ipv4Addr::new(10, 55, 0, 255));
        repr.scope = RT_SCOPE_LINK;
        assert_same_request(&build(RTM_NEWADDR, ADD, &repr), vectors::ADDR_ADD_BRD);
        assert_eq!(parse(vectors::ADDR_ADD_BRD), repr);
    }

    #[test]
    fn construct_add_with_peer() {
        let repr = AddressRepr::new(3, v4(10, 55, 1, 1), 32, Some(v4(10, 55, 1, 2)));
        assert_same_request(&build(RTM_NEWADDR, ADD, &repr), vectors::ADDR_ADD_PEER);
        let parsed = parse(vectors::ADDR_ADD_PEER);
        assert_eq!(parsed.addr(), Some(v4(10, 55, 1, 1)));
        assert_eq!(parsed.peer(), Some(v4(10, 55, 1, 2)));
    }

    #[test]
    fn construct_add_v6_with_flags_and_lifetime() {
        let addr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let mut repr = AddressRepr::new(3, addr, 64, None);
        repr.flags = IFA_F_NODAD | IFA_F_HOMEADDRESS | IFA_F_MANAGETEMPADDR | IFA_F_NOPREFIXROUTE;
        repr.cache_info = Some(CacheInfo::preferred_for(100));
        assert_same_request(&build(RTM_NEWADDR, ADD, &repr), vectors::ADDR_ADD_V6);
        assert_eq!(parse(vectors::ADDR_ADD_V6), repr);
    }

    #[test]
    fn construct_delete() {
        let mut repr = AddressRepr::new(3, v4(10, 55, 0, 1), 24, None);
        repr.scope = RT_SCOPE_UNIVERSE;
        repr.cache_info = Some(CacheInfo::preferred_for(0));
        let flags = NLM_F_REQUEST | NLM_F_ACK;
        assert_same_request(
            &build(RTM_DELADDR, flags, &repr.for_delete()),
            vectors::ADDR_DEL,
        );
    }

    #[test]
    fn construct_dump_request() {
        let mut buf = [0u8; 64];
        let header = Header {
            message_type: RTM_GETADDR,
            flags: NLM_F_REQUEST | NLM_F_DUMP,
            ..Header::default()
        };
        let mut b = MessageBuilder::new(&mut buf, header).unwrap();
        emit_dump_request(&mut b, AF_INET, 3).unwrap();
        assert_same_request(b.finish().unwrap(), vectors::ADDR_DUMP_REQUEST);
    }

    #[test]
    fn parse_dump_reply() {
        let reprs: Vec<AddressRepr<'_>> = Messages::new(vectors::ADDR_DUMP)
            .map(|m| AddressRepr::parse(&m.unwrap()).unwrap())
            .collect();
        assert_eq!(reprs.len(), 2);
        assert_eq!(reprs[0].addr(), Some(v4(10, 55, 0, 1)));
        assert_eq!(reprs[0].prefix_len, 24);
        assert_eq!(reprs[0].label, Some("dummy0:1"));
        assert_eq!(reprs[0].flags, IFA_F_PERMANENT);
        assert_eq!(reprs[0].cache_info.unwrap().valid, INFINITY_LIFE_TIME);
        assert_eq!(reprs[1].addr(), Some(v4(10, 55, 1, 1)));
        assert_eq!(reprs[1].peer(), Some(v4(10, 55, 1, 2)));
        assert_eq!(reprs[1].label, Some("dummy0"));
    }

    #[test]
    fn parse_notifications() {
        let added = parse(vectors::ADDR_NOTIFY);
        assert_eq!(added.addr(), Some(v4(10, 55, 0, 7)));
        assert_eq!(added.flags, IFA_F_PERMANENT | IFA_F_SECONDARY);
        assert_eq!(added.index, 3);
        let removed = parse(vectors::ADDR_DEL_NOTIFY_V6);
        assert_eq!(removed.family, AF_INET6);
        assert_eq!(removed.index, 2);
        assert_eq!(removed.scope, RT_SCOPE_LINK);
        assert_eq!(removed.local, None);
        match removed.addr() {
            Some(IpAddr::V6(v6)) => assert_eq!(v6.segments()[0], 0xfe80),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_replies_are_errors() {
        let mut bytes = vectors::ADDR_NOTIFY.to_vec();
        // IFA_ADDRESS claims 5 bytes: wrong size for IPv4.
        bytes[24] = 9;
        assert_eq!(
            AddressRepr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Err(Error::BadAttribute(IFA_ADDRESS))
        );
        let mut bytes = vectors::ADDR_NOTIFY.to_vec();
        bytes[16] = 7;
        assert_eq!(
            AddressRepr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Err(Error::BadFamily(7))
        );
        for len in 16..vectors::ADDR_NOTIFY.len() {
            let mut bytes = vectors::ADDR_NOTIFY[..len].to_vec();
            bytes[0] = len as u8;
            // Every prefix either parses (cut between attributes) or is an error; never a panic.
            let _ = AddressRepr::parse(&Packet::new_checked(&bytes[..]).unwrap());
        }
    }

    #[test]
    fn mismatched_family_is_an_emit_error() {
        let mut repr = AddressRepr::new(3, v4(10, 0, 0, 1), 24, None);
        repr.address = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let mut buf = [0u8; 128];
        let mut b = MessageBuilder::new(&mut buf, Header::default()).unwrap();
        assert_eq!(repr.emit(&mut b), Err(Error::BadFamily(AF_INET)));
    }

    #[test]
    fn broadcast() {
        let a = Ipv4Addr::new(10, 55, 0, 1);
        assert_eq!(broadcast_for(a, 24), Ipv4Addr::new(10, 55, 0, 255));
        assert_eq!(broadcast_for(a, 32), a);
        assert_eq!(broadcast_for(a, 0), Ipv4Addr::BROADCAST);
    }
}
