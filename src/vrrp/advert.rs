//! A received VRRP advertisement as the state machine sees it, and the receive checks of
//! RFC 5798 §7.1 / RFC 3768 §7.1 in keepalived 2.2's order (`vrrp_check_packet`). Independent of
//! the wire codec: the daemon fills an [`Advert`] from a parsed packet and its socket metadata.
//!
//! Checks the daemon must do before this: length, IP total length, packet type, checksum, and
//! for `auth_type AH` the AH header's length and next header. The AH ICV, SPI and sequence number
//! are checked here, in keepalived's place among the others (after the auth type).

use super::ah::AhSequence;
use super::stats::DropReason;
use crate::config::model::{Auth, UnicastPeer, VirtualAddresses, VrrpInstance};
use crate::wire::ah as wire_ah;
use std::cmp::Ordering;
use std::net::IpAddr;

/// VRRPv2 authentication types (RFC 2338 §5.3.6).
pub const AUTH_NONE: u8 = 0;
pub const AUTH_PASS: u8 = 1;
pub const AUTH_AH: u8 = 2;

/// keepalived's packet-size limit on advertised VIPs at the default 1500-byte MTU: IPv4 fits more
/// than the 8-bit count allows; IPv6 fits (1500 − 14 − 40 − 8) / 16 = 89. Extra VIPs are still
/// added as addresses (keepalived turns them into eVIPs) but not advertised or checked.
const MAX_ADVERTISED_V4: usize = 255;
const MAX_ADVERTISED_V6: usize = 89;

/// One received advertisement.
#[derive(Clone, Copy, Debug)]
pub struct Advert<'a> {
    /// IP source address of the packet.
    pub src: IpAddr,
    /// IPv4 TTL or IPv6 hop limit as received.
    pub ttl: u8,
    /// Sent to a unicast destination (not the VRRP multicast group).
    pub unicast: bool,
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds (VRRPv2: seconds × 100).
    pub adver_int_centis: u16,
    /// VRRPv2 auth type and data; `None` counts as type 0. Ignored for VRRPv3.
    pub auth: Option<(u8, [u8; 8])>,
    /// The IPsec AH header the advert came behind (IP protocol 51), if any.
    pub ah: Option<AhAdvert<'a>>,
    pub addresses: &'a [IpAddr],
}

/// What an instance needs of a received AH header (RFC 2402 §2) to check it.
#[derive(Clone, Copy, Debug)]
pub struct AhAdvert<'a> {
    pub spi: u32,
    pub sequence_number: u32,
    /// The whole IPv4 datagram up to its total length (header, AH header, VRRP message): the ICV
    /// covers all of it.
    pub datagram: &'a [u8],
}

/// The AH key of an instance: VRRPv2 with `auth_type AH`, not in strict mode (which keepalived
/// and the config model turn authentication off for).
pub fn ah_key(config: &VrrpInstance) -> Option<[u8; 8]> {
    match config.version {
        crate::config::model::Version::V2 {
            auth: Some(Auth::Ah(key)),
            ..
        } if !config.strict_mode && !config.is_ipv6() => Some(key),
        _ => None,
    }
}

/// What an instance checks received adverts against, built once from its configuration.
#[derive(Clone, Debug)]
pub(crate) struct ReceiveChecks {
    version: u8,
    vrid: u8,
    auth: Option<Auth>,
    adver_int_centis: u16,
    unicast: bool,
    check_unicast_src: bool,
    peers: Vec<UnicastPeer>,
    /// The VIPs that go into our adverts, in order.
    advertised: Vec<IpAddr>,
}

impl ReceiveChecks {
    pub(crate) fn new(config: &VrrpInstance) -> Self {
        let advertised: Vec<IpAddr> = match &config.virtual_ipaddress {
            VirtualAddresses::V4(v) => v
                .iter()
                .take(MAX_ADVERTISED_V4)
                .map(|a| IpAddr::V4(a.addr))
                .collect(),
            VirtualAddresses::V6(v) => v
                .iter()
                .take(MAX_ADVERTISED_V6)
                .map(|a| IpAddr::V6(a.addr))
                .collect(),
        };
        let unicast = !config.unicast_peer.is_empty();
        // The man page: "Specifying min_ttl or max_ttl turns on check_unicast_src".
        let ttl_bounds = config
            .unicast_peer
            .iter()
            .any(|p| p.min_ttl.is_some() || p.max_ttl.is_some());
        let auth = match config.version {
            crate::config::model::Version::V2 { auth, .. } if !config.strict_mode => auth,
            _ => None,
        };
        ReceiveChecks {
            version: config.version.number(),
            vrid: config.virtual_router_id.get(),
            auth,
            adver_int_centis: config.version.advert_int_centis(),
            unicast,
            check_unicast_src: unicast && (config.check_unicast_src || ttl_bounds),
            peers: config.unicast_peer.clone(),
            advertised,
        }
    }

    pub(crate) fn advertised(&self) -> &[IpAddr] {
        &self.advertised
    }

    pub(crate) fn unicast(&self) -> bool {
        self.unicast
    }

    /// keepalived's `vrrp_check_packet`: `check_addresses` is false only for a backup with
    /// `skip_check_adv_addr` hearing the same master again.
    /// `sequence` is the instance's AH counter (`auth_type AH` only); a packet that passes the
    /// AH checks moves it, whatever later checks say, as in keepalived.
    pub(crate) fn check(
        &self,
        a: &Advert,
        check_addresses: bool,
        sequence: Option<&mut AhSequence>,
    ) -> Result<(), DropReason> {
        // keepalived checks first that the IP protocol (AH or VRRP) is the one the instance
        // expects. Its sockets (and ours) are per protocol, so only a hand-made advert gets here.
        if a.ah.is_some() != matches!(self.auth, Some(Auth::Ah(_))) {
            return Err(DropReason::AuthType);
        }
        // RFC 5798 §7.1: TTL/hop limit must be 255; keepalived skips this for unicast instances.
        if !self.unicast && a.ttl != 255 {
            return Err(DropReason::Ttl);
        }
        if a.version != self.version {
            return Err(DropReason::Version);
        }
        if a.vrid != self.vrid {
            return Err(DropReason::Vrid);
        }
        if self.version == 2 {
            let (rx_type, rx_data) = a.auth.unwrap_or((AUTH_NONE, [0; 8]));
            if rx_type > AUTH_AH {
                return Err(DropReason::AuthType);
            }
            let (our_type, our_pass) = match self.auth {
                None => (AUTH_NONE, None),
                Some(Auth::Pass(p)) => (AUTH_PASS, Some(p)),
                Some(Auth::Ah(_)) => (AUTH_AH, None),
            };
            if rx_type != our_type {
                return Err(DropReason::AuthType);
            }
            if let Some(pass) = our_pass {
                if !same_secret(&pass, &rx_data) {
                    return Err(DropReason::AuthFailure);
                }
            }
            if let (Some(Auth::Ah(key)), Some(ah)) = (self.auth, a.ah) {
                self.check_ah(&key, &ah, a.src, sequence)?;
            }
            // RFC 3768 §7.1: a different interval means a misconfigured peer; keepalived drops it
            // "to prevent concurrent VRID running => multiple master in 1 VRID".
            if a.adver_int_centis != self.adver_int_centis {
                return Err(DropReason::Interval);
            }
        } else if a.adver_int_centis == 0 {
            // Not checked by keepalived, where it would make a backup's down timer zero.
            return Err(DropReason::Interval);
        }
        if check_addresses && a.addresses.len() != self.advertised.len() {
            return Err(DropReason::AddressCount);
        }
        if a.unicast != self.unicast {
            return Err(DropReason::CastMismatch);
        }
        if check_addresses {
            if !self.advertised.iter().all(|v| a.addresses.contains(v)) {
                return Err(DropReason::AddressList);
            }
            if self.check_unicast_src {
                let Some(peer) = self.peers.iter().find(|p| p.addr == a.src) else {
                    return Err(DropReason::UnicastSource);
                };
                let min = peer.min_ttl.unwrap_or(0);
                let max = peer.max_ttl.unwrap_or(255);
                if a.ttl < min || a.ttl > max {
                    return Err(DropReason::Ttl);
                }
            }
        }
        Ok(())
    }

    /// keepalived's `vrrp_in_chk_ipsecah`: ICV first (nothing else in the packet can be trusted
    /// before it), then SPI = source address, then the sequence number. The 8 authentication
    /// bytes of the VRRP message are not looked at (keepalived sends zeros; the ICV covers them).
    fn check_ah(
        &self,
        key: &[u8; 8],
        ah: &AhAdvert,
        src: IpAddr,
        sequence: Option<&mut AhSequence>,
    ) -> Result<(), DropReason> {
        // The TTL is hashed for multicast instances only (see `wire::ah`).
        if !wire_ah::verify_icv(ah.datagram, key, self.unicast) {
            return Err(DropReason::AhIcv);
        }
        let IpAddr::V4(src) = src else {
            return Err(DropReason::AhSpi);
        };
        if ah.spi != wire_ah::spi_of(src) {
            return Err(DropReason::AhSpi);
        }
        if sequence.is_some_and(|s| s.accept(ah.sequence_number)) {
            Ok(())
        } else {
            Err(DropReason::AhSequence)
        }
    }
}

/// Compare without an early exit, as keepalived does for the password.
fn same_secret(a: &[u8; 8], b: &[u8; 8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// RFC 5798 §6.4.3 tie-break: how the sender's primary address compares with ours. Different
/// families or an unknown own address compare equal (keepalived's `vrrp_saddr_cmp` returns 0).
pub(crate) fn compare_sender(sender: IpAddr, ours: Option<IpAddr>) -> Ordering {
    match (sender, ours) {
        (IpAddr::V4(s), Some(IpAddr::V4(o))) => s.cmp(&o),
        (IpAddr::V6(s), Some(IpAddr::V6(o))) => s.cmp(&o),
        _ => Ordering::Equal,
    }
}
