//! Announcing virtual addresses after a take-over (RFC 5798 §6.4.2): gratuitous ARP frames on an
//! AF_PACKET socket (packet(7)) and unsolicited Neighbor Advertisements (RFC 4861 §7.2.6) on a
//! raw ICMPv6 socket; plus the interface index and MAC look-ups (netdevice(7)) they need.
//!
//! The frames and messages are built by the caller (wire codecs); these sockets only send them.
//! Neither socket receives anything: the packet socket is opened with protocol 0 and the ICMPv6
//! socket filters out every type, so no receive queue fills up unread.

use crate::sys::vrrp_socket::{bind_to_device, needs_scope, sendmsg_one, Dest, Pktinfo};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::net::{sockopt, AddressFamily, SocketFlags, SocketType};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::Ipv6Addr;

/// All-nodes multicast, where unsolicited NAs go (RFC 4861 §7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Hop limit every Neighbor Discovery message carries (RFC 4861 §7.1.2).
const NDISC_HOP_LIMIT: u8 = 255;
/// Length of an Ethernet II header: destination, source, ethertype.
const ETHERNET_HEADER_LEN: usize = 14;
/// `ICMP6_FILTER` (linux/icmpv6.h), at level IPPROTO_ICMPV6.
const ICMP6_FILTER: libc::c_int = 1;

/// Sends whole Ethernet frames (gratuitous ARP) out of one interface.
#[derive(Debug)]
pub struct ArpSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl ArpSocket {
    pub fn open(ifindex: u32) -> io::Result<ArpSocket> {
        let fd = rustix::net::socket_with(
            AddressFamily::PACKET,
            SocketType::RAW,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        // Protocol 0 in the bind: the socket is tied to the interface but taps no traffic.
        let addr = link_addr(ifindex, 0, None)?;
        // SAFETY: `addr` is a live sockaddr_ll and the length passed is its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ArpSocket { fd, ifindex })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one Ethernet frame (destination MAC, source MAC, ethertype, payload) as given.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        let Some(header) = frame.get(..ETHERNET_HEADER_LEN) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame shorter than an Ethernet header",
            ));
        };
        let ethertype = u16::from_be_bytes([header[12], header[13]]);
        let mut dst = [0u8; 6];
        dst.copy_from_slice(&header[..6]);
        // The ethertype in the address sets skb->protocol, which taps and tc rely on.
        let addr = link_addr(self.ifindex, ethertype, Some(dst))?;
        // SAFETY: `frame` and `addr` are live for the call with the lengths passed.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                libc::MSG_DONTWAIT,
                (&addr as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != frame.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "packet socket sent a partial frame",
            ));
        }
        Ok(())
    }
}

impl AsFd for ArpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn link_addr(ifindex: u32, ethertype: u16, dst: Option<[u8; 6]>) -> io::Result<libc::sockaddr_ll> {
    let ifindex = libc::c_int::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ifindex out of range"))?;
    // SAFETY: sockaddr_ll is plain data, valid when zeroed.
    let mut addr: libc::sockaddr_ll = unsafe { zeroed() };
    addr.sll_family = libc::AF_PACKET as libc::c_ushort;
    addr.sll_protocol = ethertype.to_be();
    addr.sll_ifindex = ifindex;
    if let Some(mac) = dst {
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&mac);
    }
    Ok(addr)
}

/// Sends ICMPv6 Neighbor Discovery messages (unsolicited NA) out of one interface. The kernel
/// computes the ICMPv6 checksum (raw ICMPv6 sockets always do, RFC 3542 §3.1) and writes the
/// IPv6 header with hop limit 255.
#[derive(Debug)]
pub struct NdiscSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl NdiscSocket {
    pub fn open(ifname: &str) -> io::Result<NdiscSocket> {
        let fd = rustix::net::socket_with(
            AddressFamily::INET6,
            SocketType::RAW,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            Some(rustix::net::ipproto::ICMPV6),
        )?;
        let ifindex = interface_index(ifname)?;
        bind_to_device(fd.as_fd(), ifname)?;
        sockopt::set_ipv6_multicast_hops(&fd, u32::from(NDISC_HOP_LIMIT))?;
        sockopt::set_ipv6_unicast_hops(&fd, Some(NDISC_HOP_LIMIT))?;
        sockopt::set_ipv6_multicast_if(&fd, ifindex)?;
        sockopt::set_ipv6_multicast_loop(&fd, false)?;
        // A set bit blocks that ICMPv6 type (RFC 3542 §3.2); all set: receive nothing.
        let block_all = [u32::MAX; 8];
        // SAFETY: `block_all` is a live struct icmp6_filter (8 × u32) of the length passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_ICMPV6,
                ICMP6_FILTER,
                block_all.as_ptr().cast(),
                size_of::<[u32; 8]>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(NdiscSocket { fd, ifindex })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one ICMPv6 message (type, code, checksum, body) from `src` to `dst`; `src` must be
    /// an address of this interface that is not tentative (add VIPs with nodad).
    pub fn send(&self, message: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> io::Result<()> {
        let scope = if needs_scope(&dst) { self.ifindex } else { 0 };
        let pktinfo = Pktinfo::V6 {
            ifindex: self.ifindex,
            src,
        };
        let n = sendmsg_one(
            self.fd.as_fd(),
            &Dest::V6(dst, 0, scope),
            message,
            Some(pktinfo),
        )?;
        if n != message.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "ICMPv6 socket sent a partial message",
            ));
        }
        Ok(())
    }

    /// An unsolicited Neighbor Advertisement goes to all-nodes (ff02::1).
    pub fn send_unsolicited_na(&self, message: &[u8], src: Ipv6Addr) -> io::Result<()> {
        self.send(message, src, ALL_NODES)
    }
}

impl AsFd for NdiscSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A throwaway socket for interface ioctls; they answer for the socket's network namespace,
/// which is the calling thread's (unlike /sys/class/net, which shows sysfs's mount).
fn ioctl_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// The index of interface `name` (if_nametoindex, via SIOCGIFINDEX).
pub fn interface_index(name: &str) -> io::Result<u32> {
    check_ifname(name)?;
    let fd = ioctl_socket()?;
    Ok(rustix::net::netdevice::name_to_index(&fd, name)?)
}

/// The Ethernet MAC address of interface `name` (SIOCGIFHWADDR); an error for interfaces whose
/// hardware type is not Ethernet (tun, ppp, ...), which have no MAC to announce.
pub fn interface_hwaddr(name: &str) -> io::Result<[u8; 6]> {
    check_ifname(name)?;
    let fd = ioctl_socket()?;
    // SAFETY: ifreq is plain data, valid when zeroed.
    let mut req: libc::ifreq = unsafe { zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: `req` is a live ifreq with a NUL-terminated name (checked shorter than IFNAMSIZ,
    // rest zeroed); SIOCGIFHWADDR writes only into it.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR as _, &mut req) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFHWADDR filled the ifru_hwaddr member of the union.
    let hw = unsafe { req.ifr_ifru.ifru_hwaddr };
    if hw.sa_family != libc::ARPHRD_ETHER {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "interface hardware type is not Ethernet",
        ));
    }
    let mut mac = [0u8; 6];
    for (dst, &src) in mac.iter_mut().zip(hw.sa_data.iter()) {
        *dst = src as u8;
    }
    Ok(mac)
}

fn check_ifname(name: &str) -> io::Result<()> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.as_bytes().contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name empty, too long or with a NUL",
        ));
    }
    Ok(())
}

/// Whether IPv6 forwarding is on for `ifname`: a router's NAs carry the Router flag, or hosts
/// would drop it from their default router list.
pub fn ipv6_forwarding(ifname: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
        .is_ok_and(|v| v.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_index_and_hwaddr() {
        let index = interface_index("lo").expect("lo exists");
        assert!(index >= 1);
        // Loopback's hardware type is ARPHRD_LOOPBACK, not Ethernet.
        assert!(interface_hwaddr("lo").is_err());
    }

    #[test]
    fn bad_names_refused() {
        assert!(interface_index("").is_err());
        assert!(interface_index("a-name-that-is-too-long").is_err());
        assert!(interface_index("no-such-if0").is_err());
        assert!(interface_hwaddr("x\0y").is_err());
    }
}
