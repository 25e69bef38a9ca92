//! Writes one netlink request (nlmsghdr, fixed family header, attributes, nests) into a
//! caller-provided buffer, without allocation; every step checks the remaining room.

use super::attr::{self, NLA_F_NESTED};
use super::header::{self, align, Header, Packet};
use super::Error;
use core::net::IpAddr;

/// A message under construction in `buf[..len]`. Padding is zeroed as it is written, so a reused
/// buffer never leaks old bytes into a request.
#[derive(Debug)]
pub struct MessageBuilder<'a> {
    buf: &'a mut [u8],
    len: usize,
}

/// An open nested attribute: its offset, to patch the length when it is closed.
#[derive(Debug)]
#[must_use = "close the nest with MessageBuilder::end_nested"]
pub struct Nest {
    offset: usize,
}

impl<'a> MessageBuilder<'a> {
    /// Starts a message with `header`; its length is filled in by [`MessageBuilder::finish`].
    pub fn new(buf: &'a mut [u8], header: Header) -> Result<MessageBuilder<'a>, Error> {
        let head = buf.get_mut(..header::HEADER_LEN).ok_or(Error::BufferFull)?;
        header.emit(&mut Packet::new_unchecked(head), header::HEADER_LEN as u32);
        Ok(MessageBuilder {
            buf,
            len: header::HEADER_LEN,
        })
    }

    /// Bytes written so far (header included).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `len` zeroed bytes (plus zeroed padding to 4) and returns them to be filled: the
    /// fixed family header (ifaddrmsg, ifinfomsg, rtmsg, genlmsghdr) or a struct-valued part.
    pub fn reserve(&mut self, len: usize) -> Result<&mut [u8], Error> {
        let start = self.len;
        let end = start.checked_add(align(len)).ok_or(Error::BufferFull)?;
        let room = self.buf.get_mut(start..end).ok_or(Error::BufferFull)?;
        room.fill(0);
        self.len = end;
        Ok(&mut room[..len])
    }

    /// Appends raw, already-aligned-or-not bytes, padded to 4.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.reserve(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    /// Appends an attribute of type `kind` with `value`.
    pub fn attr(&mut self, kind: u16, value: &[u8]) -> Result<(), Error> {
        let length = attr::HEADER_LEN + value.len();
        let length16 = u16::try_from(length).map_err(|_| Error::TooLong)?;
        let room = self.reserve(length)?;
        room[attr::field::LENGTH].copy_from_slice(&length16.to_ne_bytes());
        room[attr::field::TYPE].copy_from_slice(&kind.to_ne_bytes());
        room[attr::HEADER_LEN..].copy_from_slice(value);
        Ok(())
    }

    pub fn attr_u8(&mut self, kind: u16, value: u8) -> Result<(), Error> {
        self.attr(kind, &[value])
    }

    pub fn attr_u16(&mut self, kind: u16, value: u16) -> Result<(), Error> {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// A `u16` in network byte order (flag the type with `NLA_F_NET_BYTEORDER` if the family
    /// expects it).
    pub fn attr_u16_be(&mut self, kind: u16, value: u16) -> Result<(), Error> {
        self.attr(kind, &value.to_be_bytes())
    }

    pub fn attr_u32(&mut self, kind: u16, value: u32) -> Result<(), Error> {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// A NUL-terminated string, as the kernel's `NLA_NUL_STRING` and `NLA_STRING` policies take.
    pub fn attr_str(&mut self, kind: u16, value: &str) -> Result<(), Error> {
        let length = attr::HEADER_LEN + value.len() + 1;
        let length16 = u16::try_from(length).map_err(|_| Error::TooLong)?;
        let room = self.reserve(length)?;
        room[attr::field::LENGTH].copy_from_slice(&length16.to_ne_bytes());
        room[attr::field::TYPE].copy_from_slice(&kind.to_ne_bytes());
        room[attr::HEADER_LEN..length - 1].copy_from_slice(value.as_bytes());
        // `reserve` zeroed the room, so the terminator is already there.
        Ok(())
    }

    /// An address as its raw network-order bytes (4 or 16).
    pub fn attr_ip(&mut self, kind: u16, value: &IpAddr) -> Result<(), Error> {
        match value {
            IpAddr::V4(v4) => self.attr(kind, &v4.octets()),
            IpAddr::V6(v6) => self.attr(kind, &v6.octets()),
        }
    }

    /// Opens a nested attribute of type `kind`. `NLA_F_NESTED` is not set: iproute2 does not set
    /// it for rtnetlink either, and older kernels reject it in some families.
    pub fn begin_nested(&mut self, kind: u16) -> Result<Nest, Error> {
        let offset = self.len;
        let room = self.reserve(attr::HEADER_LEN)?;
        room[attr::field::TYPE].copy_from_slice(&kind.to_ne_bytes());
        Ok(Nest { offset })
    }

    /// Like [`MessageBuilder::begin_nested`] with `NLA_F_NESTED` set, for families that check it.
    pub fn begin_nested_flagged(&mut self, kind: u16) -> Result<Nest, Error> {
        self.begin_nested(kind | NLA_F_NESTED)
    }

    /// Closes a nest: its length covers everything appended since it was opened.
    pub fn end_nested(&mut self, nest: Nest) -> Result<(), Error> {
        // A `Nest` from another builder could point anywhere: check rather than index.
        let span = self.len.checked_sub(nest.offset).ok_or(Error::BadLength)?;
        let length = u16::try_from(span).map_err(|_| Error::TooLong)?;
        let at = nest.offset..nest.offset + 2;
        let field = self.buf.get_mut(at).ok_or(Error::BadLength)?;
        field.copy_from_slice(&length.to_ne_bytes());
        Ok(())
    }

    /// Writes `nlmsg_len` and returns the finished message.
    pub fn finish(self) -> Result<&'a [u8], Error> {
        let length = u32::try_from(self.len).map_err(|_| Error::TooLong)?;
        let MessageBuilder { buf, len } = self;
        Packet::new_unchecked(&mut buf[..len]).set_length(length);
        Ok(&buf[..len])
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::super::header::{NLM_F_ACK, NLM_F_REQUEST};
    use super::super::vectors;
    use super::*;

    #[test]
    fn construct_getlink_by_name() {
        let mut buf = [0xaau8; 64];
        let header = Header {
            message_type: 18,
            flags: NLM_F_REQUEST,
            sequence_number: 0x6b02_38b2,
            port_id: 0,
        };
        let mut b = MessageBuilder::new(&mut buf, header).unwrap();
        b.reserve(16).unwrap();
        b.attr_u32(29, 9).unwrap();
        b.attr_str(3, "dummy0").unwrap();
        assert_eq!(b.finish().unwrap(), vectors::GETLINK_BY_NAME);
    }

    #[test]
    fn construct_nested() {
        let mut buf = [0xaau8; 128];
        let header = Header {
            message_type: 16,
            flags: NLM_F_REQUEST | NLM_F_ACK,
            ..Header::default()
        };
        let mut b = MessageBuilder::new(&mut buf, header).unwrap();
        let info = b.begin_nested(18).unwrap();
        b.attr(1, b"macvlan").unwrap();
        let data = b.begin_nested(2).unwrap();
        b.attr_u32(1, 1).unwrap();
        b.end_nested(data).unwrap();
        b.end_nested(info).unwrap();
        let message = b.finish().unwrap();
        assert_eq!(&message[16..], &vectors::MACVLAN_ADD[64..]);
    }

    #[test]
    fn full_buffer_is_an_error() {
        let header = Header::default();
        assert_eq!(
            MessageBuilder::new(&mut [0u8; 15], header).unwrap_err(),
            Error::BufferFull
        );
        let mut buf = [0u8; 24];
        let mut b = MessageBuilder::new(&mut buf, header).unwrap();
        b.attr_u32(1, 1).unwrap();
        assert_eq!(b.attr_u8(2, 1), Err(Error::BufferFull));
        assert_eq!(b.attr(3, &[0; 70_000]), Err(Error::TooLong));
        assert_eq!(b.finish().unwrap().len(), 24);
    }
}
