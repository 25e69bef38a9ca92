//! HTTP_GET (and genhash): one GET of one url, the response streamed through
//! `check::http::ResponseReader` into an MD5, judged by status code and digest.

use super::{connect, within, HttpUrl, Scratch, Target};
use crate::check::http::{host, request, ResponseReader};
use crate::check::md5::Md5;
use crate::check::outcome::{Failure, ProbeResult, WeightEffect};
use crate::config::model::{HttpCheck, RealServer, VirtualServer};
use crate::time::Instant;
use std::net::SocketAddr;

/// The urls of `h`, with their requests built. Host: the url's virtualhost, else the
/// checker's, the real server's, the virtual server's, else `addr` (keepalived's order).
pub(super) fn urls(
    vs: &VirtualServer,
    rs: &RealServer,
    h: &HttpCheck,
    addr: SocketAddr,
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
            }
        })
        .collect()
}

/// What one GET brought back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    /// MD5 of the body (see `check::http` for what the body is).
    pub digest: [u8; 16],
    pub body_len: u64,
}

/// Sends `request` to `target` and reads the response until the server closes the connection
/// (or `Content-Length` is reached). `stop_early` may end the read once the status is known.
async fn exchange(
    target: &Target,
    request: &[u8],
    stop_early: impl Fn(u16) -> bool,
    scratch: &mut Scratch,
) -> Result<Fetched, Failure> {
    let Scratch { bytes: buf, http } = scratch;
    let stream = connect(target).await?;
    stream.write_all(request).await?;
    // The reader lives in the slot's scratch, not in the checker's task.
    let reader = http;
    *reader = ResponseReader::new(Md5::new());
    loop {
        let n = stream.read(buf).await?;
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
    let fetched = exchange(target, &url.request, |status| !url.accepts(status), scratch).await?;
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
    let mut scratch = super::Scratch::new();
    let exchange = std::pin::pin!(exchange(target, request, |_| false, &mut scratch));
    within(deadline, exchange).await
}
