//! The probes: one async fn per checker type, run on `sys::reactor`, each a single attempt that
//! reports a [`ProbeResult`] to the verdict machine. A [`Check`] is a checker made ready when the
//! config is loaded (addresses resolved, HTTP requests and DNS queries built, the MISC_CHECK
//! script split and checked), so that running it allocates nothing: it works in the caller's
//! [`Scratch`] buffer (only MISC_CHECK's fork/exec in `sys::script` allocates).
//!
//! System calls of one TCP_CHECK: socket (non-blocking, close-on-exec), SO_LINGER 0, connect,
//! one `epoll_ctl(ADD)`, close (a RST: no TIME_WAIT, see [`TcpClose`]), plus its share of the loop's `epoll_wait`; SO_ERROR is read only when
//! epoll reports an error. HTTP_GET adds one write and the reads of the response (a read that
//! comes back short waits for the next edge instead of trying again into EAGAIN, and EOF after
//! the peer's FIN is known without a read).
//!
//! Timeouts: keepalived restarts `connect_timeout` on every read and write; here it bounds the
//! whole exchange (connect, request, response), so a server that trickles bytes cannot hold a
//! checker, and a slow but complete answer inside `connect_timeout` passes. UDP_CHECK without
//! `require_reply` and PING_CHECK wait the full timeout for an ICMP error or a reply.
//! MISC_CHECK's limit is `misc_timeout` (default `delay_loop`), enforced by killing the script's
//! process group.

mod dns;
mod http;
mod misc;
mod ping;
mod smtp;
#[cfg(feature = "tls")]
mod tls;
mod udp;

use super::http::ResponseReader;
use super::md5::Md5;
use super::outcome::{Failure, ProbeResult, WeightEffect};
use super::timing::Timing;
use crate::config::model::{
    CheckKind, CheckTarget, Checker, IfName, MaskedByte, RealServer, RunAs, TrackFile,
    VirtualServer,
};
use crate::sys::check_socket::{bind_address, SocketOptions, TcpClose};
use crate::sys::reactor::{self, Async, Readiness};
use crate::sys::script::{Script, ScriptError, UserDb};
use crate::time::{Instant, Micros};
use std::fmt;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::task::{self, Poll};

pub use http::{fetch, server_name, Fetched};
#[cfg(feature = "tls")]
pub use tls::{
    fetch as fetch_tls, READ_BUFFER as TLS_READ_BUFFER, WRITE_BUFFER as TLS_WRITE_BUFFER,
};

/// Size of the buffer a running probe reads into (see [`Scratch`]). It is also the largest
/// UDP_CHECK or DNS_CHECK reply looked at: longer replies count as this long.
pub const SCRATCH_LEN: usize = 2048;

/// The working memory of one running probe: its read buffer and, for HTTP, the response
/// reader's state (header line window and MD5). Probes keep neither in their futures, so a
/// probe's task stays small; `check::run::Runner` pools one `Scratch` per probe in flight.
#[derive(Clone)]
pub struct Scratch {
    pub bytes: [u8; SCRATCH_LEN],
    pub http: ResponseReader<Md5>,
}

impl Scratch {
    pub fn new() -> Box<Scratch> {
        Box::new(Scratch::default())
    }
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch {
            bytes: [0; SCRATCH_LEN],
            http: ResponseReader::new(Md5::new()),
        }
    }
}

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scratch({} bytes)", SCRATCH_LEN)
    }
}
/// DNS_CHECK's port when neither `connect_port` nor the real server has one.
pub const DNS_PORT: u16 = 53;

/// Where a checker connects, and from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `connect_ip`/`connect_port`, else the real server's address and port: kept as address
    /// and port (20 bytes, against 32 for a `SocketAddr`); an IPv6 link-local target gets its
    /// scope from `bind_if` when the socket is made.
    ip: IpAddr,
    port: u16,
    /// Source options, boxed: most checkers have none, and every checker carries a target.
    source: Option<Box<Source>>,
}

/// Where a checker's connections come from (the rarely set part of a [`Target`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Source {
    /// `bindto`/`bind_port`.
    bind: Option<SocketAddr>,
    bind_if: Option<IfName>,
    fwmark: Option<u32>,
}

impl Target {
    pub fn new(rs: &RealServer, t: &CheckTarget) -> Target {
        let ip = t.connect_ip.unwrap_or(rs.addr);
        let port = t.connect_port.unwrap_or(rs.port);
        let source = Source {
            bind: bind_address(ip, t.bindto, t.bind_port),
            bind_if: t.bind_if.clone(),
            fwmark: t.fwmark,
        };
        Target {
            ip,
            port,
            source: (source != Source::default()).then(|| Box::new(source)),
        }
    }

    /// A plain target: `addr`'s address and port, no source options.
    pub fn to(addr: SocketAddr) -> Target {
        Target {
            ip: addr.ip(),
            port: addr.port(),
            source: None,
        }
    }

    /// Where the checker connects.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// The source address and port (`bindto`/`bind_port`).
    pub fn bind(&self) -> Option<SocketAddr> {
        self.source.as_ref().and_then(|s| s.bind)
    }

    pub fn set_bind(&mut self, bind: Option<SocketAddr>) {
        let mut source = self.source.take().unwrap_or_default();
        source.bind = bind;
        self.source = (*source != Source::default()).then_some(source);
    }

    fn options(&self) -> SocketOptions<'_> {
        match &self.source {
            None => SocketOptions {
                bind: None,
                bind_if: None,
                fwmark: None,
            },
            Some(s) => SocketOptions {
                bind: s.bind,
                bind_if: s.bind_if.as_ref().map(IfName::as_str),
                fwmark: s.fwmark,
            },
        }
    }
}

/// One url of HTTP_GET/SSL_GET, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    pub request: Box<[u8]>,
    pub digest: Option<[u8; 16]>,
    /// Inclusive ranges; empty means 200-299.
    pub status_code: Box<[(u16, u16)]>,
    /// SSL_GET with `enable_sni`: the TLS server name (the url's virtualhost, if a DNS name).
    pub server_name: Option<Box<str>>,
}

impl HttpUrl {
    pub fn accepts(&self, status: u16) -> bool {
        if self.status_code.is_empty() {
            return (200..=299).contains(&status);
        }
        self.status_code
            .iter()
            .any(|&(low, high)| (low..=high).contains(&status))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpProbe {
    /// `payload`; without one a few bytes derived from the probe's nonce are sent.
    pub payload: Option<Box<[u8]>>,
    /// `require_reply`, with the pattern the reply must start with (may be empty).
    pub require_reply: Option<Box<[MaskedByte]>>,
    pub min_reply_length: u32,
    pub max_reply_length: u32,
}

impl UdpProbe {
    /// keepalived's check_udp_reply: the length within bounds, then the pattern over the
    /// shorter of the two.
    pub fn reply_matches(&self, reply: &[u8]) -> bool {
        let len = u32::try_from(reply.len()).unwrap_or(u32::MAX);
        if len < self.min_reply_length || len > self.max_reply_length {
            return false;
        }
        let pattern = self.require_reply.as_deref().unwrap_or(&[]);
        reply
            .iter()
            .zip(pattern)
            .all(|(&got, want)| (got ^ want.value) & want.mask == 0)
    }
}

/// What a checker does. Payloads larger than a pointer pair are boxed: every checker carries
/// a `Kind` (24 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Http(Box<[HttpUrl]>),
    Ssl(Box<[HttpUrl]>),
    Misc(Box<MiscProbe>),
    Smtp { helo: Box<[u8]> },
    Dns { query: Box<[u8]> },
    Udp(Box<UdpProbe>),
    Ping,
    File(Box<FileProbe>),
}

/// MISC_CHECK: the script, its time limit and whether its exit status sets the weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiscProbe {
    pub script: Script,
    pub timeout: Micros,
    pub dynamic: bool,
}

/// FILE_CHECK: the tracked file, and how its value moves the weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProbe {
    pub path: PathBuf,
    pub weight: i32,
    pub reverse: bool,
}

/// A checker ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub target: Target,
    /// `connect_timeout`: the limit on one probe's whole exchange.
    pub timeout: Micros,
    pub kind: Kind,
}

/// What preparing checkers needs from the rest of the config.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub track_files: &'a [TrackFile],
    pub users: &'a UserDb,
    /// global_defs `script_user`.
    pub script_user: Option<&'a RunAs>,
    /// global_defs `enable_script_security`.
    pub script_security: bool,
}

#[derive(Debug)]
pub enum PrepareError {
    Script(ScriptError),
    /// FILE_CHECK names a `track_file` that does not exist.
    NoTrackFile(String),
    /// DNS_CHECK `name` is not a valid domain name.
    DnsName(String),
}

impl fmt::Display for PrepareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrepareError::Script(e) => write!(f, "MISC_CHECK: {e}"),
            PrepareError::NoTrackFile(name) => write!(f, "FILE_CHECK: no track_file `{name}`"),
            PrepareError::DnsName(name) => write!(f, "DNS_CHECK: bad name `{name}`"),
        }
    }
}

impl std::error::Error for PrepareError {}

impl Check {
    /// Prepares `checker` of `rs` in `vs`.
    pub fn prepare(
        vs: &VirtualServer,
        rs: &RealServer,
        checker: &Checker,
        cx: &Context<'_>,
    ) -> Result<Check, PrepareError> {
        let timing = Timing::resolve(vs, rs, checker);
        let mut target = Target::new(rs, &checker.target);
        let kind = match &checker.kind {
            CheckKind::Tcp => Kind::Tcp,
            CheckKind::Http(h) => Kind::Http(http::urls(vs, rs, h, target.addr(), false)),
            CheckKind::Ssl(h) => Kind::Ssl(http::urls(vs, rs, h, target.addr(), h.enable_sni)),
            CheckKind::Misc(m) => {
                let run_as = cx
                    .users
                    .script_credentials(m.misc_path.run_as.as_deref(), cx.script_user)
                    .map_err(PrepareError::Script)?;
                let script = Script::prepare(&m.misc_path.command, run_as, cx.script_security)
                    .map_err(PrepareError::Script)?;
                Kind::Misc(Box::new(MiscProbe {
                    script,
                    timeout: m.misc_timeout.unwrap_or(timing.delay_loop),
                    dynamic: m.misc_dynamic,
                }))
            }
            CheckKind::Smtp(s) => Kind::Smtp {
                helo: super::smtp::helo(s.helo_name.as_deref()).into(),
            },
            CheckKind::Dns(d) => {
                if target.port == 0 {
                    target.port = DNS_PORT;
                }
                let query = super::dns::query(&d.name, d.query_type)
                    .map_err(|_| PrepareError::DnsName(d.name.clone()))?;
                Kind::Dns {
                    query: query.into(),
                }
            }
            CheckKind::Udp(u) => Kind::Udp(Box::new(UdpProbe {
                payload: u.payload.as_deref().map(Box::from),
                require_reply: u.require_reply.as_deref().map(Box::from),
                min_reply_length: u.min_reply_length.unwrap_or(0),
                max_reply_length: u.max_reply_length.unwrap_or(255),
            })),
            CheckKind::Ping => Kind::Ping,
            CheckKind::File(f) => {
                let track = cx
                    .track_files
                    .iter()
                    .find(|t| t.name == f.track_file)
                    .ok_or_else(|| PrepareError::NoTrackFile(f.track_file.clone()))?;
                // keepalived: the FILE_CHECK's own non-zero weight wins over the track_file's.
                let (weight, reverse) = match f.weight {
                    Some(w) if w != 0 => (w, f.reverse),
                    _ => (track.weight, track.weight_reverse),
                };
                Kind::File(Box::new(FileProbe {
                    path: PathBuf::from(&track.file),
                    weight,
                    reverse,
                }))
            }
        };
        Ok(Check {
            target,
            timeout: timing.connect_timeout,
            kind,
        })
    }

    /// One probe. `url` is the verdict's url index (HTTP_GET/SSL_GET); `nonce` varies per probe
    /// (DNS id, ICMP sequence, UDP filler payload); `scratch` is the probe's buffer.
    pub async fn run(&self, url: u16, nonce: u64, scratch: &mut Scratch) -> ProbeResult {
        let deadline = reactor::now() + self.timeout;
        let t = &self.target;
        match &self.kind {
            Kind::Tcp => {
                within(
                    deadline,
                    pin!(async {
                        connect(t).await?;
                        Ok(WeightEffect::Keep)
                    }),
                )
                .await
            }
            Kind::Http(urls) => match urls.get(usize::from(url)) {
                Some(u) => within(deadline, pin!(http::get(t, u, scratch))).await,
                None => Err(Failure::NoUrl),
            },
            #[cfg(not(feature = "tls"))]
            Kind::Ssl(_) => Err(Failure::NeedsTls),
            // Boxed: the TLS state is kilobytes, and every probe's task is sized for the
            // largest probe.
            #[cfg(feature = "tls")]
            Kind::Ssl(urls) => match urls.get(usize::from(url)) {
                Some(u) => within(deadline, Box::pin(tls::get(t, u, scratch)).as_mut()).await,
                None => Err(Failure::NoUrl),
            },
            Kind::Misc(m) => misc::run(&m.script, m.timeout, m.dynamic).await,
            Kind::Smtp { helo } => {
                within(deadline, pin!(smtp::check(t, helo, &mut scratch.bytes))).await
            }
            Kind::Dns { query } => {
                within(
                    deadline,
                    pin!(dns::check(t, query, nonce, &mut scratch.bytes)),
                )
                .await
            }
            Kind::Udp(u) => udp::check(t, u, nonce, deadline, &mut scratch.bytes).await,
            Kind::Ping => ping::check(t, nonce, deadline, &mut scratch.bytes).await,
            Kind::File(f) => read_track_file(&f.path, f.weight, f.reverse, &mut scratch.bytes),
        }
    }
}

/// Runs `io` until `deadline`, then gives up with [`Failure::Timeout`] (the caller drops `io`,
/// which closes its sockets). The timer is taken only if `io` has to wait. `io` is pinned by the
/// caller, in its own state: taking it by value would store it twice in the caller's future
/// (once as the argument, once pinned), which is memory per probe.
pub(crate) fn within<F: Future>(deadline: Instant, io: Pin<&mut F>) -> Within<'_, F> {
    Within {
        io,
        timer: reactor::sleep_until(deadline),
    }
}

/// The future of [`within`].
pub(crate) struct Within<'a, F> {
    io: Pin<&'a mut F>,
    timer: reactor::Sleep,
}

impl<T, F: Future<Output = Result<T, Failure>>> Future for Within<'_, F> {
    type Output = Result<T, Failure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(result) = self.io.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        match Pin::new(&mut self.timer).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Failure::Timeout)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A byte stream that HTTP_GET and SSL_GET talk over: TCP, or TLS over TCP. The methods
/// return futures rather than being `async fn`s so that TCP's are `Stream`'s own, without a
/// wrapping future (whose state would add to every probe's task).
pub(crate) trait Conn {
    /// Writes all of `bytes`.
    fn write_all<'a>(
        &'a mut self,
        bytes: &'a [u8],
    ) -> impl Future<Output = Result<(), Failure>> + 'a;
    /// Reads what has arrived into `buf` (0: the end of the stream).
    fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = Result<usize, Failure>> + 'a;
}

/// A connected TCP stream on the reactor.
pub(crate) struct Stream(Async<TcpStream>);

impl Conn for Stream {
    fn write_all<'a>(
        &'a mut self,
        bytes: &'a [u8],
    ) -> impl Future<Output = Result<(), Failure>> + 'a {
        Stream::write_all(self, bytes)
    }

    fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = Result<usize, Failure>> + 'a {
        Stream::read(self, buf)
    }
}

/// A TCP connection to the target, made with its source options, ended by a RST when dropped
/// (see [`TcpClose::Reset`]).
pub(crate) async fn connect(t: &Target) -> Result<Stream, Failure> {
    connect_closing(t, TcpClose::Reset).await
}

/// A TCP connection to the target that ends as `close` says when dropped.
pub(crate) async fn connect_closing(t: &Target, close: TcpClose) -> Result<Stream, Failure> {
    let (stream, connected) =
        crate::sys::check_socket::tcp_connect_start(t.addr(), &t.options(), close)?;
    let stream = Async::new(stream)?;
    if !connected {
        stream.writable().await?;
        // A clean EPOLLOUT is a finished connect: SO_ERROR is read only when epoll reported an
        // error or a hangup (a peer that accepted and closed at once has connected all right).
        let ready = stream.readiness();
        if ready.error() || ready.hangup() {
            if let Some(e) = stream.get_ref().take_error()? {
                return Err(e.into());
            }
        }
    }
    Ok(Stream(stream))
}

impl Stream {
    /// Writes all of `bytes`.
    pub(crate) async fn write_all(&self, mut bytes: &[u8]) -> Result<(), Failure> {
        while !bytes.is_empty() {
            let n = self.0.write_with(|mut s| s.write(bytes)).await?;
            if n == 0 {
                return Err(Failure::Closed);
            }
            bytes = bytes.get(n..).unwrap_or_default();
        }
        Ok(())
    }

    /// Reads what has arrived into `buf` (0: the peer closed). A short read has emptied the
    /// socket, so the next one waits for new data (or the FIN) instead of trying into EAGAIN;
    /// after the peer's FIN (and no error) an emptied socket is at EOF without asking.
    pub(crate) async fn read(&self, buf: &mut [u8]) -> Result<usize, Failure> {
        let ready = self.0.readiness();
        if !ready.readable() && ready.hangup() && !ready.error() {
            return Ok(0);
        }
        let n = self.0.read_with(|mut s| s.read(&mut *buf)).await?;
        if n < buf.len() {
            self.0.clear(Readiness::READABLE);
        }
        Ok(n)
    }
}

/// FILE_CHECK: the file's value judged with its weight. The read is a few bytes from a local
/// file, done in place (O_NONBLOCK, so a FIFO cannot stall the executor).
fn read_track_file(
    path: &std::path::Path,
    weight: i32,
    reverse: bool,
    buf: &mut [u8; SCRATCH_LEN],
) -> ProbeResult {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let buf = &mut buf[..super::file::READ_MAX];
    let len = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .and_then(|mut f| f.read(buf))
        .unwrap_or(0);
    super::file::judge(super::file::parse_value(&buf[..len]), weight, reverse)
}

#[cfg(test)]
mod tests {
    /// Memory per real server: a prepared check with its target inline.
    #[test]
    fn a_prepared_check_is_small() {
        assert!(std::mem::size_of::<Target>() <= 32);
        assert!(std::mem::size_of::<Check>() <= 64);
    }

    use super::*;

    #[test]
    fn status_ranges() {
        let mut url = HttpUrl {
            request: Box::default(),
            digest: None,
            status_code: Box::default(),
            server_name: None,
        };
        assert!(url.accepts(200) && url.accepts(299));
        assert!(!url.accepts(301) && !url.accepts(199));
        url.status_code = vec![(200, 200), (400, 499)].into();
        assert!(url.accepts(200) && url.accepts(404));
        assert!(!url.accepts(201) && !url.accepts(500));
    }

    fn masked(value: u8, mask: u8) -> MaskedByte {
        MaskedByte { value, mask }
    }

    #[test]
    fn udp_reply_rules() {
        let mut u = UdpProbe {
            payload: None,
            require_reply: Some(vec![masked(0xab, 0xff), masked(0x10, 0xf0)].into()),
            min_reply_length: 0,
            max_reply_length: 255,
        };
        assert!(u.reply_matches(&[0xab, 0x1f, 0x00]));
        assert!(!u.reply_matches(&[0xab, 0x2f]));
        // Only the shorter of reply and pattern is compared.
        assert!(u.reply_matches(&[0xab]));
        assert!(u.reply_matches(&[]));
        u.min_reply_length = 2;
        assert!(!u.reply_matches(&[0xab]));
        u.max_reply_length = 2;
        assert!(!u.reply_matches(&[0xab, 0x10, 0]));
        u.require_reply = Some(Box::default());
        assert!(u.reply_matches(&[1, 2]));
    }

    #[test]
    fn target_defaults_to_the_real_server() {
        let rs = RealServer {
            addr: "10.0.0.5".parse().unwrap(),
            port: 8080,
            weight: 1,
            lvs_method: None,
            inhibit_on_failure: None,
            uthreshold: None,
            lthreshold: None,
            virtualhost: Default::default(),
            notify_up: Default::default(),
            notify_down: Default::default(),
            smtp_alert: false,
            timing: Default::default(),
            checkers: Vec::new(),
        };
        let t = Target::new(&rs, &CheckTarget::default());
        assert_eq!(t.addr(), "10.0.0.5:8080".parse().unwrap());
        assert_eq!(t.bind(), None);
        let t = Target::new(
            &rs,
            &CheckTarget {
                connect_ip: Some("10.0.0.6".parse().unwrap()),
                connect_port: Some(81),
                bind_port: Some(1000),
                fwmark: Some(7),
                ..CheckTarget::default()
            },
        );
        assert_eq!(t.addr(), "10.0.0.6:81".parse().unwrap());
        assert_eq!(t.bind(), Some("0.0.0.0:1000".parse().unwrap()));
        assert_eq!(t.options().fwmark, Some(7));
    }
}
