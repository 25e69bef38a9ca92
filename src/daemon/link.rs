//! The channel between the watchdog parent and a child: one unix stream socket from a
//! socketpair, carrying length-prefixed postcard messages (u32 little-endian length, then the
//! body). Down: the binary config and what a previous child left behind; status requests.
//! Up: heartbeats, the state the parent keeps for a restart (masters, real server health),
//! status replies, and fatal errors that must stop the daemon.

use crate::sys::process;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The least one read asks for (more when the inbox has grown). Reads go straight into the
/// inbox: a chunk on the stack would keep its pages resident in processes that otherwise run on
/// a few KiB of stack.
const READ_CHUNK: usize = 4096;
/// The largest message accepted (a binary config of a very large farm is a few MB).
pub const MAX_MESSAGE: usize = 64 << 20;

/// How long a blocked write may take before the message is given up (the other side is hung;
/// the watchdog deals with that).
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// An instance as reload and restart match it: keepalived's (VRID, family, interface).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceKey {
    pub vrid: u8,
    pub ipv6: bool,
    pub interface: String,
}

/// A real server's health as the checker last knew it, for a restarted checker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The virtual server as `lvs` names it (address:port/protocol, fwmark or group).
    pub virtual_server: String,
    pub real_server: SocketAddr,
    pub up: bool,
    pub weight: u32,
    /// Each checker's state, in config order.
    pub checkers: Vec<bool>,
}

/// An instance's AH sequence counter (`auth_type AH`) as the VRRP child last reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AhCounter {
    pub instance: InstanceKey,
    /// The highest sequence number sent or accepted.
    pub last: u32,
    /// The counter ran out (keepalived's `cycle`).
    pub cycled: bool,
}

/// What a child of the same kind left behind (empty for the first start).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub masters: Vec<InstanceKey>,
    pub health: Vec<Health>,
    /// Every AH instance's counter: a restarted child goes on from it, so that peers, which
    /// accept only numbers above the last they saw, do not drop its adverts as replays.
    pub ah_sequences: Vec<AhCounter>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToChild {
    Start { config: Vec<u8>, resume: Resume },
    Reload { config: Vec<u8> },
    Status,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ToParent {
    Beat,
    /// The instances that are master now (sent when the set changes).
    Masters(Vec<InstanceKey>),
    /// Every AH instance's counter (replaces what the parent had): with the heartbeat when a
    /// counter moved, and before an advert would go further past the last report than a
    /// resumed master skips.
    AhSequences(Vec<AhCounter>),
    /// Every real server's health (at start and after a reload: replaces what the parent had),
    /// or its first part, the rest following in `HealthMore` messages.
    Health(Vec<Health>),
    /// The next part of the report `Health` started (appended).
    HealthMore(Vec<Health>),
    /// The real servers whose health just changed (merged into what the parent has).
    HealthChanged(Vec<Health>),
    Status(ChildStatus),
    /// The child cannot run (config, permission): the daemon stops with this message.
    Fatal(String),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub ipv6: bool,
    pub state: String,
    pub priority: u8,
    pub effective_priority: u8,
    pub master: Option<IpAddr>,
    pub become_master: u64,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    /// Drops by reason, only the non-zero ones.
    pub drops: Vec<(String, u64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RealServerStatus {
    pub addr: SocketAddr,
    pub up: bool,
    pub weight: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualServerStatus {
    pub name: String,
    pub quorum_up: bool,
    pub real_servers: Vec<RealServerStatus>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ChildStatus {
    Vrrp {
        instances: Vec<InstanceStatus>,
        /// Drops before any instance (per socket), by reason.
        socket_drops: Vec<(String, u64)>,
    },
    Check {
        virtual_servers: Vec<VirtualServerStatus>,
    },
}

/// Why a message could not be read.
#[derive(Debug)]
pub enum LinkError {
    Io(io::Error),
    /// The other side closed the socket.
    Closed,
    TooLong(usize),
    Decode(String),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Io(e) => write!(f, "{e}"),
            LinkError::Closed => write!(f, "closed by the other side"),
            LinkError::TooLong(n) => write!(f, "message of {n} bytes is over the limit"),
            LinkError::Decode(e) => write!(f, "undecodable message: {e}"),
        }
    }
}

/// One end of the socketpair with its receive buffer.
pub struct Link {
    stream: UnixStream,
    inbox: Vec<u8>,
}

impl Link {
    pub fn new(stream: UnixStream) -> io::Result<Link> {
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        Ok(Link {
            stream,
            inbox: Vec::new(),
        })
    }

    /// Sends one message, blocking at most the write timeout.
    pub fn send<T: Serialize>(&mut self, message: &T) -> io::Result<()> {
        let body = postcard::to_allocvec(message).map_err(io::Error::other)?;
        let mut frame = Vec::with_capacity(4 + body.len());
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame)
    }

    /// Blocks until one whole message is here (the child's first read, the config).
    pub fn recv_blocking<T: DeserializeOwned>(&mut self) -> Result<T, LinkError> {
        loop {
            if let Some(message) = self.take()? {
                return Ok(message);
            }
            let stream = &mut self.stream;
            match read_into(&mut self.inbox, |tail| stream.read(tail).map(Some)) {
                Ok(Some(0)) => return Err(LinkError::Closed),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::Io(e)),
            }
        }
    }

    /// After the socket polled readable: reads what is there without blocking. `Err(Closed)`
    /// when the other side is gone. Then call [`Link::take`] until it returns `None`.
    pub fn fill(&mut self) -> Result<(), LinkError> {
        loop {
            let stream = &self.stream;
            match read_into(&mut self.inbox, |tail| process::recv_nowait(stream, tail)) {
                Ok(Some(0)) => return Err(LinkError::Closed),
                Ok(Some(_)) => {
                    if self.inbox.len() > MAX_MESSAGE + 4 {
                        return Err(LinkError::TooLong(self.inbox.len()));
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(LinkError::Io(e)),
            }
        }
    }

    /// The next whole message in the buffer, if any.
    pub fn take<T: DeserializeOwned>(&mut self) -> Result<Option<T>, LinkError> {
        let Some(len) = self.inbox.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len > MAX_MESSAGE {
            return Err(LinkError::TooLong(len));
        }
        if self.inbox.len() < 4 + len {
            return Ok(None);
        }
        let message = postcard::from_bytes(&self.inbox[4..4 + len])
            .map_err(|e| LinkError::Decode(e.to_string()));
        self.inbox.drain(..4 + len);
        if self.inbox.is_empty() {
            // A large config must not stay allocated for the life of the child.
            self.inbox = Vec::new();
        }
        message.map(Some)
    }
}

/// One read straight into the tail of `inbox` (grown by at least [`READ_CHUNK`]); `read` says
/// how many bytes it wrote (`None`: nothing to read), and the tail beyond them is cut off again.
fn read_into<E>(
    inbox: &mut Vec<u8>,
    read: impl FnOnce(&mut [u8]) -> Result<Option<usize>, E>,
) -> Result<Option<usize>, E> {
    let filled = inbox.len();
    inbox.resize(inbox.capacity().max(filled + READ_CHUNK), 0);
    let result = read(&mut inbox[filled..]);
    inbox.truncate(filled + result.as_ref().map_or(0, |n| n.unwrap_or(0)));
    result
}

impl AsFd for Link {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_in_order_and_in_pieces() {
        let (a, b) = UnixStream::pair().expect("pair");
        let mut parent = Link::new(a).expect("link");
        let mut child = Link::new(b).expect("link");
        parent
            .send(&ToChild::Start {
                config: vec![7; 100_000],
                resume: Resume {
                    masters: vec![InstanceKey {
                        vrid: 51,
                        ipv6: false,
                        interface: "eth0".into(),
                    }],
                    health: vec![],
                    ah_sequences: vec![AhCounter {
                        instance: InstanceKey {
                            vrid: 51,
                            ipv6: false,
                            interface: "eth0".into(),
                        },
                        last: 0xFFFF_FFFE,
                        cycled: true,
                    }],
                },
            })
            .expect("send");
        parent.send(&ToChild::Status).expect("send");
        match child.recv_blocking::<ToChild>().expect("start") {
            ToChild::Start { config, resume } => {
                assert_eq!(config.len(), 100_000);
                assert_eq!(resume.masters[0].vrid, 51);
                assert_eq!(
                    (resume.ah_sequences[0].last, resume.ah_sequences[0].cycled),
                    (0xFFFF_FFFE, true)
                );
            }
            other => panic!("got {other:?}"),
        }
        assert!(matches!(
            child.recv_blocking::<ToChild>(),
            Ok(ToChild::Status)
        ));
        child.send(&ToParent::Beat).expect("send");
        child.send(&ToParent::Fatal("x".into())).expect("send");
        parent.fill().expect("fill");
        assert_eq!(parent.take::<ToParent>().expect("ok"), Some(ToParent::Beat));
        assert_eq!(
            parent.take::<ToParent>().expect("ok"),
            Some(ToParent::Fatal("x".into()))
        );
        assert_eq!(parent.take::<ToParent>().expect("ok"), None);
        drop(child);
        assert!(matches!(parent.fill(), Err(LinkError::Closed)));
    }

    #[test]
    fn oversized_and_garbage_frames_are_errors_not_panics() {
        let (a, b) = UnixStream::pair().expect("pair");
        let mut rx = Link::new(a).expect("link");
        let mut raw = b;
        raw.write_all(&u32::MAX.to_le_bytes()).expect("write");
        rx.fill().expect("fill");
        assert!(matches!(rx.take::<ToParent>(), Err(LinkError::TooLong(_))));
        let (a, b) = UnixStream::pair().expect("pair");
        let mut rx = Link::new(a).expect("link");
        let mut raw = b;
        raw.write_all(&[3, 0, 0, 0, 0xff, 0xff, 0xff])
            .expect("write");
        rx.fill().expect("fill");
        assert!(matches!(rx.take::<ToParent>(), Err(LinkError::Decode(_))));
    }
}
