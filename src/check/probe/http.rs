//! HTTP_GET (and genhash): one GET of one url, the response streamed through
//! `check::http::ResponseReader` into an MD5, judged by status code and digest. SSL_GET
//! (`tls`) runs the same exchange over TLS.

use super::{connect, within, Conn, HttpUrl, Scratch, Target};
use crate::check::http::{host, request, ResponseReader};
use crate::check::md5::Md5;
use crate::check::outcome::{Failure, ProbeResult, WeightEffect};
use crate::config::model::{HttpCheck, RealServer, VirtualServer};
use crate::time::Instant;
use std::future::Future;
use std::net::SocketAddr;

/// The urls of `h`, with their requests built. Host: the url's virtualhost, else the
/// checker's, the real server's, the virtual server's, else `addr` (keepalived's order). With
/// `sni` (SSL_GET's `enable_sni`) that same virtualhost is the TLS server name, if it is a DNS
/// name.
pub(super) fn urls(
    vs: &VirtualServer,
    rs: &RealServer,
    h: &HttpCheck,
    addr: SocketAddr,
    sni: bool,
) -> Box<[HttpUrl]> {
    h.urls
        .iter()
        .map(|u| {
            let vhost = u
                .virtualhost
                .as_deref()
                .or(h.virtualhost.as_deref())
                .or(rs.virtualhost.as_deref())
                .or(vs.virtualhost.as_deref());
            HttpUrl {
                request: request(&u.path, &host(vhost, addr), h.http_protocol.as_ref()).into(),
                digest: u.digest,
                status_code: u.status_code.clone().into(),
                server_name: vhost.filter(|_| sni).and_then(server_name).map(Box::from),
            }
        })
        .collect()
}

/// The TLS server name (SNI, RFC 6066 §3) for a `Host:` value: its host part without a port,
/// when that is a DNS name (an address literal is not allowed there).
pub fn server_name(host: &str) -> Option<&str> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    let dns = !name.is_empty()
        && name.len() <= 253
        && name.parse::<std::net::IpAddr>().is_err()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    dns.then_some(name)
}

/// What one GET brought back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    /// MD5 of the body (see `check::http` for what the body is).
    pub digest: [u8; 16],
    pub body_len: u64,
}

/// Sends `request` over the connection `conn` makes and reads the response until the server
/// closes the connection (or `Content-Length` is reached). `stop_early` may end the read once
/// the status is known. `conn` makes the connection, so that HTTP_GET's connect runs inside this
/// future's state instead of a caller's frame around it (memory per checker task).
pub(super) async fn talk<C: Conn, F: Future<Output = Result<C, Failure>>>(
    conn: impl FnOnce() -> F,
    request: &[u8],
    stop_early: impl Fn(u16) -> bool,
    scratch: &mut Scratch,
) -> Result<Fetched, Failure> {
    let mut conn = conn().await?;
    let Scratch { bytes: buf, http } = scratch;
    conn.write_all(request).await?;
    // The reader lives in the slot's scratch, not in the checker's task.
    let reader = http;
    *reader = ResponseReader::new(Md5::new());
    loop {
        let n = conn.read(buf).await?;
        if n == 0 {
            break;
        }
        reader.feed(&buf[..n]).map_err(|_| Failure::BadResponse)?;
        if reader.is_complete() || reader.status().is_some_and(&stop_early) {
            break;
        }
    }
    let status = reader.finish().map_err(|_| Failure::BadResponse)?;
    let body_len = reader.body_len();
    let done = std::mem::replace(reader, ResponseReader::new(Md5::new()));
    Ok(Fetched {
        status,
        digest: done.into_body().finalize(),
        body_len,
    })
}

/// HTTP_GET of one url.
pub(super) async fn get(target: &Target, url: &HttpUrl, scratch: &mut Scratch) -> ProbeResult {
    // A status that fails the check makes the rest of the body irrelevant.
    let stop_early = |status| !url.accepts(status);
    let fetched = talk(|| connect(target), &url.request, stop_early, scratch).await?;
    judge(url, fetched)
}

/// HTTP_GET's and SSL_GET's verdict on one response.
pub(super) fn judge(url: &HttpUrl, fetched: Fetched) -> ProbeResult {
    if !url.accepts(fetched.status) {
        return Err(Failure::Status(fetched.status));
    }
    if url.digest.is_some_and(|d| d != fetched.digest) {
        return Err(Failure::Digest);
    }
    Ok(WeightEffect::Keep)
}

/// genhash's fetch: `request` to `target` within `deadline`, whatever the status.
pub async fn fetch(target: &Target, request: &[u8], deadline: Instant) -> Result<Fetched, Failure> {
    let mut scratch = Scratch::new();
    let exchange = std::pin::pin!(talk(|| connect(target), request, |_| false, &mut scratch));
    within(deadline, exchange).await
}

#[cfg(test)]
mod tests {
    use super::server_name;

    #[test]
    fn server_names_are_dns_names_only() {
        assert_eq!(server_name("www.example.com"), Some("www.example.com"));
        assert_eq!(server_name("www.example.com:8443"), Some("www.example.com"));
        assert_eq!(server_name("Host-1.example."), Some("Host-1.example"));
        assert_eq!(server_name("localhost"), Some("localhost"));
        for not_dns in [
            "10.0.0.1",
            "10.0.0.1:443",
            "[2001:db8::1]:443",
            "2001:db8::1",
            "",
            "a..b",
            "a b",
            "x:y",
        ] {
            assert_eq!(server_name(not_dns), None, "{not_dns}");
        }
    }
}
