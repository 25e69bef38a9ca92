//! Unsolicited Neighbor Advertisement (RFC 4861 §4.4, §7.2.6) that a new master sends for each
//! IPv6 VIP (RFC 5798 §6.4.2), as keepalived 2.2.7 sends it: the ICMPv6 message only, for a raw
//! ICMPv6 socket to ff02::1 with hop limit 255.
//!
//! Linux computes the checksum of raw ICMPv6 sockets itself; [`Packet::fill_checksum`] is for
//! senders that build the IPv6 header themselves (packet sockets).

use core::fmt;
use core::net::Ipv6Addr;

use super::arp::MacAddr;
use super::checksum::pseudo_header_v6;

/// IPv6 next header value of ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;
/// Required hop limit of every Neighbor Discovery message (RFC 4861 §7.1.2).
pub const HOP_LIMIT: u8 = 255;
/// Destination of an unsolicited advertisement (all-nodes multicast).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// ICMPv6 type of a Neighbor Advertisement.
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;
/// Option type "Target Link-Layer Address" (RFC 4861 §4.6.1).
pub const OPTION_TARGET_LINK_ADDR: u8 = 2;

/// Length up to the end of the target address.
pub const HEADER_LEN: usize = 24;
/// Length of an Ethernet link-layer address option (one 8-byte unit).
pub const LINK_ADDR_OPTION_LEN: usize = 8;
/// An advertisement with the target link-layer address option, as keepalived sends.
pub const UNSOLICITED_NA_LEN: usize = HEADER_LEN + LINK_ADDR_OPTION_LEN;

const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// Byte ranges of a Neighbor Advertisement.
pub mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Router, Solicited, Override in the top 3 bits; the rest of the word is reserved.
    pub const FLAGS: usize = 4;
    pub const RESERVED: Range<usize> = 5..8;
    pub const TARGET: Range<usize> = 8..24;
    pub const OPTIONS: usize = 24;
}

/// Why a received message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// Shorter than the 24-byte advertisement.
    Truncated,
    /// Not ICMPv6 type 136 code 0.
    NotNeighborAdvert,
    /// An option of length zero or running past the message (RFC 4861 §4.6: discard).
    BadOption,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Error::Truncated => "neighbor advertisement shorter than 24 bytes",
            Error::NotNeighborAdvert => "ICMPv6 message is not a neighbor advertisement",
            Error::BadOption => "neighbor discovery option of zero length or past the end",
        };
        f.write_str(what)
    }
}

impl std::error::Error for Error {}

/// A checked view of a Neighbor Advertisement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks; accessors may panic on a buffer shorter than `HEADER_LEN`.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// A view whose accessors cannot panic.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[field::CHECKSUM.start], data[field::CHECKSUM.start + 1]])
    }

    pub fn router_flag(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_ROUTER != 0
    }

    pub fn solicited_flag(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_SOLICITED != 0
    }

    pub fn override_flag(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_OVERRIDE != 0
    }

    pub fn target_addr(&self) -> Ipv6Addr {
        let mut octets = [0; 16];
        octets.copy_from_slice(&self.buffer.as_ref()[field::TARGET]);
        Ipv6Addr::from(octets)
    }

    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..]
    }

    /// The Ethernet address in the first Target Link-Layer Address option, if any. Options are
    /// walked to the end so a malformed one refuses the message, as RFC 4861 §4.6 asks.
    pub fn target_link_addr(&self) -> Result<Option<MacAddr>, Error> {
        let mut rest = self.options();
        let mut found = None;
        while !rest.is_empty() {
            let [kind, units, ..] = *rest else {
                return Err(Error::BadOption);
            };
            let len = usize::from(units) * 8;
            if len == 0 || len > rest.len() {
                return Err(Error::BadOption);
            }
            // Other link layers have other address sizes; only Ethernet's 6 bytes are read.
            if kind == OPTION_TARGET_LINK_ADDR && len == LINK_ADDR_OPTION_LEN && found.is_none() {
                let mut mac = [0; 6];
                mac.copy_from_slice(&rest[2..8]);
                found = Some(mac);
            }
            rest = &rest[len..];
        }
        Ok(found)
    }

    /// Whether the message sums to zero with the IPv6 pseudo-header of `src` → `dst`.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let data = self.buffer.as_ref();
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        pseudo_header_v6(src, dst, NEXT_HEADER_ICMPV6, len)
            .add(data)
            .finish()
            == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
    }

    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the three flags and clears the reserved bits.
    pub fn set_flags(&mut self, router: bool, solicited: bool, override_: bool) {
        let mut flags = 0;
        if router {
            flags |= FLAG_ROUTER;
        }
        if solicited {
            flags |= FLAG_SOLICITED;
        }
        if override_ {
            flags |= FLAG_OVERRIDE;
        }
        let data = self.buffer.as_mut();
        data[field::FLAGS] = flags;
        data[field::RESERVED].fill(0);
    }

    pub fn set_target_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::TARGET].copy_from_slice(&addr.octets());
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::OPTIONS..]
    }

    /// Computes and stores the checksum with the IPv6 pseudo-header of `src` → `dst`.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let sum = pseudo_header_v6(src, dst, NEXT_HEADER_ICMPV6, len)
            .add(data)
            .finish();
        self.set_checksum(sum);
    }
}

/// The meaning of a Neighbor Advertisement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    pub router_flag: bool,
    pub solicited_flag: bool,
    pub override_flag: bool,
    pub target_addr: Ipv6Addr,
    pub target_link_addr: Option<MacAddr>,
}

impl Repr {
    /// keepalived's unsolicited advertisement for a VIP: Override set, Solicited clear, Router set
    /// when the interface forwards IPv6 (its `forwarding` sysctl), the MAC in a target link-layer
    /// address option.
    pub fn unsolicited(mac: MacAddr, target: Ipv6Addr, router: bool) -> Repr {
        Repr {
            router_flag: router,
            solicited_flag: false,
            override_flag: true,
            target_addr: target,
            target_link_addr: Some(mac),
        }
    }

    /// Reads the fields; the checksum needs the IPv6 addresses, see [`Packet::verify_checksum`].
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        if packet.msg_type() != TYPE_NEIGHBOR_ADVERT || packet.msg_code() != 0 {
            return Err(Error::NotNeighborAdvert);
        }
        Ok(Repr {
            router_flag: packet.router_flag(),
            solicited_flag: packet.solicited_flag(),
            override_flag: packet.override_flag(),
            target_addr: packet.target_addr(),
            target_link_addr: packet.target_link_addr()?,
        })
    }

    pub fn buffer_len(&self) -> usize {
        match self.target_link_addr {
            Some(_) => UNSOLICITED_NA_LEN,
            None => HEADER_LEN,
        }
    }

    /// Writes the message with a zero checksum (the kernel fills it on a raw ICMPv6 socket); the
    /// packet must be `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_msg_type(TYPE_NEIGHBOR_ADVERT);
        packet.set_msg_code(0);
        packet.set_checksum(0);
        packet.set_flags(self.router_flag, self.solicited_flag, self.override_flag);
        packet.set_target_addr(self.target_addr);
        if let Some(mac) = self.target_link_addr {
            let option = &mut packet.options_mut()[..LINK_ADDR_OPTION_LEN];
            option[0] = OPTION_TARGET_LINK_ADDR;
            option[1] = 1;
            option[2..].copy_from_slice(&mac);
        }
    }
}

/// Writes keepalived's unsolicited advertisement for `vip` from `mac` (see
/// [`Repr::unsolicited`]) with a zero checksum, and returns its length.
pub fn emit_unsolicited_na(
    buf: &mut [u8; UNSOLICITED_NA_LEN],
    mac: MacAddr,
    vip: Ipv6Addr,
    router: bool,
) -> usize {
    Repr::unsolicited(mac, vip, router).emit(&mut Packet::new_unchecked(&mut buf[..]));
    UNSOLICITED_NA_LEN
}

#[cfg(test)]
mod tests {
    //! Messages captured from keepalived 2.2.7 with tcpdump on the peer end of a veth pair (setup
    //! in `wire::vrrp`'s tests): wcA has MAC 02:00:00:99:00:01, the instance is `version 3` with
    //! VIPs fd00:99::100/64 and fd00:99::101/64. keepalived sends from the VIP to ff02::1 with hop
    //! limit 255. The second capture ran with `net.ipv6.conf.all.forwarding=1` in the namespace.
    use super::*;

    const MAC: MacAddr = [0x02, 0x00, 0x00, 0x99, 0x00, 0x01];
    const VIP: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 0x100);

    /// Forwarding off: flags 0x20 (Override only).
    const NA: [u8; 32] = [
        0x88, 0x00, 0x56, 0xd2, 0x20, 0x00, 0x00, 0x00, // type 136, checksum, O
        0xfd, 0x00, 0x00, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        0x00, // target fd00:99::100
        0x02, 0x01, 0x02, 0x00, 0x00, 0x99, 0x00, 0x01, // target link-layer address
    ];
    /// Forwarding on: flags 0xa0 (Router and Override).
    const NA_ROUTER: [u8; 32] = [
        0x88, 0x00, 0xd6, 0xd1, 0xa0, 0x00, 0x00, 0x00, //
        0xfd, 0x00, 0x00, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, //
        0x02, 0x01, 0x02, 0x00, 0x00, 0x99, 0x00, 0x01,
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&NA[..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (136, 0));
        assert_eq!(p.checksum(), 0x56d2);
        assert!(!p.router_flag() && !p.solicited_flag() && p.override_flag());
        assert_eq!(p.target_addr(), VIP);
        assert_eq!(p.target_link_addr(), Ok(Some(MAC)));
        assert!(p.verify_checksum(VIP, ALL_NODES));
        assert!(!p.verify_checksum(VIP, Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn parse() {
        let repr = Repr::parse(&Packet::new_checked(&NA[..]).unwrap()).unwrap();
        assert_eq!(repr, Repr::unsolicited(MAC, VIP, false));
        let repr = Repr::parse(&Packet::new_checked(&NA_ROUTER[..]).unwrap()).unwrap();
        assert_eq!(repr, Repr::unsolicited(MAC, VIP, true));
    }

    #[test]
    fn emit_matches_keepalived_once_checksummed() {
        for (router, captured) in [(false, NA), (true, NA_ROUTER)] {
            let mut buf = [0xa5u8; UNSOLICITED_NA_LEN];
            assert_eq!(emit_unsolicited_na(&mut buf, MAC, VIP, router), 32);
            // As handed to a raw socket: checksum left to the kernel.
            assert_eq!(&buf[2..4], &[0, 0]);
            assert_eq!(&buf[4..], &captured[4..]);
            Packet::new_unchecked(&mut buf[..]).fill_checksum(VIP, ALL_NODES);
            assert_eq!(buf, captured);
        }
    }

    #[test]
    fn without_link_addr_option() {
        let repr = Repr {
            target_link_addr: None,
            ..Repr::unsolicited(MAC, VIP, false)
        };
        let mut buf = [0u8; HEADER_LEN];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(repr.buffer_len(), 24);
        let mut expected = [0u8; HEADER_LEN];
        expected.copy_from_slice(&NA[..HEADER_LEN]);
        expected[2..4].fill(0);
        assert_eq!(buf, expected);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&buf[..]).unwrap()),
            Ok(repr)
        );
    }

    #[test]
    fn options_are_walked() {
        // An unknown 16-byte option before the link-layer address is skipped.
        let mut buf = [0u8; 48];
        buf[..24].copy_from_slice(&NA[..24]);
        buf[24] = 99;
        buf[25] = 2;
        buf[40..48].copy_from_slice(&NA[24..]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.target_link_addr(), Ok(Some(MAC)));
        // Zero length, running past the end, and a lone byte are refused.
        for bad in [
            &[2u8, 0, 0, 0, 0, 0, 0, 0][..],
            &[2, 2, 0, 0, 0, 0, 0, 0],
            &[2],
        ] {
            let mut buf = [0u8; 32];
            buf[..24].copy_from_slice(&NA[..24]);
            buf[24..24 + bad.len()].copy_from_slice(bad);
            let p = Packet::new_checked(&buf[..24 + bad.len()]).unwrap();
            assert_eq!(Repr::parse(&p), Err(Error::BadOption));
        }
    }

    #[test]
    fn errors() {
        for len in 0..24 {
            assert_eq!(Packet::new_checked(&NA[..len]), Err(Error::Truncated));
        }
        let mut ns = NA;
        ns[0] = 135;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&ns[..]).unwrap()),
            Err(Error::NotNeighborAdvert)
        );
        let mut code = NA;
        code[1] = 1;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&code[..]).unwrap()),
            Err(Error::NotNeighborAdvert)
        );
        for e in [Error::Truncated, Error::NotNeighborAdvert, Error::BadOption] {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn garbage_never_panics() {
        for i in 0..NA.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut copy = NA;
                copy[i] ^= flip;
                for bytes in [&copy[..], &copy[..i]] {
                    if let Ok(p) = Packet::new_checked(bytes) {
                        let _ = (Repr::parse(&p), p.verify_checksum(VIP, ALL_NODES));
                    }
                }
            }
        }
    }
}
