//! Minimal IPv4 header (RFC 791 §3.1): written for VRRP sent with `IP_HDRINCL`, read on raw-socket
//! receive, where Linux hands over the whole IP header (options included, `tot_len` in network
//! order) in front of the payload.

use core::fmt;
use core::net::Ipv4Addr;

use super::checksum::checksum;

/// Byte ranges of the header without options.
pub mod field {
    use core::ops::Range;
    /// Version (high nibble) and IHL in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    /// Type of service (DSCP and ECN).
    pub const TOS: usize = 1;
    pub const TOTAL_LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (3 bits) and fragment offset (13 bits, in 8-byte units).
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of a header without options; the only length `emit` writes.
pub const HEADER_LEN: usize = 20;

const FLAG_DONT_FRAG: u16 = 0x4000;
const FLAG_MORE_FRAGS: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// Why a received IPv4 packet was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// Shorter than its header or than its total length says.
    Truncated,
    /// Version is not 4.
    BadVersion,
    /// IHL below 5 words, or total length below the header length.
    BadHeaderLength,
    /// The header checksum does not verify.
    BadChecksum,
    /// A fragment: raw sockets deliver reassembled packets, so this is never a whole message.
    Fragmented,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Error::Truncated => "IPv4 packet shorter than its header or total length",
            Error::BadVersion => "IP version is not 4",
            Error::BadHeaderLength => "IPv4 header length below 20 or above the total length",
            Error::BadChecksum => "IPv4 header checksum does not match",
            Error::Fragmented => "IPv4 packet is a fragment",
        };
        f.write_str(what)
    }
}

impl std::error::Error for Error {}

/// A checked view of an IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks; accessors may panic on a buffer that `check_len` would refuse.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// A view whose accessors, `payload` included, cannot panic.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Header present and a version of 4, header length within the total length, and the total
    /// length within the buffer. Bytes past the total length (link padding) are allowed and
    /// ignored.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::BadVersion);
        }
        let header_len = self.header_len();
        let total_len = usize::from(self.total_len());
        if header_len < HEADER_LEN || total_len < header_len {
            return Err(Error::BadHeaderLength);
        }
        if len < total_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    pub fn total_len(&self) -> u16 {
        self.read_u16(field::TOTAL_LENGTH.start)
    }

    pub fn ident(&self) -> u16 {
        self.read_u16(field::IDENT.start)
    }

    pub fn dont_frag(&self) -> bool {
        self.read_u16(field::FLAGS_FRAG.start) & FLAG_DONT_FRAG != 0
    }

    pub fn more_frags(&self) -> bool {
        self.read_u16(field::FLAGS_FRAG.start) & FLAG_MORE_FRAGS != 0
    }

    /// In bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.read_u16(field::FLAGS_FRAG.start) & FRAG_OFFSET_MASK) << 3
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM.start)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Options, if the IHL says there are any.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The bytes after the header up to the total length (link padding left out).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// Whether the header, options included, sums to zero.
    pub fn verify_checksum(&self) -> bool {
        checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }

    fn read_u16(&self, at: usize) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[at], data[at + 1]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and an IHL of `header_len / 4`.
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        // An IHL is 4 bits: the mask keeps a bad argument from spilling into the version.
        let ihl = ((header_len / 4) & 0x0f) as u8;
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ihl;
    }

    pub fn set_tos(&mut self, value: u8) {
        self.buffer.as_mut()[field::TOS] = value;
    }

    pub fn set_total_len(&mut self, value: u16) {
        self.write_u16(field::TOTAL_LENGTH.start, value);
    }

    pub fn set_ident(&mut self, value: u16) {
        self.write_u16(field::IDENT.start, value);
    }

    /// Sets the flags and a zero fragment offset: this header is only ever written whole.
    pub fn set_dont_frag(&mut self, dont_frag: bool) {
        self.write_u16(
            field::FLAGS_FRAG.start,
            if dont_frag { FLAG_DONT_FRAG } else { 0 },
        );
    }

    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    pub fn set_protocol(&mut self, value: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = value;
    }

    pub fn set_checksum(&mut self, value: u16) {
        self.write_u16(field::CHECKSUM.start, value);
    }

    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// Computes and stores the header checksum over `header_len()` bytes.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(sum);
    }

    /// The bytes after the header up to the total length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }

    fn write_u16(&mut self, at: usize, value: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }
}

/// The meaning of a header without options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: u8,
    /// Bytes after the header.
    pub payload_len: u16,
    pub tos: u8,
    pub ident: u16,
    /// keepalived 2.2.7 leaves DF clear on VRRP; the choice is the sender's.
    pub dont_frag: bool,
    pub ttl: u8,
}

impl Repr {
    /// Reads a received header. Options are skipped (their length is in `Packet::header_len`);
    /// fragments are refused.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        if packet.more_frags() || packet.frag_offset() != 0 {
            return Err(Error::Fragmented);
        }
        // check_len proved header_len <= total_len, and a header is at most 60 bytes.
        let header_len = packet.header_len() as u16;
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: packet.total_len() - header_len,
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            ttl: packet.ttl(),
        })
    }

    /// Bytes of the header `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header with its checksum. The packet needs `HEADER_LEN` bytes; the payload
    /// is the caller's to write after it. A payload too big for one packet saturates the total
    /// length rather than wrapping.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_and_header_len(HEADER_LEN);
        packet.set_tos(self.tos);
        packet.set_total_len(self.payload_len.saturating_add(HEADER_LEN as u16));
        packet.set_ident(self.ident);
        packet.set_dont_frag(self.dont_frag);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    //! Headers of keepalived 2.2.7's adverts, captured as described in `wire::vrrp`'s tests
    //! (veth between namespaces wc-a 10.99.0.1 and wc-b 10.99.0.2, tcpdump on wc-b).
    use super::*;

    /// First `version 3` multicast advert: TOS 0xc0, total 32, id 1, no DF, TTL 255, proto 112,
    /// 10.99.0.1 → 224.0.0.18.
    const V3_MCAST: [u8; 20] = [
        0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x36, 10, 99, 0, 1, 224,
        0, 0, 18,
    ];
    /// Its VRRP payload, for a whole packet.
    const V3_PAYLOAD: [u8; 12] = [
        0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0x42, 0xad, 0x0a, 0x63, 0x00, 0x64,
    ];
    /// Sixth unicast advert (keepalived counts the id up per packet): id 6, 10.99.0.1 → 10.99.0.2.
    const V3_UNICAST_ID6: [u8; 20] = [
        0x45, 0xc0, 0x00, 0x20, 0x00, 0x06, 0x00, 0x00, 0xff, 0x70, 0xa5, 0xdf, 10, 99, 0, 1, 10,
        99, 0, 2,
    ];

    fn whole_packet() -> [u8; 32] {
        let mut buf = [0u8; 32];
        buf[..20].copy_from_slice(&V3_MCAST);
        buf[20..].copy_from_slice(&V3_PAYLOAD);
        buf
    }

    fn keepalived_repr() -> Repr {
        Repr {
            src_addr: Ipv4Addr::new(10, 99, 0, 1),
            dst_addr: Ipv4Addr::new(224, 0, 0, 18),
            protocol: 112,
            payload_len: 12,
            tos: 0xc0,
            ident: 1,
            dont_frag: false,
            ttl: 255,
        }
    }

    #[test]
    fn deconstruct() {
        let buf = whole_packet();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.tos(), 0xc0);
        assert_eq!(p.total_len(), 32);
        assert_eq!(p.ident(), 1);
        assert!(!p.dont_frag() && !p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 255);
        assert_eq!(p.protocol(), 112);
        assert_eq!(p.checksum(), 0xd036);
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 99, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(224, 0, 0, 18));
        assert!(p.options().is_empty());
        assert_eq!(p.payload(), &V3_PAYLOAD);
        assert!(p.verify_checksum());
    }

    #[test]
    fn parse_and_emit_match_capture() {
        let buf = whole_packet();
        let repr = Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(repr, keepalived_repr());

        let mut out = [0u8; 20];
        keepalived_repr().emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, V3_MCAST);

        let unicast = Repr {
            dst_addr: Ipv4Addr::new(10, 99, 0, 2),
            ident: 6,
            ..keepalived_repr()
        };
        unicast.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, V3_UNICAST_ID6);
    }

    #[test]
    fn construct_whole_packet_with_payload() {
        let mut buf = [0u8; 32];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        keepalived_repr().emit(&mut p);
        p.payload_mut().copy_from_slice(&V3_PAYLOAD);
        assert_eq!(buf, whole_packet());
    }

    #[test]
    fn dont_frag_flag() {
        let mut out = [0u8; 20];
        let repr = Repr {
            dont_frag: true,
            payload_len: 0,
            ..keepalived_repr()
        };
        repr.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(&out[6..8], &[0x40, 0x00]);
        let p = Packet::new_checked(&out[..]).unwrap();
        assert!(p.dont_frag());
        assert_eq!(Repr::parse(&p), Ok(repr));
    }

    /// Options (here a router alert, RFC 2113) move the payload; link padding past the total length
    /// is ignored.
    #[test]
    fn options_and_padding() {
        let mut buf = [0u8; 40];
        buf[..20].copy_from_slice(&V3_MCAST);
        buf[0] = 0x46;
        buf[2..4].copy_from_slice(&36u16.to_be_bytes());
        buf[20..24].copy_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        buf[24..36].copy_from_slice(&V3_PAYLOAD);
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.fill_checksum();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(p.payload(), &V3_PAYLOAD);
        let repr = Repr::parse(&p).unwrap();
        assert_eq!(repr.payload_len, 12);
    }

    #[test]
    fn errors() {
        let buf = whole_packet();
        for len in 0..20 {
            assert_eq!(Packet::new_checked(&buf[..len]), Err(Error::Truncated));
        }
        assert_eq!(Packet::new_checked(&buf[..31]), Err(Error::Truncated));

        let mut v6 = buf;
        v6[0] = 0x65;
        assert_eq!(Packet::new_checked(&v6[..]), Err(Error::BadVersion));

        let mut short_ihl = buf;
        short_ihl[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&short_ihl[..]),
            Err(Error::BadHeaderLength)
        );
        let mut total_below_header = buf;
        total_below_header[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&total_below_header[..]),
            Err(Error::BadHeaderLength)
        );

        let mut bad_sum = buf;
        bad_sum[8] = 254;
        let p = Packet::new_checked(&bad_sum[..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(Error::BadChecksum));

        for flags in [0x20u8, 0x00] {
            let mut frag = buf;
            frag[6] = flags;
            frag[7] = if flags == 0 { 1 } else { 0 };
            Packet::new_unchecked(&mut frag[..]).fill_checksum();
            let p = Packet::new_checked(&frag[..]).unwrap();
            assert_eq!(Repr::parse(&p), Err(Error::Fragmented));
        }

        for e in [
            Error::Truncated,
            Error::BadVersion,
            Error::BadHeaderLength,
            Error::BadChecksum,
            Error::Fragmented,
        ] {
            assert!(e.to_string().contains("IP"));
        }
    }

    #[test]
    fn garbage_never_panics() {
        let buf = whole_packet();
        for len in 0..=buf.len() {
            let _ = Packet::new_checked(&buf[..len]).map(|p| Repr::parse(&p));
        }
        for i in 0..buf.len() {
            for flip in [0x01u8, 0x0f, 0x10, 0x80, 0xff] {
                let mut copy = buf;
                copy[i] ^= flip;
                if let Ok(p) = Packet::new_checked(&copy[..]) {
                    let _ = (p.options(), p.payload(), Repr::parse(&p));
                }
            }
        }
    }
}
