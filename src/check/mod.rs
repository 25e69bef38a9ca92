//! Health checkers for real servers (keepalived.conf(5) "Virtual server(s)": TCP_CHECK,
//! HTTP_GET, SSL_GET, MISC_CHECK, SMTP_CHECK, DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK).
//!
//! - [`verdict`]: the sans-IO machine (retry, delay_before_retry, alpha, warmup, url stepping,
//!   real server up/down and weight), driven with an explicit `now`.
//! - [`probe`]: one async fn per checker type on `sys::reactor`; [`probe::Check`] is a checker
//!   prepared when the config is loaded.
//! - [`run`]: the loop tying one checker's verdict to its probe under a global cap.
//! - [`executor`]: the single-threaded executor the checker tasks run on, and `block_on`.
//! - codecs without I/O: [`http`] (request, streaming response reader), [`dns`], [`smtp`],
//!   [`echo`] (ICMP), [`file`] (track file values), [`md5`].
//! - [`genhash`]: the digest of a page for `url { digest }`.
//!
//! Bounded memory. Everything a checker needs is built when the config is loaded; a probe
//! allocates nothing of its own. Limits:
//! - at most [`run::MAX_IN_FLIGHT`] probes (sockets or scripts) at once, process-wide; each
//!   in-flight probe works in one [`probe::Scratch`] ([`probe::SCRATCH_LEN`] bytes of buffer and
//!   the HTTP response reader's ~270 bytes), taken with its slot from [`run::Slots`] (allocated
//!   once), so buffer memory is cap × 2.3 KiB whatever the number of checkers;
//! - per checker: its [`verdict::CheckerVerdict`] (under 100 bytes), its prepared
//!   [`probe::Check`] (under 200 bytes plus its request bytes) and its long-lived task (about
//!   540 bytes of future state, checked by a test, plus the executor's box and waker, ~60 bytes);
//! - an HTTP body of any size is streamed through the 96-byte MD5 state and never held; header
//!   lines are looked at up to [`http::LINE_MAX`] bytes; SMTP replies keep 4 bytes per line;
//!   UDP_CHECK and DNS_CHECK replies are looked at up to the scratch size; FILE_CHECK reads
//!   [`file::READ_MAX`] bytes;
//! - a real server's actions are derived from its state, not queued.
//!
//! The runtime allocates nothing per probe in steady state: a socket's registration slot, a
//! timer's heap entry and a waiter's queue entry reuse the room of earlier ones (those vectors
//! grow to the most ever live at once, bounded by the number of checkers). MISC_CHECK's
//! fork/exec in `sys::script` allocates the argument vector per run.
//!
//! SSL_GET is built with the cargo feature `tls` (`probe::tls`: TLS 1.3, the server's certificate
//! not verified; a running SSL_GET probe allocates its ~17 KiB of record buffers and its boxed
//! ~2.5 KiB state for its duration). Without the feature it reports "SSL_GET needs the `tls`
//! feature" as a failure on every probe.

pub mod dns;
pub mod echo;
pub mod executor;
pub mod file;
pub mod genhash;
pub mod http;
pub mod md5;
pub mod outcome;
pub mod probe;
pub mod run;
pub mod smtp;
pub mod timing;
pub mod verdict;
