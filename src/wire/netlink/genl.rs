//! Generic netlink (linux/genetlink.h): the 4-byte `genlmsghdr` after the nlmsghdr, and the
//! controller family's CTRL_CMD_GETFAMILY, which turns a family name ("IPVS") into the message
//! type its requests use. Family clients build on [`super::builder`] and [`super::attr`].

use super::attr::Attrs;
use super::builder::MessageBuilder;
use super::header::{align, Packet};
use super::Error;

/// `GENL_ID_CTRL`: the nlmsg_type of the controller family.
pub const GENL_ID_CTRL: u16 = 0x10;

pub const CTRL_CMD_NEWFAMILY: u8 = 1;
pub const CTRL_CMD_GETFAMILY: u8 = 3;

pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;
pub const CTRL_ATTR_VERSION: u16 = 3;
pub const CTRL_ATTR_HDRSIZE: u16 = 4;
pub const CTRL_ATTR_MAXATTR: u16 = 5;
pub const CTRL_ATTR_OPS: u16 = 6;
pub const CTRL_ATTR_MCAST_GROUPS: u16 = 7;

pub const CTRL_ATTR_MCAST_GRP_NAME: u16 = 1;
pub const CTRL_ATTR_MCAST_GRP_ID: u16 = 2;

/// Byte offsets of `struct genlmsghdr`.
pub mod field {
    use core::ops::Range;
    pub const CMD: usize = 0;
    pub const VERSION: usize = 1;
    pub const RESERVED: Range<usize> = 2..4;
}

/// `GENL_HDRLEN`.
pub const HEADER_LEN: usize = 4;

/// `struct genlmsghdr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GenlHeader {
    pub cmd: u8,
    pub version: u8,
}

impl GenlHeader {
    pub fn parse(bytes: &[u8]) -> Result<GenlHeader, Error> {
        let b = bytes.get(..HEADER_LEN).ok_or(Error::Truncated)?;
        Ok(GenlHeader {
            cmd: b[field::CMD],
            version: b[field::VERSION],
        })
    }

    pub fn emit(&self, builder: &mut MessageBuilder<'_>) -> Result<(), Error> {
        let b = builder.reserve(HEADER_LEN)?;
        b[field::CMD] = self.cmd;
        b[field::VERSION] = self.version;
        Ok(())
    }
}

/// The attributes after a generic netlink message's `genlmsghdr` (and `hdr_size` more bytes of
/// family header, 0 for most families).
pub fn attributes<'a>(packet: &Packet<&'a [u8]>, hdr_size: usize) -> Result<Attrs<'a>, Error> {
    let start = align(HEADER_LEN) + align(hdr_size);
    let payload = packet.payload_bytes();
    if payload.len() < start {
        return Err(Error::Truncated);
    }
    Ok(Attrs::new(&payload[start..]))
}

/// Appends the body of CTRL_CMD_GETFAMILY for `name`; send it with nlmsg_type `GENL_ID_CTRL`.
pub fn emit_get_family(builder: &mut MessageBuilder<'_>, name: &str) -> Result<(), Error> {
    GenlHeader {
        cmd: CTRL_CMD_GETFAMILY,
        version: 0,
    }
    .emit(builder)?;
    builder.attr_str(CTRL_ATTR_FAMILY_NAME, name)
}

/// The controller's description of a family (CTRL_CMD_NEWFAMILY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyRepr<'a> {
    /// The nlmsg_type to address the family with.
    pub id: u16,
    pub name: &'a str,
    pub version: u32,
    pub hdr_size: u32,
    pub max_attr: u32,
    /// The raw nested `CTRL_ATTR_MCAST_GROUPS`; see [`FamilyRepr::mcast_group`].
    pub mcast_groups: Option<&'a [u8]>,
}

impl<'a> FamilyRepr<'a> {
    pub fn parse(packet: &Packet<&'a [u8]>) -> Result<FamilyRepr<'a>, Error> {
        let header = GenlHeader::parse(packet.payload_bytes())?;
        if header.cmd != CTRL_CMD_NEWFAMILY {
            return Err(Error::Unsupported);
        }
        let mut id = None;
        let mut name = None;
        let mut repr = FamilyRepr {
            id: 0,
            name: "",
            version: 0,
            hdr_size: 0,
            max_attr: 0,
            mcast_groups: None,
        };
        for attr in attributes(packet, 0)? {
            let attr = attr?;
            match attr.kind() {
                CTRL_ATTR_FAMILY_ID => id = Some(attr.as_u16()?),
                CTRL_ATTR_FAMILY_NAME => name = Some(attr.as_str()?),
                CTRL_ATTR_VERSION => repr.version = attr.as_u32()?,
                CTRL_ATTR_HDRSIZE => repr.hdr_size = attr.as_u32()?,
                CTRL_ATTR_MAXATTR => repr.max_attr = attr.as_u32()?,
                CTRL_ATTR_MCAST_GROUPS => repr.mcast_groups = Some(attr.bytes()),
                _ => {}
            }
        }
        repr.id = id.ok_or(Error::BadAttribute(CTRL_ATTR_FAMILY_ID))?;
        repr.name = name.ok_or(Error::BadAttribute(CTRL_ATTR_FAMILY_NAME))?;
        Ok(repr)
    }

    /// The id of the multicast group called `name`, if the family has one.
    pub fn mcast_group(&self, name: &str) -> Result<Option<u32>, Error> {
        for group in Attrs::new(self.mcast_groups.unwrap_or(&[])) {
            let group = group?;
            let mut group_name = None;
            let mut group_id = None;
            for attr in group.nested() {
                let attr = attr?;
                match attr.kind() {
                    CTRL_ATTR_MCAST_GRP_NAME => group_name = Some(attr.as_str()?),
                    CTRL_ATTR_MCAST_GRP_ID => group_id = Some(attr.as_u32()?),
                    _ => {}
                }
            }
            if group_name == Some(name) {
                return Ok(group_id);
            }
        }
        Ok(None)
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::super::header::{Header, NLM_F_ACK, NLM_F_REQUEST};
    use super::super::vectors;
    use super::*;

    #[test]
    fn construct_get_family() {
        let mut buf = [0u8; 64];
        let header = Header {
            message_type: GENL_ID_CTRL,
            flags: NLM_F_REQUEST | NLM_F_ACK,
            ..Header::default()
        };
        let mut b = MessageBuilder::new(&mut buf, header).unwrap();
        emit_get_family(&mut b, "nlctrl").unwrap();
        let ours = b.finish().unwrap();
        assert_eq!(ours[..8], vectors::GENL_GETFAMILY[..8]);
        assert_eq!(ours[16..], vectors::GENL_GETFAMILY[16..]);
    }

    #[test]
    fn parse_new_family() {
        let packet = Packet::new_checked(vectors::GENL_NEWFAMILY).unwrap();
        let family = FamilyRepr::parse(&packet).unwrap();
        assert_eq!(family.id, GENL_ID_CTRL);
        assert_eq!(family.name, "nlctrl");
        assert_eq!(family.version, 2);
        assert_eq!(family.hdr_size, 0);
        assert_eq!(family.mcast_group("notify"), Ok(Some(0x10)));
        assert_eq!(family.mcast_group("other"), Ok(None));
    }

    #[test]
    fn malformed_family_is_an_error() {
        for len in 16..vectors::GENL_NEWFAMILY.len() {
            let mut bytes = vectors::GENL_NEWFAMILY[..len].to_vec();
            bytes[0] = len as u8;
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            if let Ok(family) = FamilyRepr::parse(&packet) {
                let _ = family.mcast_group("notify");
            }
        }
        let mut bytes = vectors::GENL_NEWFAMILY.to_vec();
        // CTRL_ATTR_FAMILY_ID (at 32) claims 1 byte.
        bytes[32] = 5;
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            FamilyRepr::parse(&packet),
            Err(Error::BadAttribute(CTRL_ATTR_FAMILY_ID))
        );
    }
}
