//! Health checkers for real servers (keepalived.conf(5) "Virtual server(s)": TCP_CHECK,
//! HTTP_GET, SSL_GET, MISC_CHECK, SMTP_CHECK, DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK).
//!
//! - [`verdict`]: the sans-IO machine (retry, delay_before_retry, alpha, warmup, url stepping,
//!   real server up/down and weight), driven with an explicit `now`.
//! - [`probe`]: one async fn per checker type on `sys::reactor`; [`probe::Check`] is a checker
//!   prepared when the config is loaded.
//! - [`run`]: the [`run::Runner`] tying every checker's verdict to its probes under a global
//!   cap: idle checkers wait in a deadline heap, a probe is a task only while it runs.
//! - [`executor`]: the single-threaded executor the probes run on, and `block_on`.
//! - codecs without I/O: [`http`] (request, streaming response reader), [`dns`], [`smtp`],
//!   [`echo`] (ICMP), [`file`] (track file values), [`md5`].
//! - [`genhash`]: the digest of a page for `url { digest }`.
//!
//! Bounded memory. Everything a checker needs is built when the config is loaded; a probe
//! allocates nothing of its own. Limits:
//! - at most [`run::MAX_IN_FLIGHT`] probes (sockets or scripts) at once, process-wide; each
//!   in-flight probe is one task (its future boxed while it runs) working in one
//!   [`probe::Scratch`] ([`probe::SCRATCH_LEN`] bytes of buffer and the HTTP response reader's
//!   ~270 bytes), taken from a pool that grows to the most probes ever in flight at once, so
//!   buffer memory is at most cap × 2.3 KiB whatever the number of checkers;
//! - per idle checker: its [`verdict::CheckerVerdict`] (under 100 bytes), its prepared
//!   [`probe::Check`] (72 bytes plus its request bytes; source options and large payloads are
//!   boxed) and a 16-byte entry in the runner's deadline heap; no task, no waker, no timer;
//! - an HTTP body of any size is streamed through the 96-byte MD5 state and never held; header
//!   lines are looked at up to [`http::LINE_MAX`] bytes; SMTP replies keep 4 bytes per line;
//!   UDP_CHECK and DNS_CHECK replies are looked at up to the scratch size; FILE_CHECK reads
//!   [`file::READ_MAX`] bytes;
//! - a real server's actions are derived from its state, not queued.
//!
//! Per probe the runtime allocates the probe's task box (freed when it ends); its task place
//! and waker, a socket's registration slot and a timer's heap entry reuse the room of earlier
//! ones (those vectors grow to the most ever live at once, bounded by the cap). MISC_CHECK's
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
