//! The netlink message header (`struct nlmsghdr`, linux/netlink.h) and the walk over the several
//! messages one datagram can carry (multi-part dumps, a reply followed by its ack).

use super::Error;

/// Byte ranges of `struct nlmsghdr`.
pub mod field {
    use core::ops::Range;
    pub const LENGTH: Range<usize> = 0..4;
    pub const TYPE: Range<usize> = 4..6;
    pub const FLAGS: Range<usize> = 6..8;
    pub const SEQUENCE: Range<usize> = 8..12;
    pub const PORT: Range<usize> = 12..16;
}

/// `NLMSG_HDRLEN`.
pub const HEADER_LEN: usize = 16;
/// `NLMSG_ALIGNTO` (attributes use the same `NLA_ALIGNTO`).
pub const ALIGNTO: usize = 4;

/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: an error, or with errno 0 an acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a multi-part dump.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_OVERRUN`.
pub const NLMSG_OVERRUN: u16 = 4;
/// `NLMSG_MIN_TYPE`: types below are netlink's own control messages.
pub const NLMSG_MIN_TYPE: u16 = 0x10;

/// `NLM_F_REQUEST`: every message to the kernel carries it.
pub const NLM_F_REQUEST: u16 = 0x01;
/// `NLM_F_MULTI`: part of a multi-part reply, terminated by `NLMSG_DONE`.
pub const NLM_F_MULTI: u16 = 0x02;
/// `NLM_F_ACK`: ask for an `NLMSG_ERROR` acknowledgement even on success.
pub const NLM_F_ACK: u16 = 0x04;
/// `NLM_F_ECHO`.
pub const NLM_F_ECHO: u16 = 0x08;
/// `NLM_F_DUMP_INTR`: the dump was interrupted by a change; its content is inconsistent.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
/// `NLM_F_DUMP_FILTERED`: the kernel applied the request's filter (strict checking).
pub const NLM_F_DUMP_FILTERED: u16 = 0x20;
/// `NLM_F_ROOT`.
pub const NLM_F_ROOT: u16 = 0x100;
/// `NLM_F_MATCH`.
pub const NLM_F_MATCH: u16 = 0x200;
/// `NLM_F_DUMP` (= `NLM_F_ROOT | NLM_F_MATCH`) on a GET request.
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
/// `NLM_F_REPLACE` on a NEW request.
pub const NLM_F_REPLACE: u16 = 0x100;
/// `NLM_F_EXCL` on a NEW request: fail with EEXIST when the object exists.
pub const NLM_F_EXCL: u16 = 0x200;
/// `NLM_F_CREATE` on a NEW request.
pub const NLM_F_CREATE: u16 = 0x400;
/// `NLM_F_APPEND` on a NEW request.
pub const NLM_F_APPEND: u16 = 0x800;
/// `NLM_F_CAPPED` on an `NLMSG_ERROR`: only the request's header is echoed.
pub const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS` on an `NLMSG_ERROR`: extended-ack attributes follow the echoed request.
pub const NLM_F_ACK_TLVS: u16 = 0x200;

/// Rounds `len` up to the 4-byte netlink alignment (`NLMSG_ALIGN`, `NLA_ALIGN`).
pub const fn align(len: usize) -> usize {
    (len + ALIGNTO - 1) & !(ALIGNTO - 1)
}

/// A checked view of one netlink message: header plus payload, `length()` bytes long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` after checking that the header fits and `nlmsg_len` lies within it.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let length = self.length() as usize;
        if length < HEADER_LEN {
            Err(Error::BadLength)
        } else if length > len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn read_u16(&self, range: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_ne_bytes([b[0], b[1]])
    }

    fn read_u32(&self, range: core::ops::Range<usize>) -> u32 {
        let b = &self.buffer.as_ref()[range];
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    }

    /// `nlmsg_len`: header plus payload, without the trailing alignment padding.
    pub fn length(&self) -> u32 {
        self.read_u32(field::LENGTH)
    }

    /// `nlmsg_type`.
    pub fn message_type(&self) -> u16 {
        self.read_u16(field::TYPE)
    }

    /// `nlmsg_flags`.
    pub fn flags(&self) -> u16 {
        self.read_u16(field::FLAGS)
    }

    /// `nlmsg_seq`.
    pub fn sequence_number(&self) -> u32 {
        self.read_u32(field::SEQUENCE)
    }

    /// `nlmsg_pid`: the sending or receiving socket's port id (0 is the kernel).
    pub fn port_id(&self) -> u32 {
        self.read_u32(field::PORT)
    }

    /// Everything after the header up to `nlmsg_len`.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.length() as usize]
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The payload with the lifetime of the underlying buffer rather than of this view.
    pub fn payload_bytes(&self) -> &'a [u8] {
        &self.buffer[HEADER_LEN..self.length() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn write_u16(&mut self, range: core::ops::Range<usize>, value: u16) {
        self.buffer.as_mut()[range].copy_from_slice(&value.to_ne_bytes());
    }

    fn write_u32(&mut self, range: core::ops::Range<usize>, value: u32) {
        self.buffer.as_mut()[range].copy_from_slice(&value.to_ne_bytes());
    }

    pub fn set_length(&mut self, value: u32) {
        self.write_u32(field::LENGTH, value)
    }

    pub fn set_message_type(&mut self, value: u16) {
        self.write_u16(field::TYPE, value)
    }

    pub fn set_flags(&mut self, value: u16) {
        self.write_u16(field::FLAGS, value)
    }

    pub fn set_sequence_number(&mut self, value: u32) {
        self.write_u32(field::SEQUENCE, value)
    }

    pub fn set_port_id(&mut self, value: u32) {
        self.write_u32(field::PORT, value)
    }
}

/// The meaning of a `nlmsghdr`, without its length (the builder or the buffer decides that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub message_type: u16,
    pub flags: u16,
    pub sequence_number: u32,
    pub port_id: u32,
}

impl Header {
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Header {
        Header {
            message_type: packet.message_type(),
            flags: packet.flags(),
            sequence_number: packet.sequence_number(),
            port_id: packet.port_id(),
        }
    }

    /// Reads a header from the first 16 bytes of `bytes`, without a length check against a
    /// payload (echoed headers in `nlmsgerr` are capped to their 16 bytes).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Header, Error> {
        let bytes = bytes.get(..HEADER_LEN).ok_or(Error::Truncated)?;
        Ok(Header::parse(&Packet::new_unchecked(bytes)))
    }

    /// Writes the header with `nlmsg_len = length`; `packet` must hold at least 16 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, length: u32) {
        packet.set_length(length);
        packet.set_message_type(self.message_type);
        packet.set_flags(self.flags);
        packet.set_sequence_number(self.sequence_number);
        packet.set_port_id(self.port_id);
    }
}

/// The messages in one received datagram, in order. A malformed message ends the walk with an
/// error: its length cannot be trusted to find the next one.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Messages<'a> {
    pub fn new(datagram: &'a [u8]) -> Messages<'a> {
        Messages { rest: datagram }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Packet<&'a [u8]>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match Packet::new_checked(self.rest) {
            Ok(packet) => {
                let length = packet.length() as usize;
                // The last message may omit its padding; `min` keeps the slice in bounds.
                let next = align(length).min(self.rest.len());
                let (this, rest) = self.rest.split_at(next);
                self.rest = rest;
                Some(Ok(Packet::new_unchecked(&this[..length])))
            }
            Err(error) => {
                self.rest = &[];
                Some(Err(error))
            }
        }
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::super::vectors;
    use super::*;

    #[test]
    fn deconstruct_ack() {
        let packet = Packet::new_checked(vectors::ADDR_ADD_ACK).unwrap();
        assert_eq!(packet.length(), 36);
        assert_eq!(packet.message_type(), NLMSG_ERROR);
        assert_eq!(packet.flags(), NLM_F_CAPPED);
        assert_eq!(packet.sequence_number(), 0x6b02_38b2);
        assert_eq!(packet.port_id(), 0x172f);
        assert_eq!(packet.payload().len(), 20);
    }

    #[test]
    fn construct_header() {
        let mut bytes = [0u8; 16];
        let header = Header {
            message_type: 20,
            flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE,
            sequence_number: 0x6b02_38b2,
            port_id: 0,
        };
        header.emit(&mut Packet::new_unchecked(&mut bytes[..]), 56);
        assert_eq!(&bytes[..], &vectors::ADDR_ADD_LABEL[..16]);
        assert_eq!(Header::parse_bytes(&bytes), Ok(header));
    }

    #[test]
    fn walk_multipart_dump() {
        let mut messages = Messages::new(vectors::ADDR_DUMP);
        let first = messages.next().unwrap().unwrap();
        let second = messages.next().unwrap().unwrap();
        assert!(messages.next().is_none());
        assert_eq!(first.length(), 0x54);
        assert_eq!(second.length(), 0x50);
        assert_eq!(first.flags() & NLM_F_MULTI, NLM_F_MULTI);
        let done = Messages::new(vectors::ADDR_DUMP_DONE)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(done.message_type(), NLMSG_DONE);
    }

    #[test]
    fn malformed_lengths_are_errors() {
        assert_eq!(Packet::new_checked(&[0u8; 15][..]), Err(Error::Truncated));
        let mut bytes = [0u8; 16];
        bytes[0] = 8;
        assert_eq!(Packet::new_checked(&bytes[..]), Err(Error::BadLength));
        bytes[0] = 17;
        assert_eq!(Packet::new_checked(&bytes[..]), Err(Error::Truncated));
        let mut walk = Messages::new(&vectors::ADDR_DUMP[..100]);
        assert!(walk.next().unwrap().is_ok());
        assert_eq!(walk.next().unwrap().unwrap_err(), Error::Truncated);
        assert!(walk.next().is_none());
    }

    #[test]
    fn last_message_without_padding() {
        let mut bytes = [0u8; 20];
        bytes[0] = 18;
        let mut walk = Messages::new(&bytes[..18]);
        assert_eq!(walk.next().unwrap().unwrap().payload().len(), 2);
        assert!(walk.next().is_none());
    }
}
