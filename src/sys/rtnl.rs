//! rtnetlink client (rtnetlink(7), linux/rtnetlink.h) over a NETLINK_ROUTE socket: interface
//! lookup and dumps, VIP addresses, virtual routes, macvlan VMACs for `use_vmac`, and a separate
//! non-blocking monitor socket for link and address events.
//!
//! Requests are built by `wire::netlink` into a fixed 4 KiB buffer and replies read into a fixed
//! 32 KiB one (the kernel's largest dump datagram), both allocated at `open`: a request or an event
//! allocates nothing, except the text of an error. Every request asks for an ack (`NLM_F_ACK`),
//! matched by sequence number, and only datagrams from the kernel (port 0) are believed. The
//! generic part, [`NetlinkSocket`], serves other netlink families too (generic netlink for IPVS).

use crate::wire::netlink::{
    self as nl, addr, genl, header, link, nlerror, route, AddressRepr, ErrorMessage, Header,
    LinkRepr, MessageBuilder, Messages, Packet, RouteRepr,
};
use core::fmt;
use core::net::{IpAddr, Ipv4Addr};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::sockopt::{self, Timeout};
use rustix::net::{AddressFamily, Protocol, RecvFlags, SendFlags, SocketFlags, SocketType};
use std::time::Duration;

/// Room for any request this client sends.
const SEND_BUFFER_LEN: usize = 4096;
/// The receive buffer's starting size. The kernel sizes dump datagrams from the reader's buffer
/// (at least ~4 KiB, at most 32 KiB), and an ack, even one echoing a whole request, fits: most
/// sockets never need more. A reply datagram that would not fit is seen by peeking first and
/// the buffer grows for it (a link with many VFs is one large message).
const RECV_BUFFER_START: usize = SEND_BUFFER_LEN + 256;
/// No single netlink datagram comes near this; a bigger one is refused as truncated.
const RECV_BUFFER_MAX: usize = 1024 * 1024;
/// The kernel answers synchronously; a reply this late means something is badly wrong.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Room for bursts of notifications (a flapping bond, many VIPs) before the kernel drops some.
const MONITOR_RECV_BUFFER: usize = 1024 * 1024;

/// `NETLINK_CAP_ACK`: errors echo only the request's header, not the whole request.
const NETLINK_CAP_ACK: i32 = 10;
/// `NETLINK_EXT_ACK`: errors carry the kernel's reason as text.
const NETLINK_EXT_ACK: i32 = 11;

/// `RTNLGRP_LINK`.
const RTNLGRP_LINK: u32 = 1;
/// `RTNLGRP_IPV4_IFADDR`.
const RTNLGRP_IPV4_IFADDR: u32 = 5;
/// `RTNLGRP_IPV6_IFADDR`.
const RTNLGRP_IPV6_IFADDR: u32 = 9;

/// How often a dump is retried when the kernel says it changed underneath (NLM_F_DUMP_INTR).
const DUMP_ATTEMPTS: usize = 3;

/// Why a netlink exchange failed, without saying which request it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The kernel refused the request; `message` is its extended-ack reason when it gave one.
    Kernel {
        errno: Errno,
        message: Option<String>,
    },
    /// A syscall on the socket failed.
    Io(Errno),
    /// No reply within the timeout.
    Timeout,
    /// A reply did not parse.
    Malformed(nl::Error),
    /// The request did not fit the send buffer (a bug or an absurd label).
    Build(nl::Error),
    /// A datagram was larger than the receive buffer and lost its tail.
    Truncated,
    /// The dump kept changing while it was read (NLM_F_DUMP_INTR).
    DumpInterrupted,
}

impl ErrorKind {
    /// The errno from the kernel or from a syscall.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            ErrorKind::Kernel { errno, .. } | ErrorKind::Io(errno) => Some(*errno),
            _ => None,
        }
    }

    /// The errno of a kernel reply (not of our own syscalls).
    pub fn kernel_errno(&self) -> Option<Errno> {
        match self {
            ErrorKind::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Kernel { errno, message } => {
                write_errno(f, *errno)?;
                match message {
                    Some(message) => write!(f, " (kernel: {message})"),
                    None => Ok(()),
                }
            }
            ErrorKind::Io(errno) => write_errno(f, *errno),
            ErrorKind::Timeout => write!(f, "no reply within {} s", REPLY_TIMEOUT.as_secs()),
            ErrorKind::Malformed(error) => write!(f, "malformed reply: {error}"),
            ErrorKind::Build(error) => write!(f, "cannot build request: {error}"),
            ErrorKind::Truncated => f.write_str("reply datagram larger than the receive buffer"),
            ErrorKind::DumpInterrupted => f.write_str("dump kept changing while being read"),
        }
    }
}

/// A failed rtnetlink operation: what was asked, and why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub what: String,
    pub kind: ErrorKind,
}

impl Error {
    fn new(what: impl Into<String>, kind: ErrorKind) -> Error {
        Error {
            what: what.into(),
            kind,
        }
    }

    /// The errno from the kernel or from a syscall.
    pub fn errno(&self) -> Option<Errno> {
        self.kind.errno()
    }

    fn kernel_errno(&self) -> Option<Errno> {
        self.kind.kernel_errno()
    }

    /// The object already exists (EEXIST): an address or route to adopt rather than add.
    pub fn is_exists(&self) -> bool {
        self.kernel_errno() == Some(Errno::EXIST)
    }

    /// The address to delete is not there (EADDRNOTAVAIL).
    pub fn is_addr_not_avail(&self) -> bool {
        self.kernel_errno() == Some(Errno::ADDRNOTAVAIL)
    }

    /// The interface does not exist (ENODEV).
    pub fn is_no_device(&self) -> bool {
        self.kernel_errno() == Some(Errno::NODEV)
    }

    /// The route to delete is not there (ESRCH).
    pub fn is_no_such_route(&self) -> bool {
        self.kernel_errno() == Some(Errno::SRCH)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.kind)
    }
}

impl std::error::Error for Error {}

/// Symbolic names for the errnos rtnetlink returns; values differ by architecture (mips), so the
/// table holds rustix's per-target constants rather than numbers.
const ERRNO_NAMES: &[(Errno, &str)] = &[
    (Errno::PERM, "EPERM"),
    (Errno::NOENT, "ENOENT"),
    (Errno::SRCH, "ESRCH"),
    (Errno::INTR, "EINTR"),
    (Errno::IO, "EIO"),
    (Errno::NXIO, "ENXIO"),
    (Errno::BADF, "EBADF"),
    (Errno::AGAIN, "EAGAIN"),
    (Errno::NOMEM, "ENOMEM"),
    (Errno::ACCESS, "EACCES"),
    (Errno::FAULT, "EFAULT"),
    (Errno::BUSY, "EBUSY"),
    (Errno::EXIST, "EEXIST"),
    (Errno::NODEV, "ENODEV"),
    (Errno::NOTDIR, "ENOTDIR"),
    (Errno::INVAL, "EINVAL"),
    (Errno::NFILE, "ENFILE"),
    (Errno::MFILE, "EMFILE"),
    (Errno::NOSPC, "ENOSPC"),
    (Errno::RANGE, "ERANGE"),
    (Errno::MSGSIZE, "EMSGSIZE"),
    (Errno::PROTONOSUPPORT, "EPROTONOSUPPORT"),
    (Errno::OPNOTSUPP, "EOPNOTSUPP"),
    (Errno::AFNOSUPPORT, "EAFNOSUPPORT"),
    (Errno::ADDRINUSE, "EADDRINUSE"),
    (Errno::ADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (Errno::NETDOWN, "ENETDOWN"),
    (Errno::NETUNREACH, "ENETUNREACH"),
    (Errno::NOBUFS, "ENOBUFS"),
    (Errno::HOSTUNREACH, "EHOSTUNREACH"),
    (Errno::NOTSUP, "ENOTSUP"),
];

/// "File exists (EEXIST)": the C library's text and the symbolic name.
fn write_errno(f: &mut fmt::Formatter<'_>, errno: Errno) -> fmt::Result {
    let raw = errno.raw_os_error();
    let text = std::io::Error::from_raw_os_error(raw).to_string();
    // std appends " (os error N)"; the symbolic name says more.
    let text = text.split(" (os error").next().unwrap_or(&text);
    match ERRNO_NAMES.iter().find(|(e, _)| *e == errno) {
        Some((_, name)) => write!(f, "{text} ({name})"),
        None => write!(f, "{text} (errno {raw})"),
    }
}

/// Sets an int-valued `SOL_NETLINK` option, which rustix does not wrap.
fn set_netlink_option(fd: BorrowedFd<'_>, option: i32, value: i32) -> Result<(), Errno> {
    let value: libc::c_int = value;
    // SAFETY: `fd` is a live socket borrowed for the call; the option value points to a c_int on
    // this stack frame, which outlives the call, and the length passed is exactly its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_NETLINK,
            option,
            (&value as *const libc::c_int).cast(),
            core::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::INVAL))
    }
}

/// Opens a netlink socket of `protocol` (`None` is NETLINK_ROUTE: rustix's `Protocol` cannot
/// be zero) bound to `groups`.
fn open_socket(
    protocol: Option<Protocol>,
    flags: SocketFlags,
    groups: u32,
) -> Result<OwnedFd, Errno> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC | flags,
        protocol,
    )?;
    // Port 0: the kernel picks a unique port id.
    rustix::net::bind(&fd, &SocketAddrNetlink::new(0, groups))?;
    Ok(fd)
}

/// Receives one datagram into `buf`: its length and whether the kernel sent it.
fn recv_datagram(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    flags: RecvFlags,
) -> Result<(usize, bool), ErrorKind> {
    loop {
        // MSG_TRUNC makes netlink report the datagram's full length, so truncation is visible.
        match rustix::net::recvfrom(fd, &mut *buf, flags | RecvFlags::TRUNC) {
            Ok((_, len, from)) => {
                if len > buf.len() {
                    return Err(ErrorKind::Truncated);
                }
                let from_kernel = from
                    .and_then(|a| SocketAddrNetlink::try_from(a).ok())
                    .is_some_and(|a| a.pid() == 0);
                return Ok((len, from_kernel));
            }
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Err(ErrorKind::Timeout),
            Err(errno) => return Err(ErrorKind::Io(errno)),
        }
    }
}

/// [`recv_datagram`] into a buffer first grown to the datagram's length (peeked, up to
/// [`RECV_BUFFER_MAX`]): a buffer that only grows for a large message, instead of a large one
/// kept for all.
fn recv_datagram_sized(
    fd: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    flags: RecvFlags,
) -> Result<(usize, bool), ErrorKind> {
    let peek = flags | RecvFlags::PEEK | RecvFlags::TRUNC;
    let next = loop {
        match rustix::net::recvfrom(fd, &mut [0u8; 0][..], peek) {
            Ok((_, len, _)) => break len,
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Err(ErrorKind::Timeout),
            Err(errno) => return Err(ErrorKind::Io(errno)),
        }
    };
    if next > buf.len() {
        buf.resize(next.min(RECV_BUFFER_MAX), 0);
    }
    recv_datagram(fd, buf, flags)
}

/// A request/reply netlink socket (a fixed send buffer, a receive buffer that grows for a large
/// datagram): builds a request, sends it, and reads replies until the kernel's ack,
/// `NLMSG_DONE` or error for that request's sequence number.
#[derive(Debug)]
pub struct NetlinkSocket {
    fd: OwnedFd,
    sequence_number: u32,
    send_buf: Box<[u8]>,
    /// Grown on demand (see [`RECV_BUFFER_START`]), never shrunk.
    recv_buf: Vec<u8>,
}

impl NetlinkSocket {
    /// Opens a socket of `protocol` (`None` for NETLINK_ROUTE, `Some(NETLINK_GENERIC)`…).
    pub fn open(protocol: Option<Protocol>) -> Result<NetlinkSocket, Errno> {
        let fd = open_socket(protocol, SocketFlags::empty(), 0)?;
        sockopt::set_socket_timeout(&fd, Timeout::Recv, Some(REPLY_TIMEOUT))?;
        // Both options are comforts (shorter errors, readable reasons); kernels before 4.3 / 4.12
        // lack them and work without.
        let _ = set_netlink_option(fd.as_fd(), NETLINK_CAP_ACK, 1);
        let _ = set_netlink_option(fd.as_fd(), NETLINK_EXT_ACK, 1);
        Ok(NetlinkSocket {
            fd,
            sequence_number: 0,
            send_buf: vec![0; SEND_BUFFER_LEN].into_boxed_slice(),
            recv_buf: vec![0; RECV_BUFFER_START],
        })
    }

    /// Sends one request of `message_type` (`NLM_F_REQUEST` is added to `flags`; add
    /// `NLM_F_ACK` for commands, `NLM_F_DUMP` for dumps), written by `build` after the nlmsghdr,
    /// then passes every reply message for it to `on_reply` until the ack, `NLMSG_DONE` or an
    /// error. Returns whether the kernel flagged a dump as interrupted (`NLM_F_DUMP_INTR`).
    pub fn request<B, R>(
        &mut self,
        message_type: u16,
        flags: u16,
        build: B,
        mut on_reply: R,
    ) -> Result<bool, ErrorKind>
    where
        B: FnOnce(&mut MessageBuilder<'_>) -> Result<(), nl::Error>,
        R: FnMut(&Packet<&[u8]>) -> Result<(), nl::Error>,
    {
        self.sequence_number = self.sequence_number.wrapping_add(1);
        let sequence_number = self.sequence_number;
        let header = Header {
            message_type,
            flags: flags | header::NLM_F_REQUEST,
            sequence_number,
            port_id: 0,
        };
        let mut builder =
            MessageBuilder::new(&mut self.send_buf, header).map_err(ErrorKind::Build)?;
        build(&mut builder).map_err(ErrorKind::Build)?;
        let request = builder.finish().map_err(ErrorKind::Build)?;
        let kernel = SocketAddrNetlink::new(0, 0);
        loop {
            match rustix::net::sendto(&self.fd, request, SendFlags::empty(), &kernel) {
                Ok(_) => break,
                Err(Errno::INTR) => continue,
                Err(errno) => return Err(ErrorKind::Io(errno)),
            }
        }
        let mut interrupted = false;
        // A command's replies are acks (small); dumps and gets may carry large messages.
        let sized = flags & header::NLM_F_ACK == 0;
        loop {
            let fd = self.fd.as_fd();
            let (len, from_kernel) = if sized {
                recv_datagram_sized(fd, &mut self.recv_buf, RecvFlags::empty())?
            } else {
                recv_datagram(fd, &mut self.recv_buf, RecvFlags::empty())?
            };
            if !from_kernel {
                continue;
            }
            for message in Messages::new(&self.recv_buf[..len]) {
                let message = message.map_err(ErrorKind::Malformed)?;
                // Leftovers of an earlier request that failed half-way carry older numbers.
                if message.sequence_number() != sequence_number {
                    continue;
                }
                interrupted |= message.flags() & header::NLM_F_DUMP_INTR != 0;
                match message.message_type() {
                    header::NLMSG_ERROR => {
                        let error = ErrorMessage::parse(&message).map_err(ErrorKind::Malformed)?;
                        if error.is_ack() {
                            return Ok(interrupted);
                        }
                        return Err(ErrorKind::Kernel {
                            errno: Errno::from_raw_os_error(error.errno),
                            message: error.message.map(str::to_owned),
                        });
                    }
                    header::NLMSG_DONE => {
                        // Kernels before 4.x may send a DONE without the status word: success.
                        let errno = nlerror::done_errno(&message).unwrap_or(0);
                        if errno != 0 {
                            return Err(ErrorKind::Kernel {
                                errno: Errno::from_raw_os_error(errno),
                                message: None,
                            });
                        }
                        return Ok(interrupted);
                    }
                    header::NLMSG_NOOP | header::NLMSG_OVERRUN => {}
                    _ => on_reply(&message).map_err(ErrorKind::Malformed)?,
                }
            }
        }
    }
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A link from a dump, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFF_*`.
    pub flags: u32,
    pub mac: Option<[u8; 6]>,
    /// `IFLA_INFO_KIND`: "macvlan", "veth"…; `None` for physical devices.
    pub kind: Option<String>,
    /// `IFLA_LINK`: a macvlan's parent.
    pub parent: Option<u32>,
    pub mtu: Option<u32>,
}

impl Link {
    fn from_repr(repr: &LinkRepr<'_>) -> Link {
        Link {
            index: repr.index(),
            name: repr.name.unwrap_or_default().to_owned(),
            flags: repr.header.flags,
            mac: repr.mac(),
            kind: repr.kind.map(str::to_owned),
            parent: repr.link,
            mtu: repr.mtu,
        }
    }

    pub fn is_up(&self) -> bool {
        self.flags & link::IFF_UP != 0
    }

    pub fn is_running(&self) -> bool {
        self.flags & link::IFF_RUNNING != 0
    }

    pub fn is_lower_up(&self) -> bool {
        self.flags & link::IFF_LOWER_UP != 0
    }
}

/// An interface address from a dump, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub index: u32,
    /// The interface's own address (`IFA_LOCAL`, else `IFA_ADDRESS`).
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub peer: Option<IpAddr>,
    pub broadcast: Option<Ipv4Addr>,
    pub label: Option<String>,
    /// `RT_SCOPE_*`.
    pub scope: u8,
    /// `IFA_F_*`.
    pub flags: u32,
}

impl Address {
    fn from_repr(repr: &AddressRepr<'_>) -> Option<Address> {
        Some(Address {
            index: repr.index,
            addr: repr.addr()?,
            prefix_len: repr.prefix_len,
            peer: repr.peer(),
            broadcast: repr.broadcast,
            label: repr.label.map(str::to_owned),
            scope: repr.scope,
            flags: repr.flags,
        })
    }

    /// Not the first address of its subnet on the interface (IPv4 `secondary`).
    pub fn is_secondary(&self) -> bool {
        self.flags & addr::IFA_F_SECONDARY != 0
    }
}

/// "10.0.0.1/24" or "10.0.0.1 peer 10.0.0.2/32", as `ip address` prints it.
fn describe_address(repr: &AddressRepr<'_>) -> String {
    let own = repr
        .addr()
        .map_or_else(|| "?".to_owned(), |a| a.to_string());
    match repr.peer() {
        Some(peer) => format!("{own} peer {peer}/{}", repr.prefix_len),
        None => format!("{own}/{}", repr.prefix_len),
    }
}

fn route_type_name(kind: u8) -> &'static str {
    match kind {
        route::RTN_BLACKHOLE => "blackhole ",
        route::RTN_UNREACHABLE => "unreachable ",
        route::RTN_PROHIBIT => "prohibit ",
        route::RTN_THROW => "throw ",
        _ => "",
    }
}

/// The rtnetlink client: one NETLINK_ROUTE request socket.
#[derive(Debug)]
pub struct Rtnl {
    socket: NetlinkSocket,
}

impl Rtnl {
    pub fn open() -> Result<Rtnl, Error> {
        let socket = NetlinkSocket::open(None)
            .map_err(|errno| Error::new("open rtnetlink socket", ErrorKind::Io(errno)))?;
        Ok(Rtnl { socket })
    }

    /// A command that expects only an ack.
    fn command<B>(&mut self, message_type: u16, flags: u16, build: B) -> Result<(), ErrorKind>
    where
        B: FnOnce(&mut MessageBuilder<'_>) -> Result<(), nl::Error>,
    {
        self.socket
            .request(message_type, flags | header::NLM_F_ACK, build, |_| Ok(()))
            .map(|_| ())
    }

    /// The interface's name for error messages; an error while finding it must not hide the
    /// error being reported, so this falls back to the index.
    fn link_name(&mut self, index: u32) -> String {
        match self.link(index) {
            Ok(link) if !link.name.is_empty() => link.name,
            _ => format!("ifindex {index}"),
        }
    }

    /// One link by `IFLA_IFNAME` or index; `on_link` sees the reply.
    fn get_link<F>(&mut self, request: &LinkRepr<'_>, mut on_link: F) -> Result<(), ErrorKind>
    where
        F: FnMut(&LinkRepr<'_>),
    {
        let mut found = false;
        self.socket.request(
            link::RTM_GETLINK,
            header::NLM_F_ACK,
            |b| request.emit(b),
            |message| {
                if message.message_type() == link::RTM_NEWLINK {
                    on_link(&LinkRepr::parse(message)?);
                    found = true;
                }
                Ok(())
            },
        )?;
        if found {
            Ok(())
        } else {
            Err(ErrorKind::Kernel {
                errno: Errno::NODEV,
                message: None,
            })
        }
    }

    /// The index of the interface called `name`.
    pub fn ifindex(&mut self, name: &str) -> Result<u32, Error> {
        let request = LinkRepr {
            name: Some(name),
            ext_mask: Some(link::RTEXT_FILTER_SKIP_STATS),
            ..LinkRepr::default()
        };
        let mut index = 0;
        self.get_link(&request, |link| index = link.index())
            .map_err(|kind| Error::new(format!("look up interface {name}"), kind))?;
        Ok(index)
    }

    /// The link with index `index`.
    pub fn link(&mut self, index: u32) -> Result<Link, Error> {
        let request = LinkRepr {
            header: link::LinkHeader {
                index,
                ..link::LinkHeader::default()
            },
            ext_mask: Some(link::RTEXT_FILTER_SKIP_STATS),
            ..LinkRepr::default()
        };
        let mut found = None;
        self.get_link(&request, |link| found = Some(Link::from_repr(link)))
            .map_err(|kind| Error::new(format!("look up ifindex {index}"), kind))?;
        found.ok_or_else(|| {
            let kind = ErrorKind::Kernel {
                errno: Errno::NODEV,
                message: None,
            };
            Error::new(format!("look up ifindex {index}"), kind)
        })
    }

    /// Walks a dump of every link. On `NLM_F_DUMP_INTR` the walk completes and then fails with
    /// [`ErrorKind::DumpInterrupted`]: the caller decides whether to redo it.
    pub fn for_each_link<F>(&mut self, mut f: F) -> Result<(), Error>
    where
        F: FnMut(&LinkRepr<'_>),
    {
        let request = LinkRepr {
            ext_mask: Some(link::RTEXT_FILTER_SKIP_STATS),
            ..LinkRepr::default()
        };
        let interrupted = self
            .socket
            .request(
                link::RTM_GETLINK,
                header::NLM_F_DUMP,
                |b| request.emit(b),
                |message| {
                    if message.message_type() == link::RTM_NEWLINK {
                        f(&LinkRepr::parse(message)?);
                    }
                    Ok(())
                },
            )
            .map_err(|kind| Error::new("dump links", kind))?;
        if interrupted {
            return Err(Error::new("dump links", ErrorKind::DumpInterrupted));
        }
        Ok(())
    }

    /// Every link, retrying a dump that changed while it was read.
    pub fn links(&mut self) -> Result<Vec<Link>, Error> {
        let mut attempt = 0;
        loop {
            let mut links = Vec::new();
            match self.for_each_link(|link| links.push(Link::from_repr(link))) {
                Ok(()) => return Ok(links),
                Err(e) if e.kind == ErrorKind::DumpInterrupted && attempt + 1 < DUMP_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn set_link_flag(&mut self, index: u32, up: bool) -> Result<(), Error> {
        let request = LinkRepr::set_up(index, up);
        self.command(link::RTM_NEWLINK, 0, |b| request.emit(b))
            .map_err(|kind| {
                let name = self.link_name(index);
                let state = if up { "up" } else { "down" };
                Error::new(format!("set {name} {state}"), kind)
            })
    }

    /// Sets `IFF_UP` on link `index` (`ip link set … up`).
    pub fn set_link_up(&mut self, index: u32) -> Result<(), Error> {
        self.set_link_flag(index, true)
    }

    /// Clears `IFF_UP` on link `index` (`ip link set … down`).
    pub fn set_link_down(&mut self, index: u32) -> Result<(), Error> {
        self.set_link_flag(index, false)
    }

    /// Creates a private-mode macvlan `name` on `parent` with address `mac` (keepalived's
    /// `use_vmac`; see [`link::virtual_router_mac`]), sets it up, and returns its index. EEXIST
    /// ([`Error::is_exists`]) means a link of that name is already there.
    pub fn add_macvlan(&mut self, parent: u32, name: &str, mac: [u8; 6]) -> Result<u32, Error> {
        let request = LinkRepr::macvlan(parent, name, &mac, link::MACVLAN_MODE_PRIVATE);
        let flags = header::NLM_F_CREATE | header::NLM_F_EXCL;
        self.command(link::RTM_NEWLINK, flags, |b| request.emit(b))
            .map_err(|kind| {
                let parent = self.link_name(parent);
                Error::new(format!("create macvlan {name} on {parent}"), kind)
            })?;
        let index = self.ifindex(name)?;
        self.set_link_up(index)?;
        Ok(index)
    }

    /// Deletes link `index` (a VMAC this daemon created).
    pub fn del_link(&mut self, index: u32) -> Result<(), Error> {
        let request = LinkRepr {
            header: link::LinkHeader {
                index,
                ..link::LinkHeader::default()
            },
            ..LinkRepr::default()
        };
        let name = self.link_name(index);
        self.command(link::RTM_DELLINK, 0, |b| request.emit(b))
            .map_err(|kind| Error::new(format!("delete link {name}"), kind))
    }

    /// Adds an address (`ip address add`). An address already present fails with EEXIST
    /// ([`Error::is_exists`]): the caller adopts it.
    pub fn add_address(&mut self, address: &AddressRepr<'_>) -> Result<(), Error> {
        let flags = header::NLM_F_CREATE | header::NLM_F_EXCL;
        self.command(addr::RTM_NEWADDR, flags, |b| address.emit(b))
            .map_err(|kind| {
                let name = self.link_name(address.index);
                Error::new(format!("add {} on {name}", describe_address(address)), kind)
            })
    }

    /// Deletes an address (`ip address del`), matched by local address, prefix length, peer and
    /// label. A missing address fails with EADDRNOTAVAIL ([`Error::is_addr_not_avail`]).
    pub fn del_address(&mut self, address: &AddressRepr<'_>) -> Result<(), Error> {
        let request = address.for_delete();
        self.command(addr::RTM_DELADDR, 0, |b| request.emit(b))
            .map_err(|kind| {
                let name = self.link_name(address.index);
                let what = format!("delete {} from {name}", describe_address(address));
                Error::new(what, kind)
            })
    }

    /// Walks a dump of the addresses of interface `index` (all interfaces for `None`), both
    /// families. `NLM_F_DUMP_INTR` is reported as for [`Rtnl::for_each_link`].
    pub fn for_each_address<F>(&mut self, index: Option<u32>, mut f: F) -> Result<(), Error>
    where
        F: FnMut(&AddressRepr<'_>),
    {
        let interrupted = self
            .socket
            .request(
                addr::RTM_GETADDR,
                header::NLM_F_DUMP,
                |b| addr::emit_dump_request(b, nl::AF_UNSPEC, 0),
                |message| {
                    if message.message_type() != addr::RTM_NEWADDR {
                        return Ok(());
                    }
                    let address = AddressRepr::parse(message)?;
                    if index.is_none_or(|i| i == address.index) {
                        f(&address);
                    }
                    Ok(())
                },
            )
            .map_err(|kind| Error::new("dump addresses", kind))?;
        if interrupted {
            return Err(Error::new("dump addresses", ErrorKind::DumpInterrupted));
        }
        Ok(())
    }

    /// The addresses of interface `index` (all for `None`), e.g. to find VIPs left by a
    /// previous run; retries a dump that changed while it was read.
    pub fn list_addresses(&mut self, index: Option<u32>) -> Result<Vec<Address>, Error> {
        let mut attempt = 0;
        loop {
            let mut addresses = Vec::new();
            let walk = self.for_each_address(index, |a| addresses.extend(Address::from_repr(a)));
            match walk {
                Ok(()) => return Ok(addresses),
                Err(e) if e.kind == ErrorKind::DumpInterrupted && attempt + 1 < DUMP_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The interface's primary address: for IPv4 the first non-secondary one, preferring global
    /// scope (a `scope link` extra is a poor advert source); for IPv6 the first link-local one
    /// that passed DAD (VRRPv3 over IPv6 sends from it).
    pub fn primary_address(&mut self, index: u32, ipv6: bool) -> Result<Option<IpAddr>, Error> {
        let addresses = self.list_addresses(Some(index))?;
        let usable = |a: &&Address| match a.addr {
            IpAddr::V4(_) => !ipv6 && !a.is_secondary(),
            IpAddr::V6(v6) => {
                let link_local = v6.segments()[0] & 0xffc0 == 0xfe80;
                let unusable = addr::IFA_F_TENTATIVE | addr::IFA_F_DADFAILED;
                ipv6 && link_local && a.flags & unusable == 0
            }
        };
        let global = addresses
            .iter()
            .filter(usable)
            .find(|a| ipv6 || a.scope == route::RT_SCOPE_UNIVERSE);
        let primary = global.or_else(|| addresses.iter().find(usable));
        Ok(primary.map(|a| a.addr))
    }

    fn describe_route(&mut self, verb: &str, route: &RouteRepr) -> String {
        let mut what = format!(
            "{verb} {}route {}/{}",
            route_type_name(route.kind),
            route.dst,
            route.dst_len
        );
        if let Some(gateway) = route.gateway {
            what += &format!(" via {gateway}");
        }
        if let Some(hops) = &route.multipath {
            for hop in hops.iter().filter_map(|h| h.gateway) {
                what += &format!(" nexthop via {hop}");
            }
        }
        if let Some(oif) = route.oif {
            what += &format!(" dev {}", self.link_name(oif));
        }
        if route.table != u32::from(route::RT_TABLE_MAIN) {
            what += &format!(" table {}", route.table);
        }
        what
    }

    /// Adds a route (`ip route add`); one already present fails with EEXIST.
    pub fn add_route(&mut self, route: &RouteRepr) -> Result<(), Error> {
        let flags = header::NLM_F_CREATE | header::NLM_F_EXCL;
        self.command(route::RTM_NEWROUTE, flags, |b| route.emit(b))
            .map_err(|kind| Error::new(self.describe_route("add", route), kind))
    }

    /// Deletes the route matching `route` (see [`RouteRepr::for_delete`]); a missing one fails
    /// with ESRCH ([`Error::is_no_such_route`]).
    pub fn del_route(&mut self, route: &RouteRepr) -> Result<(), Error> {
        let request = route.for_delete();
        self.command(route::RTM_DELROUTE, 0, |b| request.emit(b))
            .map_err(|kind| Error::new(self.describe_route("delete", route), kind))
    }
}

/// A change the monitor socket reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A link appeared or changed (RTM_NEWLINK): `up` is `IFF_UP`, `running` `IFF_RUNNING`.
    Link {
        index: u32,
        name: &'a str,
        up: bool,
        running: bool,
    },
    /// A link went away (RTM_DELLINK).
    LinkDeleted { index: u32, name: &'a str },
    /// An address was added (RTM_NEWADDR) or removed (RTM_DELADDR).
    Address {
        added: bool,
        index: u32,
        addr: IpAddr,
        prefix: u8,
    },
    /// The kernel dropped notifications (socket receive queue overrun, ENOBUFS): the caller
    /// must re-read links and addresses.
    Overrun,
}

/// A NETLINK_ROUTE socket subscribed to link and address changes; non-blocking, for epoll.
#[derive(Debug)]
pub struct Monitor {
    fd: OwnedFd,
    dropped: u64,
    /// As large as the largest notification so far (a few hundred bytes to a few KiB): sized
    /// by peeking, so that no fixed 32 KiB buffer stays resident for rare events.
    buf: Vec<u8>,
}

impl Monitor {
    /// Subscribes to RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR.
    pub fn open() -> Result<Monitor, Error> {
        let groups = [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR]
            .iter()
            .fold(0, |mask, group| mask | 1 << (group - 1));
        let fd = open_socket(None, SocketFlags::NONBLOCK, groups)
            .map_err(|errno| Error::new("open rtnetlink monitor", ErrorKind::Io(errno)))?;
        // The forced size needs CAP_NET_ADMIN; without it the capped size is still better than
        // the default.
        if sockopt::set_socket_recv_buffer_size_force(&fd, MONITOR_RECV_BUFFER).is_err() {
            let _ = sockopt::set_socket_recv_buffer_size(&fd, MONITOR_RECV_BUFFER);
        }
        Ok(Monitor {
            fd,
            dropped: 0,
            buf: Vec::new(),
        })
    }

    /// Messages dropped so far: malformed, truncated, or not from the kernel.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Reads every pending notification and passes each event to `f`; returns how many events
    /// there were. Returns when the socket is empty.
    pub fn read_events<F>(&mut self, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(Event<'_>),
    {
        let mut count = 0;
        loop {
            let received = recv_datagram_sized(self.fd.as_fd(), &mut self.buf, RecvFlags::DONTWAIT);
            let (len, from_kernel) = match received {
                Ok(received) => received,
                Err(ErrorKind::Timeout) => return Ok(count),
                Err(ErrorKind::Io(Errno::NOBUFS)) => {
                    f(Event::Overrun);
                    count += 1;
                    continue;
                }
                Err(ErrorKind::Truncated) => {
                    self.dropped += 1;
                    continue;
                }
                Err(kind) => return Err(Error::new("read rtnetlink monitor", kind)),
            };
            if !from_kernel {
                self.dropped += 1;
                continue;
            }
            for message in Messages::new(&self.buf[..len]) {
                match message.and_then(|m| event(&m)) {
                    Ok(Some(e)) => {
                        f(e);
                        count += 1;
                    }
                    Ok(None) => {}
                    Err(_) => self.dropped += 1,
                }
            }
        }
    }
}

/// The event a notification means, if it is one this monitor reports.
fn event<'a>(message: &Packet<&'a [u8]>) -> Result<Option<Event<'a>>, nl::Error> {
    Ok(match message.message_type() {
        link::RTM_NEWLINK => {
            let link = LinkRepr::parse(message)?;
            Some(Event::Link {
                index: link.index(),
                name: link.name.unwrap_or_default(),
                up: link.is_up(),
                running: link.is_running(),
            })
        }
        link::RTM_DELLINK => {
            let link = LinkRepr::parse(message)?;
            Some(Event::LinkDeleted {
                index: link.index(),
                name: link.name.unwrap_or_default(),
            })
        }
        kind @ (addr::RTM_NEWADDR | addr::RTM_DELADDR) => {
            let address = AddressRepr::parse(message)?;
            let own = address
                .addr()
                .ok_or(nl::Error::BadAttribute(addr::IFA_ADDRESS))?;
            Some(Event::Address {
                added: kind == addr::RTM_NEWADDR,
                index: address.index,
                addr: own,
                prefix: address.prefix_len,
            })
        }
        _ => None,
    })
}

impl AsFd for Monitor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Re-exported so callers can name the generic netlink protocol without importing rustix.
pub const NETLINK_GENERIC: Protocol = rustix::net::netlink::GENERIC;

/// Resolves a generic netlink family (e.g. "IPVS") to its id, on a NETLINK_GENERIC socket.
pub fn genl_family_id(socket: &mut NetlinkSocket, name: &str) -> Result<u16, Error> {
    let mut id = None;
    socket
        .request(
            genl::GENL_ID_CTRL,
            header::NLM_F_ACK,
            |b| genl::emit_get_family(b, name),
            |message| {
                id = Some(nl::FamilyRepr::parse(message)?.id);
                Ok(())
            },
        )
        .map_err(|kind| Error::new(format!("resolve generic netlink family {name}"), kind))?;
    id.ok_or_else(|| {
        let kind = ErrorKind::Kernel {
            errno: Errno::NOENT,
            message: None,
        };
        Error::new(format!("resolve generic netlink family {name}"), kind)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_names_request_and_errno() {
        let error = Error::new(
            "add 10.0.0.1/24 on eth0",
            ErrorKind::Kernel {
                errno: Errno::EXIST,
                message: None,
            },
        );
        assert_eq!(
            error.to_string(),
            "add 10.0.0.1/24 on eth0: File exists (EEXIST)"
        );
        assert!(error.is_exists() && !error.is_addr_not_avail());
        let error = Error::new(
            "delete 10.0.0.1/24 from eth0",
            ErrorKind::Kernel {
                errno: Errno::ADDRNOTAVAIL,
                message: Some("ipv4: Address not found".into()),
            },
        );
        assert_eq!(
            error.to_string(),
            "delete 10.0.0.1/24 from eth0: Cannot assign requested address (EADDRNOTAVAIL) \
             (kernel: ipv4: Address not found)"
        );
        assert!(error.is_addr_not_avail());
        assert_eq!(error.errno(), Some(Errno::ADDRNOTAVAIL));
    }

    #[test]
    fn describes_addresses_like_ip() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        let plain = AddressRepr::new(3, a("10.0.0.1"), 24, None);
        assert_eq!(describe_address(&plain), "10.0.0.1/24");
        let peer = AddressRepr::new(3, a("10.0.0.1"), 32, Some(a("10.0.0.2")));
        assert_eq!(describe_address(&peer), "10.0.0.1 peer 10.0.0.2/32");
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn events_from_captured_notifications() {
        use crate::wire::netlink::vectors;
        let event_of = |bytes| event(&Packet::new_checked(bytes).unwrap());
        assert_eq!(
            event_of(vectors::ADDR_NOTIFY),
            Ok(Some(Event::Address {
                added: true,
                index: 3,
                addr: "10.55.0.7".parse().unwrap(),
                prefix: 24,
            }))
        );
        assert_eq!(
            event_of(vectors::ADDR_DEL_NOTIFY_V6),
            Ok(Some(Event::Address {
                added: false,
                index: 2,
                addr: "fe80::845f:4dff:fe06:6bcb".parse().unwrap(),
                prefix: 64,
            }))
        );
        assert_eq!(
            event_of(vectors::LINK_NOTIFY_DOWN),
            Ok(Some(Event::Link {
                index: 2,
                name: "peer0",
                up: false,
                running: false,
            }))
        );
        // The same link as an RTM_DELLINK.
        let mut deleted = vectors::LINK_NOTIFY_DOWN.to_vec();
        deleted[4] = link::RTM_DELLINK as u8;
        assert_eq!(
            event_of(&deleted),
            Ok(Some(Event::LinkDeleted {
                index: 2,
                name: "peer0",
            }))
        );
        assert_eq!(event_of(vectors::ADDR_DUMP_DONE), Ok(None));
        let mut bad = vectors::ADDR_NOTIFY.to_vec();
        bad[16] = 99;
        assert_eq!(event_of(&bad), Err(nl::Error::BadFamily(99)));
    }
}
