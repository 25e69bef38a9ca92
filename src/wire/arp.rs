//! Ethernet II header and ARP for Ethernet/IPv4 (RFC 826), for the gratuitous ARP a new master
//! sends for each VIP (RFC 5798 §6.4.1, an ARP announcement in RFC 5227 §3's sense), byte for byte
//! as keepalived 2.2.7 sends it on a packet socket.

use core::fmt;
use core::net::Ipv4Addr;

/// A 48-bit MAC address in wire order.
pub type MacAddr = [u8; 6];

pub const BROADCAST: MacAddr = [0xff; 6];
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Ethernet II header length.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// ARP packet length for Ethernet/IPv4.
pub const ARP_LEN: usize = 28;
/// A gratuitous ARP frame without the link's padding (the driver pads to 60 bytes).
pub const GRATUITOUS_ARP_LEN: usize = ETHERNET_HEADER_LEN + ARP_LEN;

const HTYPE_ETHERNET: u16 = 1;

/// Why a received frame was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// Shorter than the Ethernet header or the 28-byte Ethernet/IPv4 ARP packet.
    Truncated,
    /// Not EtherType 0x0806.
    NotArp,
    /// Hardware or protocol type or length other than Ethernet (1, 6) and IPv4 (0x0800, 4).
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Error::Truncated => "frame shorter than an Ethernet/IPv4 ARP packet",
            Error::NotArp => "frame is not ARP",
            Error::Unsupported => "ARP is not for Ethernet and IPv4",
        };
        f.write_str(what)
    }
}

impl std::error::Error for Error {}

/// Byte ranges of the Ethernet II header.
pub mod ethernet_field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
}

/// Byte ranges of an Ethernet/IPv4 ARP packet.
pub mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// An Ethernet II header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthernetHeader {
    pub dst: MacAddr,
    pub src: MacAddr,
    pub ethertype: u16,
}

impl EthernetHeader {
    /// Reads the header and returns it with the payload after it.
    pub fn parse(frame: &[u8]) -> Result<(EthernetHeader, &[u8]), Error> {
        let (header, payload) = frame
            .split_first_chunk::<ETHERNET_HEADER_LEN>()
            .ok_or(Error::Truncated)?;
        let header = EthernetHeader {
            dst: mac_at(header, ethernet_field::DST.start),
            src: mac_at(header, ethernet_field::SRC.start),
            ethertype: u16::from_be_bytes([header[12], header[13]]),
        };
        Ok((header, payload))
    }

    /// `buf` needs `ETHERNET_HEADER_LEN` bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[ethernet_field::DST].copy_from_slice(&self.dst);
        buf[ethernet_field::SRC].copy_from_slice(&self.src);
        buf[ethernet_field::ETHERTYPE].copy_from_slice(&self.ethertype.to_be_bytes());
    }
}

fn mac_at(bytes: &[u8], at: usize) -> MacAddr {
    let mut mac = [0; 6];
    mac.copy_from_slice(&bytes[at..at + 6]);
    mac
}

fn ipv4_at(bytes: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3])
}

/// A checked view of an ARP packet (the Ethernet payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks; accessors may panic on a buffer shorter than `ARP_LEN`.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// A view whose accessors cannot panic. Trailing bytes (link padding) are allowed.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < ARP_LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }

    pub fn hardware_type(&self) -> u16 {
        self.read_u16(field::HTYPE.start)
    }

    pub fn protocol_type(&self) -> u16 {
        self.read_u16(field::PTYPE.start)
    }

    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    pub fn operation(&self) -> Operation {
        Operation::from(self.read_u16(field::OPER.start))
    }

    pub fn source_hardware_addr(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::SHA.start)
    }

    pub fn source_protocol_addr(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::SPA.start)
    }

    pub fn target_hardware_addr(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::THA.start)
    }

    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::TPA.start)
    }

    fn read_u16(&self, at: usize) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[at], data[at + 1]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes hardware Ethernet (1, length 6) and protocol IPv4 (0x0800, length 4).
    pub fn set_ethernet_ipv4(&mut self) {
        let data = self.buffer.as_mut();
        data[field::HTYPE].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        data[field::PTYPE].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        data[field::HLEN] = 6;
        data[field::PLEN] = 4;
    }

    pub fn set_operation(&mut self, op: Operation) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&u16::from(op).to_be_bytes());
    }

    pub fn set_source_hardware_addr(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&mac);
    }

    pub fn set_source_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&addr.octets());
    }

    pub fn set_target_hardware_addr(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&mac);
    }

    pub fn set_target_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&addr.octets());
    }
}

/// ARP operation (RFC 826 "ar$op").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Request,
    Reply,
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(value: u16) -> Self {
        match value {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    fn from(op: Operation) -> u16 {
        match op {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(other) => other,
        }
    }
}

/// The meaning of an Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    pub operation: Operation,
    pub source_hardware_addr: MacAddr,
    pub source_protocol_addr: Ipv4Addr,
    pub target_hardware_addr: MacAddr,
    pub target_protocol_addr: Ipv4Addr,
}

impl Repr {
    /// keepalived's gratuitous ARP: a request with sender and target protocol address both the
    /// VIP, and the target hardware address broadcast (not the zeros RFC 5227 suggests; peers only
    /// read the sender fields).
    pub fn gratuitous(src_mac: MacAddr, vip: Ipv4Addr) -> Repr {
        Repr {
            operation: Operation::Request,
            source_hardware_addr: src_mac,
            source_protocol_addr: vip,
            target_hardware_addr: BROADCAST,
            target_protocol_addr: vip,
        }
    }

    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != ETHERTYPE_IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        Ok(Repr {
            operation: packet.operation(),
            source_hardware_addr: packet.source_hardware_addr(),
            source_protocol_addr: packet.source_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        ARP_LEN
    }

    /// The packet needs `ARP_LEN` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_ethernet_ipv4();
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(self.source_hardware_addr);
        packet.set_source_protocol_addr(self.source_protocol_addr);
        packet.set_target_hardware_addr(self.target_hardware_addr);
        packet.set_target_protocol_addr(self.target_protocol_addr);
    }
}

/// Writes keepalived's gratuitous ARP frame for `vip`: broadcast from `src_mac` (the interface's
/// MAC, or the VMAC 00:00:5e:00:01:VRID with `use_vmac`), with `src_mac` as sender. Returns the
/// frame length to send on an `AF_PACKET`/`SOCK_RAW` socket.
pub fn emit_gratuitous_arp(
    buf: &mut [u8; GRATUITOUS_ARP_LEN],
    src_mac: MacAddr,
    vip: Ipv4Addr,
) -> usize {
    let (header, arp) = buf.split_at_mut(ETHERNET_HEADER_LEN);
    EthernetHeader {
        dst: BROADCAST,
        src: src_mac,
        ethertype: ETHERTYPE_ARP,
    }
    .emit(header);
    Repr::gratuitous(src_mac, vip).emit(&mut Packet::new_unchecked(arp));
    GRATUITOUS_ARP_LEN
}

/// Reads an Ethernet frame carrying ARP for Ethernet/IPv4.
pub fn parse_frame(frame: &[u8]) -> Result<(EthernetHeader, Repr), Error> {
    let (header, payload) = EthernetHeader::parse(frame)?;
    if header.ethertype != ETHERTYPE_ARP {
        return Err(Error::NotArp);
    }
    let repr = Repr::parse(&Packet::new_checked(payload)?)?;
    Ok((header, repr))
}

#[cfg(test)]
mod tests {
    //! Frames captured from keepalived 2.2.7 with `tcpdump -e -x arp` on the peer end of a veth
    //! pair (setup in `wire::vrrp`'s tests): wcA has MAC 02:00:00:99:00:01, the VIP is
    //! 10.99.0.100/24, `vrrp_garp_master_delay 1`.
    use super::*;

    const MAC: MacAddr = [0x02, 0x00, 0x00, 0x99, 0x00, 0x01];
    const VMAC_51: MacAddr = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);

    /// "Request who-has 10.99.0.100 (ff:ff:ff:ff:ff:ff) tell 10.99.0.100", from wcA's MAC.
    const GARP: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x99, 0x00, 0x01, 0x08,
        0x06, // eth
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet, IPv4, request
        0x02, 0x00, 0x00, 0x99, 0x00, 0x01, 0x0a, 0x63, 0x00, 0x64, // sender
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x63, 0x00, 0x64, // target
    ];
    /// The same with `use_vmac` (vrid 51): VMAC as Ethernet source and sender.
    const GARP_VMAC: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, 0x08, 0x06, //
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, //
        0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, 0x0a, 0x63, 0x00, 0x64, //
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x63, 0x00, 0x64,
    ];
    /// The kernel resolving the unicast peer in the same capture (not keepalived's): target
    /// hardware address zero, "who-has 10.99.0.2 tell 10.99.0.1".
    const KERNEL_REQUEST: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x99, 0x00, 0x01, 0x08, 0x06, //
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, //
        0x02, 0x00, 0x00, 0x99, 0x00, 0x01, 0x0a, 0x63, 0x00, 0x01, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x63, 0x00, 0x02,
    ];

    #[test]
    fn emit_matches_keepalived() {
        let mut buf = [0u8; GRATUITOUS_ARP_LEN];
        assert_eq!(emit_gratuitous_arp(&mut buf, MAC, VIP), 42);
        assert_eq!(buf, GARP);
        assert_eq!(emit_gratuitous_arp(&mut buf, VMAC_51, VIP), 42);
        assert_eq!(buf, GARP_VMAC);
    }

    #[test]
    fn deconstruct_and_parse() {
        let p = Packet::new_checked(&GARP[14..]).unwrap();
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.protocol_type(), 0x0800);
        assert_eq!((p.hardware_len(), p.protocol_len()), (6, 4));
        assert_eq!(p.operation(), Operation::Request);
        assert_eq!(p.source_hardware_addr(), MAC);
        assert_eq!(p.source_protocol_addr(), VIP);
        assert_eq!(p.target_hardware_addr(), BROADCAST);
        assert_eq!(p.target_protocol_addr(), VIP);

        let (eth, repr) = parse_frame(&GARP).unwrap();
        assert_eq!(
            eth,
            EthernetHeader {
                dst: BROADCAST,
                src: MAC,
                ethertype: ETHERTYPE_ARP
            }
        );
        assert_eq!(repr, Repr::gratuitous(MAC, VIP));

        let (_, kernel) = parse_frame(&KERNEL_REQUEST).unwrap();
        assert_eq!(kernel.source_protocol_addr, Ipv4Addr::new(10, 99, 0, 1));
        assert_eq!(kernel.target_hardware_addr, [0; 6]);
        let mut out = [0u8; ARP_LEN];
        kernel.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(&out[..], &KERNEL_REQUEST[14..]);
    }

    #[test]
    fn padded_frame_parses() {
        let mut padded = [0u8; 60];
        padded[..42].copy_from_slice(&GARP);
        assert_eq!(parse_frame(&padded).unwrap().1, Repr::gratuitous(MAC, VIP));
    }

    #[test]
    fn operations_roundtrip() {
        for value in [1u16, 2, 3, 0xffff] {
            assert_eq!(u16::from(Operation::from(value)), value);
        }
        assert_eq!(Operation::from(2), Operation::Reply);
    }

    #[test]
    fn errors() {
        for len in 0..42 {
            assert_eq!(parse_frame(&GARP[..len]), Err(Error::Truncated));
        }
        let mut ip = GARP;
        ip[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        assert_eq!(parse_frame(&ip), Err(Error::NotArp));
        for at in [15, 17, 18, 19] {
            let mut other = GARP;
            other[at] ^= 0x01;
            assert_eq!(parse_frame(&other), Err(Error::Unsupported));
        }
        for e in [Error::Truncated, Error::NotArp, Error::Unsupported] {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn garbage_never_panics() {
        for i in 0..GARP.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut copy = GARP;
                copy[i] ^= flip;
                let _ = parse_frame(&copy);
                let _ = parse_frame(&copy[..i]);
            }
        }
    }
}
