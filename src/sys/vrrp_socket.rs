//! Raw IP sockets that carry VRRP adverts (IP protocol 112, RFC 5798 §5.1): one per address
//! family and interface, bound to the interface (SO_BINDTODEVICE), joined to the VRRP group
//! (224.0.0.18 / ff02::12 or the configured one), non-blocking, receiving into caller buffers.
//! Socket options follow ip(7), ipv6(7) and raw(7); ancillary data follows cmsg(3).
//!
//! Unicast peers use the same sockets: a raw socket gets every protocol-112 packet addressed to
//! the host, and SO_BINDTODEVICE keeps only those that came in on this interface.
//!
//! VRRPv2 with `auth_type AH` travels as IP protocol 51 (RFC 2402) with the VRRP message behind
//! the AH header: keepalived opens its IPv4 socket for protocol 51 then, and so does
//! [`Vrrp4Socket::open_with_protocol`]. The kernel hands a raw socket a copy of every packet of
//! its protocol whether or not an IPsec SA exists for it.

use crate::sys::announce::interface_index;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{sockopt, AddressFamily, Protocol, SendFlags, SocketAddrV4, SocketType};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IANA protocol number of VRRP (RFC 5798 §5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;
/// IANA protocol number of the IPsec Authentication Header (RFC 2402 §2).
pub const IPPROTO_AH: u8 = 51;
/// The IPv4 VRRP multicast group (RFC 5798 §5.1.1.2).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 VRRP multicast group (RFC 5798 §5.1.2.2).
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TOS byte of adverts: DSCP CS6, "network control" (keepalived's IPTOS_PREC_INTERNETCONTROL).
pub const VRRP_TOS: u8 = 0xc0;
/// TTL / hop limit adverts are sent with and must arrive with (RFC 5798 §5.1.1.3, §5.1.2.3).
pub const VRRP_TTL: u8 = 255;
/// Byte offset of the checksum in the VRRP header (RFC 5798 §5.2.8), for IPV6_CHECKSUM.
const VRRP_CHECKSUM_OFFSET: libc::c_int = 6;

/// One datagram taken from a VRRP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes written to the caller's buffer (IPv4: IP header included).
    pub len: usize,
    /// Where the VRRP payload starts in the buffer: the IPv4 header length, 0 for IPv6.
    pub header_len: usize,
    /// The datagram was longer than the buffer and was cut to `len`; it should be dropped.
    pub truncated: bool,
    pub src: IpAddr,
    /// The destination address of the packet (the group, or our unicast address).
    pub dst: Option<IpAddr>,
    /// IPv4 TTL from the header, or IPv6 hop limit from IPV6_HOPLIMIT; RFC 5798 requires 255.
    pub ttl_or_hop_limit: u8,
    /// Interface the packet arrived on (IP_PKTINFO / IPV6_PKTINFO).
    pub ifindex: u32,
}

impl Received {
    /// The VRRP payload within the buffer the datagram was received into.
    pub fn payload<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.header_len..self.len).unwrap_or(&[])
    }
}

/// The IPv4 header fields a VRRP receiver checks (RFC 791 §3.1), read without the wire codecs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4HeaderFields {
    /// IHL × 4.
    pub header_len: usize,
    pub total_len: usize,
    pub tos: u8,
    pub ttl: u8,
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

/// Reads the header of a raw IPv4 datagram; `None` if it is not one (wrong version, IHL below 5,
/// shorter than its own header).
pub fn read_ipv4_header(datagram: &[u8]) -> Option<Ipv4HeaderFields> {
    let fixed = datagram.get(..20)?;
    if fixed[0] >> 4 != 4 {
        return None;
    }
    let header_len = usize::from(fixed[0] & 0x0f) * 4;
    if header_len < 20 || datagram.len() < header_len {
        return None;
    }
    Some(Ipv4HeaderFields {
        header_len,
        total_len: usize::from(u16::from_be_bytes([fixed[2], fixed[3]])),
        tos: fixed[1],
        ttl: fixed[8],
        protocol: fixed[9],
        src: Ipv4Addr::new(fixed[12], fixed[13], fixed[14], fixed[15]),
        dst: Ipv4Addr::new(fixed[16], fixed[17], fixed[18], fixed[19]),
    })
}

/// Who writes the IPv4 header of outgoing adverts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv4Header {
    /// IP_HDRINCL: the caller gives the whole datagram (TOS 0xC0, TTL 255, its chosen source);
    /// the kernel still fills in the header checksum, total length and a zero ID.
    Caller,
    /// The kernel builds the header from IP_TOS 0xC0 and TTL 255; the source is the route's
    /// unless `send_payload` is given one.
    Kernel,
}

/// The IPv4 VRRP socket of one interface.
#[derive(Debug)]
pub struct Vrrp4Socket {
    fd: OwnedFd,
    ifindex: u32,
    header: Ipv4Header,
}

impl Vrrp4Socket {
    /// Opens the socket on `ifname`. Join a group with `join` to receive multicast adverts.
    pub fn open(ifname: &str, header: Ipv4Header) -> io::Result<Vrrp4Socket> {
        Self::open_with_protocol(ifname, header, IPPROTO_VRRP)
    }

    /// [`Vrrp4Socket::open`] for another IP protocol: [`IPPROTO_AH`] for adverts behind an
    /// IPsec AH header. An `Ipv4Header::Caller` socket sends the caller's protocol field as is.
    pub fn open_with_protocol(
        ifname: &str,
        header: Ipv4Header,
        protocol: u8,
    ) -> io::Result<Vrrp4Socket> {
        let fd = raw_socket(AddressFamily::INET, protocol)?;
        let ifindex = interface_index(ifname)?;
        bind_to_device(fd.as_fd(), ifname)?;
        if header == Ipv4Header::Caller {
            setsockopt_int(fd.as_fd(), libc::IPPROTO_IP, libc::IP_HDRINCL, 1)?;
        }
        sockopt::set_ip_tos(&fd, VRRP_TOS)?;
        sockopt::set_ip_ttl(&fd, u32::from(VRRP_TTL))?;
        sockopt::set_ip_multicast_ttl(&fd, u32::from(VRRP_TTL))?;
        // SO_BINDTODEVICE already picks the interface; qemu-user (router binaries tested on
        // the build host) answers ENOPROTOOPT to this option and to IP_MULTICAST_ALL, which a
        // real kernel never does: tolerated for these two only.
        tolerate_no_protoopt(
            sockopt::set_ip_multicast_if_with_ifindex(
                &fd,
                &VRRP_GROUP_V4,
                &Ipv4Addr::UNSPECIFIED,
                ifindex,
            )
            .map_err(io::Error::from),
        )?;
        sockopt::set_ip_multicast_loop(&fd, false)?;
        // Only the groups this socket joined, not every group any socket on the host joined.
        tolerate_no_protoopt(setsockopt_int(
            fd.as_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_ALL,
            0,
        ))?;
        setsockopt_int(fd.as_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        Ok(Vrrp4Socket {
            fd,
            ifindex,
            header,
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn header(&self) -> Ipv4Header {
        self.header
    }

    /// IP_ADD_MEMBERSHIP of `group` (224.0.0.18 unless configured) on this interface.
    pub fn join(&self, group: Ipv4Addr) -> io::Result<()> {
        sockopt::set_ip_add_membership_with_ifindex(
            &self.fd,
            &group,
            &Ipv4Addr::UNSPECIFIED,
            self.ifindex,
        )?;
        Ok(())
    }

    pub fn leave(&self, group: Ipv4Addr) -> io::Result<()> {
        sockopt::set_ip_drop_membership_with_ifindex(
            &self.fd,
            &group,
            &Ipv4Addr::UNSPECIFIED,
            self.ifindex,
        )?;
        Ok(())
    }

    /// Sends a whole IPv4 datagram built by the caller (`Ipv4Header::Caller` sockets only).
    /// `dst` picks the route; it should equal the header's destination.
    pub fn send_datagram(&self, datagram: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        if self.header != Ipv4Header::Caller {
            return Err(wrong_mode(
                "send_datagram needs an Ipv4Header::Caller socket",
            ));
        }
        let n = rustix::net::sendto(
            &self.fd,
            datagram,
            SendFlags::empty(),
            &SocketAddrV4::new(dst, 0),
        )?;
        sent_whole(n, datagram.len())
    }

    /// Sends a VRRP payload with the kernel writing the IPv4 header (`Ipv4Header::Kernel`
    /// sockets only). `src`, when given, is the header's source (IP_PKTINFO ipi_spec_dst) and
    /// must be an address of this host; without it the kernel picks the route's source, which
    /// may be a VIP.
    pub fn send_payload(
        &self,
        payload: &[u8],
        src: Option<Ipv4Addr>,
        dst: Ipv4Addr,
    ) -> io::Result<()> {
        if self.header != Ipv4Header::Kernel {
            return Err(wrong_mode(
                "send_payload needs an Ipv4Header::Kernel socket",
            ));
        }
        let pktinfo = src.map(|src| Pktinfo::V4 {
            ifindex: self.ifindex,
            src,
        });
        let n = sendmsg_one(self.fd.as_fd(), &Dest::V4(dst, 0), payload, pktinfo)?;
        sent_whole(n, payload.len())
    }

    /// Takes one datagram, IPv4 header included, into `buf`; `Ok(None)` when none is queued.
    /// TTL and source come from the header; ifindex and destination from IP_PKTINFO.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        let Some(raw) = recvmsg_one(self.fd.as_fd(), buf)? else {
            return Ok(None);
        };
        let received = buf.get(..raw.len).unwrap_or(&[]);
        let Some(header) = read_ipv4_header(received) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "raw IPv4 socket returned no IPv4 header",
            ));
        };
        Ok(Some(Received {
            len: raw.len,
            header_len: header.header_len,
            truncated: raw.truncated,
            src: IpAddr::V4(header.src),
            dst: Some(IpAddr::V4(header.dst)),
            ttl_or_hop_limit: header.ttl,
            ifindex: raw.ifindex.unwrap_or(self.ifindex),
        }))
    }
}

impl AsFd for Vrrp4Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The IPv6 VRRP socket of one interface.
///
/// IPV6_CHECKSUM is set to the VRRP checksum's offset, so the kernel fills in the checksum
/// (with the IPv6 pseudo-header, RFC 5798 §5.2.8) on send and verifies it on receive: packets
/// with a bad checksum are dropped by the kernel and never reach `recv`, so they cannot be
/// counted here.
#[derive(Debug)]
pub struct Vrrp6Socket {
    fd: OwnedFd,
    ifindex: u32,
}

impl Vrrp6Socket {
    pub fn open(ifname: &str) -> io::Result<Vrrp6Socket> {
        let fd = raw_socket(AddressFamily::INET6, IPPROTO_VRRP)?;
        let ifindex = interface_index(ifname)?;
        bind_to_device(fd.as_fd(), ifname)?;
        setsockopt_int(
            fd.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_CHECKSUM,
            VRRP_CHECKSUM_OFFSET,
        )?;
        // Traffic class 0xC0 (network control), as keepalived and IPv4's TOS.
        setsockopt_int(
            fd.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_TCLASS,
            libc::c_int::from(VRRP_TOS),
        )?;
        sockopt::set_ipv6_multicast_hops(&fd, u32::from(VRRP_TTL))?;
        sockopt::set_ipv6_unicast_hops(&fd, Some(VRRP_TTL))?;
        sockopt::set_ipv6_multicast_if(&fd, ifindex)?;
        sockopt::set_ipv6_multicast_loop(&fd, false)?;
        // Linux 4.20+; older kernels deliver every joined group, which SO_BINDTODEVICE and the
        // caller's VRID checks already cope with.
        match setsockopt_int(fd.as_fd(), libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_ALL, 0) {
            Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {}
            other => other?,
        }
        setsockopt_int(fd.as_fd(), libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
        setsockopt_int(fd.as_fd(), libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
        Ok(Vrrp6Socket { fd, ifindex })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// IPV6_ADD_MEMBERSHIP of `group` (ff02::12 unless configured) on this interface.
    pub fn join(&self, group: Ipv6Addr) -> io::Result<()> {
        sockopt::set_ipv6_add_membership(&self.fd, &group, self.ifindex)?;
        Ok(())
    }

    pub fn leave(&self, group: Ipv6Addr) -> io::Result<()> {
        sockopt::set_ipv6_drop_membership(&self.fd, &group, self.ifindex)?;
        Ok(())
    }

    /// Sends a VRRP payload (checksum field may hold anything: the kernel overwrites it).
    /// `src` is the source address (RFC 5798 §5.1.2.1: the interface's link-local address),
    /// sent as IPV6_PKTINFO together with this interface's index.
    pub fn send(&self, payload: &[u8], src: Option<Ipv6Addr>, dst: Ipv6Addr) -> io::Result<()> {
        let scope = if needs_scope(&dst) { self.ifindex } else { 0 };
        let pktinfo = Pktinfo::V6 {
            ifindex: self.ifindex,
            src: src.unwrap_or(Ipv6Addr::UNSPECIFIED),
        };
        let n = sendmsg_one(
            self.fd.as_fd(),
            &Dest::V6(dst, 0, scope),
            payload,
            Some(pktinfo),
        )?;
        sent_whole(n, payload.len())
    }

    /// Takes one VRRP payload (no IPv6 header) into `buf`; `Ok(None)` when none is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        let Some(raw) = recvmsg_one(self.fd.as_fd(), buf)? else {
            return Ok(None);
        };
        let Some(src) = raw.src else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "raw IPv6 socket returned no source address",
            ));
        };
        Ok(Some(Received {
            len: raw.len,
            header_len: 0,
            truncated: raw.truncated,
            src,
            dst: raw.dst,
            // IPV6_RECVHOPLIMIT is on, so the kernel always attaches it; 0 (never valid for
            // VRRP) makes a missing one fail the caller's 255 check.
            ttl_or_hop_limit: raw.hop_limit.unwrap_or(0),
            ifindex: raw.ifindex.unwrap_or(self.ifindex),
        }))
    }
}

impl AsFd for Vrrp6Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Link-local unicast and link- or interface-local multicast destinations need a scope id.
pub(crate) fn needs_scope(dst: &Ipv6Addr) -> bool {
    let first = dst.segments()[0];
    (first & 0xffc0) == 0xfe80 || (dst.is_multicast() && matches!(first & 0x000f, 1 | 2))
}

fn raw_socket(family: AddressFamily, protocol: u8) -> io::Result<OwnedFd> {
    let protocol = Protocol::from_raw(
        // 0 (IPPROTO_IP) is refused here: a raw socket needs a protocol.
        rustix::net::RawProtocol::new(u32::from(protocol)).ok_or(Errno::INVAL)?,
    );
    let fd = rustix::net::socket_with(
        family,
        SocketType::RAW,
        rustix::net::SocketFlags::NONBLOCK | rustix::net::SocketFlags::CLOEXEC,
        Some(protocol),
    )?;
    Ok(fd)
}

fn wrong_mode(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

fn sent_whole(sent: usize, wanted: usize) -> io::Result<()> {
    if sent == wanted {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "raw socket sent a partial datagram",
        ))
    }
}

/// SO_BINDTODEVICE: only this interface's packets are received, and sends leave through it.
pub(crate) fn bind_to_device(fd: BorrowedFd<'_>, ifname: &str) -> io::Result<()> {
    let name = ifname.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name empty, too long or with a NUL",
        ));
    }
    // SAFETY: `name` is a live byte slice of the given length; the kernel copies at most
    // IFNAMSIZ - 1 bytes and adds the NUL itself.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An int socket option rustix has no call for.
fn tolerate_no_protoopt(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => Ok(()),
        other => other,
    }
}

pub(crate) fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A destination for `sendmsg_one`: address, port (0 for raw sockets) and IPv6 scope id.
pub(crate) enum Dest {
    V4(Ipv4Addr, u16),
    V6(Ipv6Addr, u16, u32),
}

/// The one ancillary message outgoing packets carry: source address and interface.
pub(crate) enum Pktinfo {
    V4 { ifindex: u32, src: Ipv4Addr },
    V6 { ifindex: u32, src: Ipv6Addr },
}

/// cmsg buffers need cmsghdr's alignment; 8 covers every Linux ABI.
#[repr(C, align(8))]
struct CmsgBuf([u8; 128]);

/// Sends one datagram with sendmsg(2), with an optional IP_PKTINFO / IPV6_PKTINFO. Returns the
/// bytes sent.
pub(crate) fn sendmsg_one(
    fd: BorrowedFd<'_>,
    dest: &Dest,
    payload: &[u8],
    pktinfo: Option<Pktinfo>,
) -> io::Result<usize> {
    // SAFETY: sockaddr_storage is plain data, valid when zeroed.
    let mut name: libc::sockaddr_storage = unsafe { zeroed() };
    let name_len = match *dest {
        Dest::V4(addr, port) => {
            // SAFETY: sockaddr_in is plain data, valid when zeroed.
            let mut sin: libc::sockaddr_in = unsafe { zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = port.to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(addr.octets());
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { core::ptr::write((&mut name as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        Dest::V6(addr, port, scope_id) => {
            // SAFETY: sockaddr_in6 is plain data, valid when zeroed.
            let mut sin6: libc::sockaddr_in6 = unsafe { zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = port.to_be();
            sin6.sin6_addr.s6_addr = addr.octets();
            sin6.sin6_scope_id = scope_id;
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { core::ptr::write((&mut name as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    let mut control = CmsgBuf([0; 128]);
    // SAFETY: msghdr is plain data (musl adds private padding, hence zeroed, not a literal).
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = name_len as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(info) = pktinfo {
        let (level, kind, data_len) = match info {
            Pktinfo::V4 { .. } => (
                libc::IPPROTO_IP,
                libc::IP_PKTINFO,
                size_of::<libc::in_pktinfo>(),
            ),
            Pktinfo::V6 { .. } => (
                libc::IPPROTO_IPV6,
                libc::IPV6_PKTINFO,
                size_of::<libc::in6_pktinfo>(),
            ),
        };
        // SAFETY: CMSG_SPACE/CMSG_LEN are pure arithmetic on a small constant length.
        let (space, len) = unsafe {
            (
                libc::CMSG_SPACE(data_len as u32),
                libc::CMSG_LEN(data_len as u32),
            )
        };
        if space as usize > control.0.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cmsg too large",
            ));
        }
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: msg_control points at `control`, aligned and at least `space` bytes long, so
        // CMSG_FIRSTHDR returns a non-null header inside it with room for `data_len` bytes of
        // data; write_unaligned does not rely on CMSG_DATA's alignment.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            if cmsg.is_null() {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "no cmsg room"));
            }
            (*cmsg).cmsg_level = level;
            (*cmsg).cmsg_type = kind;
            (*cmsg).cmsg_len = len as _;
            let data = libc::CMSG_DATA(cmsg);
            match info {
                Pktinfo::V4 { ifindex, src } => {
                    let mut pi: libc::in_pktinfo = zeroed();
                    pi.ipi_ifindex = ifindex as libc::c_int;
                    pi.ipi_spec_dst.s_addr = u32::from_ne_bytes(src.octets());
                    core::ptr::write_unaligned(data.cast::<libc::in_pktinfo>(), pi);
                }
                Pktinfo::V6 { ifindex, src } => {
                    let mut pi: libc::in6_pktinfo = zeroed();
                    pi.ipi6_ifindex = ifindex as _;
                    pi.ipi6_addr.s6_addr = src.octets();
                    core::ptr::write_unaligned(data.cast::<libc::in6_pktinfo>(), pi);
                }
            }
        }
    }
    // SAFETY: every pointer in `msg` points at a local that outlives the call, with the lengths
    // set above; the payload is only read by the kernel despite the *mut in iovec.
    let n = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// What recvmsg(2) told about one datagram.
pub(crate) struct RawRecv {
    pub len: usize,
    pub truncated: bool,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub ifindex: Option<u32>,
    pub hop_limit: Option<u8>,
}

/// Receives one datagram without blocking; `Ok(None)` when the queue is empty (EAGAIN).
pub(crate) fn recvmsg_one(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<RawRecv>> {
    // SAFETY: sockaddr_storage is plain data, valid when zeroed.
    let mut name: libc::sockaddr_storage = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = CmsgBuf([0; 128]);
    // SAFETY: msghdr is plain data (musl adds private padding, hence zeroed, not a literal).
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: every pointer in `msg` points at a live local or at `buf`, with matching lengths.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(e),
        };
    }
    let mut out = RawRecv {
        len: (n as usize).min(buf.len()),
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        src: sockaddr_ip(&name, msg.msg_namelen as usize),
        dst: None,
        ifindex: None,
        hop_limit: None,
    };
    // SAFETY: the kernel wrote msg_controllen bytes of well-formed cmsgs into `control`, which
    // is cmsghdr-aligned; CMSG_FIRSTHDR/NXTHDR stay within msg_controllen; CMSG_DATA payloads
    // are read with read_unaligned after checking cmsg_len covers them.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let level = (*cmsg).cmsg_level;
            let kind = (*cmsg).cmsg_type;
            let data_len = ((*cmsg).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            let data = libc::CMSG_DATA(cmsg);
            if level == libc::IPPROTO_IP
                && kind == libc::IP_PKTINFO
                && data_len >= size_of::<libc::in_pktinfo>()
            {
                let pi = core::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                out.ifindex = u32::try_from(pi.ipi_ifindex).ok();
                out.dst = Some(IpAddr::V4(Ipv4Addr::from(pi.ipi_addr.s_addr.to_ne_bytes())));
            } else if level == libc::IPPROTO_IPV6
                && kind == libc::IPV6_PKTINFO
                && data_len >= size_of::<libc::in6_pktinfo>()
            {
                let pi = core::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                out.ifindex = Some(pi.ipi6_ifindex as u32);
                out.dst = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)));
            } else if level == libc::IPPROTO_IPV6
                && kind == libc::IPV6_HOPLIMIT
                && data_len >= size_of::<libc::c_int>()
            {
                let hops = core::ptr::read_unaligned(data.cast::<libc::c_int>());
                out.hop_limit = u8::try_from(hops).ok();
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(Some(out))
}

/// The IP address in a sockaddr the kernel filled in, if it is an IPv4 or IPv6 one.
fn sockaddr_ip(name: &libc::sockaddr_storage, len: usize) -> Option<IpAddr> {
    match i32::from(name.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and it is long enough.
            let sin =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(
                sin.sin_addr.s_addr.to_ne_bytes(),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says the storage holds a sockaddr_in6, and it is long enough.
            let sin6 =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(ttl: u8, ihl: u8) -> [u8; 24] {
        let mut h = [0u8; 24];
        h[0] = 0x40 | ihl;
        h[1] = VRRP_TOS;
        h[2..4].copy_from_slice(&40u16.to_be_bytes());
        h[8] = ttl;
        h[9] = IPPROTO_VRRP;
        h[12..16].copy_from_slice(&[192, 0, 2, 1]);
        h[16..20].copy_from_slice(&[224, 0, 0, 18]);
        h
    }

    #[test]
    fn ipv4_header_fields() {
        let h = header(255, 5);
        let f = read_ipv4_header(&h).expect("valid header");
        assert_eq!(f.header_len, 20);
        assert_eq!(f.total_len, 40);
        assert_eq!(f.tos, VRRP_TOS);
        assert_eq!(f.ttl, 255);
        assert_eq!(f.protocol, 112);
        assert_eq!(f.src, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(f.dst, VRRP_GROUP_V4);
        assert_eq!(
            read_ipv4_header(&header(1, 6)).map(|f| f.header_len),
            Some(24)
        );
    }

    #[test]
    fn ipv4_header_rejects_garbage() {
        assert_eq!(read_ipv4_header(&[0x45; 10]), None);
        assert_eq!(read_ipv4_header(&header(255, 4)), None);
        assert_eq!(read_ipv4_header(&header(255, 7)), None);
        let mut v6 = header(255, 5);
        v6[0] = 0x65;
        assert_eq!(read_ipv4_header(&v6), None);
    }

    #[test]
    fn scope_needed_for_link_local() {
        assert!(needs_scope(&VRRP_GROUP_V6));
        assert!(needs_scope(&"fe80::1".parse().expect("addr")));
        assert!(!needs_scope(&"2001:db8::1".parse().expect("addr")));
        assert!(!needs_scope(&"ff05::12".parse().expect("addr")));
    }

    #[test]
    fn received_payload_slice() {
        let r = Received {
            len: 28,
            header_len: 20,
            truncated: false,
            src: IpAddr::V4(Ipv4Addr::LOCALHOST),
            dst: None,
            ttl_or_hop_limit: 255,
            ifindex: 1,
        };
        let buf = [7u8; 64];
        assert_eq!(r.payload(&buf).len(), 8);
        assert_eq!(r.payload(&buf[..10]), &[] as &[u8]);
    }
}
