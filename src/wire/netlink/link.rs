//! rtnetlink links: `struct ifinfomsg`, the `IFLA_*` attributes (linux/if_link.h,
//! linux/rtnetlink.h) of RTM_NEWLINK / RTM_DELLINK / RTM_GETLINK, and the macvlan link info
//! keepalived's `use_vmac` creates.

use super::attr::Attrs;
use super::builder::MessageBuilder;
use super::header::{align, Packet};
use super::{attr, Error};

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_SETLINK: u16 = 19;

/// `IFLA_ADDRESS`: the hardware (MAC) address.
pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_BROADCAST: u16 = 2;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_MTU: u16 = 4;
/// `IFLA_LINK`: the lower device (a macvlan's parent, a veth's peer).
pub const IFLA_LINK: u16 = 5;
pub const IFLA_MASTER: u16 = 10;
pub const IFLA_OPERSTATE: u16 = 16;
pub const IFLA_LINKINFO: u16 = 18;
/// `IFLA_EXT_MASK`: `RTEXT_FILTER_*`, what to leave out of replies.
pub const IFLA_EXT_MASK: u16 = 29;
pub const IFLA_CARRIER: u16 = 33;

pub const IFLA_INFO_KIND: u16 = 1;
pub const IFLA_INFO_DATA: u16 = 2;

pub const IFLA_MACVLAN_MODE: u16 = 1;
pub const IFLA_MACVLAN_FLAGS: u16 = 2;

/// `MACVLAN_MODE_PRIVATE`: no traffic between macvlans of one parent; keepalived's VMAC mode.
pub const MACVLAN_MODE_PRIVATE: u32 = 1;
pub const MACVLAN_MODE_VEPA: u32 = 2;
pub const MACVLAN_MODE_BRIDGE: u32 = 4;
pub const MACVLAN_MODE_PASSTHRU: u32 = 8;
pub const MACVLAN_MODE_SOURCE: u32 = 16;

pub const RTEXT_FILTER_VF: u32 = 1;
/// `RTEXT_FILTER_SKIP_STATS`: leave the counters out; keeps link replies small.
pub const RTEXT_FILTER_SKIP_STATS: u32 = 8;

/// `IFF_UP`: administratively up.
pub const IFF_UP: u32 = 0x1;
pub const IFF_BROADCAST: u32 = 0x2;
pub const IFF_LOOPBACK: u32 = 0x8;
pub const IFF_POINTOPOINT: u32 = 0x10;
/// `IFF_RUNNING`: operationally up (RFC 2863 operstate up).
pub const IFF_RUNNING: u32 = 0x40;
pub const IFF_NOARP: u32 = 0x80;
pub const IFF_PROMISC: u32 = 0x100;
pub const IFF_MULTICAST: u32 = 0x1000;
/// `IFF_LOWER_UP`: the driver signals carrier.
pub const IFF_LOWER_UP: u32 = 0x1_0000;
pub const IFF_DORMANT: u32 = 0x2_0000;

pub const ARPHRD_ETHER: u16 = 1;
pub const ARPHRD_LOOPBACK: u16 = 772;

/// Byte offsets of `struct ifinfomsg`.
pub mod field {
    use core::ops::Range;
    pub const FAMILY: usize = 0;
    pub const TYPE: Range<usize> = 2..4;
    pub const INDEX: Range<usize> = 4..8;
    pub const FLAGS: Range<usize> = 8..12;
    pub const CHANGE: Range<usize> = 12..16;
}

/// `sizeof(struct ifinfomsg)`.
pub const HEADER_LEN: usize = 16;

/// `struct ifinfomsg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkHeader {
    pub family: u8,
    /// `ifi_type`: `ARPHRD_*`.
    pub link_type: u16,
    /// `ifi_index`; 0 in a request that names the link by `IFLA_IFNAME` or creates one.
    pub index: u32,
    /// `ifi_flags`: `IFF_*`.
    pub flags: u32,
    /// `ifi_change`: which `flags` bits a request changes.
    pub change: u32,
}

impl LinkHeader {
    pub fn parse(bytes: &[u8]) -> Result<LinkHeader, Error> {
        let b = bytes.get(..HEADER_LEN).ok_or(Error::Truncated)?;
        let word = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Ok(LinkHeader {
            family: b[field::FAMILY],
            link_type: u16::from_ne_bytes([b[2], b[3]]),
            index: word(4),
            flags: word(8),
            change: word(12),
        })
    }

    pub fn emit(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        let b = builder.reserve(HEADER_LEN)?;
        b[field::FAMILY] = self.family;
        b[field::TYPE].copy_from_slice(&self.link_type.to_ne_bytes());
        b[field::INDEX].copy_from_slice(&self.index.to_ne_bytes());
        b[field::FLAGS].copy_from_slice(&self.flags.to_ne_bytes());
        b[field::CHANGE].copy_from_slice(&self.change.to_ne_bytes());
        Ok(())
    }
}

/// A link as RTM_NEWLINK describes it (reply, notification, or create request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkRepr<'a> {
    pub header: LinkHeader,
    pub name: Option<&'a str>,
    /// `IFLA_ADDRESS`: 6 bytes on Ethernet, other lengths on tunnels and the like.
    pub address: Option<&'a [u8]>,
    pub mtu: Option<u32>,
    /// `IFLA_LINK`.
    pub link: Option<u32>,
    pub master: Option<u32>,
    /// `IFLA_OPERSTATE`: `IF_OPER_*`.
    pub operstate: Option<u8>,
    /// `IFLA_INFO_KIND`: "macvlan", "veth", "bridge"…; `None` for physical devices.
    pub kind: Option<&'a str>,
    /// `IFLA_MACVLAN_MODE` when `kind` is "macvlan".
    pub macvlan_mode: Option<u32>,
    /// `IFLA_EXT_MASK` (requests only).
    pub ext_mask: Option<u32>,
}

impl<'a> LinkRepr<'a> {
    pub fn index(&self) -> u32 {
        self.header.index
    }

    pub fn is_up(&self) -> bool {
        self.header.flags & IFF_UP != 0
    }

    pub fn is_running(&self) -> bool {
        self.header.flags & IFF_RUNNING != 0
    }

    pub fn is_lower_up(&self) -> bool {
        self.header.flags & IFF_LOWER_UP != 0
    }

    /// The hardware address when it is a 6-byte MAC.
    pub fn mac(&self) -> Option<[u8; 6]> {
        self.address.and_then(|a| a.try_into().ok())
    }

    pub fn parse(packet: &Packet<&'a [u8]>) -> Result<LinkRepr<'a>, Error> {
        let payload = packet.payload_bytes();
        let mut repr = LinkRepr {
            header: LinkHeader::parse(payload)?,
            ..LinkRepr::default()
        };
        let mut info_data = None;
        let attrs = payload.get(align(HEADER_LEN)..).unwrap_or(&[]);
        for attr in Attrs::new(attrs) {
            let attr = attr?;
            match attr.kind() {
                IFLA_IFNAME => repr.name = Some(attr.as_str()?),
                IFLA_ADDRESS => repr.address = Some(attr.bytes()),
                IFLA_MTU => repr.mtu = Some(attr.as_u32()?),
                IFLA_LINK => repr.link = Some(attr.as_u32()?),
                IFLA_MASTER => repr.master = Some(attr.as_u32()?),
                IFLA_OPERSTATE => repr.operstate = Some(attr.as_u8()?),
                IFLA_EXT_MASK => repr.ext_mask = Some(attr.as_u32()?),
                IFLA_LINKINFO => {
                    for info in attr.nested() {
                        let info = info?;
                        match info.kind() {
                            IFLA_INFO_KIND => repr.kind = Some(info.as_str()?),
                            IFLA_INFO_DATA => info_data = Some(info),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        // IFLA_INFO_DATA's attribute numbers mean something different for every kind.
        if let (Some("macvlan"), Some(data)) = (repr.kind, info_data) {
            if let Some(mode) = data.nested().find(IFLA_MACVLAN_MODE)? {
                repr.macvlan_mode = Some(mode.as_u32()?);
            }
        }
        Ok(repr)
    }

    /// Appends ifinfomsg and attributes in iproute2's order (IFLA_EXT_MASK, IFLA_ADDRESS,
    /// IFLA_LINK, IFLA_IFNAME, IFLA_MTU, IFLA_LINKINFO).
    pub fn emit(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        self.header.emit(builder)?;
        if let Some(mask) = self.ext_mask {
            builder.attr_u32(IFLA_EXT_MASK, mask)?;
        }
        if let Some(address) = self.address {
            builder.attr(IFLA_ADDRESS, address)?;
        }
        if let Some(link) = self.link {
            builder.attr_u32(IFLA_LINK, link)?;
        }
        if let Some(name) = self.name {
            builder.attr_str(IFLA_IFNAME, name)?;
        }
        if let Some(mtu) = self.mtu {
            builder.attr_u32(IFLA_MTU, mtu)?;
        }
        if let Some(kind) = self.kind {
            let info = builder.begin_nested(IFLA_LINKINFO)?;
            // NLA_STRING without the terminator, as iproute2 sends it; the kernel takes both.
            builder.attr(IFLA_INFO_KIND, kind.as_bytes())?;
            if let Some(mode) = self.macvlan_mode {
                let data = builder.begin_nested(IFLA_INFO_DATA)?;
                builder.attr_u32(IFLA_MACVLAN_MODE, mode)?;
                builder.end_nested(data)?;
            }
            builder.end_nested(info)?;
        }
        Ok(())
    }

    /// Bytes [`LinkRepr::emit`] appends (the payload after the nlmsghdr).
    pub fn buffer_len(&self) -> usize {
        let word = align(attr::HEADER_LEN + 4);
        let mut len = HEADER_LEN;
        len += self.ext_mask.map_or(0, |_| word);
        len += self
            .address
            .map_or(0, |a| align(attr::HEADER_LEN + a.len()));
        len += self.link.map_or(0, |_| word);
        len += self
            .name
            .map_or(0, |n| align(attr::HEADER_LEN + n.len() + 1));
        len += self.mtu.map_or(0, |_| word);
        if let Some(kind) = self.kind {
            len += attr::HEADER_LEN + align(attr::HEADER_LEN + kind.len());
            len += self.macvlan_mode.map_or(0, |_| attr::HEADER_LEN + word);
        }
        len
    }

    /// A create request for a macvlan named `name` on `parent` with hardware address `mac`.
    pub fn macvlan(parent: u32, name: &'a str, mac: &'a [u8; 6], mode: u32) -> LinkRepr<'a> {
        LinkRepr {
            name: Some(name),
            address: Some(mac),
            link: Some(parent),
            kind: Some("macvlan"),
            macvlan_mode: Some(mode),
            ..LinkRepr::default()
        }
    }

    /// A request that sets (`up`) or clears `IFF_UP` on link `index`.
    pub fn set_up(index: u32, up: bool) -> LinkRepr<'a> {
        LinkRepr {
            header: LinkHeader {
                index,
                flags: if up { IFF_UP } else { 0 },
                change: IFF_UP,
                ..LinkHeader::default()
            },
            ..LinkRepr::default()
        }
    }
}

/// The virtual router MAC address of RFC 5798 §7.3: 00-00-5E-00-01-{VRID} for IPv4,
/// 00-00-5E-00-02-{VRID} for IPv6.
pub fn virtual_router_mac(vrid: u8, ipv6: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, vrid]
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::super::header::{Header, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
    use super::super::vectors;
    use super::*;

    fn build(message_type: u16, flags: u16, repr: &LinkRepr<'_>) -> Vec<u8> {
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

    fn parse(bytes: &[u8]) -> LinkRepr<'_> {
        LinkRepr::parse(&Packet::new_checked(bytes).unwrap()).unwrap()
    }

    #[test]
    fn construct_macvlan() {
        let mac = virtual_router_mac(51, false);
        assert_eq!(mac, [0, 0, 0x5e, 0, 1, 0x33]);
        let repr = LinkRepr::macvlan(3, "vrrp.51", &mac, MACVLAN_MODE_PRIVATE);
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE;
        assert_same_request(&build(RTM_NEWLINK, flags, &repr), vectors::MACVLAN_ADD);
        assert_eq!(parse(vectors::MACVLAN_ADD), repr);
    }

    #[test]
    fn construct_set_up_and_delete() {
        let flags = NLM_F_REQUEST | NLM_F_ACK;
        let up = LinkRepr::set_up(5, true);
        assert_same_request(&build(RTM_NEWLINK, flags, &up), vectors::LINK_UP);
        let del = LinkRepr {
            header: LinkHeader {
                index: 5,
                ..LinkHeader::default()
            },
            ..LinkRepr::default()
        };
        assert_same_request(&build(RTM_DELLINK, flags, &del), vectors::LINK_DEL);
    }

    #[test]
    fn construct_getlink_by_name() {
        let repr = LinkRepr {
            name: Some("dummy0"),
            ext_mask: Some(RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS),
            ..LinkRepr::default()
        };
        assert_same_request(
            &build(RTM_GETLINK, NLM_F_REQUEST, &repr),
            vectors::GETLINK_BY_NAME,
        );
    }

    #[test]
    fn parse_getlink_reply() {
        let link = parse(vectors::GETLINK_REPLY);
        assert_eq!(link.index(), 3);
        assert_eq!(link.name, Some("dummy0"));
        assert_eq!(link.header.link_type, ARPHRD_ETHER);
        assert!(link.is_up() && link.is_running() && link.is_lower_up());
        assert_eq!(link.mac(), Some([0xd2, 0xfb, 0x81, 0xaf, 0x5b, 0x3e]));
        assert_eq!(link.mtu, Some(1500));
        assert_eq!(link.kind, Some("veth"));
        assert_eq!(link.link, Some(2));
        assert_eq!(link.operstate, Some(6));
        assert_eq!(link.macvlan_mode, None);
    }

    #[test]
    fn parse_link_down_notification() {
        let link = parse(vectors::LINK_NOTIFY_DOWN);
        assert_eq!(link.index(), 2);
        assert_eq!(link.name, Some("peer0"));
        assert!(!link.is_up() && !link.is_running());
        assert_eq!(link.header.change, IFF_UP);
    }

    #[test]
    fn malformed_links_are_errors() {
        let mut bytes = vectors::GETLINK_REPLY.to_vec();
        // IFLA_MTU (at 76) claims 5 bytes.
        assert_eq!(&bytes[76..80], &[8, 0, 4, 0]);
        bytes[76] = 9;
        assert_eq!(
            LinkRepr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Err(Error::BadAttribute(IFLA_MTU))
        );
        for len in (16..vectors::MACVLAN_ADD.len()).chain([200, 1000]) {
            let mut bytes = vectors::GETLINK_REPLY[..len].to_vec();
            bytes[..4].copy_from_slice(&(len as u32).to_ne_bytes());
            let _ = LinkRepr::parse(&Packet::new_checked(&bytes[..]).unwrap());
        }
        let mut bytes = vectors::MACVLAN_ADD.to_vec();
        // IFLA_LINKINFO's nested run claims more than it holds.
        bytes[68] = 0x40;
        assert!(LinkRepr::parse(&Packet::new_checked(&bytes[..]).unwrap()).is_err());
    }
}
