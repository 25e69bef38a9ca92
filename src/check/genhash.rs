//! `keeplite genhash`: the MD5 of a page's body exactly as HTTP_GET computes it, to paste into
//! a url's `digest` (keepalived's genhash(1)). Blocking: it drives the probe with
//! `check::executor::block_on`. `https://` urls (genhash's `-S`) need the `tls` feature; the
//! TLS server name is `--virtualhost`, else the url's host, if it is a DNS name, and the
//! server's certificate is not verified (as SSL_GET).

use super::http::{host, request};
use super::outcome::Failure;
use super::probe::{fetch, Fetched, Target};
use crate::config::model::{HttpProtocol, Micros};
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// How to fetch, as HTTP_GET would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenhashOptions {
    /// `Host:`; without it the address and port connected to, as the checker sends.
    pub virtualhost: Option<String>,
    pub http_protocol: Option<HttpProtocol>,
    /// Limit on the whole fetch.
    pub timeout: Micros,
    /// Source address (`bindto`).
    pub bindto: Option<IpAddr>,
}

impl Default for GenhashOptions {
    fn default() -> Self {
        GenhashOptions {
            virtualhost: None,
            http_protocol: None,
            timeout: Micros::from_secs(5),
            bindto: None,
        }
    }
}

#[derive(Debug)]
pub enum GenhashError {
    /// Not `http[s]://host[:port][/path]`.
    BadUrl(String),
    /// `https://`: needs the `tls` feature.
    NeedsTls,
    /// The host name did not resolve.
    Resolve(String, std::io::Error),
    Fetch(Failure),
}

impl fmt::Display for GenhashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenhashError::BadUrl(url) => {
                write!(f, "`{url}` is not http[s]://host[:port][/path]")
            }
            GenhashError::NeedsTls => write!(f, "https urls need the `tls` feature"),
            GenhashError::Resolve(host, e) => write!(f, "cannot resolve {host}: {e}"),
            GenhashError::Fetch(e) => write!(f, "fetch failed: {e}"),
        }
    }
}

impl std::error::Error for GenhashError {}

/// A parsed `http://` or `https://` url: host as written, port, path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl<'a> {
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
    /// `https://`.
    pub tls: bool,
}

pub fn parse_url(url: &str) -> Result<HttpUrl<'_>, GenhashError> {
    let bad = || GenhashError::BadUrl(url.to_string());
    let scheme_is = |scheme: &str| {
        url.get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
    };
    let (rest, tls, default_port) = if scheme_is("https://") {
        if cfg!(not(feature = "tls")) {
            return Err(GenhashError::NeedsTls);
        }
        (&url[8..], true, 443)
    } else if scheme_is("http://") {
        (&url[7..], false, 80)
    } else {
        return Err(bad());
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, default_port),
            _ => (
                host,
                after
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(bad)?,
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| bad())?),
            None => (authority, default_port),
        }
    };
    if host.is_empty() || path.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(HttpUrl {
        host,
        port,
        path,
        tls,
    })
}

/// Fetches `url` and returns the status and the body's MD5.
pub fn fetch_url(url: &str, options: &GenhashOptions) -> Result<Fetched, GenhashError> {
    let parsed = parse_url(url)?;
    let addr: SocketAddr = match parsed.host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, parsed.port),
        Err(_) => (parsed.host, parsed.port)
            .to_socket_addrs()
            .map_err(|e| GenhashError::Resolve(parsed.host.to_string(), e))?
            .next()
            .ok_or_else(|| {
                GenhashError::Resolve(
                    parsed.host.to_string(),
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                )
            })?,
    };
    let mut target = Target::to(addr);
    target.set_bind(options.bindto.map(|ip| SocketAddr::new(ip, 0)));
    let request = request(
        parsed.path,
        &host(options.virtualhost.as_deref(), addr),
        options.http_protocol.as_ref(),
    );
    let deadline = crate::sys::reactor::refresh_now() + options.timeout;
    let fetched = if parsed.tls {
        fetch_tls(&target, &request, &parsed, options, deadline)
    } else {
        super::executor::block_on(fetch(&target, &request, deadline))
    };
    fetched
        .map_err(|e| GenhashError::Fetch(e.into()))?
        .map_err(GenhashError::Fetch)
}

#[cfg(feature = "tls")]
fn fetch_tls(
    target: &Target,
    request: &[u8],
    url: &HttpUrl<'_>,
    options: &GenhashOptions,
    deadline: crate::time::Instant,
) -> std::io::Result<Result<Fetched, Failure>> {
    let name = options.virtualhost.as_deref().unwrap_or(url.host);
    let name = super::probe::server_name(name);
    super::executor::block_on(super::probe::fetch_tls(target, request, name, deadline))
}

/// Unreachable: `parse_url` refuses `https://` without the feature.
#[cfg(not(feature = "tls"))]
fn fetch_tls(
    _: &Target,
    _: &[u8],
    _: &HttpUrl<'_>,
    _: &GenhashOptions,
    _: crate::time::Instant,
) -> std::io::Result<Result<Fetched, Failure>> {
    Ok(Err(Failure::NeedsTls))
}

/// The MD5 of `url`'s body, for a url's `digest`.
pub fn genhash(url: &str, options: &GenhashOptions) -> Result<[u8; 16], GenhashError> {
    fetch_url(url, options).map(|f| f.digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://10.0.0.1:8080/a/b?c=d").unwrap();
        assert_eq!((u.host, u.port, u.path), ("10.0.0.1", 8080, "/a/b?c=d"));
        let u = parse_url("HTTP://example.com").unwrap();
        assert_eq!((u.host, u.port, u.path), ("example.com", 80, "/"));
        let u = parse_url("http://[2001:db8::1]:81/x").unwrap();
        assert_eq!((u.host, u.port, u.path), ("2001:db8::1", 81, "/x"));
        let u = parse_url("http://[::1]/").unwrap();
        assert_eq!((u.host, u.port, u.tls), ("::1", 80, false));
        if cfg!(feature = "tls") {
            let u = parse_url("HTTPS://example.com/x").unwrap();
            assert_eq!(
                (u.host, u.port, u.path, u.tls),
                ("example.com", 443, "/x", true)
            );
            let u = parse_url("https://[::1]:8443").unwrap();
            assert_eq!((u.host, u.port, u.path, u.tls), ("::1", 8443, "/", true));
        } else {
            assert!(matches!(
                parse_url("https://x/"),
                Err(GenhashError::NeedsTls)
            ));
        }
        for bad in [
            "ftp://x/",
            "http://",
            "http://:80/",
            "http://x:99999/",
            "http://[::1/",
            "x",
        ] {
            assert!(
                matches!(parse_url(bad), Err(GenhashError::BadUrl(_))),
                "{bad}"
            );
        }
    }
}
