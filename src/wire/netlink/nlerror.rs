//! `NLMSG_ERROR` (`struct nlmsgerr`, linux/netlink.h): the kernel's ack or refusal of a request,
//! with the echoed request header and, with `NETLINK_EXT_ACK`, a human-readable reason; and the
//! status word of `NLMSG_DONE`.

use super::attr::Attrs;
use super::header::{align, Header, Packet, NLM_F_ACK_TLVS, NLM_F_CAPPED};
use super::Error;

/// Byte ranges of `struct nlmsgerr` in an `NLMSG_ERROR` payload.
pub mod field {
    use core::ops::Range;
    pub const ERROR: Range<usize> = 0..4;
    pub const REQUEST: Range<usize> = 4..20;
}

/// `NLMSGERR_ATTR_MSG`: the kernel's extack message.
pub const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NLMSGERR_ATTR_OFFS`: the offset of the offending attribute in the request.
pub const NLMSGERR_ATTR_OFFS: u16 = 2;

/// A parsed `NLMSG_ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorMessage<'a> {
    /// The positive errno, 0 for an acknowledgement.
    pub errno: i32,
    /// The header of the request this answers (its sequence number matches it to the request).
    pub request: Header,
    /// `NLMSGERR_ATTR_MSG`, e.g. "ipv4: Address already assigned".
    pub message: Option<&'a str>,
    /// `NLMSGERR_ATTR_OFFS`: where in the request the kernel found fault.
    pub offset: Option<u32>,
}

impl<'a> ErrorMessage<'a> {
    pub fn parse(packet: &Packet<&'a [u8]>) -> Result<ErrorMessage<'a>, Error> {
        let payload = packet.payload_bytes();
        let error = payload.get(field::ERROR).ok_or(Error::Truncated)?;
        let error = i32::from_ne_bytes([error[0], error[1], error[2], error[3]]);
        let echoed = payload
            .get(field::REQUEST.start..)
            .ok_or(Error::Truncated)?;
        let request = Header::parse_bytes(echoed)?;
        let mut message = None;
        let mut offset = None;
        if packet.flags() & NLM_F_ACK_TLVS != 0 {
            let echoed_len = if packet.flags() & NLM_F_CAPPED != 0 {
                super::header::HEADER_LEN
            } else {
                let len = Packet::new_unchecked(echoed).length() as usize;
                if len < super::header::HEADER_LEN {
                    return Err(Error::BadLength);
                }
                align(len)
            };
            let tlvs = echoed.get(echoed_len..).ok_or(Error::Truncated)?;
            for attr in Attrs::new(tlvs) {
                let attr = attr?;
                match attr.kind() {
                    NLMSGERR_ATTR_MSG => message = Some(attr.as_str()?),
                    NLMSGERR_ATTR_OFFS => offset = Some(attr.as_u32()?),
                    _ => {}
                }
            }
        }
        Ok(ErrorMessage {
            errno: error.saturating_neg(),
            request,
            message,
            offset,
        })
    }

    /// True for the acknowledgement of a successful request.
    pub fn is_ack(&self) -> bool {
        self.errno == 0
    }
}

/// The positive errno carried by an `NLMSG_DONE` (0 when the dump completed).
pub fn done_errno(packet: &Packet<&[u8]>) -> Result<i32, Error> {
    let status = packet.payload().get(..4).ok_or(Error::Truncated)?;
    Ok(i32::from_ne_bytes([status[0], status[1], status[2], status[3]]).saturating_neg())
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::super::vectors;
    use super::*;

    fn parse(bytes: &[u8]) -> Result<ErrorMessage<'_>, Error> {
        ErrorMessage::parse(&Packet::new_checked(bytes)?)
    }

    #[test]
    fn ack() {
        let ack = parse(vectors::ADDR_ADD_ACK).unwrap();
        assert!(ack.is_ack());
        assert_eq!(ack.request.message_type, 20);
        assert_eq!(ack.request.sequence_number, 0x6b02_38b2);
        assert_eq!(ack.message, None);
    }

    #[test]
    fn eexist_with_extack() {
        let error = parse(vectors::ADDR_ADD_EEXIST).unwrap();
        assert_eq!(error.errno, 17);
        assert_eq!(error.request.message_type, 20);
        assert_eq!(error.message, Some("ipv4: Address already assigned"));
    }

    #[test]
    fn eaddrnotavail_with_extack() {
        let error = parse(vectors::ADDR_DEL_EADDRNOTAVAIL).unwrap();
        assert_eq!(error.errno, 99);
        assert_eq!(error.request.message_type, 21);
        assert_eq!(error.message, Some("ipv4: Address not found"));
    }

    #[test]
    fn done() {
        let packet = Packet::new_checked(vectors::ADDR_DUMP_DONE).unwrap();
        assert_eq!(done_errno(&packet), Ok(0));
    }

    #[test]
    fn truncated_is_an_error() {
        for len in [16, 19, 20, 35] {
            let mut bytes = vectors::ADDR_ADD_ACK[..len].to_vec();
            bytes[0] = len as u8;
            assert_eq!(parse(&bytes), Err(Error::Truncated), "{len}");
        }
        // An uncapped echo whose length points past the datagram.
        let mut bytes = vectors::ADDR_ADD_EEXIST.to_vec();
        bytes[20] = 0xf0;
        assert_eq!(parse(&bytes), Err(Error::Truncated));
        bytes[20] = 4;
        assert_eq!(parse(&bytes), Err(Error::BadLength));
    }
}
