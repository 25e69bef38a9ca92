//! VRRP advertisement codec: version 2 (RFC 3768 §5, IPv4) and version 3 (RFC 5798 §5, IPv4 and
//! IPv6), with the checksum forms keepalived 2.x sends and accepts.
//!
//! The message does not say which address family it travels in, so a [`Packet`] is given its
//! [`Family`], and checksums are computed against the [`Endpoints`] of the IP header around it.
//!
//! VRRPv3 over IPv4 has two checksums in the wild: keepalived and FRR include the IPv4
//! pseudo-header (as RFC 5798 §5.2.8 reads for both families); RFC 9568 and Cisco do not. Both are
//! accepted on receive and [`Repr::parse`] reports which one matched; emit takes the form to use.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum::{pseudo_header_v4, pseudo_header_v6, Checksum};

/// IP protocol number (IPv4 protocol, IPv6 next header) of VRRP.
pub const IP_PROTOCOL: u8 = 112;
/// Sent and required TTL / hop limit (RFC 5798 §5.1.1.3, §5.1.2.3).
pub const TTL: u8 = 255;
/// The IPv4 type of service keepalived sends VRRP with (`IPTOS_PREC_INTERNETCONTROL`).
pub const IPV4_TOS: u8 = 0xc0;
/// The IPv4 multicast group of VRRP (RFC 5798 §5.1.1.2).
pub const IPV4_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group of VRRP (RFC 5798 §5.1.2.2).
pub const IPV6_GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The only message type (RFC 5798 §5.2.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Version 2 "Auth Type" values (RFC 3768 §5.3.6; keepalived's `auth_type PASS` and `AH`).
pub mod auth_type {
    pub const NONE: u8 = 0;
    pub const PASS: u8 = 1;
    pub const AH: u8 = 2;
}
/// Length of the version 2 authentication data after the addresses.
pub const AUTH_DATA_LEN: usize = 8;

/// Byte ranges of the fixed header.
pub mod field {
    use core::ops::Range;
    /// Version (high nibble) and type (low nibble).
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT_IP_ADDRS: usize = 3;
    /// Version 2: authentication type.
    pub const AUTH_TYPE: usize = 4;
    /// Version 2: advertisement interval in seconds.
    pub const ADVER_INT: usize = 5;
    /// Version 3: 4 reserved bits, then the maximum advertisement interval in centiseconds.
    pub const MAX_ADVER_INT: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    /// Start of the address list.
    pub const ADDRESSES: usize = 8;
}

/// Length of the fixed header before the addresses.
pub const HEADER_LEN: usize = field::ADDRESSES;

/// Why a received message was refused; the receive path counts these per reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// Shorter than the 8-byte fixed header.
    Truncated,
    /// Version neither 2 nor 3, or version 2 over IPv6 (RFC 3768 is IPv4 only).
    BadVersion,
    /// Type is not 1 (advertisement).
    BadType,
    /// The checksum matches none of the forms this version and family allow.
    BadChecksum,
    /// Count IP Addrs × address size + header (+ 8 authentication bytes for version 2) differs from
    /// the message length.
    CountMismatch,
    /// Virtual router id 0 (RFC 5798 §5.2.3: 1–255).
    ZeroVrid,
    /// The IP endpoints given for the checksum are not of the message's family (a caller bug, not
    /// something a peer can cause).
    FamilyMismatch,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Error::Truncated => "VRRP message shorter than its 8-byte header",
            Error::BadVersion => "VRRP version is not 2 (IPv4) or 3",
            Error::BadType => "VRRP type is not advertisement (1)",
            Error::BadChecksum => "VRRP checksum does not match",
            Error::CountMismatch => "VRRP address count does not match the message length",
            Error::ZeroVrid => "VRRP virtual router id is 0",
            Error::FamilyMismatch => "IP endpoints are not of the VRRP message's address family",
        };
        f.write_str(what)
    }
}

impl std::error::Error for Error {}

/// The address family of the IP packet carrying the message, which fixes the address size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// Bytes per address in the address list.
    pub const fn addr_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }
}

/// Source and destination of the IP header around the message, for the pseudo-header.
///
/// For unicast peers keepalived puts the real destination (the peer) in the pseudo-header, so this
/// is always the destination the packet was sent to or received on, not the VRRP group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoints {
    V4 { src: Ipv4Addr, dst: Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr },
}

impl Endpoints {
    /// `None` when `src` and `dst` are of different families.
    pub fn new(src: IpAddr, dst: IpAddr) -> Option<Self> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Some(Endpoints::V4 { src, dst }),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Some(Endpoints::V6 { src, dst }),
            _ => None,
        }
    }

    pub fn family(&self) -> Family {
        match self {
            Endpoints::V4 { .. } => Family::Ipv4,
            Endpoints::V6 { .. } => Family::Ipv6,
        }
    }

    fn pseudo_header(&self, len: usize) -> Checksum {
        match *self {
            // A VRRP message fits an IP packet, so its length fits 16 bits; saturating keeps an
            // impossible oversize input from wrapping into a valid-looking sum.
            Endpoints::V4 { src, dst } => {
                let len = u16::try_from(len).unwrap_or(u16::MAX);
                pseudo_header_v4(src, dst, IP_PROTOCOL, len)
            }
            Endpoints::V6 { src, dst } => {
                let len = u32::try_from(len).unwrap_or(u32::MAX);
                pseudo_header_v6(src, dst, IP_PROTOCOL, len)
            }
        }
    }
}

/// Which checksum a version 3 message over IPv4 carries (version 2 is always without, version 3
/// over IPv6 always with).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ChecksumForm {
    /// keepalived's and FRR's form: the IPv4 pseudo-header is summed first.
    #[default]
    WithPseudoHeader,
    /// RFC 9568 / Cisco form, and keepalived's `v3_checksum_as_v2`: the message alone.
    WithoutPseudoHeader,
}

/// A checked view of a VRRP message's bytes (exactly the IP payload, no padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks; accessors may panic on a buffer that `check_len` would refuse.
    pub const fn new_unchecked(buffer: T, family: Family) -> Self {
        Packet { buffer, family }
    }

    /// A view whose accessors cannot panic: header present, a known version, and a length that
    /// matches the address count.
    pub fn new_checked(buffer: T, family: Family) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer, family);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks what the accessors rely on. The version is part of it because version 2 carries 8
    /// more bytes after the addresses.
    pub fn check_len(&self) -> Result<(), Error> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let auth_len = match (self.version(), self.family) {
            (2, Family::Ipv4) => AUTH_DATA_LEN,
            (3, _) => 0,
            _ => return Err(Error::BadVersion),
        };
        let expected = HEADER_LEN + usize::from(self.count_ip_addrs()) * self.family.addr_len();
        if data.len() != expected + auth_len {
            return Err(Error::CountMismatch);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    pub fn count_ip_addrs(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT_IP_ADDRS]
    }

    /// Version 2 only.
    pub fn auth_type(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE]
    }

    /// Version 2 only: seconds.
    pub fn adver_int(&self) -> u8 {
        self.buffer.as_ref()[field::ADVER_INT]
    }

    /// Version 3 only: centiseconds, the 4 reserved bits above it dropped (RFC 5798 §5.2.5:
    /// ignored on reception).
    pub fn max_adver_int(&self) -> u16 {
        let data = self.buffer.as_ref();
        let start = field::MAX_ADVER_INT.start;
        u16::from_be_bytes([data[start], data[start + 1]]) & 0x0fff
    }

    pub fn checksum(&self) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[field::CHECKSUM.start], data[field::CHECKSUM.start + 1]])
    }

    fn addresses_range(&self) -> core::ops::Range<usize> {
        let len = usize::from(self.count_ip_addrs()) * self.family.addr_len();
        field::ADDRESSES..field::ADDRESSES + len
    }

    /// Version 2 only: the 8 bytes after the addresses (RFC 3768 §5.3.10; keepalived's
    /// `auth_pass`, zero-padded, or zeros).
    pub fn auth_data(&self) -> &[u8] {
        let start = self.addresses_range().end;
        &self.buffer.as_ref()[start..start + AUTH_DATA_LEN]
    }

    /// Which checksum form the message carries, or `None` if it verifies in no form allowed for
    /// its version and family.
    pub fn checksum_form(&self, endpoints: &Endpoints) -> Option<ChecksumForm> {
        let data = self.buffer.as_ref();
        if endpoints.family() != self.family {
            return None;
        }
        let forms: &[ChecksumForm] = match (self.version(), self.family) {
            (3, Family::Ipv4) => &[
                ChecksumForm::WithPseudoHeader,
                ChecksumForm::WithoutPseudoHeader,
            ],
            (3, Family::Ipv6) => &[ChecksumForm::WithPseudoHeader],
            _ => &[ChecksumForm::WithoutPseudoHeader],
        };
        forms.iter().copied().find(|&form| {
            let mut sum = match form {
                ChecksumForm::WithPseudoHeader => endpoints.pseudo_header(data.len()),
                ChecksumForm::WithoutPseudoHeader => Checksum::new(),
            };
            sum.add(data).finish() == 0
        })
    }

    /// The checksum the message should carry in `form`, summing its checksum field as zero.
    /// `form` is overridden where the version and family allow only one.
    pub fn compute_checksum(&self, endpoints: &Endpoints, form: ChecksumForm) -> u16 {
        let data = self.buffer.as_ref();
        let mut sum = match effective_form(self.version(), self.family, form) {
            ChecksumForm::WithPseudoHeader => endpoints.pseudo_header(data.len()),
            ChecksumForm::WithoutPseudoHeader => Checksum::new(),
        };
        sum.add(&data[..field::CHECKSUM.start])
            .add(&data[field::CHECKSUM.end..]);
        sum.finish()
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The address list, borrowed for the buffer's lifetime.
    pub fn addresses(&self) -> Addresses<'a> {
        let range = self.addresses_range();
        let data: &'a [u8] = self.buffer;
        Addresses {
            bytes: &data[range],
            family: self.family,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version_and_type(&mut self, version: u8, msg_type: u8) {
        self.buffer.as_mut()[field::VER_TYPE] = (version << 4) | (msg_type & 0x0f);
    }

    pub fn set_vrid(&mut self, value: u8) {
        self.buffer.as_mut()[field::VRID] = value;
    }

    pub fn set_priority(&mut self, value: u8) {
        self.buffer.as_mut()[field::PRIORITY] = value;
    }

    pub fn set_count_ip_addrs(&mut self, value: u8) {
        self.buffer.as_mut()[field::COUNT_IP_ADDRS] = value;
    }

    pub fn set_auth_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::AUTH_TYPE] = value;
    }

    pub fn set_adver_int(&mut self, value: u8) {
        self.buffer.as_mut()[field::ADVER_INT] = value;
    }

    /// Writes the low 12 bits and zeroes the reserved bits (RFC 5798 §5.2.5).
    pub fn set_max_adver_int(&mut self, centis: u16) {
        let bytes = (centis & 0x0fff).to_be_bytes();
        self.buffer.as_mut()[field::MAX_ADVER_INT].copy_from_slice(&bytes);
    }

    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// The address list bytes as sized by the current count and family.
    pub fn addresses_mut(&mut self) -> &mut [u8] {
        let range = self.addresses_range();
        &mut self.buffer.as_mut()[range]
    }

    /// Version 2 only.
    pub fn auth_data_mut(&mut self) -> &mut [u8] {
        let start = self.addresses_range().end;
        &mut self.buffer.as_mut()[start..start + AUTH_DATA_LEN]
    }

    /// Computes and stores the checksum (see [`Packet::compute_checksum`]).
    pub fn fill_checksum(&mut self, endpoints: &Endpoints, form: ChecksumForm) {
        let sum = self.compute_checksum(endpoints, form);
        self.set_checksum(sum);
    }
}

/// The form a version/family pair really uses: only version 3 over IPv4 has a choice.
fn effective_form(version: u8, family: Family, wanted: ChecksumForm) -> ChecksumForm {
    match (version, family) {
        (3, Family::Ipv4) => wanted,
        (3, Family::Ipv6) => ChecksumForm::WithPseudoHeader,
        _ => ChecksumForm::WithoutPseudoHeader,
    }
}

/// The version-specific fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768. keepalived always sends the 8 authentication bytes, zeros for type 0.
    V2 {
        auth_type: u8,
        adver_int_secs: u8,
        auth_data: [u8; AUTH_DATA_LEN],
    },
    /// RFC 5798. Only the low 12 bits are sent (up to 40.95 s).
    V3 { max_adver_int_centis: u16 },
}

impl Version {
    pub fn number(&self) -> u8 {
        match self {
            Version::V2 { .. } => 2,
            Version::V3 { .. } => 3,
        }
    }
}

/// The IPvX addresses of an advertisement, borrowed as their raw network-order bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Addresses<'a> {
    bytes: &'a [u8],
    family: Family,
}

impl<'a> Addresses<'a> {
    /// `None` unless `bytes` holds a whole number of addresses, at most 255 of them (the count is
    /// one byte).
    pub fn new(bytes: &'a [u8], family: Family) -> Option<Self> {
        let count = bytes.len() / family.addr_len();
        if bytes.len() % family.addr_len() != 0 || count > usize::from(u8::MAX) {
            return None;
        }
        Some(Addresses { bytes, family })
    }

    /// Writes `addrs` into `buf` in wire form and views them. `None` if one is of another family,
    /// `buf` is too small, or there are more than 255. Meant for building the list once per
    /// configuration, not per packet.
    pub fn encode<I>(buf: &'a mut [u8], family: Family, addrs: I) -> Option<Self>
    where
        I: IntoIterator<Item = IpAddr>,
    {
        let mut len = 0;
        for addr in addrs {
            let slot = buf.get_mut(len..len + family.addr_len())?;
            match (addr, family) {
                (IpAddr::V4(a), Family::Ipv4) => slot.copy_from_slice(&a.octets()),
                (IpAddr::V6(a), Family::Ipv6) => slot.copy_from_slice(&a.octets()),
                _ => return None,
            }
            len += family.addr_len();
        }
        let buf: &'a [u8] = buf;
        Self::new(&buf[..len], family)
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// Number of addresses (fits the one-byte count field).
    pub fn len(&self) -> usize {
        self.bytes.len() / self.family.addr_len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn get(&self, index: usize) -> Option<IpAddr> {
        let size = self.family.addr_len();
        let start = index.checked_mul(size)?;
        addr_from(
            self.bytes.get(start..start.checked_add(size)?)?,
            self.family,
        )
    }

    pub fn iter(&self) -> AddressIter<'a> {
        AddressIter {
            chunks: self.bytes.chunks_exact(self.family.addr_len()),
            family: self.family,
        }
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.iter().any(|a| a == addr)
    }
}

impl<'a> IntoIterator for Addresses<'a> {
    type Item = IpAddr;
    type IntoIter = AddressIter<'a>;
    fn into_iter(self) -> AddressIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Addresses<'a> {
    type Item = IpAddr;
    type IntoIter = AddressIter<'a>;
    fn into_iter(self) -> AddressIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Addresses`].
#[derive(Clone, Debug)]
pub struct AddressIter<'a> {
    chunks: core::slice::ChunksExact<'a, u8>,
    family: Family,
}

impl Iterator for AddressIter<'_> {
    type Item = IpAddr;
    fn next(&mut self) -> Option<IpAddr> {
        addr_from(self.chunks.next()?, self.family)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for AddressIter<'_> {}

fn addr_from(bytes: &[u8], family: Family) -> Option<IpAddr> {
    match family {
        Family::Ipv4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V4(b.into())),
        Family::Ipv6 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V6(b.into())),
    }
}

/// The meaning of an advertisement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    pub addresses: Addresses<'a>,
}

impl<'a> Repr<'a> {
    /// Checks in the order a receiver counts them: length and version, checksum, then type and
    /// virtual router id. Returns which checksum form matched.
    pub fn parse(
        packet: &Packet<&'a [u8]>,
        endpoints: &Endpoints,
    ) -> Result<(Repr<'a>, ChecksumForm), Error> {
        packet.check_len()?;
        if endpoints.family() != packet.family() {
            return Err(Error::FamilyMismatch);
        }
        let form = packet.checksum_form(endpoints).ok_or(Error::BadChecksum)?;
        if packet.msg_type() != TYPE_ADVERTISEMENT {
            return Err(Error::BadType);
        }
        if packet.vrid() == 0 {
            return Err(Error::ZeroVrid);
        }
        let version = if packet.version() == 2 {
            let mut auth_data = [0; AUTH_DATA_LEN];
            auth_data.copy_from_slice(packet.auth_data());
            Version::V2 {
                auth_type: packet.auth_type(),
                adver_int_secs: packet.adver_int(),
                auth_data,
            }
        } else {
            Version::V3 {
                max_adver_int_centis: packet.max_adver_int(),
            }
        };
        let repr = Repr {
            version,
            vrid: packet.vrid(),
            priority: packet.priority(),
            addresses: packet.addresses(),
        };
        Ok((repr, form))
    }

    /// Bytes of the message `emit` writes.
    pub fn buffer_len(&self) -> usize {
        let auth_len = match self.version {
            Version::V2 { .. } => AUTH_DATA_LEN,
            Version::V3 { .. } => 0,
        };
        HEADER_LEN + self.addresses.as_bytes().len() + auth_len
    }

    /// The family of the addresses, which is the family to send in.
    pub fn family(&self) -> Family {
        self.addresses.family()
    }

    /// Writes the message and its checksum. The packet must be `buffer_len()` bytes and of the
    /// addresses' family, and `endpoints` the IP source and destination it will be sent with;
    /// `form` matters only for version 3 over IPv4.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        endpoints: &Endpoints,
        form: ChecksumForm,
    ) {
        packet.set_version_and_type(self.version.number(), TYPE_ADVERTISEMENT);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        // `Addresses` never holds more than 255 addresses, so the count fits.
        packet.set_count_ip_addrs(u8::try_from(self.addresses.len()).unwrap_or(u8::MAX));
        match self.version {
            Version::V2 {
                auth_type,
                adver_int_secs,
                auth_data,
            } => {
                packet.set_auth_type(auth_type);
                packet.set_adver_int(adver_int_secs);
                packet.auth_data_mut().copy_from_slice(&auth_data);
            }
            Version::V3 {
                max_adver_int_centis,
            } => packet.set_max_adver_int(max_adver_int_centis),
        }
        packet.set_checksum(0);
        packet
            .addresses_mut()
            .copy_from_slice(self.addresses.as_bytes());
        packet.fill_checksum(endpoints, form);
    }
}

#[cfg(test)]
mod tests {
    //! The constants are real keepalived 2.2.7 (Debian 12) adverts, captured on a veth pair between
    //! two network namespaces. Recipe, as root:
    //!
    //! ```sh
    //! ip netns add wc-a; ip netns add wc-b
    //! ip link add wcA netns wc-a type veth peer name wcB netns wc-b
    //! ip -n wc-a link set wcA address 02:00:00:99:00:01
    //! ip -n wc-b link set wcB address 02:00:00:99:00:02
    //! ip -n wc-a addr add 10.99.0.1/24 dev wcA; ip -n wc-a addr add fd00:99::1/64 dev wcA nodad
    //! ip -n wc-b addr add 10.99.0.2/24 dev wcB; ip -n wc-b addr add fd00:99::2/64 dev wcB nodad
    //! ip -n wc-a link set wcA up; ip -n wc-b link set wcB up
    //! ip netns exec wc-b tcpdump -i wcB -U -w cap.pcap 'proto 112 or ip6 proto 112 or arp or icmp6' &
    //! ip netns exec wc-a keepalived -n -l -D -f CONF -p /tmp/wc.pid -r /tmp/wc-vrrp.pid --vrrp &
    //! sleep 8; kill %2; sleep 2; kill -INT %1      # SIGTERM also yields the priority-0 advert
    //! ip netns del wc-a; ip netns del wc-b
    //! ```
    //!
    //! then print the IP payload of the first advert (e.g. `tshark -r cap.pcap -x`). CONF is
    //!
    //! ```text
    //! global_defs { vrrp_garp_master_delay 1 }
    //! vrrp_instance V { state MASTER interface wcA virtual_router_id 51 priority 150
    //!                   advert_int 1 virtual_ipaddress { 10.99.0.100/24 } }
    //! ```
    //!
    //! with, per capture, the changes named on each constant. The link-local source of the IPv6
    //! advert is wcA's EUI-64 address from its MAC.
    use super::*;

    const SRC4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
    const PEER4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
    const SRC6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe99, 1);

    const MCAST4: Endpoints = Endpoints::V4 {
        src: SRC4,
        dst: IPV4_GROUP,
    };
    const UNICAST4: Endpoints = Endpoints::V4 {
        src: SRC4,
        dst: PEER4,
    };
    const MCAST6: Endpoints = Endpoints::V6 {
        src: SRC6,
        dst: IPV6_GROUP,
    };

    /// Version 2, no authentication, two VIPs (10.99.0.100/24 and 10.99.0.101/24).
    /// 10.99.0.1 → 224.0.0.18.
    const V2_NOAUTH: [u8; 24] = [
        0x21, 0x33, 0x96, 0x02, 0x00, 0x01, 0x33,
        0x3a, // v2 advert, vrid 51, prio 150, 2 addrs
        0x0a, 0x63, 0x00, 0x64, 0x0a, 0x63, 0x00, 0x65, // 10.99.0.100, 10.99.0.101
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // authentication data, zeros
    ];
    /// The same instance's priority-0 advert on SIGTERM.
    const V2_NOAUTH_RELEASE: [u8; 24] = [
        0x21, 0x33, 0x00, 0x02, 0x00, 0x01, 0xc9, 0x3a, //
        0x0a, 0x63, 0x00, 0x64, 0x0a, 0x63, 0x00, 0x65, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    /// Version 2, `authentication { auth_type PASS auth_pass secret1 }`. 10.99.0.1 → 224.0.0.18.
    const V2_PASS: [u8; 20] = [
        0x21, 0x33, 0x96, 0x01, 0x01, 0x01, 0xcf, 0xb6, // auth type 1, 1 s
        0x0a, 0x63, 0x00, 0x64, // 10.99.0.100
        b's', b'e', b'c', b'r', b'e', b't', b'1', 0x00,
    ];
    /// `version 3`. 10.99.0.1 → 224.0.0.18.
    const V3_V4: [u8; 12] = [
        0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0x42, 0xad, // max adver int 100 cs
        0x0a, 0x63, 0x00, 0x64,
    ];
    /// `version 3` plus `unicast_src_ip 10.99.0.1` and `unicast_peer { 10.99.0.2 }`.
    /// 10.99.0.1 → 10.99.0.2: only the checksum differs from `V3_V4`, because the pseudo-header
    /// holds the peer.
    const V3_UNICAST: [u8; 12] = [
        0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0x18, 0x5b, //
        0x0a, 0x63, 0x00, 0x64,
    ];
    /// `version 3`, `virtual_router_id 52`, `advert_int 0.5`, VIPs fd00:99::100/64 and
    /// fd00:99::101/64. fe80::ff:fe99:1 → ff02::12.
    const V3_V6: [u8; 40] = [
        0x31, 0x34, 0x96, 0x02, 0x00, 0x32, 0x3d, 0x9a, // vrid 52, 2 addrs, 50 cs
        0xfd, 0x00, 0x00, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // fd00:99::100
        0xfd, 0x00, 0x00, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x01, // fd00:99::101
    ];
    /// Its priority-0 advert on SIGTERM.
    const V3_V6_RELEASE: [u8; 40] = [
        0x31, 0x34, 0x00, 0x02, 0x00, 0x32, 0xd3, 0x9a, //
        0xfd, 0x00, 0x00, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, //
        0xfd, 0x00, 0x00, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x01,
    ];

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn parse<'a>(bytes: &'a [u8], family: Family, ep: &Endpoints) -> (Repr<'a>, ChecksumForm) {
        let packet = Packet::new_checked(bytes, family).expect("checked");
        Repr::parse(&packet, ep).expect("parsed")
    }

    fn emit(repr: &Repr<'_>, ep: &Endpoints, form: ChecksumForm) -> [u8; 64] {
        let mut buf = [0xa5u8; 64];
        let mut packet = Packet::new_unchecked(&mut buf[..repr.buffer_len()], repr.family());
        repr.emit(&mut packet, ep, form);
        buf
    }

    fn assert_roundtrip(bytes: &[u8], family: Family, ep: &Endpoints, form: ChecksumForm) {
        let (repr, got) = parse(bytes, family, ep);
        assert_eq!(got, form);
        assert_eq!(repr.buffer_len(), bytes.len());
        let out = emit(&repr, ep, form);
        assert_eq!(&out[..bytes.len()], bytes);
        // Nothing written past the message.
        assert!(out[bytes.len()..].iter().all(|&b| b == 0xa5));
    }

    #[test]
    fn deconstruct_v2_noauth() {
        let p = Packet::new_checked(&V2_NOAUTH[..], Family::Ipv4).unwrap();
        assert_eq!(p.version(), 2);
        assert_eq!(p.msg_type(), TYPE_ADVERTISEMENT);
        assert_eq!(p.vrid(), 51);
        assert_eq!(p.priority(), 150);
        assert_eq!(p.count_ip_addrs(), 2);
        assert_eq!(p.auth_type(), auth_type::NONE);
        assert_eq!(p.adver_int(), 1);
        assert_eq!(p.checksum(), 0x333a);
        assert_eq!(p.auth_data(), &[0; 8]);
        let addrs = p.addresses();
        assert_eq!(addrs.len(), 2);
        assert_eq!(addrs.get(0), Some(v4(10, 99, 0, 100)));
        assert_eq!(addrs.get(1), Some(v4(10, 99, 0, 101)));
        assert_eq!(addrs.get(2), None);
        assert_eq!(
            p.checksum_form(&MCAST4),
            Some(ChecksumForm::WithoutPseudoHeader)
        );
    }

    #[test]
    fn parse_v2_noauth() {
        let (repr, form) = parse(&V2_NOAUTH, Family::Ipv4, &MCAST4);
        assert_eq!(form, ChecksumForm::WithoutPseudoHeader);
        assert_eq!(
            repr.version,
            Version::V2 {
                auth_type: auth_type::NONE,
                adver_int_secs: 1,
                auth_data: [0; 8],
            }
        );
        assert_eq!((repr.vrid, repr.priority), (51, 150));
        let mut it = repr.addresses.iter();
        assert_eq!(it.len(), 2);
        assert_eq!(it.next(), Some(v4(10, 99, 0, 100)));
        assert_eq!(it.next(), Some(v4(10, 99, 0, 101)));
        assert_eq!(it.next(), None);
        assert!(repr.addresses.contains(v4(10, 99, 0, 101)));
        assert!(!repr.addresses.contains(v4(10, 99, 0, 102)));
    }

    #[test]
    fn construct_v2_noauth_from_config_addresses() {
        let mut list = [0u8; 8];
        let addrs = Addresses::encode(
            &mut list,
            Family::Ipv4,
            [v4(10, 99, 0, 100), v4(10, 99, 0, 101)],
        )
        .unwrap();
        let repr = Repr {
            version: Version::V2 {
                auth_type: auth_type::NONE,
                adver_int_secs: 1,
                auth_data: [0; 8],
            },
            vrid: 51,
            priority: 150,
            addresses: addrs,
        };
        let out = emit(&repr, &MCAST4, ChecksumForm::default());
        assert_eq!(&out[..24], &V2_NOAUTH);
        let release = Repr {
            priority: 0,
            ..repr
        };
        let out = emit(&release, &MCAST4, ChecksumForm::default());
        assert_eq!(&out[..24], &V2_NOAUTH_RELEASE);
    }

    #[test]
    fn roundtrip_v2() {
        let form = ChecksumForm::WithoutPseudoHeader;
        assert_roundtrip(&V2_NOAUTH, Family::Ipv4, &MCAST4, form);
        assert_roundtrip(&V2_NOAUTH_RELEASE, Family::Ipv4, &MCAST4, form);
        assert_roundtrip(&V2_PASS, Family::Ipv4, &MCAST4, form);
    }

    /// Version 2 ignores the requested form: the message alone, like keepalived.
    #[test]
    fn v2_emit_ignores_requested_form() {
        let (repr, _) = parse(&V2_PASS, Family::Ipv4, &MCAST4);
        let out = emit(&repr, &MCAST4, ChecksumForm::WithPseudoHeader);
        assert_eq!(&out[..20], &V2_PASS);
    }

    #[test]
    fn parse_v2_pass() {
        let (repr, _) = parse(&V2_PASS, Family::Ipv4, &MCAST4);
        assert_eq!(
            repr.version,
            Version::V2 {
                auth_type: auth_type::PASS,
                adver_int_secs: 1,
                auth_data: *b"secret1\0",
            }
        );
        assert_eq!(repr.addresses.len(), 1);
        assert_eq!(repr.addresses.get(0), Some(v4(10, 99, 0, 100)));
    }

    #[test]
    fn deconstruct_and_parse_v3_ipv4() {
        let p = Packet::new_checked(&V3_V4[..], Family::Ipv4).unwrap();
        assert_eq!((p.version(), p.msg_type()), (3, 1));
        assert_eq!(p.max_adver_int(), 100);
        assert_eq!(p.checksum(), 0x42ad);
        let (repr, form) = Repr::parse(&p, &MCAST4).unwrap();
        assert_eq!(form, ChecksumForm::WithPseudoHeader);
        assert_eq!(
            repr.version,
            Version::V3 {
                max_adver_int_centis: 100
            }
        );
        assert_eq!((repr.vrid, repr.priority), (51, 150));
        assert_eq!(
            repr.addresses.iter().collect::<Vec<_>>(),
            [v4(10, 99, 0, 100)]
        );
        assert_roundtrip(
            &V3_V4,
            Family::Ipv4,
            &MCAST4,
            ChecksumForm::WithPseudoHeader,
        );
    }

    #[test]
    fn v3_ipv4_unicast_pseudo_header_holds_the_peer() {
        assert_roundtrip(
            &V3_UNICAST,
            Family::Ipv4,
            &UNICAST4,
            ChecksumForm::WithPseudoHeader,
        );
        // Checked against the group instead, keepalived's unicast checksum does not verify.
        let p = Packet::new_checked(&V3_UNICAST[..], Family::Ipv4).unwrap();
        assert_eq!(Repr::parse(&p, &MCAST4), Err(Error::BadChecksum));
    }

    /// RFC 9568 / Cisco form: the same message with a checksum over itself only.
    #[test]
    fn v3_ipv4_without_pseudo_header_is_accepted_and_reported() {
        let (repr, _) = parse(&V3_V4, Family::Ipv4, &MCAST4);
        let out = emit(&repr, &MCAST4, ChecksumForm::WithoutPseudoHeader);
        let bytes = &out[..12];
        assert_ne!(bytes, &V3_V4);
        assert_eq!(&bytes[..6], &V3_V4[..6]);
        assert_eq!(super::super::checksum::checksum(bytes), 0);
        let (again, form) = parse(bytes, Family::Ipv4, &MCAST4);
        assert_eq!(form, ChecksumForm::WithoutPseudoHeader);
        assert_eq!(again, repr);
        // The form without pseudo-header does not depend on the addresses.
        let (_, form) = parse(bytes, Family::Ipv4, &UNICAST4);
        assert_eq!(form, ChecksumForm::WithoutPseudoHeader);
    }

    #[test]
    fn deconstruct_and_parse_v3_ipv6() {
        let p = Packet::new_checked(&V3_V6[..], Family::Ipv6).unwrap();
        assert_eq!((p.version(), p.vrid(), p.count_ip_addrs()), (3, 52, 2));
        assert_eq!(p.max_adver_int(), 50);
        let (repr, form) = Repr::parse(&p, &MCAST6).unwrap();
        assert_eq!(form, ChecksumForm::WithPseudoHeader);
        assert_eq!(
            repr.addresses.iter().collect::<Vec<_>>(),
            [
                "fd00:99::100".parse::<IpAddr>().unwrap(),
                "fd00:99::101".parse::<IpAddr>().unwrap()
            ]
        );
        assert_roundtrip(
            &V3_V6,
            Family::Ipv6,
            &MCAST6,
            ChecksumForm::WithPseudoHeader,
        );
        assert_roundtrip(
            &V3_V6_RELEASE,
            Family::Ipv6,
            &MCAST6,
            ChecksumForm::WithPseudoHeader,
        );
    }

    /// Over IPv6 the pseudo-header is mandatory both ways.
    #[test]
    fn v3_ipv6_always_with_pseudo_header() {
        let (repr, _) = parse(&V3_V6, Family::Ipv6, &MCAST6);
        let out = emit(&repr, &MCAST6, ChecksumForm::WithoutPseudoHeader);
        assert_eq!(&out[..40], &V3_V6);
        let mut without = V3_V6;
        let sum = super::super::checksum::checksum(&{
            let mut z = V3_V6;
            z[6] = 0;
            z[7] = 0;
            z
        });
        without[6..8].copy_from_slice(&sum.to_be_bytes());
        let p = Packet::new_checked(&without[..], Family::Ipv6).unwrap();
        assert_eq!(Repr::parse(&p, &MCAST6), Err(Error::BadChecksum));
    }

    #[test]
    fn reserved_bits_ignored_on_receive_and_zeroed_on_send() {
        let (repr, _) = parse(&V3_V4, Family::Ipv4, &MCAST4);
        let mut bytes = emit(&repr, &MCAST4, ChecksumForm::WithoutPseudoHeader);
        // Set the reserved bits and fix the checksum to match.
        bytes[4] |= 0xf0;
        let mut p = Packet::new_unchecked(&mut bytes[..12], Family::Ipv4);
        p.fill_checksum(&MCAST4, ChecksumForm::WithoutPseudoHeader);
        let (got, _) = parse(&bytes[..12], Family::Ipv4, &MCAST4);
        assert_eq!(got, repr);
        let huge = Repr {
            version: Version::V3 {
                max_adver_int_centis: 0xffff,
            },
            ..repr
        };
        let out = emit(&huge, &MCAST4, ChecksumForm::default());
        assert_eq!(&out[4..6], &[0x0f, 0xff]);
    }

    #[test]
    fn error_truncated() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&V3_V4[..len], Family::Ipv4),
                Err(Error::Truncated)
            );
        }
    }

    #[test]
    fn error_bad_version() {
        let mut bytes = V3_V4;
        for version in [0u8, 1, 4, 15] {
            bytes[0] = (version << 4) | 1;
            assert_eq!(
                Packet::new_checked(&bytes[..], Family::Ipv4),
                Err(Error::BadVersion)
            );
        }
        // Version 2 is IPv4 only.
        let mut bytes = V3_V6;
        bytes[0] = 0x21;
        assert_eq!(
            Packet::new_checked(&bytes[..], Family::Ipv6),
            Err(Error::BadVersion)
        );
    }

    #[test]
    fn error_count_mismatch() {
        // One byte short, one byte long, and a count the length does not carry.
        assert_eq!(
            Packet::new_checked(&V2_NOAUTH[..23], Family::Ipv4),
            Err(Error::CountMismatch)
        );
        let mut long = [0u8; 25];
        long[..24].copy_from_slice(&V2_NOAUTH);
        assert_eq!(
            Packet::new_checked(&long[..], Family::Ipv4),
            Err(Error::CountMismatch)
        );
        let mut bytes = V3_V4;
        bytes[3] = 2;
        assert_eq!(
            Packet::new_checked(&bytes[..], Family::Ipv4),
            Err(Error::CountMismatch)
        );
        // A version 2 message without the 8 authentication bytes.
        assert_eq!(
            Packet::new_checked(&V2_NOAUTH[..16], Family::Ipv4),
            Err(Error::CountMismatch)
        );
        // IPv4 addresses read as IPv6.
        assert_eq!(
            Packet::new_checked(&V3_V4[..], Family::Ipv6),
            Err(Error::CountMismatch)
        );
    }

    /// Changes a header byte and restores a valid checksum, so only the intended error shows.
    fn mutated(index: usize, value: u8) -> [u8; 12] {
        let mut bytes = V3_V4;
        bytes[index] = value;
        let mut p = Packet::new_unchecked(&mut bytes[..], Family::Ipv4);
        p.fill_checksum(&MCAST4, ChecksumForm::WithPseudoHeader);
        bytes
    }

    #[test]
    fn error_bad_type() {
        for msg_type in [0u8, 2, 15] {
            let bytes = mutated(0, 0x30 | msg_type);
            let p = Packet::new_checked(&bytes[..], Family::Ipv4).unwrap();
            assert_eq!(Repr::parse(&p, &MCAST4), Err(Error::BadType));
        }
    }

    #[test]
    fn error_zero_vrid() {
        let bytes = mutated(1, 0);
        let p = Packet::new_checked(&bytes[..], Family::Ipv4).unwrap();
        assert_eq!(Repr::parse(&p, &MCAST4), Err(Error::ZeroVrid));
    }

    #[test]
    fn error_bad_checksum() {
        let mut bytes = V3_V4;
        bytes[2] = 100; // priority changed, checksum not
        let p = Packet::new_checked(&bytes[..], Family::Ipv4).unwrap();
        assert_eq!(Repr::parse(&p, &MCAST4), Err(Error::BadChecksum));
        let mut bytes = V2_PASS;
        bytes[19] = b'!';
        let p = Packet::new_checked(&bytes[..], Family::Ipv4).unwrap();
        assert_eq!(Repr::parse(&p, &MCAST4), Err(Error::BadChecksum));
    }

    #[test]
    fn error_family_mismatch() {
        let p = Packet::new_checked(&V3_V4[..], Family::Ipv4).unwrap();
        assert_eq!(Repr::parse(&p, &MCAST6), Err(Error::FamilyMismatch));
        assert_eq!(p.checksum_form(&MCAST6), None);
    }

    #[test]
    fn errors_display() {
        let all = [
            Error::Truncated,
            Error::BadVersion,
            Error::BadType,
            Error::BadChecksum,
            Error::CountMismatch,
            Error::ZeroVrid,
            Error::FamilyMismatch,
        ];
        for e in all {
            let text = e.to_string();
            assert!(text.starts_with("VRRP") || text.starts_with("IP"), "{text}");
        }
    }

    #[test]
    fn endpoints_from_ip_addrs() {
        assert_eq!(
            Endpoints::new(IpAddr::V4(SRC4), IpAddr::V4(IPV4_GROUP)),
            Some(MCAST4)
        );
        assert_eq!(
            Endpoints::new(IpAddr::V6(SRC6), IpAddr::V6(IPV6_GROUP)),
            Some(MCAST6)
        );
        assert_eq!(
            Endpoints::new(IpAddr::V4(SRC4), IpAddr::V6(IPV6_GROUP)),
            None
        );
    }

    #[test]
    fn addresses_encode_refuses_what_cannot_be_sent() {
        let mut buf = [0u8; 16];
        assert!(Addresses::encode(&mut buf, Family::Ipv4, [IpAddr::V6(SRC6)]).is_none());
        assert!(Addresses::encode(&mut buf, Family::Ipv6, [IpAddr::V4(SRC4)]).is_none());
        let mut small = [0u8; 7];
        assert!(Addresses::encode(&mut small, Family::Ipv4, [IpAddr::V4(SRC4); 2]).is_none());
        let mut big = [0u8; 4 * 256];
        assert!(Addresses::encode(&mut big, Family::Ipv4, [IpAddr::V4(SRC4); 256]).is_none());
        let mut big = [0u8; 4 * 255];
        let max = Addresses::encode(&mut big, Family::Ipv4, [IpAddr::V4(SRC4); 255]).unwrap();
        assert_eq!(max.len(), 255);
        let mut none = [0u8; 0];
        let empty = Addresses::encode(&mut none, Family::Ipv6, []).unwrap();
        assert!(empty.is_empty());
        assert!(Addresses::new(&[0; 5], Family::Ipv4).is_none());
    }

    #[test]
    fn maximal_ipv6_advert_roundtrips() {
        let mut list = [0u8; 16 * 255];
        let addrs = Addresses::encode(
            &mut list,
            Family::Ipv6,
            (0..255u16).map(|i| IpAddr::V6(Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, i))),
        )
        .unwrap();
        let repr = Repr {
            version: Version::V3 {
                max_adver_int_centis: 4095,
            },
            vrid: 255,
            priority: 255,
            addresses: addrs,
        };
        let mut buf = [0u8; HEADER_LEN + 16 * 255];
        let mut p = Packet::new_unchecked(&mut buf[..], Family::Ipv6);
        repr.emit(&mut p, &MCAST6, ChecksumForm::default());
        let (back, form) = parse(&buf, Family::Ipv6, &MCAST6);
        assert_eq!(form, ChecksumForm::WithPseudoHeader);
        assert_eq!(back, repr);
        assert_eq!(back.addresses.iter().nth(254), addrs.get(254));
    }

    /// Every prefix and every single-byte change of each capture, in both families: an error or
    /// a parse, never a panic, and a parse always re-emits to the same bytes.
    #[test]
    fn garbage_never_panics() {
        let captures: [(&[u8], Endpoints); 6] = [
            (&V2_NOAUTH, MCAST4),
            (&V2_PASS, MCAST4),
            (&V3_V4, MCAST4),
            (&V3_UNICAST, UNICAST4),
            (&V3_V6, MCAST6),
            (&V3_V6_RELEASE, MCAST6),
        ];
        let mut parsed = 0;
        for (bytes, ep) in captures {
            for family in [Family::Ipv4, Family::Ipv6] {
                for len in 0..=bytes.len() {
                    try_all(&bytes[..len], family, &ep, &mut parsed);
                }
                for i in 0..bytes.len() {
                    for flip in [0x01u8, 0x10, 0x80, 0xff] {
                        let mut copy = [0u8; 40];
                        copy[..bytes.len()].copy_from_slice(bytes);
                        copy[i] ^= flip;
                        try_all(&copy[..bytes.len()], family, &ep, &mut parsed);
                    }
                }
            }
        }
        // The unmodified captures (at least) got through.
        assert!(parsed >= 6);
    }

    fn try_all(bytes: &[u8], family: Family, ep: &Endpoints, parsed: &mut usize) {
        for ep in [*ep, MCAST4, MCAST6] {
            let Ok(p) = Packet::new_checked(bytes, family) else {
                continue;
            };
            let _ = (p.addresses().iter().count(), p.checksum_form(&ep));
            if let Ok((repr, form)) = Repr::parse(&p, &ep) {
                *parsed += 1;
                let mut buf = [0u8; 64];
                let out = &mut buf[..repr.buffer_len()];
                repr.emit(&mut Packet::new_unchecked(&mut *out, family), &ep, form);
                // Reserved bits are the only bits a re-emit may change.
                let mut expect = [0u8; 64];
                expect[..bytes.len()].copy_from_slice(bytes);
                if repr.version.number() == 3 && expect[4] & 0xf0 != 0 {
                    continue;
                }
                assert_eq!(out, &expect[..bytes.len()]);
            }
        }
    }
}
