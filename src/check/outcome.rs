//! What one probe of a checker found: success (possibly with a weight for the real server) or
//! a failure with its reason, for the verdict machine and for the log. Plain `Copy` data, so a
//! result costs no allocation.

use core::fmt;
use std::io;

/// A successful probe's effect on the real server's weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightEffect {
    /// The weight is not this checker's business (every checker but the two below).
    Keep,
    /// Back to the configured weight: MISC_CHECK with `misc_dynamic` exiting 0.
    Reset,
    /// MISC_CHECK with `misc_dynamic` exiting 2..=255: the real server's weight becomes
    /// `code - 2` (with several dynamic checkers, each adds its difference to the configured
    /// weight, as keepalived does).
    Set(u32),
    /// FILE_CHECK: the file's value times the weight, added to the configured weight.
    Offset(i64),
}

/// Why a probe failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The whole exchange did not finish within `connect_timeout` (or `misc_timeout`).
    Timeout,
    /// A socket call failed (connection refused, reset, unreachable, ...).
    Io(io::ErrorKind, Option<i32>),
    /// The peer closed before the exchange was complete.
    Closed,
    /// HTTP: the response did not start with a status line.
    BadResponse,
    /// HTTP: the status code is outside the url's `status_code` ranges.
    Status(u16),
    /// HTTP: the body's MD5 differs from the url's `digest`.
    Digest,
    /// HTTP_GET without a url to fetch.
    NoUrl,
    /// SSL_GET in a build without the `tls` feature.
    NeedsTls,
    /// SSL_GET: the TLS handshake failed, or a TLS record was malformed.
    Tls,
    /// SMTP: the greeting was not 220 (`expected` 220) or HELO's reply not 250.
    SmtpReply { expected: u16, got: u16 },
    /// DNS: the reply's RCODE was not 0 (NOERROR).
    Rcode(u8),
    /// UDP_CHECK: no reply, a reply of the wrong length, or one that does not match.
    UdpReply,
    /// PING_CHECK: something other than our echo reply came back.
    Echo,
    /// MISC_CHECK exited with this status (1, or non-zero without `misc_dynamic`).
    Exit(i32),
    /// MISC_CHECK was killed by this signal.
    Signal(i32),
    /// MISC_CHECK could not be started.
    Spawn,
    /// FILE_CHECK: the file's value puts the checker in fault.
    FileFault(i64),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        match e.kind() {
            io::ErrorKind::TimedOut => Failure::Timeout,
            io::ErrorKind::UnexpectedEof => Failure::Closed,
            kind => Failure::Io(kind, e.raw_os_error()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => write!(f, "timed out"),
            Failure::Io(_, Some(errno)) => write!(f, "{}", io::Error::from_raw_os_error(*errno)),
            Failure::Io(kind, None) => write!(f, "{kind}"),
            Failure::Closed => write!(f, "connection closed early"),
            Failure::BadResponse => write!(f, "not an HTTP response"),
            Failure::Status(code) => write!(f, "HTTP status {code} not accepted"),
            Failure::Digest => write!(f, "MD5 digest differs"),
            Failure::NoUrl => write!(f, "no url to check"),
            Failure::NeedsTls => write!(f, "SSL_GET needs the `tls` feature"),
            Failure::Tls => write!(f, "TLS handshake failed"),
            Failure::SmtpReply { expected, got } => {
                write!(f, "SMTP reply {got}, expected {expected}")
            }
            Failure::Rcode(rcode) => write!(f, "DNS reply with RCODE {rcode}"),
            Failure::UdpReply => write!(f, "no matching UDP reply"),
            Failure::Echo => write!(f, "no ICMP echo reply"),
            Failure::Exit(code) => write!(f, "script exited with {code}"),
            Failure::Signal(signal) => write!(f, "script killed by signal {signal}"),
            Failure::Spawn => write!(f, "script could not be started"),
            Failure::FileFault(value) => write!(f, "track file value {value} means fault"),
        }
    }
}

/// What a probe reports to the verdict machine.
pub type ProbeResult = Result<WeightEffect, Failure>;
