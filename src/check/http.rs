//! HTTP/1.x for HTTP_GET, SSL_GET and genhash (RFC 9112, as keepalived 2.2's check_http.c uses
//! it): the request keepalived sends, built once when the config is loaded, and a streaming
//! response reader that takes the bytes as they arrive (an `embedded_io::Write`), keeps the
//! status code and hands the body to a sink (the MD5) without ever holding it.
//!
//! The reader looks at the first [`LINE_MAX`] bytes of each header line only (enough for the
//! status line, `Content-Length` and `Transfer-Encoding`); longer lines are accepted and cut.
//! Like keepalived, the body is everything after the header up to `Content-Length` if the server
//! sent one, else up to the end of the connection, and a `chunked` body is hashed as it comes
//! on the wire, chunk sizes included: that keeps digests made by keepalived's genhash valid.

use crate::config::model::HttpProtocol;
use std::net::SocketAddr;

/// Bytes of a header line the reader looks at.
pub const LINE_MAX: usize = 128;

/// The GET request keepalived sends for `path` (keepalived's request template): HTTP/1.0 unless
/// `http_protocol 1.1`, `Connection: close` for 1.0C and 1.1.
pub fn request(path: &str, host: &str, protocol: Option<&HttpProtocol>) -> Vec<u8> {
    let (minor, connection) = match protocol {
        None | Some(HttpProtocol::Http10) => (0, ""),
        Some(HttpProtocol::Http10Close) => (0, "Connection: close\r\n"),
        Some(HttpProtocol::Http10KeepAlive) => (0, "Connection: keep-alive\r\n"),
        Some(HttpProtocol::Http11) => (1, "Connection: close\r\n"),
    };
    format!(
        "GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{connection}Host: {host}\r\n\r\n"
    )
    .into_bytes()
}

/// The `Host:` value: the virtualhost if one applies, else the address and port the checker
/// connects to (IPv6 in brackets, RFC 3986 §3.2.2).
pub fn host(virtualhost: Option<&str>, addr: SocketAddr) -> String {
    match virtualhost {
        Some(vhost) => vhost.to_string(),
        None => addr.to_string(),
    }
}

/// The reader found something that is not an HTTP response, or the body sink failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The first line is not `HTTP/x.y NNN ...`.
    StatusLine,
    /// The connection ended before the end of the header.
    Incomplete,
    /// The body sink refused bytes.
    Sink(embedded_io::ErrorKind),
}

impl embedded_io::Error for Error {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            Error::StatusLine | Error::Incomplete => embedded_io::ErrorKind::InvalidData,
            Error::Sink(kind) => *kind,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    StatusLine,
    Headers,
    Body,
    /// `Content-Length` bytes have arrived: anything more is ignored.
    Complete,
}

/// A streaming HTTP response reader feeding the body to `W`.
#[derive(Clone, Debug)]
pub struct ResponseReader<W> {
    state: State,
    line: [u8; LINE_MAX],
    line_len: usize,
    line_cut: bool,
    status: u16,
    content_length: Option<u64>,
    chunked: bool,
    body_len: u64,
    body: W,
}

impl<W: embedded_io::Write> ResponseReader<W> {
    pub fn new(body: W) -> Self {
        ResponseReader {
            state: State::StatusLine,
            line: [0; LINE_MAX],
            line_len: 0,
            line_cut: false,
            status: 0,
            content_length: None,
            chunked: false,
            body_len: 0,
            body,
        }
    }

    /// Takes the next bytes of the response.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            match self.state {
                State::StatusLine | State::Headers => {
                    let Some(at) = data.iter().position(|&b| b == b'\n') else {
                        self.keep(data);
                        return Ok(());
                    };
                    self.keep(&data[..at]);
                    data = &data[at + 1..];
                    self.end_of_line()?;
                }
                State::Body => {
                    let take = match self.content_length {
                        Some(len) => {
                            let left = len.saturating_sub(self.body_len);
                            usize::try_from(left).map_or(data.len(), |left| left.min(data.len()))
                        }
                        None => data.len(),
                    };
                    self.body
                        .write_all(&data[..take])
                        .map_err(|e| Error::Sink(embedded_io::Error::kind(&e)))?;
                    self.body_len += take as u64;
                    data = &data[take..];
                    if self.content_length == Some(self.body_len) {
                        self.state = State::Complete;
                    }
                }
                State::Complete => return Ok(()),
            }
        }
        Ok(())
    }

    /// The whole body announced by `Content-Length` has arrived: no need to read on.
    pub fn is_complete(&self) -> bool {
        self.state == State::Complete
    }

    /// The status code, once the status line has been read.
    pub fn status(&self) -> Option<u16> {
        (self.state != State::StatusLine).then_some(self.status)
    }

    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// The connection ended: the status code if the whole header was read. A body shorter than
    /// `Content-Length` is accepted, as keepalived does (the digest tells if it matters).
    pub fn finish(&self) -> Result<u16, Error> {
        match self.state {
            State::StatusLine | State::Headers => Err(Error::Incomplete),
            State::Body | State::Complete => Ok(self.status),
        }
    }

    pub fn into_body(self) -> W {
        self.body
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = LINE_MAX - self.line_len;
        let take = room.min(bytes.len());
        self.line[self.line_len..self.line_len + take].copy_from_slice(&bytes[..take]);
        self.line_len += take;
        self.line_cut |= take < bytes.len();
    }

    fn end_of_line(&mut self) -> Result<(), Error> {
        let mut len = self.line_len;
        if !self.line_cut && len > 0 && self.line[len - 1] == b'\r' {
            len -= 1;
        }
        let empty = len == 0 && !self.line_cut;
        self.line_len = 0;
        self.line_cut = false;
        let line = &self.line[..len];
        match self.state {
            State::StatusLine => {
                self.status = parse_status_line(line).ok_or(Error::StatusLine)?;
                self.state = State::Headers;
            }
            State::Headers if empty => {
                if self.chunked {
                    self.content_length = None;
                }
                // 204 and 304 never have a body (RFC 9112 §6.3).
                if matches!(self.status, 204 | 304) {
                    self.content_length = Some(0);
                }
                self.state = if self.content_length == Some(0) {
                    State::Complete
                } else {
                    State::Body
                };
            }
            State::Headers => {
                if let Some(value) = header_value(line, b"content-length") {
                    self.content_length = parse_decimal(value);
                } else if let Some(value) = header_value(line, b"transfer-encoding") {
                    self.chunked |= contains_ignore_case(value, b"chunked");
                }
            }
            State::Body | State::Complete => {}
        }
        Ok(())
    }
}

impl<W: embedded_io::Write> embedded_io::ErrorType for ResponseReader<W> {
    type Error = Error;
}

impl<W: embedded_io::Write> embedded_io::Write for ResponseReader<W> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        self.feed(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// `HTTP/1.1 200 OK` → 200: the three digits after the version (RFC 9112 §4).
fn parse_status_line(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let code = rest[space..].trim_ascii_start();
    let digits = code.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || code.get(3).is_some_and(|&b| b != b' ') {
        return None;
    }
    digits
        .iter()
        .try_fold(0u16, |acc, &d| Some(acc * 10 + u16::from(d - b'0')))
}

/// The trimmed value of `line` if it is header `name` (compared without case).
fn header_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (field, value) = line.split_at(colon);
    field
        .trim_ascii()
        .eq_ignore_ascii_case(name)
        .then(|| value[1..].trim_ascii())
}

fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &d| {
        d.is_ascii_digit()
            .then_some(())
            .and_then(|()| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
    })
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::md5::{to_hex, Md5};

    fn read_all(response: &[u8], split: usize) -> (Result<u16, Error>, Vec<u8>, bool) {
        let mut r = ResponseReader::new(Vec::new());
        let mut result = Ok(());
        for piece in response.chunks(split.max(1)) {
            result = result.and_then(|()| r.feed(piece));
        }
        let complete = r.is_complete();
        let status = result.and_then(|()| r.finish());
        (status, r.into_body(), complete)
    }

    #[test]
    fn request_templates() {
        let addr: SocketAddr = "10.0.0.2:8080".parse().unwrap();
        assert_eq!(
            request("/health", &host(None, addr), None),
            b"GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.2:8080\r\n\r\n"
        );
        assert_eq!(
            request("/", "www.example.com", Some(&HttpProtocol::Http11)),
            b"GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n"
        );
        assert_eq!(
            request("/", "h", Some(&HttpProtocol::Http10Close)),
            b"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: h\r\n\r\n"
        );
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        assert_eq!(host(None, v6), "[2001:db8::1]:80");
        assert_eq!(host(Some("vh"), v6), "vh");
    }

    #[test]
    fn body_after_header_until_close_at_any_split() {
        let response = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nhello\r\nworld";
        for split in [1, 2, 3, 7, 16, 1000] {
            let (status, body, complete) = read_all(response, split);
            assert_eq!(status, Ok(200), "split {split}");
            assert_eq!(body, b"hello\r\nworld");
            assert!(!complete);
        }
    }

    #[test]
    fn content_length_ends_the_body() {
        let response = b"HTTP/1.1 201 Created\r\ncontent-LENGTH:  4 \r\n\r\nbodyEXTRA";
        for split in [1, 5, 100] {
            let (status, body, complete) = read_all(response, split);
            assert_eq!(status, Ok(201));
            assert_eq!(body, b"body");
            assert!(complete);
        }
        let (_, body, complete) = read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3);
        assert!(body.is_empty() && complete);
    }

    #[test]
    fn short_body_is_accepted_and_no_content_has_none() {
        let (status, body, complete) =
            read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 4);
        assert_eq!(
            (status, body.as_slice(), complete),
            (Ok(200), &b"abc"[..], false)
        );
        let (status, body, complete) = read_all(b"HTTP/1.1 204 No Content\r\n\r\njunk", 4);
        assert_eq!((status, body.len(), complete), (Ok(204), 0, true));
    }

    #[test]
    fn chunked_body_is_hashed_raw_like_keepalived() {
        let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let (status, body, complete) = read_all(response, 6);
        assert_eq!(status, Ok(200));
        assert_eq!(body, b"5\r\nhello\r\n0\r\n\r\n");
        assert!(!complete);
    }

    #[test]
    fn bare_newlines_and_long_lines() {
        let mut response = b"HTTP/1.0 404 Not Found\nX-Long: ".to_vec();
        response.extend(std::iter::repeat_n(b'a', 5000));
        response.extend(b"\nContent-Length: 2\n\nokNOT");
        let (status, body, complete) = read_all(&response, 100);
        assert_eq!(status, Ok(404));
        assert_eq!(body, b"ok");
        assert!(complete);
    }

    #[test]
    fn not_http_or_cut_header_fails() {
        assert_eq!(
            read_all(b"SSH-2.0-OpenSSH\r\n", 4).0,
            Err(Error::StatusLine)
        );
        assert_eq!(
            read_all(b"HTTP/1.0 2x0 OK\r\n\r\n", 4).0,
            Err(Error::StatusLine)
        );
        assert_eq!(
            read_all(b"HTTP/1.0 2000 OK\r\n\r\n", 4).0,
            Err(Error::StatusLine)
        );
        assert_eq!(
            read_all(b"HTTP/1.0 200 OK\r\nA: b\r\n", 4).0,
            Err(Error::Incomplete)
        );
        assert_eq!(read_all(b"", 4).0, Err(Error::Incomplete));
        assert_eq!(read_all(b"HTTP/1.0 503\r\n\r\n", 4).0, Ok(503));
    }

    #[test]
    fn streams_into_md5_through_embedded_io() {
        use embedded_io::Write;
        let mut r = ResponseReader::new(Md5::new());
        r.write_all(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
        r.write_all(b"The quick brown fox jumps over the lazy dog")
            .unwrap();
        assert_eq!(r.finish(), Ok(200));
        let digest = r.into_body().finalize();
        assert_eq!(&to_hex(&digest), b"9e107d9d372bb6826bd81d3542a419d6");
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(parse_decimal(b"123"), Some(123));
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"1 2"), None);
        assert_eq!(parse_decimal(b"99999999999999999999999"), None);
    }
}
