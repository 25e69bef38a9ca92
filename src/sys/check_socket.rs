//! Health-checker sockets: ICMP echo sockets for PING_CHECK (icmp(7) "ping sockets",
//! raw(7)), and the TCP and UDP sockets of the other checkers, which need their options set
//! before connect(2): the source address and port (`bindto`, `bind_port`), SO_BINDTODEVICE
//! (`bind_if`) and SO_MARK (`fwmark`), socket(7). Every socket is made non-blocking and
//! close-on-exec by its socket(2) call itself (no fcntl/ioctl after); the probes in
//! `check::probe` register it with `sys::reactor`.
//!
//! PING_CHECK prefers an unprivileged ping socket, `socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`:
//! the kernel picks the echo identifier, fills in the checksum and hands back only the replies
//! to that identifier. It needs the caller's group inside /proc/sys/net/ipv4/ping_group_range
//! (root is in the default "0 0" range of many distributions but not in "1 0"); when it is
//! refused, a raw socket (CAP_NET_RAW) is used instead and the identifier is checked by hand.

use crate::sys::announce::interface_index;
use crate::sys::vrrp_socket::{bind_to_device, setsockopt_int};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{
    ipproto, AddressFamily, Protocol, RecvFlags, SendFlags, SocketFlags, SocketType,
};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::ops::Range;

/// How a checker's socket is set up before it connects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketOptions<'a> {
    /// `bindto` and/or `bind_port` (an unspecified address when only the port is given).
    pub bind: Option<SocketAddr>,
    /// `bind_if`: SO_BINDTODEVICE, and the scope of an IPv6 link-local `bindto`.
    pub bind_if: Option<&'a str>,
    /// `fwmark`: SO_MARK on every packet.
    pub fwmark: Option<u32>,
}

fn family(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::INET,
        IpAddr::V6(_) => AddressFamily::INET6,
    }
}

fn socket(dst: IpAddr, kind: SocketType, protocol: Option<Protocol>) -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        family(dst),
        kind,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        protocol,
    )?)
}

/// Applies `opts` to a fresh socket: mark, device, then bind.
fn prepare(fd: BorrowedFd<'_>, opts: &SocketOptions<'_>) -> io::Result<()> {
    if let Some(mark) = opts.fwmark {
        // SO_MARK takes the u32 bit pattern in an int.
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_MARK, mark as libc::c_int)?;
    }
    if let Some(ifname) = opts.bind_if {
        bind_to_device(fd, ifname)?;
    }
    if let Some(bind) = opts.bind {
        rustix::net::bind(fd, &scoped(bind, opts)?)?;
    }
    Ok(())
}

/// An IPv6 link-local address gets `bind_if`'s index as its scope unless it has one.
fn scoped(mut addr: SocketAddr, opts: &SocketOptions<'_>) -> io::Result<SocketAddr> {
    if let (SocketAddr::V6(v6), Some(ifname)) = (&mut addr, opts.bind_if) {
        if is_link_local(v6.ip()) && v6.scope_id() == 0 {
            v6.set_scope_id(interface_index(ifname)?);
        }
    }
    Ok(addr)
}

fn is_link_local(ip: &Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// How a checker's TCP connection ends when its socket is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpClose {
    /// SO_LINGER 0: close(2) sends a RST and frees the connection at once. No TIME_WAIT entry
    /// per probe (10,000 servers checked every second would keep 600,000 of them, far past a
    /// router's `tcp_max_tw_buckets`), and about half the kernel time of a FIN teardown.
    Reset,
    /// The usual FIN exchange, for protocols whose servers log an abort (SMTP).
    Graceful,
}

/// A TCP socket set up with `opts` whose connect to `dst` has started, and whether it has
/// finished already: if not, the caller waits until it is writable, and reads SO_ERROR if epoll
/// reported an error.
pub fn tcp_connect_start(
    dst: SocketAddr,
    opts: &SocketOptions<'_>,
    close: TcpClose,
) -> io::Result<(std::net::TcpStream, bool)> {
    let fd = socket(dst.ip(), SocketType::STREAM, None)?;
    if close == TcpClose::Reset {
        rustix::net::sockopt::set_socket_linger(&fd, Some(std::time::Duration::ZERO))?;
    }
    prepare(fd.as_fd(), opts)?;
    match rustix::net::connect(&fd, &scoped(dst, opts)?) {
        Ok(()) => Ok((std::net::TcpStream::from(fd), true)),
        Err(Errno::INPROGRESS) => Ok((std::net::TcpStream::from(fd), false)),
        Err(e) => Err(e.into()),
    }
}

/// A UDP socket set up with `opts` and connected to `dst`, so that ICMP errors (port or host
/// unreachable) come back as errors on its receive calls.
pub fn udp_connect(dst: SocketAddr, opts: &SocketOptions<'_>) -> io::Result<std::net::UdpSocket> {
    let fd = socket(dst.ip(), SocketType::DGRAM, None)?;
    prepare(fd.as_fd(), opts)?;
    rustix::net::connect(&fd, &scoped(dst, opts)?)?;
    Ok(std::net::UdpSocket::from(fd))
}

/// An ICMP or ICMPv6 socket connected to one host, for echo requests and replies.
#[derive(Debug)]
pub struct IcmpSocket {
    fd: OwnedFd,
    raw: bool,
    v4: bool,
}

impl IcmpSocket {
    /// A ping socket to `dst`, or a raw ICMP socket if ping sockets are refused.
    pub fn open(dst: IpAddr, opts: &SocketOptions<'_>) -> io::Result<IcmpSocket> {
        let protocol = match dst {
            IpAddr::V4(_) => ipproto::ICMP,
            IpAddr::V6(_) => ipproto::ICMPV6,
        };
        let (fd, raw) = match socket(dst, SocketType::DGRAM, Some(protocol)) {
            Ok(fd) => (fd, false),
            Err(e) if is_refused(&e) => (socket(dst, SocketType::RAW, Some(protocol))?, true),
            Err(e) => return Err(e),
        };
        let mut opts = *opts;
        // A raw socket has no port; a ping socket's "port" is the echo id the kernel picks.
        if let Some(bind) = &mut opts.bind {
            bind.set_port(0);
        }
        prepare(fd.as_fd(), &opts)?;
        // connect() makes the kernel deliver only this host's messages to the socket (raw(7),
        // icmp(7)) and report its ICMP errors on recv.
        let dst = SocketAddr::new(dst, 0);
        rustix::net::connect(&fd, &scoped(dst, &opts)?)?;
        Ok(IcmpSocket {
            fd,
            raw,
            v4: dst.is_ipv4(),
        })
    }

    /// A raw socket: the caller sets the echo identifier, the IPv4 checksum, and must check the
    /// identifier of replies.
    pub fn is_raw(&self) -> bool {
        self.raw
    }

    /// Sends one ICMP message (the kernel fills the checksum of ping sockets and of ICMPv6).
    pub fn send(&self, message: &[u8]) -> io::Result<usize> {
        Ok(rustix::net::send(&self.fd, message, SendFlags::empty())?)
    }

    /// Receives one message into `buf`: the range of its ICMP part (a raw IPv4 socket delivers
    /// the IP header too, which is skipped). A truncated message is cut to `buf`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Range<usize>> {
        let (len, _) = rustix::net::recv(&self.fd, &mut *buf, RecvFlags::empty())?;
        let len = len.min(buf.len());
        if self.raw && self.v4 {
            let header = buf
                .first()
                .map_or(0, |b| usize::from(b & 0x0f) * 4)
                .min(len);
            return Ok(header..len);
        }
        Ok(0..len)
    }
}

impl AsFd for IcmpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn is_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EPROTONOSUPPORT)
    )
}

/// The address to bind for `bindto`/`bind_port` towards `dst`: `None` when neither is set.
pub fn bind_address(
    dst: IpAddr,
    bindto: Option<IpAddr>,
    bind_port: Option<u16>,
) -> Option<SocketAddr> {
    match (bindto, bind_port) {
        (None, None) => None,
        (Some(ip), port) => Some(SocketAddr::new(ip, port.unwrap_or(0))),
        (None, Some(port)) => Some(match dst {
            IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            IpAddr::V6(_) => SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_address_forms() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(bind_address(v4, None, None), None);
        assert_eq!(
            bind_address(v4, None, Some(99)),
            Some("0.0.0.0:99".parse().unwrap())
        );
        assert_eq!(
            bind_address(v6, None, Some(99)),
            Some("[::]:99".parse().unwrap())
        );
        assert_eq!(
            bind_address(v4, Some("10.0.0.9".parse().unwrap()), None),
            Some("10.0.0.9:0".parse().unwrap())
        );
    }

    #[test]
    fn link_local() {
        let lo = SocketOptions {
            bind_if: Some("lo"),
            ..SocketOptions::default()
        };
        let index = interface_index("lo").unwrap();
        let scoped_ll = scoped("[fe80::1]:80".parse().unwrap(), &lo).unwrap();
        assert_eq!(
            scoped_ll,
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 80, 0, index))
        );
        let global: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        assert_eq!(scoped(global, &lo).unwrap(), global);
        let v4: SocketAddr = "10.0.0.1:80".parse().unwrap();
        assert_eq!(scoped(v4, &lo).unwrap(), v4);
        assert!(is_link_local(&"fe80::1".parse().unwrap()));
        assert!(!is_link_local(&"fec0::1".parse().unwrap()));
        assert!(!is_link_local(&"2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn udp_and_tcp_sockets_on_loopback() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dst = listener.local_addr().unwrap();
        let opts = SocketOptions {
            bind: bind_address(dst.ip(), Some("127.0.0.1".parse().unwrap()), None),
            ..SocketOptions::default()
        };
        let (stream, _) = tcp_connect_start(dst, &opts, TcpClose::Reset).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(stream.local_addr().unwrap(), peer);
        // SO_LINGER 0: the close is a RST.
        let linger = rustix::net::sockopt::socket_linger(&stream).unwrap();
        assert_eq!(linger, Some(std::time::Duration::ZERO));
        let (graceful, _) = tcp_connect_start(dst, &opts, TcpClose::Graceful).unwrap();
        assert_eq!(
            rustix::net::sockopt::socket_linger(&graceful).unwrap(),
            None
        );
        let udp = udp_connect(dst, &SocketOptions::default()).unwrap();
        assert_eq!(udp.peer_addr().unwrap(), dst);
    }
}
