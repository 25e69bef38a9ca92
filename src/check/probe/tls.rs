//! SSL_GET (feature `tls`): HTTP_GET's request, response reader, MD5 and status rules over a
//! TLS 1.3 connection made with embedded-tls, on the checker's reactor. Also `keeplite genhash
//! https://...`.
//!
//! The server's certificate is not verified, as keepalived's SSL_GET does not verify it by
//! default: the probe asks whether the service answers correctly, not who it is. Any
//! certificate (EC or RSA, self-signed or expired) is accepted and no CA file is read.
//!
//! What the server must speak: TLS 1.3 with TLS_AES_128_GCM_SHA256 and a secp256r1 (P-256) key
//! share; embedded-tls has nothing older and no other group. A TLS 1.2-only server, or one that
//! will only do X25519, fails the handshake and counts as down. The server name (SNI) is sent
//! when the checker has `enable_sni` (keepalived's option) and its virtualhost is a DNS name;
//! genhash sends its url's host (or `--virtualhost`) when that is a DNS name.
//!
//! Memory. TLS needs a whole record in memory to decrypt it, and a server may send records of
//! 16 KiB of plaintext plus 256 bytes of expansion ([`READ_BUFFER`]); our own records are cut to
//! fit [`WRITE_BUFFER`]. Both buffers are one allocation made when an SSL_GET probe has
//! connected and freed when it ends, and the probe's future (handshake state, key schedule,
//! about 2.5 KiB) is boxed for the same span: an idle SSL_GET checker holds none of it, and at
//! most `run::MAX_IN_FLIGHT` SSL_GET probes run at once. No smaller record size is asked for
//! (RFC 6066 max_fragment_length): the read buffer must hold a full record from any server that
//! ignores the request, so it would save nothing, and embedded-tls cannot reassemble a
//! handshake message split over records, which a server honouring it would do to any
//! certificate chain longer than the fragment. The server's Certificate message (its chain)
//! must fit in one record: 16 KiB.
//!
//! Randomness for the handshake (client random, ephemeral P-256 key) comes from getrandom(2),
//! read once per probe into a small pool (`sys::random`).
//!
//! Hostile servers: embedded-tls 0.17 panics on two malformed records, which in the release
//! build (panic = abort) would end the checker process. The one a server could send by
//! accident, an encrypted record with an empty content (just the 16-byte tag), is refused here
//! before embedded-tls sees it ([`RecordGuard`]). The other needs a server that completes the
//! handshake and then sends a handshake message that may only come during the handshake
//! (Finished, Certificate, ...): that server can make the watchdog restart the checker.

use super::http::{judge, talk};
use super::{connect, within, Conn, HttpUrl, Scratch, Stream, Target};
use crate::check::outcome::{Failure, ProbeResult};
use crate::sys::random;
use crate::time::Instant;
use embedded_tls::{
    Aes128GcmSha256, NoVerify, TlsConfig, TlsConnection, TlsContext, TlsError, TLS_RECORD_OVERHEAD,
};
use rand_core::{CryptoRng, RngCore};
use std::cell::Cell;
use std::io;
use std::num::NonZeroU32;

/// Bytes of a TLS record header (RFC 8446 §5.1).
const RECORD_HEADER: usize = 5;

/// The read buffer: the largest record a server may send, header, 2^14 bytes of plaintext and
/// 256 bytes of AEAD expansion (RFC 8446 §5.2).
pub const READ_BUFFER: usize = RECORD_HEADER + (1 << 14) + 256;

/// The write buffer: a request longer than this less [`TLS_RECORD_OVERHEAD`] goes out in
/// several records. The ClientHello is built in the larger (read) buffer.
pub const WRITE_BUFFER: usize = 1024;
const _: () = assert!(WRITE_BUFFER > TLS_RECORD_OVERHEAD && READ_BUFFER > WRITE_BUFFER);

/// Random bytes read per probe; a handshake takes 64 (client random and P-256 key).
const POOL: usize = 96;

/// SSL_GET of one url.
pub(super) async fn get(target: &Target, url: &HttpUrl, scratch: &mut Scratch) -> ProbeResult {
    let fetched = exchange(
        target,
        &url.request,
        url.server_name.as_deref(),
        |status| !url.accepts(status),
        scratch,
    )
    .await?;
    judge(url, fetched)
}

/// genhash's fetch over TLS: `request` to `target` within `deadline`, whatever the status.
pub async fn fetch(
    target: &Target,
    request: &[u8],
    server_name: Option<&str>,
    deadline: Instant,
) -> Result<super::Fetched, Failure> {
    let mut scratch = Scratch::new();
    let mut exchange = Box::pin(exchange(
        target,
        request,
        server_name,
        |_| false,
        &mut scratch,
    ));
    within(deadline, exchange.as_mut()).await
}

/// Connects, makes the TLS session and runs HTTP_GET's exchange in it.
async fn exchange(
    target: &Target,
    request: &[u8],
    server_name: Option<&str>,
    stop_early: impl Fn(u16) -> bool,
    scratch: &mut Scratch,
) -> Result<super::Fetched, Failure> {
    let stream = connect(target).await?;
    let mut rng = HandshakeRng::new()?;
    let mut buffers = vec![0u8; READ_BUFFER + WRITE_BUFFER];
    let (read_buffer, write_buffer) = buffers.split_at_mut(READ_BUFFER);
    let transport_failure = Cell::new(None);
    let transport = Transport {
        stream: &stream,
        guard: RecordGuard::default(),
        failure: &transport_failure,
    };
    let mut config = TlsConfig::new().enable_rsa_signatures();
    if let Some(name) = server_name {
        config = config.with_server_name(name);
    }
    let mut tls = Tls {
        connection: TlsConnection::new(transport, read_buffer, write_buffer),
        failure: &transport_failure,
    };
    let opened = tls
        .connection
        .open::<HandshakeRng, NoVerify>(TlsContext::new(&config, &mut rng))
        .await;
    opened.map_err(|e| tls.failure(e))?;
    if let Some(errno) = rng.failed {
        return Err(io::Error::from_raw_os_error(errno).into());
    }
    talk(
        || std::future::ready(Ok(&mut tls)),
        request,
        stop_early,
        scratch,
    )
    .await
}

/// A TLS session over a probe's TCP stream.
struct Tls<'a> {
    connection: TlsConnection<'a, Transport<'a>, Aes128GcmSha256>,
    /// The TCP stream's own failure, which embedded-tls reports only as an error kind.
    failure: &'a Cell<Option<Failure>>,
}

impl Tls<'_> {
    fn failure(&self, e: TlsError) -> Failure {
        if let Some(failure) = self.failure.take() {
            return failure;
        }
        match e {
            // The peer's close_notify, or the TCP stream's end, before the exchange was over.
            TlsError::ConnectionClosed | TlsError::IoError => Failure::Closed,
            // The peer's alert: it refused our hello (no common version, suite or group).
            TlsError::HandshakeAborted(..) => Failure::Io(io::ErrorKind::ConnectionAborted, None),
            _ => Failure::Tls,
        }
    }
}

impl Conn for Tls<'_> {
    async fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), Failure> {
        while !bytes.is_empty() {
            let n = match self.connection.write(bytes).await {
                Ok(0) => return Err(Failure::Closed),
                Ok(n) => n,
                Err(e) => return Err(self.failure(e)),
            };
            bytes = bytes.get(n..).unwrap_or_default();
        }
        self.connection.flush().await.map_err(|e| self.failure(e))
    }

    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Failure> {
        match self.connection.read(buf).await {
            Ok(n) => Ok(n),
            // The end of the body: close_notify, or (as most HTTPS clients allow) the TCP
            // stream's end without one; a truncated body shows in its digest.
            Err(TlsError::ConnectionClosed) => Ok(0),
            Err(TlsError::IoError) if self.failure.get().is_none() => Ok(0),
            Err(e) => Err(self.failure(e)),
        }
    }
}

/// Lent to `talk`, so that the session is not moved (it is kilobytes).
impl Conn for &mut Tls<'_> {
    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        Tls::write_all(self, bytes).await
    }

    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Failure> {
        Tls::read(self, buf).await
    }
}

/// The probe's TCP stream as embedded-tls's transport.
struct Transport<'a> {
    stream: &'a Stream,
    guard: RecordGuard,
    failure: &'a Cell<Option<Failure>>,
}

impl Transport<'_> {
    fn fail(&self, failure: Failure) -> embedded_io::ErrorKind {
        self.failure.set(Some(failure));
        embedded_io::ErrorKind::Other
    }
}

impl embedded_io::ErrorType for Transport<'_> {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Read for Transport<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = self.stream.read(buf).await.map_err(|f| self.fail(f))?;
        let arrived = buf.get(..n).unwrap_or_default();
        if self.guard.scan(arrived).is_err() {
            return Err(self.fail(Failure::Tls));
        }
        Ok(n)
    }
}

impl embedded_io_async::Write for Transport<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.stream.write_all(buf).await.map_err(|f| self.fail(f))?;
        Ok(buf.len())
    }
}

/// Follows the server's record framing (RFC 8446 §5.1) in the bytes as they arrive and refuses
/// what embedded-tls 0.17 would panic on or should never see: a record that is not handshake,
/// alert, change_cipher_spec or application_data, and an encrypted record whose content is
/// empty (no more than the AEAD tag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RecordGuard {
    header: [u8; RECORD_HEADER],
    /// Header bytes seen of the current record.
    header_len: usize,
    /// Body bytes of the current record still to come.
    body_left: usize,
}

/// The AES-GCM tag: an encrypted record's content is longer than this.
const AEAD_TAG: usize = 16;

impl RecordGuard {
    pub(crate) fn scan(&mut self, mut bytes: &[u8]) -> Result<(), ()> {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len());
                self.body_left -= n;
                bytes = bytes.get(n..).unwrap_or_default();
                continue;
            }
            let n = (RECORD_HEADER - self.header_len).min(bytes.len());
            let (head, rest) = bytes.split_at(n);
            if let Some(slot) = self.header.get_mut(self.header_len..self.header_len + n) {
                slot.copy_from_slice(head);
            }
            self.header_len += n;
            bytes = rest;
            if self.header_len < RECORD_HEADER {
                continue;
            }
            self.header_len = 0;
            let [content_type, _, _, high, low] = self.header;
            let len = usize::from(u16::from_be_bytes([high, low]));
            match content_type {
                20..=22 => {}
                23 if len > AEAD_TAG => {}
                _ => return Err(()),
            }
            self.body_left = len;
        }
        Ok(())
    }
}

/// The handshake's random source: [`POOL`] bytes from getrandom(2) read when the probe starts
/// (where a failure can be returned), then served from memory; more are read only if a
/// handshake takes more. `RngCore::fill_bytes` cannot fail, so if such a later read fails the
/// pool is reused and `failed` is set, and the probe fails after its handshake.
pub(crate) struct HandshakeRng {
    pool: [u8; POOL],
    used: usize,
    /// The errno of a failed refill.
    pub(crate) failed: Option<i32>,
}

impl HandshakeRng {
    pub(crate) fn new() -> io::Result<HandshakeRng> {
        let mut pool = [0; POOL];
        random::fill(&mut pool)?;
        Ok(HandshakeRng {
            pool,
            used: 0,
            failed: None,
        })
    }
}

impl RngCore for HandshakeRng {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if let Err(e) = self.try_fill_bytes(dest) {
            self.failed = Some(e.raw_os_error().unwrap_or(libc::EIO));
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        let mut result = Ok(());
        for byte in dest {
            if self.used == POOL {
                self.used = 0;
                if let Err(e) = random::fill(&mut self.pool) {
                    // Keep going on the old pool (never constant, so a caller that retries
                    // until it likes the bytes still ends); the error is reported.
                    self.pool.rotate_left(1);
                    let code = e.raw_os_error().and_then(|c| u32::try_from(c).ok());
                    result = Err(rand_core::Error::from(
                        code.and_then(NonZeroU32::new)
                            .or(NonZeroU32::new(libc::EIO.unsigned_abs()))
                            .unwrap_or(NonZeroU32::MIN),
                    ));
                }
            }
            *byte = self.pool.get(self.used).copied().unwrap_or_default();
            self.used += 1;
        }
        result
    }
}

impl CryptoRng for HandshakeRng {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn handshake_rng_reads_the_kernel_and_refills() {
        let mut a = HandshakeRng::new().unwrap();
        let mut b = HandshakeRng::new().unwrap();
        let (mut x, mut y) = ([0u8; 64], [0u8; 64]);
        a.fill_bytes(&mut x);
        b.fill_bytes(&mut y);
        assert_ne!(x, y);
        // Past the pool: refilled from the kernel, not repeated.
        let mut long = [0u8; 3 * POOL];
        a.try_fill_bytes(&mut long).unwrap();
        assert_ne!(long[..POOL], long[POOL..2 * POOL]);
        assert!(long.chunks(32).all(|run| run.iter().any(|&v| v != 0)));
        assert_ne!(a.next_u64(), a.next_u64());
        assert!(a.failed.is_none() && b.failed.is_none());
    }

    /// The boxed probe future: its size is memory per running SSL_GET probe, on top of the
    /// record buffers.
    #[test]
    fn probe_future_size() {
        let target = Target::to(SocketAddr::from(([127, 0, 0, 1], 1)));
        let url = HttpUrl {
            request: Box::default(),
            digest: None,
            status_code: Box::default(),
            server_name: None,
        };
        let mut scratch = Scratch::new();
        let size = std::mem::size_of_val(&get(&target, &url, &mut scratch));
        eprintln!("SSL_GET probe future: {size} bytes");
        assert!(size < 8192, "SSL_GET probe future is {size} bytes");
    }

    fn record(content_type: u8, len: u16) -> Vec<u8> {
        let mut r = vec![content_type, 3, 3];
        r.extend_from_slice(&len.to_be_bytes());
        r.resize(5 + usize::from(len), 0xaa);
        r
    }

    #[test]
    fn record_guard_follows_framing_across_reads() {
        let mut stream = record(22, 90);
        stream.extend(record(20, 1));
        stream.extend(record(23, 17));
        stream.extend(record(21, 2));
        stream.extend(record(23, 300));
        for cut in [1, 2, 3, 5, 7, 64, stream.len()] {
            let mut guard = RecordGuard::default();
            for piece in stream.chunks(cut) {
                assert_eq!(guard.scan(piece), Ok(()), "cut {cut}");
            }
            let at_boundary = (guard.header_len, guard.body_left) == (0, 0);
            assert!(at_boundary, "cut {cut}: {guard:?}");
        }
    }

    #[test]
    fn record_guard_refuses_empty_encrypted_records_and_unknown_types() {
        for bad in [
            record(23, 16),
            record(23, 0),
            record(24, 10),
            b"HTTP/1.0 400".to_vec(),
        ] {
            let mut guard = RecordGuard::default();
            let mut stream = record(22, 10);
            stream.extend(bad);
            assert_eq!(guard.scan(&stream), Err(()));
        }
    }
}
