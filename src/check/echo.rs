//! ICMP and ICMPv6 echo messages for PING_CHECK (RFC 792 "Echo or Echo Reply Message",
//! RFC 4443 §4.1-4.2): type, code, checksum, identifier, sequence number, data.

use crate::wire::checksum::checksum;

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const SEQ: Range<usize> = 6..8;
    pub const DATA: usize = 8;
}

pub const HEADER_LEN: usize = field::DATA;

pub const ECHO_REQUEST_V4: u8 = 8;
pub const ECHO_REPLY_V4: u8 = 0;
pub const ECHO_REQUEST_V6: u8 = 128;
pub const ECHO_REPLY_V6: u8 = 129;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated;

/// A checked view of an echo message.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Truncated> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Truncated);
        }
        Ok(Packet { buffer })
    }

    fn u16_at(&self, range: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }
    pub fn seq(&self) -> u16 {
        self.u16_at(field::SEQ)
    }
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
    }
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }
    pub fn set_ident(&mut self, value: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&value.to_be_bytes());
    }
    pub fn set_seq(&mut self, value: u16) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&value.to_be_bytes());
    }
    /// The ICMPv4 checksum over the whole message. ICMPv6's covers a pseudo-header the kernel
    /// fills in itself, so IPv6 leaves it to the kernel.
    pub fn fill_checksum_v4(&mut self) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let sum = checksum(self.buffer.as_ref());
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }
}

/// An echo request or reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr<'a> {
    pub msg_type: u8,
    pub ident: u16,
    pub seq: u16,
    pub data: &'a [u8],
}

impl<'a> Repr<'a> {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &'a Packet<&'a T>) -> Repr<'a> {
        Repr {
            msg_type: packet.msg_type(),
            ident: packet.ident(),
            seq: packet.seq(),
            data: packet.data(),
        }
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data.len()
    }

    /// Writes the message; the checksum is left 0 (see `fill_checksum_v4`).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_msg_type(self.msg_type);
        packet.set_code(0);
        packet.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&[0, 0]);
        packet.set_ident(self.ident);
        packet.set_seq(self.seq);
        packet.buffer.as_mut()[field::DATA..field::DATA + self.data.len()]
            .copy_from_slice(self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ping -c1 -p 61 -s 4 127.0.0.1` (iputils) captured with tcpdump on lo: the request and
    /// its reply, ICMP part only (id 40690, seq 1, data 61 00 00 00).
    const REQUEST: [u8; 12] = [8, 0, 0xf8, 0x0b, 0x9e, 0xf2, 0, 1, 0x61, 0, 0, 0];
    const REPLY: [u8; 12] = [0, 0, 0, 0x0c, 0x9e, 0xf2, 0, 1, 0x61, 0, 0, 0];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.msg_type(), ECHO_REQUEST_V4);
        assert_eq!(p.code(), 0);
        assert_eq!(p.ident(), 40690);
        assert_eq!(p.seq(), 1);
        assert_eq!(p.data(), &[0x61, 0, 0, 0]);
        assert_eq!(p.checksum(), 0xf80b);
        assert_eq!(checksum(&REQUEST), 0);
        let r = Packet::new_checked(&REPLY[..]).unwrap();
        assert_eq!(r.msg_type(), ECHO_REPLY_V4);
        assert_eq!((r.ident(), r.seq()), (40690, 1));
        assert_eq!(checksum(&REPLY), 0);
    }

    #[test]
    fn construct_and_parse() {
        let repr = Repr {
            msg_type: ECHO_REQUEST_V4,
            ident: 40690,
            seq: 1,
            data: &[0x61, 0, 0, 0],
        };
        let mut buf = [0xffu8; 12];
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        repr.emit(&mut p);
        p.fill_checksum_v4();
        assert_eq!(buf, REQUEST);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p), repr);
        assert_eq!(repr.buffer_len(), 12);
    }

    #[test]
    fn short() {
        assert_eq!(Packet::new_checked(&[0u8; 7][..]).err(), Some(Truncated));
    }
}
