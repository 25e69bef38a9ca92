//! Netlink codecs for rtnetlink and generic netlink, following the kernel's uapi headers
//! `linux/netlink.h` (nlmsghdr, nlattr, nlmsgerr), `linux/rtnetlink.h` (rtmsg, rtnexthop),
//! `linux/if_addr.h` (ifaddrmsg), `linux/if_link.h` (ifinfomsg, IFLA_*) and `linux/genetlink.h`.
//!
//! Netlink integers are in host byte order (unlike IP headers): every accessor here uses
//! `from_ne_bytes`/`to_ne_bytes`. Addresses are raw network-order bytes. A message is an
//! [`header::Packet`] (nlmsghdr) whose payload is a fixed family header (ifaddrmsg, ifinfomsg,
//! rtmsg, genlmsghdr) followed by [`attr`] TLVs, each padded to 4 bytes. Replies are parsed through
//! checked views: a malformed reply gives an [`Error`], never a panic. Requests are written with a
//! [`builder::MessageBuilder`] into a caller-provided buffer, without allocation.

pub mod addr;
pub mod attr;
pub mod builder;
pub mod genl;
pub mod header;
pub mod link;
pub mod nlerror;
pub mod route;

pub use addr::{AddressHeader, AddressRepr, CacheInfo};
pub use attr::{Attr, Attrs};
pub use builder::{MessageBuilder, Nest};
pub use genl::{FamilyRepr, GenlHeader};
pub use header::{Header, Messages, Packet};
pub use link::{LinkHeader, LinkRepr};
pub use nlerror::ErrorMessage;
pub use route::{NextHop, RouteRepr};

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `AF_UNSPEC`: all families (dumps) or a family-less link message.
pub const AF_UNSPEC: u8 = 0;
/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;

/// Why a netlink buffer could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The buffer ends before a header or a length field says it does.
    Truncated,
    /// A length field is smaller than its own header.
    BadLength,
    /// An attribute's value has the wrong size or content for its type (the attribute type).
    BadAttribute(u16),
    /// A family byte names neither IPv4 nor IPv6 where an address is needed.
    BadFamily(u8),
    /// The output buffer is too small for the message being built.
    BufferFull,
    /// A value does not fit its length field (an attribute over 64 KiB).
    TooLong,
    /// Valid netlink this codec does not handle (e.g. a multipath route with other than 2 hops).
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("netlink message truncated"),
            Error::BadLength => f.write_str("netlink length field smaller than its header"),
            Error::BadAttribute(kind) => write!(f, "netlink attribute {kind} has a bad value"),
            Error::BadFamily(family) => write!(f, "address family {family} is not IPv4 or IPv6"),
            Error::BufferFull => f.write_str("netlink message does not fit the buffer"),
            Error::TooLong => f.write_str("netlink attribute longer than 64 KiB"),
            Error::Unsupported => f.write_str("netlink message form not supported"),
        }
    }
}

impl std::error::Error for Error {}

/// The address family byte (`AF_INET`/`AF_INET6`) for an address.
pub fn family_of(addr: &IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// Reads an address attribute value: 4 bytes for IPv4, 16 for IPv6, as `family` says.
pub(crate) fn parse_ip(family: u8, kind: u16, value: &[u8]) -> Result<IpAddr, Error> {
    match family {
        AF_INET => {
            let octets: [u8; 4] = value.try_into().map_err(|_| Error::BadAttribute(kind))?;
            Ok(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        AF_INET6 => {
            let octets: [u8; 16] = value.try_into().map_err(|_| Error::BadAttribute(kind))?;
            Ok(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        other => Err(Error::BadFamily(other)),
    }
}

/// The unspecified address of `family` (a route without `RTA_DST` is a default route).
pub(crate) fn unspecified(family: u8) -> Result<IpAddr, Error> {
    match family {
        AF_INET => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        other => Err(Error::BadFamily(other)),
    }
}

// The vectors hold host-order integers from a little-endian machine.
#[cfg(all(test, target_endian = "little"))]
pub(crate) mod vectors;
