//! DNS messages for DNS_CHECK (RFC 1035 §4.1): the one-question query keepalived sends
//! (recursion desired, class IN) and a checked view of the reply header. keepalived's check
//! passes on a reply with our id, the QR bit and RCODE 0; it does not look at the answers.

use crate::config::model::DnsType;

/// Byte ranges of the header (RFC 1035 §4.1.1).
mod field {
    use core::ops::Range;
    pub const ID: Range<usize> = 0..2;
    pub const FLAGS: Range<usize> = 2..4;
    pub const QDCOUNT: Range<usize> = 4..6;
    pub const ANCOUNT: Range<usize> = 6..8;
    pub const NSCOUNT: Range<usize> = 8..10;
    pub const ARCOUNT: Range<usize> = 10..12;
    pub const QUESTION: usize = 12;
}

pub const HEADER_LEN: usize = field::QUESTION;
/// A name of at most 255 bytes (RFC 1035 §2.3.4), type and class.
pub const MAX_QUERY_LEN: usize = HEADER_LEN + 255 + 4;

const FLAG_QR: u16 = 0x8000;
const FLAG_RD: u16 = 0x0100;
const CLASS_IN: u16 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than a header.
    Truncated,
    /// An empty label inside the name, a label over 63 bytes, or a name over 255 bytes.
    BadName,
}

/// The RR type number (RFC 1035 §3.2.2, RFC 3596 for AAAA).
pub fn type_code(t: DnsType) -> u16 {
    match t {
        DnsType::A => 1,
        DnsType::Ns => 2,
        DnsType::Cname => 5,
        DnsType::Soa => 6,
        DnsType::Mx => 15,
        DnsType::Txt => 16,
        DnsType::Aaaa => 28,
    }
}

/// Builds the query for `name` (`.` is the root) and `qtype` with id 0; [`set_id`] stamps
/// each probe's id. Built once when the config is loaded.
pub fn query(name: &str, qtype: DnsType) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; HEADER_LEN];
    out[field::FLAGS].copy_from_slice(&FLAG_RD.to_be_bytes());
    out[field::QDCOUNT].copy_from_slice(&1u16.to_be_bytes());
    let name = name.strip_suffix('.').unwrap_or(name);
    if !name.is_empty() {
        for label in name.split('.') {
            let len = u8::try_from(label.len()).map_err(|_| Error::BadName)?;
            if len == 0 || len > 63 {
                return Err(Error::BadName);
            }
            out.push(len);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    if out.len() - HEADER_LEN > 255 {
        return Err(Error::BadName);
    }
    out.extend_from_slice(&type_code(qtype).to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

pub fn set_id(query: &mut [u8], id: u16) {
    if let Some(bytes) = query.get_mut(field::ID) {
        bytes.copy_from_slice(&id.to_be_bytes());
    }
}

/// A checked view of a DNS message header.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }

    fn u16_at(&self, range: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn id(&self) -> u16 {
        self.u16_at(field::ID)
    }
    pub fn flags(&self) -> u16 {
        self.u16_at(field::FLAGS)
    }
    /// A response rather than a query.
    pub fn is_response(&self) -> bool {
        self.flags() & FLAG_QR != 0
    }
    pub fn rcode(&self) -> u8 {
        (self.flags() & 0x000f) as u8
    }
    pub fn question_count(&self) -> u16 {
        self.u16_at(field::QDCOUNT)
    }
    pub fn answer_count(&self) -> u16 {
        self.u16_at(field::ANCOUNT)
    }
    pub fn authority_count(&self) -> u16 {
        self.u16_at(field::NSCOUNT)
    }
    pub fn additional_count(&self) -> u16 {
        self.u16_at(field::ARCOUNT)
    }
}

/// What a datagram received by DNS_CHECK means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Our reply with RCODE 0.
    Ok,
    /// Our reply with this RCODE.
    Rcode(u8),
    /// Not our reply (short, other id, or a query): keep waiting, as keepalived does.
    Ignore,
}

pub fn classify(datagram: &[u8], id: u16) -> Reply {
    match Packet::new_checked(datagram) {
        Ok(p) if p.id() == id && p.is_response() => match p.rcode() {
            0 => Reply::Ok,
            rcode => Reply::Rcode(rcode),
        },
        _ => Reply::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_for_a_name() {
        let mut q = query("www.example.com", DnsType::A).unwrap();
        set_id(&mut q, 0xbeef);
        let expected: &[u8] = &[
            0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, //
            3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm',
            0, //
            0, 1, 0, 1,
        ];
        assert_eq!(q, expected);
        // A trailing dot names the same thing.
        let mut q2 = query("www.example.com.", DnsType::A).unwrap();
        set_id(&mut q2, 0xbeef);
        assert_eq!(q2, q);
    }

    #[test]
    fn root_soa_is_keepalived_default() {
        let q = query(".", DnsType::Soa).unwrap();
        assert_eq!(&q[HEADER_LEN..], &[0, 0, 6, 0, 1]);
        let p = Packet::new_checked(&q[..]).unwrap();
        assert_eq!(p.question_count(), 1);
        assert!(!p.is_response());
        assert_eq!(
            query("", DnsType::Aaaa).unwrap()[HEADER_LEN..],
            [0, 0, 28, 0, 1]
        );
    }

    #[test]
    fn bad_names() {
        assert_eq!(query("a..b", DnsType::A), Err(Error::BadName));
        assert_eq!(query(".a", DnsType::A), Err(Error::BadName));
        let long_label = "x".repeat(64);
        assert_eq!(query(&long_label, DnsType::A), Err(Error::BadName));
        let long_name = ["abcdefghi"; 30].join(".");
        assert_eq!(query(&long_name, DnsType::A), Err(Error::BadName));
    }

    #[test]
    fn reply_classification() {
        // A reply to id 0x1234: QR RD RA, NOERROR, one question (root SOA), answer count 1.
        let reply: &[u8] = &[
            0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 6, 0, 1,
        ];
        assert_eq!(classify(reply, 0x1234), Reply::Ok);
        assert_eq!(classify(reply, 0x1235), Reply::Ignore);
        let p = Packet::new_checked(reply).unwrap();
        assert_eq!(p.answer_count(), 1);
        assert_eq!((p.authority_count(), p.additional_count()), (0, 0));
        let nxdomain: &[u8] = &[0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(classify(nxdomain, 0x1234), Reply::Rcode(3));
        let query_echo: &[u8] = &[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(classify(query_echo, 0x1234), Reply::Ignore);
        assert_eq!(classify(&reply[..11], 0x1234), Reply::Ignore);
        assert!(matches!(
            Packet::new_checked(&[0u8; 3][..]),
            Err(Error::Truncated)
        ));
    }
}
