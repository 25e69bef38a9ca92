//! IP Authentication Header (RFC 2402 §2) in front of a VRRPv2 advert over IPv4, as keepalived 2.x
//! sends it for `auth_type AH`, and its HMAC-MD5-96 Integrity Check Value (RFC 2403 §2, RFC 2104).
//!
//! keepalived's choices where RFC 2402 leaves room or reads otherwise (all checked against its
//! captured adverts in the tests below):
//! - the header is always 24 bytes: Payload Len 4, a 96-bit ICV, next header VRRP (112);
//! - the SPI is the sender's IPv4 address, not a value the receiver picked (there is no SA);
//! - the ICV covers the IPv4 header (options included) with TOS, flags/fragment offset and the
//!   header checksum zeroed, and the TTL zeroed only for unicast adverts: a multicast advert's
//!   TTL is hashed as sent (255), where RFC 2402 §3.3.3.1.1.1 counts the TTL as mutable; then the
//!   AH header with the ICV zeroed; then the VRRP message (whose 8 authentication bytes are zero);
//! - the key is `auth_pass`, NUL-padded to 8 bytes (HMAC pads it to 64 anyway);
//! - the IP identification is hashed, so a sender must never leave it 0 for the kernel to fill.

use core::fmt;

use super::vrrp;
use crate::check::md5::Md5;

/// IP protocol number of AH (RFC 2402 §2).
pub const IP_PROTOCOL: u8 = 51;
/// Bytes of an AH header with a 96-bit ICV.
pub const HEADER_LEN: usize = 24;
/// HMAC-MD5-96: the first 12 bytes of the HMAC-MD5 (RFC 2403 §2).
pub const ICV_LEN: usize = 12;
/// Payload Len of that header: its length in 32-bit words minus 2 (RFC 2402 §2.2).
pub const PAYLOAD_LEN: u8 = (HEADER_LEN / 4 - 2) as u8;

/// Byte ranges of the header.
pub mod field {
    use core::ops::Range;
    pub const NEXT_HEADER: usize = 0;
    pub const PAYLOAD_LEN: usize = 1;
    pub const RESERVED: Range<usize> = 2..4;
    pub const SPI: Range<usize> = 4..8;
    pub const SEQUENCE_NUMBER: Range<usize> = 8..12;
    pub const ICV: Range<usize> = 12..24;
}

/// Why a received AH header was refused; the receive path counts these per reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// Shorter than the 24-byte header.
    Truncated,
    /// Payload Len is not 4: an ICV other than HMAC-MD5-96's 12 bytes.
    BadPayloadLen,
    /// Next Header is not VRRP (keepalived drops these silently).
    NotVrrp,
    /// The IPv4 header around it is shorter than its IHL, or the datagram ends inside it.
    BadIpHeader,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Error::Truncated => "AH header shorter than 24 bytes",
            Error::BadPayloadLen => "AH payload length is not 4 (HMAC-MD5-96)",
            Error::NotVrrp => "AH next header is not VRRP (112)",
            Error::BadIpHeader => "IPv4 header around the AH header is malformed",
        };
        f.write_str(what)
    }
}

impl std::error::Error for Error {}

/// A checked view of an AH header followed by its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks; accessors may panic on a buffer that `check_len` would refuse.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// A view whose accessors cannot panic.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The whole header present, and a Payload Len that puts the payload where `payload` looks.
    pub fn check_len(&self) -> Result<(), Error> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.payload_len() != PAYLOAD_LEN {
            return Err(Error::BadPayloadLen);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    pub fn payload_len(&self) -> u8 {
        self.buffer.as_ref()[field::PAYLOAD_LEN]
    }

    pub fn reserved(&self) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[field::RESERVED.start], data[field::RESERVED.start + 1]])
    }

    /// keepalived: the sender's IPv4 address, in network order.
    pub fn spi(&self) -> u32 {
        self.read_u32(field::SPI.start)
    }

    pub fn sequence_number(&self) -> u32 {
        self.read_u32(field::SEQUENCE_NUMBER.start)
    }

    pub fn icv(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ICV]
    }

    /// The protected message after the header (the VRRP advert).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    fn read_u32(&self, at: usize) -> u32 {
        let d = self.buffer.as_ref();
        u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = value;
    }

    pub fn set_payload_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PAYLOAD_LEN] = value;
    }

    pub fn set_reserved(&mut self, value: u16) {
        self.buffer.as_mut()[field::RESERVED].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_spi(&mut self, value: u32) {
        self.buffer.as_mut()[field::SPI].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_sequence_number(&mut self, value: u32) {
        self.buffer.as_mut()[field::SEQUENCE_NUMBER].copy_from_slice(&value.to_be_bytes());
    }

    pub fn icv_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::ICV]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The meaning of an AH header in front of VRRP (the ICV is checked on the whole datagram, see
/// [`verify_icv`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    pub spi: u32,
    pub sequence_number: u32,
}

impl Repr {
    /// Refuses a header that does not protect a VRRP message. The reserved field is not
    /// checked (RFC 2402 §2.3: ignored on receipt, and covered by the ICV).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        packet.check_len()?;
        if packet.next_header() != vrrp::IP_PROTOCOL {
            return Err(Error::NotVrrp);
        }
        Ok(Repr {
            spi: packet.spi(),
            sequence_number: packet.sequence_number(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header with a zero ICV; [`fill_icv`] on the finished datagram sets it.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_next_header(vrrp::IP_PROTOCOL);
        packet.set_payload_len(PAYLOAD_LEN);
        packet.set_reserved(0);
        packet.set_spi(self.spi);
        packet.set_sequence_number(self.sequence_number);
        packet.icv_mut().fill(0);
    }
}

/// The SPI keepalived sends: the source address's four bytes.
pub fn spi_of(src: core::net::Ipv4Addr) -> u32 {
    u32::from_be_bytes(src.octets())
}

/// HMAC-MD5 (RFC 2104 §2) of the concatenation of `parts`, cut to 96 bits (RFC 2403 §2).
pub fn hmac_md5_96(key: &[u8], parts: &[&[u8]]) -> [u8; ICV_LEN] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        let mut h = Md5::new();
        h.update(key);
        block_key[..16].copy_from_slice(&h.finalize());
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let mut pad = [0u8; BLOCK];
    let mut inner = Md5::new();
    for (p, k) in pad.iter_mut().zip(&block_key) {
        *p = k ^ 0x36;
    }
    inner.update(&pad);
    for part in parts {
        inner.update(part);
    }
    let inner = inner.finalize();
    let mut outer = Md5::new();
    for (p, k) in pad.iter_mut().zip(&block_key) {
        *p = k ^ 0x5c;
    }
    outer.update(&pad);
    outer.update(&inner);
    let digest = outer.finalize();
    let mut icv = [0u8; ICV_LEN];
    icv.copy_from_slice(&digest[..ICV_LEN]);
    icv
}

/// The ICV keepalived computes for `datagram`: a whole IPv4 packet (exactly its total length)
/// holding an IPv4 header, the AH header and the VRRP message. `zero_ttl` for unicast instances
/// (see the module comment). The datagram's own ICV bytes are read as zero.
pub fn compute_icv(datagram: &[u8], key: &[u8], zero_ttl: bool) -> Result<[u8; ICV_LEN], Error> {
    let header_len = ip_header_len(datagram)?;
    let ip = datagram.get(..header_len).ok_or(Error::BadIpHeader)?;
    let ah = datagram
        .get(header_len..header_len + HEADER_LEN)
        .ok_or(Error::Truncated)?;
    let message = &datagram[header_len + HEADER_LEN..];

    // An IHL is at most 15 words.
    let mut ip_copy = [0u8; 60];
    let ip_copy = &mut ip_copy[..header_len];
    ip_copy.copy_from_slice(ip);
    ip_copy[super::ipv4::field::TOS] = 0;
    ip_copy[super::ipv4::field::FLAGS_FRAG].fill(0);
    ip_copy[super::ipv4::field::CHECKSUM].fill(0);
    if zero_ttl {
        ip_copy[super::ipv4::field::TTL] = 0;
    }
    let mut ah_copy = [0u8; HEADER_LEN];
    ah_copy.copy_from_slice(ah);
    ah_copy[field::ICV].fill(0);
    Ok(hmac_md5_96(key, &[ip_copy, &ah_copy, message]))
}

/// Whether `datagram` carries the ICV [`compute_icv`] gives; compares without an early exit.
pub fn verify_icv(datagram: &[u8], key: &[u8], zero_ttl: bool) -> bool {
    let (Ok(want), Ok(icv)) = (compute_icv(datagram, key, zero_ttl), icv_range(datagram)) else {
        return false;
    };
    let Some(got) = datagram.get(icv) else {
        return false;
    };
    got.iter().zip(&want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Computes and stores the ICV of a datagram built for sending (see [`compute_icv`]).
pub fn fill_icv(datagram: &mut [u8], key: &[u8], zero_ttl: bool) -> Result<(), Error> {
    let icv = compute_icv(datagram, key, zero_ttl)?;
    let range = icv_range(datagram)?;
    datagram[range].copy_from_slice(&icv);
    Ok(())
}

/// The IPv4 header's length from its IHL, at least the 20 bytes of a header without options.
fn ip_header_len(datagram: &[u8]) -> Result<usize, Error> {
    let header_len = usize::from(datagram.first().ok_or(Error::BadIpHeader)? & 0x0f) * 4;
    if header_len < 20 {
        return Err(Error::BadIpHeader);
    }
    Ok(header_len)
}

/// Where the AH header's ICV sits in the datagram (within it once `compute_icv` succeeded).
fn icv_range(datagram: &[u8]) -> Result<core::ops::Range<usize>, Error> {
    let start = ip_header_len(datagram)? + field::ICV.start;
    Ok(start..start + ICV_LEN)
}

#[cfg(test)]
mod tests {
    //! Adverts of Debian's keepalived 2.2.7 with `auth_type AH`, captured with
    //! `tcpdump -i eth0 -w cap.pcap 'ip proto 51'` in network namespace ahc-b (10.99.0.2) while
    //! keepalived ran in ahc-a (10.99.0.1, veth pair) with two VRRPv2 instances, both
    //! `state BACKUP`, priority 150, advert_int 1: VRID 61 multicast, `auth_pass secret1`, VIPs
    //! 10.99.0.100 and .101; VRID 62 unicast to 10.99.0.2 (`unicast_src_ip 10.99.0.1`),
    //! `auth_pass pass2345`, VIP 10.99.0.102. The bytes are the IP packets (Ethernet header cut).
    use super::*;
    use crate::wire::{ipv4, vrrp as v};
    use core::net::{IpAddr, Ipv4Addr};

    /// VRID 61's first advert after it became master: id 1, TTL 255, SPI 10.99.0.1, sequence
    /// number 1, priority 150, auth type 2 with zero authentication data.
    const MCAST_SEQ1: [u8; 68] = [
        0x45, 0xc0, 0x00, 0x44, 0x00, 0x01, 0x00, 0x00, 0xff, 0x33, 0xd0, 0x4f, 0x0a, 0x63, 0x00,
        0x01, 0xe0, 0x00, 0x00, 0x12, 0x70, 0x04, 0x00, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x01, 0xfa, 0xa5, 0x7c, 0x0d, 0xe1, 0x3e, 0xe1, 0x5b, 0xeb, 0x96, 0x4f, 0x43, 0x21,
        0x3d, 0x96, 0x02, 0x02, 0x01, 0x31, 0x30, 0x0a, 0x63, 0x00, 0x64, 0x0a, 0x63, 0x00, 0x65,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    /// VRID 61's priority-0 advert on SIGTERM: sequence number 5, id 5.
    const MCAST_STOP_SEQ5: [u8; 68] = [
        0x45, 0xc0, 0x00, 0x44, 0x00, 0x05, 0x00, 0x00, 0xff, 0x33, 0xd0, 0x4b, 0x0a, 0x63, 0x00,
        0x01, 0xe0, 0x00, 0x00, 0x12, 0x70, 0x04, 0x00, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x05, 0xf0, 0x6e, 0xfc, 0x74, 0x82, 0xc6, 0x45, 0xd5, 0x24, 0x02, 0x9e, 0xfa, 0x21,
        0x3d, 0x00, 0x02, 0x02, 0x01, 0xc7, 0x30, 0x0a, 0x63, 0x00, 0x64, 0x0a, 0x63, 0x00, 0x65,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    /// VRID 62's second advert, unicast to 10.99.0.2: id 2, sequence number 2.
    const UCAST_SEQ2: [u8; 64] = [
        0x45, 0xc0, 0x00, 0x40, 0x00, 0x02, 0x00, 0x00, 0xff, 0x33, 0xa6, 0x00, 0x0a, 0x63, 0x00,
        0x01, 0x0a, 0x63, 0x00, 0x02, 0x70, 0x04, 0x00, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x02, 0xb6, 0xf6, 0x14, 0xbd, 0x95, 0xa9, 0x08, 0xcd, 0xce, 0x0c, 0x2f, 0xdc, 0x21,
        0x3e, 0x96, 0x01, 0x02, 0x01, 0x3b, 0xf6, 0x0a, 0x63, 0x00, 0x66, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00,
    ];

    const KEY_MCAST: &[u8; 8] = b"secret1\0";
    const KEY_UCAST: &[u8; 8] = b"pass2345";
    const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

    #[test]
    fn hmac_md5_rfc2104_vectors() {
        // RFC 2104 appendix / RFC 2202 §2 test cases 1-3 and 6 (a key longer than a block).
        let d = |k: &[u8], m: &[u8]| hmac_md5_96(k, &[m]);
        assert_eq!(
            d(&[0x0b; 16], b"Hi There"),
            [0x92, 0x94, 0x72, 0x7a, 0x36, 0x38, 0xbb, 0x1c, 0x13, 0xf4, 0x8e, 0xf8]
        );
        assert_eq!(
            d(b"Jefe", b"what do ya want for nothing?"),
            [0x75, 0x0c, 0x78, 0x3e, 0x6a, 0xb0, 0xb5, 0x03, 0xea, 0xa8, 0x6e, 0x31]
        );
        assert_eq!(
            d(&[0xaa; 16], &[0xdd; 50]),
            [0x56, 0xbe, 0x34, 0x52, 0x1d, 0x14, 0x4c, 0x88, 0xdb, 0xb8, 0xc7, 0x33]
        );
        assert_eq!(
            d(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            [0x6b, 0x1a, 0xb7, 0xfe, 0x4b, 0xd7, 0xbf, 0x8f, 0x0b, 0x62, 0xe6, 0xce]
        );
        // Split input hashes like the whole.
        assert_eq!(
            hmac_md5_96(b"Jefe", &[b"what do ya ", b"", b"want for nothing?"]),
            d(b"Jefe", b"what do ya want for nothing?")
        );
    }

    #[test]
    fn deconstruct() {
        let ip = ipv4::Packet::new_checked(&MCAST_SEQ1[..]).unwrap();
        assert_eq!(ip.protocol(), IP_PROTOCOL);
        let p = Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(p.next_header(), 112);
        assert_eq!(p.payload_len(), 4);
        assert_eq!(p.reserved(), 0);
        assert_eq!(p.spi(), 0x0a63_0001);
        assert_eq!(p.spi(), spi_of(SRC));
        assert_eq!(p.sequence_number(), 1);
        assert_eq!(p.icv(), &MCAST_SEQ1[32..44]);
        assert_eq!(p.payload().len(), 24);
        assert_eq!(
            Repr::parse(&p),
            Ok(Repr {
                spi: 0x0a63_0001,
                sequence_number: 1
            })
        );
    }

    /// The VRRP message behind the header: auth type 2, zero authentication data, and the plain
    /// VRRPv2 checksum over the message alone.
    #[test]
    fn vrrp_inside_is_plain_v2_with_zero_auth_data() {
        for (bytes, priority) in [(&MCAST_SEQ1, 150), (&MCAST_STOP_SEQ5, 0)] {
            let message = &bytes[44..];
            let p = v::Packet::new_checked(message, v::Family::Ipv4).unwrap();
            let ep = v::Endpoints::new(IpAddr::V4(SRC), IpAddr::V4(v::IPV4_GROUP)).unwrap();
            let (repr, _) = v::Repr::parse(&p, &ep).unwrap();
            assert_eq!(
                repr.version,
                v::Version::V2 {
                    auth_type: v::auth_type::AH,
                    adver_int_secs: 1,
                    auth_data: [0; 8]
                }
            );
            assert_eq!((repr.vrid, repr.priority), (61, priority));
        }
    }

    #[test]
    fn keepalived_icv_multicast_hashes_the_ttl() {
        for bytes in [&MCAST_SEQ1, &MCAST_STOP_SEQ5] {
            assert!(verify_icv(bytes, KEY_MCAST, false));
            // The same key without the padding: HMAC pads keys to a block with zeros anyway.
            assert!(verify_icv(bytes, b"secret1", false));
            // keepalived hashes a multicast advert's TTL: zeroing it gives another ICV.
            assert!(!verify_icv(bytes, KEY_MCAST, true));
            assert!(!verify_icv(bytes, b"secret2\0", false));
        }
    }

    #[test]
    fn keepalived_icv_unicast_zeroes_the_ttl() {
        assert!(verify_icv(&UCAST_SEQ2, KEY_UCAST, true));
        assert!(!verify_icv(&UCAST_SEQ2, KEY_UCAST, false));
        // So a router between the peers may lower the TTL.
        let mut routed = UCAST_SEQ2;
        routed[8] = 62;
        assert!(verify_icv(&routed, KEY_UCAST, true));
    }

    #[test]
    fn mutable_fields_are_not_hashed_and_the_rest_is() {
        let mut b = MCAST_SEQ1;
        b[1] = 0x00; // TOS
        b[6] = 0x40; // DF
        b[10] ^= 0xff; // header checksum
        assert!(verify_icv(&b, KEY_MCAST, false));
        // Every other byte is covered, the ICV itself excepted.
        for i in (0..MCAST_SEQ1.len()).filter(|i| ![1, 6, 7, 10, 11].contains(i)) {
            let mut b = MCAST_SEQ1;
            b[i] ^= 0x01;
            assert!(!verify_icv(&b, KEY_MCAST, false), "byte {i} is not covered");
        }
    }

    /// Builds keepalived's first multicast advert from its parts: header, AH with sequence 1,
    /// the VRRP message, then the ICV; byte for byte what keepalived sent (the kernel fills in
    /// the IPv4 checksum, `ipv4::Repr::emit` does too).
    #[test]
    fn construct_matches_keepalived() {
        for (bytes, key, unicast) in [
            (&MCAST_SEQ1[..], &KEY_MCAST[..], false),
            (&MCAST_STOP_SEQ5[..], &KEY_MCAST[..], false),
            (&UCAST_SEQ2[..], &KEY_UCAST[..], true),
        ] {
            let ip = ipv4::Packet::new_checked(bytes).unwrap();
            let header = ipv4::Repr::parse(&ip).unwrap();
            let ah = Packet::new_checked(ip.payload()).unwrap();
            let repr = Repr::parse(&ah).unwrap();
            let mut out = [0u8; 68];
            let out = &mut out[..bytes.len()];
            header.emit(&mut ipv4::Packet::new_unchecked(&mut out[..]));
            repr.emit(&mut Packet::new_unchecked(&mut out[20..]));
            out[44..].copy_from_slice(&bytes[44..]);
            assert_ne!(&out[32..44], &bytes[32..44]);
            fill_icv(out, key, unicast).unwrap();
            assert_eq!(&out[..], bytes);
        }
    }

    #[test]
    fn ip_options_are_hashed() {
        // A 24-byte header (one NOP option word) in front of the unicast advert.
        let mut b = [0u8; 68];
        b[..20].copy_from_slice(&UCAST_SEQ2[..20]);
        b[0] = 0x46;
        b[20..24].copy_from_slice(&[1, 1, 1, 1]);
        b[24..].copy_from_slice(&UCAST_SEQ2[20..]);
        fill_icv(&mut b, KEY_UCAST, true).unwrap();
        assert!(verify_icv(&b, KEY_UCAST, true));
        assert_ne!(&b[36..48], &UCAST_SEQ2[32..44]);
        b[22] = 0;
        assert!(!verify_icv(&b, KEY_UCAST, true));
    }

    #[test]
    fn errors() {
        let ah = &MCAST_SEQ1[20..];
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&ah[..len]), Err(Error::Truncated));
        }
        // A header alone, no message behind it, is a valid view.
        assert!(Packet::new_checked(&ah[..HEADER_LEN]).is_ok());
        let mut b = MCAST_SEQ1;
        b[21] = 5;
        assert_eq!(Packet::new_checked(&b[20..]), Err(Error::BadPayloadLen));
        let mut b = MCAST_SEQ1;
        b[20] = 17;
        let p = Packet::new_checked(&b[20..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(Error::NotVrrp));
        assert_eq!(
            compute_icv(&MCAST_SEQ1[..40], KEY_MCAST, false),
            Err(Error::Truncated)
        );
        assert_eq!(compute_icv(&[], KEY_MCAST, false), Err(Error::BadIpHeader));
        assert_eq!(
            compute_icv(&[0x44; 30], KEY_MCAST, false),
            Err(Error::BadIpHeader)
        );
        assert_eq!(
            compute_icv(&[0x4f; 30], KEY_MCAST, false),
            Err(Error::BadIpHeader)
        );
        assert!(!verify_icv(&MCAST_SEQ1[..43], KEY_MCAST, false));
        let mut short = [0u8; 10];
        assert!(fill_icv(&mut short, KEY_MCAST, false).is_err());
        for e in [
            Error::Truncated,
            Error::BadPayloadLen,
            Error::NotVrrp,
            Error::BadIpHeader,
        ] {
            assert!(e.to_string().contains("AH") || e.to_string().contains("IPv4"));
        }
    }

    /// Every prefix and single-byte change of each capture: an error or an answer, never a panic.
    #[test]
    fn garbage_never_panics() {
        for bytes in [&MCAST_SEQ1[..], &MCAST_STOP_SEQ5[..], &UCAST_SEQ2[..]] {
            for len in 0..=bytes.len() {
                let cut = &bytes[..len];
                let _ = verify_icv(cut, KEY_MCAST, false);
                let _ = Packet::new_checked(cut).and_then(|p| Repr::parse(&p));
            }
            for i in 0..bytes.len() {
                let mut b = [0u8; 68];
                b[..bytes.len()].copy_from_slice(bytes);
                b[i] ^= 0xff;
                let b = &b[..bytes.len()];
                let _ = verify_icv(b, KEY_UCAST, true);
                if let Ok(p) = Packet::new_checked(&b[20.min(b.len())..]) {
                    let _ = (Repr::parse(&p), p.icv(), p.payload());
                }
            }
        }
    }
}
